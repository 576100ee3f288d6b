package inventory

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/fleetrun/fleetrun/internal/strictyaml"
)

// EC2Spec is an inventory's `ec2:` section: which EC2 instances become
// hosts, how they are named and addressed, and which AWS credentials find
// them. Parsing validates every value (with positions); nothing here calls
// AWS. Discovery itself lives in inventory/ec2.
//
// Zero values mean the documented defaults, so a spec built in Go (or by
// NewEC2Spec from flags) behaves like a parsed one.
type EC2Spec struct {
	Pos strictyaml.Pos
	// File is the inventory file that declared the section; empty for a
	// section made from command-line flags.
	File string

	// Regions are queried concurrently. Empty means the region of the AWS
	// configuration (AWS_REGION, the profile's region).
	Regions []string `yaml:"regions"`
	// Profile names a profile of the shared AWS config and credentials
	// files; empty means the standard chain's choice (AWS_PROFILE, then
	// "default").
	Profile string `yaml:"profile"`
	// Endpoint replaces the EC2 endpoint URL (a local test server, a VPC
	// endpoint); empty means AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL, or the
	// SDK's endpoint for the region.
	Endpoint string `yaml:"endpoint"`
	// AssumeRole, when set, makes discovery use a role assumed through STS
	// with the credentials of the chain.
	AssumeRole *EC2AssumeRole `yaml:"assume_role"`

	// EC2Query holds the section's own filters (tags, tag_keys, filters,
	// instance_ids).
	EC2Query `yaml:",inline"`
	// AnyOf lists alternative queries: an instance is found when it matches
	// the section's own filters and any one of these. Instances matched by
	// several are listed once.
	AnyOf []EC2Query `yaml:"any_of"`

	// States are the instance states to list; empty means running only.
	States []string `yaml:"states"`
	// Platform is "windows" (the default, when empty) or "any".
	Platform string `yaml:"platform"`
	// Address chooses the host address; the zero value is private_ip.
	Address EC2Address `yaml:"address"`
	// HostName chooses the host name; the zero value is the Name tag.
	HostName EC2HostName `yaml:"host_name"`
	// Groups puts every host of the section in these inventory groups, so
	// that their settings apply.
	Groups []string `yaml:"groups"`
	// PasswordKeyFile, when set, is the launch key pair's private key (PEM,
	// readable by its owner only): the hosts' password is the Windows
	// Administrator password from EC2 GetPasswordData, decrypted with it.
	// Relative paths resolve against the inventory's folder.
	PasswordKeyFile string `yaml:"password_key_file"`
	// CallTimeout bounds each AWS call (DescribeInstances page,
	// GetPasswordData, AssumeRole), its retries included: an endpoint that
	// accepts the connection and never answers fails the call after it.
	// Zero means DefaultEC2CallTimeout.
	CallTimeout time.Duration `yaml:"call_timeout"`
}

// DefaultEC2CallTimeout is an ec2 section's call_timeout when it sets none:
// long enough for the SDK's retries of a throttled call (5 attempts with
// exponential backoff), short enough that a silent endpoint is noticed.
const DefaultEC2CallTimeout = time.Minute

// Timeout returns the section's call_timeout or its default.
func (s *EC2Spec) Timeout() time.Duration {
	if s.CallTimeout > 0 {
		return s.CallTimeout
	}
	return DefaultEC2CallTimeout
}

// EC2Query is one set of DescribeInstances filters. Every criterion given
// must match (AND); several values of one tag or filter are alternatives
// (OR). Values may use EC2's wildcards: * (any run of characters) and ?
// (one character).
type EC2Query struct {
	Pos strictyaml.Pos
	// Tags maps a tag key to its accepted values (a string or a list).
	Tags map[string]EC2Values `yaml:"tags"`
	// TagKeys lists tag keys that must be present, whatever their value.
	TagKeys []string `yaml:"tag_keys"`
	// Filters are any other DescribeInstances filters by their EC2 name
	// (vpc-id, instance-type, subnet-id, ...).
	Filters map[string]EC2Values `yaml:"filters"`
	// InstanceIDs restricts the query to these instances.
	InstanceIDs []string `yaml:"instance_ids"`
}

// IsEmpty reports whether q sets no criterion at all.
func (q *EC2Query) IsEmpty() bool {
	return len(q.Tags) == 0 && len(q.TagKeys) == 0 && len(q.Filters) == 0 && len(q.InstanceIDs) == 0
}

