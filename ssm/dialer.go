package ssm

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"

	"github.com/fleetrun/fleetrun/internal/awsconf"
	"github.com/fleetrun/fleetrun/transport"
)

// Dialer opens SSM sessions; it implements transport.Dialer. It owns one
// coordinator per region (and profile and endpoint), shared by every
// session of that region, which batches their commands, polls them and
// cancels them. Close it after the run.
type Dialer struct {
	opts Options

	mu     sync.Mutex
	closed bool
	coords map[clientKey]*coordinator
}

var _ transport.Dialer = (*Dialer)(nil)

// NewDialer returns a Dialer with the given options. It calls no AWS API;
// the first Dial of a region lists that region's managed instances.
func NewDialer(opts Options) *Dialer {
	return &Dialer{opts: opts.withDefaults(), coords: map[clientKey]*coordinator{}}
}

// Dial implements transport.Dialer. It checks that the host's instance
// (Target.SSM.InstanceID) is managed by SSM and its agent online,
// from DescribeInstanceInformation results listed once per region and
// cached for the Dialer's life. A host that is not managed, or whose agent
// is not online, fails with a transport.Error of class refused or
// connect_timeout, so the runner reports it unreachable with the reason.
func (d *Dialer) Dial(ctx context.Context, t transport.Target) (transport.Session, error) {
	hc := d.opts.resolve(&t)
	if hc.instance == "" {
		return nil, &transport.Error{Class: transport.ClassRefused,
			Message: fmt.Sprintf("%s: no instance id, so the host cannot be reached through SSM", hc.name),
			Hint:    "EC2 discovery (an ec2: section) sets the instance id; for a static host give ssm: {instance_id: i-...}"}
	}
	enc, err := lookupEncoding(t.OutputEncoding)
	if err != nil {
		return nil, &transport.Error{Class: transport.ClassInternal, Message: fmt.Sprintf("%s: %v", hc.name, err), Err: err}
	}
	c, err := d.coordinator(ctx, hc.key)
	if err != nil {
		return nil, &transport.Error{Class: transport.ClassAuth, Message: fmt.Sprintf("%s: %v", hc.name, err), Err: err,
			Hint: "set the region (ssm: {region: ...} in the inventory, or AWS_REGION) and AWS credentials (AWS_PROFILE, ssm: {profile: ...}, or an instance role)"}
	}
	info, err := c.instance(ctx, hc.instance)
	if err != nil {
		return nil, c.apiError(ctx, hc.name, "DescribeInstanceInformation", err)
	}
	if info == nil {
		return nil, &transport.Error{Class: transport.ClassRefused,
			Message: fmt.Sprintf("%s: instance %s is not managed by SSM in %s (DescribeInstanceInformation does not list it)", hc.name, hc.instance, c.region),
			Hint:    "the instance needs a running SSM agent and an instance profile with AmazonSSMManagedInstanceCore; check the region"}
	}
	if info.PingStatus != types.PingStatusOnline {
		since := ""
		if info.LastPingDateTime != nil {
			since = " since " + info.LastPingDateTime.UTC().Format(time.RFC3339)
		}
		return nil, &transport.Error{Class: transport.ClassConnectTimeout,
			Message: fmt.Sprintf("%s: SSM agent of %s %s%s", hc.name, hc.instance, info.PingStatus, since),
			Hint:    "the instance is stopped or its agent cannot reach SSM (VPC endpoints or outbound HTTPS to ssm, ssmmessages and ec2messages)"}
	}
	return &Session{c: c, hc: hc, enc: enc, agent: agentInfo(info)}, nil
}

// agentInfo is what DescribeInstanceInformation said of an instance's agent.
func agentInfo(info *types.InstanceInformation) transport.AgentInfo {
	a := transport.AgentInfo{Service: "AWS Systems Manager", ID: aws.ToString(info.InstanceId), PingStatus: string(info.PingStatus),
		Version: aws.ToString(info.AgentVersion), Platform: strings.TrimSpace(aws.ToString(info.PlatformName) + " " + aws.ToString(info.PlatformVersion))}
	if info.LastPingDateTime != nil {
		a.LastPing = *info.LastPingDateTime
	}
	return a
}

// coordinator returns the coordinator for key, creating its clients on
// first use.
func (d *Dialer) coordinator(ctx context.Context, key clientKey) (*coordinator, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errors.New("the SSM dialer is closed")
	}
	if c := d.coords[key]; c != nil {
		return c, nil
	}
	stats := &counters{}
	api, s3c, region, err := newClients(ctx, &d.opts, key, stats)
	if err != nil {
		return nil, err
	}
	c := newCoordinator(d.opts, region, api, s3c, stats)
	d.coords[key] = c
	return c, nil
}

// Close stops every coordinator: commands not sent yet fail with class
// interrupted, polling ends, and every goroutine the Dialer started has
// returned when Close does. Commands already running on hosts are left to
// finish (Run cancels its own command when its context ends). It is safe to
// call more than once.
func (d *Dialer) Close() error {
	d.mu.Lock()
	d.closed = true
	coords := make([]*coordinator, 0, len(d.coords))
	for _, c := range d.coords {
		coords = append(coords, c)
	}
	d.mu.Unlock()
	for _, c := range coords {
		c.close()
	}
	return nil
}

