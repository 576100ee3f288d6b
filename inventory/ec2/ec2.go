// Package ec2 discovers fleetrun hosts from EC2: it lists the instances an
// inventory's `ec2:` sections select (DescribeInstances with tag and other
// filters, every region concurrently, every page) and turns each into an
// inventory.Host named, addressed, tagged and configured as the section
// says, with the Windows password from GetPasswordData when asked.
//
// It leaves parsing the section to package inventory (inventory.EC2Spec),
// and connecting to the hosts, and choosing which to act on, to others.
// Credentials, regions and endpoints come from the AWS SDK's standard chain
// (aws-sdk-go-v2), so everything the AWS CLI accepts works here.
package ec2

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"golang.org/x/sync/errgroup"

	"github.com/fleetrun/fleetrun/inventory"
)

// Source is the Host.Source of every discovered host.
const Source = "ec2"

// Options tune discovery. The zero value is what the command line uses,
// except for LookupEnv, which it sets to os.LookupEnv.
type Options struct {
	// LookupEnv reads the environment variables discovery decides on
	// itself: AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_STS
	// (endpoint overrides), AWS_REGION and AWS_DEFAULT_REGION (the region
	// when a section names none). nil means an empty environment. The AWS
	// SDK's credential chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, SSO, container
	// and instance roles) reads the process environment and the shared
	// files itself.
	LookupEnv func(string) (string, bool)
	// HTTPClient sends the AWS requests; nil means the SDK's default.
	HTTPClient *http.Client
	// Credentials, when set, replaces the SDK's credential chain (tests,
	// programs embedding fleetrun). A section's assume_role still applies
	// on top of them.
	Credentials aws.CredentialsProvider
	// SharedConfigFiles and SharedCredentialsFiles replace the default
	// ~/.aws/config and ~/.aws/credentials when not empty.
	SharedConfigFiles      []string
	SharedCredentialsFiles []string
	// MaxAttempts is how often one API call is tried when AWS throttles
	// (RequestLimitExceeded) or fails transiently; 0 means 5.
	MaxAttempts int
	// RetryBackoff, when set, replaces the SDK's backoff between attempts
	// (exponential with jitter, 1s base for throttling); tests make it 0.
	RetryBackoff func(attempt int) time.Duration
	// PageSize is DescribeInstances' MaxResults (5 to 1000); 0 means 1000.
	// Queries by instance id are not paged (EC2 refuses MaxResults with
	// instance ids).
	PageSize int
	// Concurrency bounds the regions (of all sections) queried at once; 0
	// means 8.
	Concurrency int
	// Problem, when set, is told about every problem Resolve finds (name
	// collisions, instances without the chosen address) as it is also
	// recorded in the hosts; Discover returns them instead.
	Problem func(msg string)
}

func (o *Options) lookupEnv(key string) (string, bool) {
	if o.LookupEnv == nil {
		return "", false
	}
	v, ok := o.LookupEnv(key)
	return v, ok && v != ""
}

func (o *Options) concurrency() int {
	if o.Concurrency > 0 {
		return o.Concurrency
	}
	return 8
}

// Discovery is what one discovery found.
type Discovery struct {
	// Hosts, sorted by name (case-insensitively), with Source "ec2", every
	// instance tag as a host tag, and the instance's facts as Vars:
	// instance_id, region, availability_zone, instance_type,
	// platform_details, launch_time (RFC 3339, UTC), key_name, private_ip,
	// public_ip, private_dns, public_dns and ipv6 (empty strings when the
	// instance has none). A host without the chosen address is listed with
	// Unusable saying why.
	Hosts []*inventory.Host
	// Problems says, one sentence each, which hosts were renamed because
	// their names collided and which have no usable address.
	Problems []string
}

// ErrAccessDenied is matched (errors.Is) by errors of AWS calls refused for
// lack of permission or because AWS did not accept the credentials.
var ErrAccessDenied = errors.New("access denied")

// ErrNoCredentials is matched (errors.Is) when the AWS credential chain
// found no credentials at all.
var ErrNoCredentials = errors.New("no AWS credentials found")

// Discover lists the instances spec selects and returns them as hosts with
// fleetrun's default connection settings (a section's groups are set on
// the hosts but not applied: Resolve does that against an inventory).
// Regions are queried concurrently; an error in any region fails the whole
// discovery (a partial fleet would silently skip hosts). Cancelling ctx
// stops every request.
func Discover(ctx context.Context, spec *inventory.EC2Spec, opts Options) (*Discovery, error) {
	found, err := collect(ctx, []*inventory.EC2Spec{spec}, &opts)
	if err != nil {
		return nil, err
	}
	hosts, problems := buildHosts(found)
	empty := &inventory.Inventory{}
	for _, h := range hosts {
		applyLayer(empty, h)
	}
	return &Discovery{Hosts: hosts, Problems: problems}, nil
}