// EC2Values is one or more filter values; YAML accepts a single string or
// a list of strings.
type EC2Values []string

// UnmarshalStrictYAML implements strictyaml.Unmarshaler.
func (v *EC2Values) UnmarshalStrictYAML(d *strictyaml.Decoder, n *yaml.Node, path string) {
	if n != nil && n.Kind == yaml.SequenceNode {
		if len(n.Content) == 0 {
			d.Errorf(n, path, "expected at least one value, found an empty list")
			return
		}
		out := make(EC2Values, 0, len(n.Content))
		for i, c := range n.Content {
			if s, ok := d.String(c, strictyaml.JoinIndex(path, i)); ok {
				out = append(out, s)
			}
		}
		*v = out
		return
	}
	if s, ok := d.String(n, path); ok {
		*v = EC2Values{s}
	}
}

// EC2AssumeRole is the role discovery assumes through STS.
type EC2AssumeRole struct {
	Pos strictyaml.Pos
	// RoleARN is the role to assume (arn:aws:iam::ACCOUNT:role/NAME).
	RoleARN string `yaml:"role_arn"`
	// ExternalID is passed to STS when the role's trust policy asks for one.
	ExternalID string `yaml:"external_id"`
	// SessionName names the role session in CloudTrail; empty means
	// "fleetrun".
	SessionName string `yaml:"session_name"`
	// Duration of the role session; zero means STS's default (1h).
	Duration time.Duration `yaml:"duration"`
}

// Address kinds of EC2Address.
const (
	EC2PrivateIP  = "private_ip"
	EC2PublicIP   = "public_ip"
	EC2PrivateDNS = "private_dns"
	EC2PublicDNS  = "public_dns"
	EC2IPv6       = "ipv6"
	EC2Tag        = "tag"
)

var ec2AddressKinds = []string{EC2PrivateIP, EC2PublicIP, EC2PrivateDNS, EC2PublicDNS, EC2IPv6}

// EC2Address chooses which address of an instance the host is reached at:
// one of the EC2Private/Public/IPv6 kinds, or the value of a tag (Kind
// EC2Tag, written `tag:NAME`). The zero value means private_ip.
type EC2Address struct {
	Kind string
	Tag  string
}

// String returns the address choice as written in an inventory.
func (a EC2Address) String() string {
	switch a.Kind {
	case "":
		return EC2PrivateIP
	case EC2Tag:
		return "tag:" + a.Tag
	}
	return a.Kind
}

// ParseEC2Address parses `private_ip`, `public_ip`, `private_dns`,
// `public_dns`, `ipv6` or `tag:NAME`.
func ParseEC2Address(s string) (EC2Address, error) {
	if tag, ok := strings.CutPrefix(s, "tag:"); ok {
		if tag == "" {
			return EC2Address{}, fmt.Errorf("tag: needs a tag name, as in tag:WinRMHost")
		}
		return EC2Address{Kind: EC2Tag, Tag: tag}, nil
	}
	if !slices.Contains(ec2AddressKinds, s) {
		msg := fmt.Sprintf("unknown address %q; expected one of %s or tag:NAME", s, strings.Join(ec2AddressKinds, ", "))
		if sug := strictyaml.Suggest(s, ec2AddressKinds); sug != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", sug)
		}
		return EC2Address{}, fmt.Errorf("%s", msg)
	}
	return EC2Address{Kind: s}, nil
}

// UnmarshalStrictYAML implements strictyaml.Unmarshaler.
func (a *EC2Address) UnmarshalStrictYAML(d *strictyaml.Decoder, n *yaml.Node, path string) {
	s, ok := d.String(n, path)
	if !ok {
		return
	}
	v, err := ParseEC2Address(s)
	if err != nil {
		d.Errorf(n, path, "%v", err)
		return
	}
	*a = v
}

// EC2HostName chooses a host's name: the value of a tag (the zero value
// means the Name tag) or, with InstanceID, the instance id. An instance
// without the tag (or with an empty value) is named by its instance id.
type EC2HostName struct {
	Tag        string
	InstanceID bool
}

// String returns the choice as written in an inventory.
func (h EC2HostName) String() string {
	switch {
	case h.InstanceID:
		return "instance_id"
	case h.Tag == "":
		return "tag:Name"
	}
	return "tag:" + h.Tag
}