// Stats counts what a Dialer asked of AWS.
type Stats struct {
	// Calls counts API calls by action (SendCommand, ListCommands,
	// ListCommandInvocations, GetCommandInvocation, CancelCommand,
	// DescribeInstanceInformation, S3.GetObject, S3.HeadObject,
	// S3.PutObject; presigning calls nothing), each attempt the SDK
	// made included.
	Calls map[string]int64
	// Throttled counts attempts AWS answered with a throttling error.
	Throttled int64
	// Commands counts commands sent and Invocations the host-steps they
	// carried.
	Commands    int64
	Invocations int64
	// Abandoned counts host-steps withdrawn because their context ended
	// (a step timeout, an interrupted run).
	Abandoned int64
	// Adopted counts commands whose SendCommand answer was lost and that
	// ListCommands found by their Comment; Resent counts SendCommands sent
	// again because ListCommands showed that the lost one created nothing.
	Adopted int64
	Resent  int64
	// TransfersUploaded counts copy sources uploaded to a transfer bucket
	// (TransferBytes their bytes); TransfersFound those already there.
	TransfersUploaded int64
	TransfersFound    int64
	TransferBytes     int64
}

// Total is the number of API calls of every kind.
func (s Stats) Total() int64 {
	var n int64
	for _, v := range s.Calls {
		n += v
	}
	return n
}

// Stats returns the Dialer's counters, summed over its regions.
func (d *Dialer) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := Stats{Calls: map[string]int64{}}
	for _, c := range d.coords {
		s := c.stats.snapshot()
		for k, v := range s.Calls {
			out.Calls[k] += v
		}
		out.Throttled += s.Throttled
		out.Commands += s.Commands
		out.Invocations += s.Invocations
		out.Abandoned += s.Abandoned
		out.Adopted += s.Adopted
		out.Resent += s.Resent
		out.TransfersUploaded += s.TransfersUploaded
		out.TransfersFound += s.TransfersFound
		out.TransferBytes += s.TransferBytes
	}
	return out
}

// attemptCounter counts every attempt of an API call (it sits after the
// SDK's retry middleware) and the throttled ones, and notes how far AWS's
// clock (an answer's Date header) is from ours.
func attemptCounter(prefix string, stats *counters) middleware.FinalizeMiddleware {
	return middleware.FinalizeMiddlewareFunc("fleetrunCountAttempts", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		out, md, err := next.HandleFinalize(ctx, in)
		action := prefix + awsmiddleware.GetOperationName(ctx)
		server, okServer := awsmiddleware.GetServerTime(md)
		at, okAt := awsmiddleware.GetResponseAt(md)
		stats.add(func(s *Stats) {
			s.Calls[action]++
			if isThrottling(err) {
				s.Throttled++
			}
		})
		if okServer && okAt {
			stats.setSkew(server.Sub(at))
		}
		return out, md, err
	})
}

// counters are a coordinator's live Stats, and the offset of AWS's clock
// from ours as its last answer showed it.
type counters struct {
	mu   sync.Mutex
	s    Stats
	skew time.Duration
}

func (c *counters) setSkew(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skew = d
}

// awsNow is the time by AWS's clock, as far as its answers told.
func (c *counters) awsNow() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skew)
}

func (c *counters) add(f func(*Stats)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.s.Calls == nil {
		c.s.Calls = map[string]int64{}
	}
	f(&c.s)
}

func (c *counters) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.s
	s.Calls = maps.Clone(c.s.Calls)
	return s
}

// standardOptions are the settings of the SDK's standard retryer every
// call shares (SendCommand replaces its rule of what to retry).
func standardOptions(o *Options, so *retry.StandardOptions) {
	so.MaxAttempts = o.MaxAttempts
	// The coordinator bounds its own calls and backs off when throttled;
	// the SDK's client-side retry quota would turn a throttled fleet-sized
	// run into hard failures.
	so.RateLimiter = ratelimit.None
	if b := o.RetryBackoff; b != nil {
		so.Backoff = retry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) { return b(attempt), nil })
	}
}

// newClients loads the AWS configuration for key and builds its SSM and S3
// clients. It reads files but calls no API.
func newClients(ctx context.Context, o *Options, key clientKey, stats *counters) (*ssm.Client, *s3.Client, string, error) {
	lo := awsconf.Source{Profile: key.profile, SharedConfigFiles: o.SharedConfigFiles, SharedCredentialsFiles: o.SharedCredentialsFiles,
		Credentials: o.Credentials, HTTPClient: o.HTTPClient}.LoadOptions()
	if key.region != "" {
		lo = append(lo, config.WithRegion(key.region))
	}
	lo = append(lo, config.WithRetryer(func() aws.Retryer {
		return retry.NewStandard(func(so *retry.StandardOptions) { standardOptions(o, so) })
	}))
	// The SDK would log to the process's stderr; fleetrun reports through
	// errors and Stats instead.
	lo = append(lo, config.WithLogger(logging.Nop{}))
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return nil, nil, "", fmt.Errorf("loading the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, nil, "", errors.New("no AWS region for SSM: the host was not discovered by EC2, and neither the inventory's ssm: {region: ...}, AWS_REGION nor the profile names one")
	}
	count := func(prefix string) func(*middleware.Stack) error {
		return func(st *middleware.Stack) error {
			return st.Finalize.Add(attemptCounter(prefix, stats), middleware.After)
		}
	}
	api := ssm.NewFromConfig(cfg, func(so *ssm.Options) {
		if key.endpoint != "" {
			so.BaseEndpoint = aws.String(key.endpoint)
		}
		so.APIOptions = append(so.APIOptions, count(""))
	})
	s3c := s3.NewFromConfig(cfg, func(so *s3.Options) {
		so.APIOptions = append(so.APIOptions, count("S3."))
		if key.s3Endpoint != "" {
			so.BaseEndpoint = aws.String(key.s3Endpoint)
			so.UsePathStyle = true
		}
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		// A copy's upload is signed with the source's SHA-256, computed
		// once per run; a further checksum would read the file again.
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
	return api, s3c, cfg.Region, nil
}