// Resolve discovers the instances of every inv.EC2 section and appends
// them to inv.Hosts (after the static hosts, sorted by name). Each host gets
// the defaults and groups of the inventory file that declared its section,
// as a static host of that file would (the section's `groups:` are its
// groups; instance tags and facts win over group tags and vars). An
// instance found by several sections is listed once, with the settings of
// the first and the groups of all. Name collisions among discovered hosts
// are resolved (and reported through opts.Problem); a discovered name that
// equals a static host's (case-insensitively) is an error, as is a
// combination of settings the host cannot be used with. Resolve with no
// sections does nothing.
func Resolve(ctx context.Context, inv *inventory.Inventory, opts Options) error {
	if len(inv.EC2) == 0 {
		return nil
	}
	found, err := collect(ctx, inv.EC2, &opts)
	if err != nil {
		return err
	}
	hosts, problems := buildHosts(found)
	static := make(map[string]*inventory.Host, len(inv.Hosts))
	for _, h := range inv.Hosts {
		static[strings.ToLower(h.Name)] = h
	}
	var clashes []string
	for _, h := range hosts {
		if s, ok := static[strings.ToLower(h.Name)]; ok {
			clashes = append(clashes, fmt.Sprintf("ec2: instance %s in %s is named %q, as host %q of %s; rename one of them (or use host_name: instance_id in the ec2 section)",
				h.Vars["instance_id"], h.Vars["region"], h.Name, s.Name, s.Source))
		}
	}
	if len(clashes) > 0 {
		return errors.New(strings.Join(clashes, "\n"))
	}
	layers := map[string]*inventory.Inventory{}
	for _, f := range found {
		h, spec := f.host, f.sess.spec
		sub, ok := layers[spec.File]
		if !ok {
			sub = layerInventory(inv, spec.File)
			layers[spec.File] = sub
		}
		applyLayer(sub, h)
		if err := inventory.CheckDiscovered(h); err != nil {
			return fmt.Errorf("ec2 section at %s: %w", spec.Where(), err)
		}
	}
	for _, p := range problems {
		if opts.Problem != nil {
			opts.Problem(p)
		}
	}
	inv.Hosts = append(inv.Hosts, hosts...)
	return nil
}

// layerInventory returns an inventory holding only the layer (defaults and
// groups) of file, or inv's first layer when no layer has that file (a
// section made from flags).
func layerInventory(inv *inventory.Inventory, file string) *inventory.Inventory {
	for _, l := range inv.Layers {
		if l.File == file {
			return &inventory.Inventory{Layers: []*inventory.Layer{l}}
		}
	}
	return &inventory.Inventory{Layers: inv.Layers}
}

// applyLayer gives h the connection settings of inv's layer, with the
// instance's own tags and vars applied last so they win. ApplyDefaults
// resets Tags and Vars, so they travel as the host's own settings.
func applyLayer(inv *inventory.Inventory, h *inventory.Host) {
	own := &inventory.Settings{Tags: h.Tags, Vars: h.Vars}
	pw := h.PasswordFunc
	id, region := fmt.Sprint(h.Vars["instance_id"]), fmt.Sprint(h.Vars["region"])
	inv.ApplyDefaults(h, own)
	// The instance and the region it was found in identify a host reached
	// through SSM; the region wins over an inventory's ssm: {region: ...}.
	// (The same facts stay in Vars, for templates only.)
	if h.Transport == "ssm" {
		h.SSM.InstanceID, h.SSM.Region = id, region
	}
	if pw != nil {
		// The section's GetPasswordData password replaces any password_env
		// or password_file of the inventory's defaults and groups.
		h.PasswordFunc, h.PasswordEnv, h.PasswordFile = pw, "", ""
	}
}

// collect queries every region of every spec, at most opts.concurrency()
// at once, and returns the instances in a deterministic order (spec, then
// region as listed, then as EC2 listed them), each once.
func collect(ctx context.Context, specs []*inventory.EC2Spec, opts *Options) ([]*found, error) {
	type task struct {
		sess   *session
		region string
		out    []*found
	}
	var tasks []*task
	for _, spec := range specs {
		sess, err := newSession(ctx, spec, opts)
		if err != nil {
			return nil, err
		}
		for _, r := range sess.regions {
			tasks = append(tasks, &task{sess: sess, region: r})
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.concurrency())
	for _, t := range tasks {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			var err error
			t.out, err = t.sess.list(gctx, t.region)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ec2: discovery: %w", err)
	}
	var out []*found
	seen := map[string]*found{}
	for _, t := range tasks {
		for _, f := range t.out {
			key := f.region + "/" + f.id
			if first, dup := seen[key]; dup {
				first.addGroups(f.sess.spec.Groups)
				continue
			}
			seen[key] = f
			out = append(out, f)
		}
	}
	return out, nil
}

// sortHosts orders hosts by name, case-insensitively, then by region and
// instance id, so output never depends on the order EC2 answered in.
func sortHosts(hs []*inventory.Host) {
	sort.SliceStable(hs, func(i, j int) bool {
		a, b := strings.ToLower(hs[i].Name), strings.ToLower(hs[j].Name)
		if a != b {
			return a < b
		}
		if hs[i].Name != hs[j].Name {
			return hs[i].Name < hs[j].Name
		}
		return hs[i].Vars["region"].(string)+hs[i].Vars["instance_id"].(string) <
			hs[j].Vars["region"].(string)+hs[j].Vars["instance_id"].(string)
	})
}