// UnmarshalStrictYAML implements strictyaml.Unmarshaler: `instance_id` or
// `tag:NAME`.
func (h *EC2HostName) UnmarshalStrictYAML(d *strictyaml.Decoder, n *yaml.Node, path string) {
	s, ok := d.String(n, path)
	if !ok {
		return
	}
	if s == "instance_id" {
		*h = EC2HostName{InstanceID: true}
		return
	}
	tag, isTag := strings.CutPrefix(s, "tag:")
	if !isTag || tag == "" {
		d.Errorf(n, path, "unknown host_name %q; expected instance_id or tag:NAME (such as tag:Name)", s)
		return
	}
	*h = EC2HostName{Tag: tag}
}

// Known values for the section's keys.
var (
	ec2States    = []string{"pending", "running", "shutting-down", "terminated", "stopping", "stopped"}
	ec2Platforms = []string{"windows", "any"}
	// A region is lower-case words joined by '-' and ending in a number
	// (eu-west-1, us-gov-west-1, ap-southeast-5).
	ec2RegionRE     = regexp.MustCompile(`^[a-z]{2,}(-[a-z0-9]+)*-[0-9]+$`)
	ec2InstanceIDRE = regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`)
	// STS's patterns for RoleSessionName and ExternalId.
	ec2SessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	ec2ExternalIDRE  = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
)

// UnmarshalStrictYAML decodes the section and validates its values, so
// errors carry positions; it makes no AWS call.
func (s *EC2Spec) UnmarshalStrictYAML(d *strictyaml.Decoder, n *yaml.Node, path string) {
	type plain EC2Spec // without this method, so Decode does the field work
	before := d.Count()
	d.Decode(n, path, (*plain)(s))
	if d.Count() > before {
		return // the values that did decode may be partial; one round of errors at a time
	}
	s.check(d, path)
	if s.PasswordKeyFile != "" {
		s.PasswordKeyFile = resolvePath(d.File, s.PasswordKeyFile)
	}
}

func (s *EC2Spec) check(d *strictyaml.Decoder, path string) {
	at := func(p strictyaml.Pos, base, key string) (*yaml.Node, string) {
		return p.Value(key), strictyaml.JoinKey(base, key)
	}
	if s.Pos.Has("regions") && len(s.Regions) == 0 {
		n, p := at(s.Pos, path, "regions")
		d.Errorf(n, p, "regions must list at least one region, such as eu-west-1; leave the key out to use the AWS configuration's region")
	}
	seen := map[string]bool{}
	for i, r := range s.Regions {
		n := regionNode(s.Pos, i)
		p := strictyaml.JoinIndex(strictyaml.JoinKey(path, "regions"), i)
		switch {
		case !ec2RegionRE.MatchString(r):
			d.Errorf(n, p, "%q is not an AWS region name such as eu-west-1", r)
		case seen[r]:
			d.Errorf(n, p, "region %s is listed twice", r)
		}
		seen[r] = true
	}
	if s.Pos.Has("profile") && strings.TrimSpace(s.Profile) == "" {
		n, p := at(s.Pos, path, "profile")
		d.Errorf(n, p, "profile is empty; leave the key out to use AWS_PROFILE or the default profile")
	}
	if s.Pos.Has("endpoint") {
		if err := CheckEC2Endpoint(s.Endpoint); err != nil {
			n, p := at(s.Pos, path, "endpoint")
			d.Errorf(n, p, "%v", err)
		}
	}
	if ar := s.AssumeRole; ar != nil {
		ap := strictyaml.JoinKey(path, "assume_role")
		switch {
		case ar.RoleARN == "":
			d.Errorf(ar.Pos.Value("role_arn"), strictyaml.JoinKey(ap, "role_arn"), "assume_role needs role_arn, such as arn:aws:iam::123456789012:role/fleetrun")
		case !strings.HasPrefix(ar.RoleARN, "arn:") || !strings.Contains(ar.RoleARN, ":role/"):
			n, p := at(ar.Pos, ap, "role_arn")
			d.Errorf(n, p, "%q is not a role ARN such as arn:aws:iam::123456789012:role/fleetrun", ar.RoleARN)
		}
		if ar.Pos.Has("external_id") && (len(ar.ExternalID) < 2 || len(ar.ExternalID) > 1224 || !ec2ExternalIDRE.MatchString(ar.ExternalID)) {
			n, p := at(ar.Pos, ap, "external_id")
			d.Errorf(n, p, "external_id must be 2 to 1224 characters of letters, digits and +=,.@:/-")
		}
		if ar.Pos.Has("session_name") && !ec2SessionNameRE.MatchString(ar.SessionName) {
			n, p := at(ar.Pos, ap, "session_name")
			d.Errorf(n, p, "session_name must be 2 to 64 characters of letters, digits and +=,.@-")
		}
		if ar.Pos.Has("duration") && (ar.Duration < 15*time.Minute || ar.Duration > 12*time.Hour) {
			n, p := at(ar.Pos, ap, "duration")
			d.Errorf(n, p, "duration %s is out of STS's range [15m, 12h]", ar.Duration)
		}
	}
	s.EC2Query.check(d, path)
	if s.Pos.Has("any_of") && len(s.AnyOf) == 0 {
		n, p := at(s.Pos, path, "any_of")
		d.Errorf(n, p, "any_of must list at least one query")
	}
	for i := range s.AnyOf {
		q := &s.AnyOf[i]
		qp := strictyaml.JoinIndex(strictyaml.JoinKey(path, "any_of"), i)
		if q.IsEmpty() {
			d.Errorf(q.Pos.Node, qp, "query sets no tags, tag_keys, filters or instance_ids, so it would match every instance")
			continue
		}
		q.check(d, qp)
		s.checkOverlap(d, q, qp)
	}
	if s.Pos.Has("states") && len(s.States) == 0 {
		n, p := at(s.Pos, path, "states")
		d.Errorf(n, p, "states must list at least one state; leave the key out for running instances only")
	}
	for i, st := range s.States {
		if !slices.Contains(ec2States, st) {
			d.Errorf(listItemNode(s.Pos, "states", i), strictyaml.JoinIndex(strictyaml.JoinKey(path, "states"), i),
				"unknown instance state %q; expected one of %s", st, strings.Join(ec2States, ", "))
		}
	}
	if s.Pos.Has("platform") && !slices.Contains(ec2Platforms, s.Platform) {
		n, p := at(s.Pos, path, "platform")
		d.Errorf(n, p, "unknown platform %q; expected windows (the default) or any", s.Platform)
	}
	for i, g := range s.Groups {
		if strings.TrimSpace(g) == "" || strings.ContainsAny(g, " \t,=!@\"") {
			d.Errorf(listItemNode(s.Pos, "groups", i), strictyaml.JoinIndex(strictyaml.JoinKey(path, "groups"), i),
				"group name %q is empty or contains a space or one of , = ! @ \"", g)
		}
	}
	if s.Pos.Has("call_timeout") && (s.CallTimeout < time.Second || s.CallTimeout > time.Hour) {
		n, p := at(s.Pos, path, "call_timeout")
		d.Errorf(n, p, "call_timeout %s is out of range [1s, 1h]; leave the key out for %s", s.CallTimeout, DefaultEC2CallTimeout)
	}
	if s.Pos.Has("password_key_file") && strings.TrimSpace(s.PasswordKeyFile) == "" {
		n, p := at(s.Pos, path, "password_key_file")
		d.Errorf(n, p, "password_key_file is empty")
	}
}

func (q *EC2Query) check(d *strictyaml.Decoder, path string) {
	for _, k := range slices.Sorted(maps.Keys(q.Tags)) {
		if k == "" {
			d.Errorf(q.Pos.Value("tags"), strictyaml.JoinKey(path, "tags"), "a tag key is empty")
		}
	}
	for i, k := range q.TagKeys {
		n, p := listItemNode(q.Pos, "tag_keys", i), strictyaml.JoinIndex(strictyaml.JoinKey(path, "tag_keys"), i)
		switch {
		case k == "":
			d.Errorf(n, p, "a tag key is empty")
		case q.Tags[k] != nil:
			d.Errorf(n, p, "tag %q is already filtered under tags", k)
		case slices.Index(q.TagKeys, k) < i:
			d.Errorf(n, p, "tag key %q is listed twice", k)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(q.Filters)) {
		n, p := q.Pos.Value("filters"), strictyaml.JoinKey(strictyaml.JoinKey(path, "filters"), name)
		switch {
		case name == "":
			d.Errorf(n, p, "a filter name is empty")
		case name == "instance-state-name":
			d.Errorf(n, p, "write instance states under states: (default: running)")
		case name == "platform":
			d.Errorf(n, p, "choose the platform with platform: windows or platform: any")
		case strings.HasPrefix(name, "tag:"):
			d.Errorf(n, p, "write tag filters under tags: (%s: VALUE)", strings.TrimPrefix(name, "tag:"))
		}
	}
	for i, id := range q.InstanceIDs {
		n, p := listItemNode(q.Pos, "instance_ids", i), strictyaml.JoinIndex(strictyaml.JoinKey(path, "instance_ids"), i)
		switch {
		case !ec2InstanceIDRE.MatchString(id):
			d.Errorf(n, p, "%q is not an instance id such as i-0123456789abcdef0", id)
		case slices.Index(q.InstanceIDs, id) < i:
			d.Errorf(n, p, "instance id %s is listed twice", id)
		}
	}
}

// checkOverlap reports criteria an any_of alternative repeats from the
// section's own: EC2 would get the same filter twice, which it does not
// document as an AND.
func (own *EC2Query) checkOverlap(d *strictyaml.Decoder, alt *EC2Query, path string) {
	ownTags := map[string]bool{}
	for k := range own.Tags {
		ownTags[k] = true
	}
	for _, k := range own.TagKeys {
		ownTags[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(alt.Tags)) {
		if ownTags[k] {
			d.Errorf(alt.Pos.Value("tags"), strictyaml.JoinKey(strictyaml.JoinKey(path, "tags"), k), "tag %q is already filtered by the section itself; filter it in one place", k)
		}
	}
	for i, k := range alt.TagKeys {
		if ownTags[k] {
			d.Errorf(listItemNode(alt.Pos, "tag_keys", i), strictyaml.JoinIndex(strictyaml.JoinKey(path, "tag_keys"), i), "tag %q is already filtered by the section itself; filter it in one place", k)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(alt.Filters)) {
		if _, dup := own.Filters[name]; dup {
			d.Errorf(alt.Pos.Value("filters"), strictyaml.JoinKey(strictyaml.JoinKey(path, "filters"), name), "filter %q is already given by the section itself; give it in one place", name)
		}
	}
	if len(own.InstanceIDs) > 0 && len(alt.InstanceIDs) > 0 {
		d.Errorf(alt.Pos.Value("instance_ids"), strictyaml.JoinKey(path, "instance_ids"), "instance_ids are given by the section itself too; give them in one place")
	}
}

// listItemNode points at item i of the list under key, or at the key's
// value when the list node is not at hand.
func listItemNode(p strictyaml.Pos, key string, i int) *yaml.Node {
	n := p.Value(key)
	if n != nil && n.Kind == yaml.SequenceNode && i < len(n.Content) {
		return n.Content[i]
	}
	return n
}

func regionNode(p strictyaml.Pos, i int) *yaml.Node { return listItemNode(p, "regions", i) }

// CheckEC2Endpoint validates an endpoint override: an absolute http or
// https URL with a host.
func CheckEC2Endpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("endpoint %q is not an http:// or https:// URL with a host", s)
	}
	return nil
}

// NewEC2Spec returns a section made from command-line flags alone (for
// example `--ec2-region eu-west-1 --ec2-profile prod` with no inventory
// declaring one): every running Windows instance of the regions, with the
// defaults of a parsed section. Empty regions and profile mean the AWS
// configuration's.
func NewEC2Spec(regions []string, profile string) *EC2Spec {
	s := &EC2Spec{}
	s.Override(regions, profile)
	return s
}

// Override applies command-line flags to a section: non-empty regions
// replace the section's regions, a non-empty profile replaces its profile.
func (s *EC2Spec) Override(regions []string, profile string) {
	if len(regions) > 0 {
		s.Regions = slices.Clone(regions)
	}
	if profile != "" {
		s.Profile = profile
	}
}

// Where names the section in messages: "inventory.yaml:12:1" for a parsed
// section, "the command line's EC2 flags" for one made by NewEC2Spec.
func (s *EC2Spec) Where() string {
	if s.File == "" {
		return "the command line's EC2 flags"
	}
	if n := s.Pos.Node; n != nil {
		return fmt.Sprintf("%s:%d:%d", s.File, n.Line, n.Column)
	}
	return s.File
}

// CheckDiscovered reports the combinations of connection settings a
// discovered host cannot be used with (basic auth over plain HTTP without
// allow_unencrypted, certificate auth without HTTPS or a client key), the
// same rules the loader applies to static hosts.
func CheckDiscovered(h *Host) error {
	d := strictyaml.NewDecoder(h.Source)
	checkHost(d, h, nil, "")
	return d.Err()
}
