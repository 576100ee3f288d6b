// Package ssm is fleetrun's AWS Systems Manager transport: it implements
// transport.Dialer and transport.Session over Run Command
// (aws-sdk-go-v2/service/ssm), so that the same playbooks run on EC2
// Windows instances through their SSM agent, with no inbound WinRM port.
//
// A step becomes an AWS-RunPowerShellScript command whose script is the
// launcher package's SSM shim: the same launcher, payload and exactness
// rules as over WinRM. Although the runner runs one session per host, the
// Dialer's coordinator sends one SendCommand for every batch of hosts
// (up to 50) running the same text at about the same time, polls each
// command's invocations with ListCommandInvocations, backing off while
// nothing changes and when AWS throttles, and cancels with CancelCommand.
// Output is read inline or, with an S3 output bucket, in full from S3.
//
// A step is sent once. SendCommand has no idempotency token, so each
// command carries a Comment unique to the run ("fleetrun <run> <step>
// #<n>"); the SDK retries a SendCommand only when AWS provably did not take
// it (throttled, or the connection never opened), and after any other
// failure the coordinator looks the Comment up with ListCommands and adopts
// the command it finds instead of sending another.
//
// It leaves scheduling, retries and budgets to the runner and the choice of
// transport per host to the command line; hosts are identified by the
// instance id and region in transport.Target.SSM (EC2 discovery sets both;
// the inventory's ssm: settings give the rest).
package ssm

import (
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/fleetrun/fleetrun/transport"
)

// DefaultDocument is the SSM document steps run as.
const DefaultDocument = "AWS-RunPowerShellScript"

// MaxInstancesPerCommand is SendCommand's limit on InstanceIds.
const MaxInstancesPerCommand = 50

// Limits of AWS-RunPowerShellScript's executionTimeout parameter.
const (
	minExecutionTimeout = 1
	maxExecutionTimeout = 172800
)

// Options tune a Dialer. The zero value is what the command line uses,
// except for LookupEnv, which it sets to os.LookupEnv.
type Options struct {
	// LookupEnv reads the variables the transport decides on itself:
	// AWS_ENDPOINT_URL_SSM, AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL
	// (endpoint overrides), AWS_REGION and AWS_DEFAULT_REGION. nil means
	// an empty environment. The SDK's credential chain reads the process
	// environment and the shared files itself.
	LookupEnv func(string) (string, bool)
	// HTTPClient sends the AWS requests; nil means the SDK's default.
	HTTPClient *http.Client
	// Credentials, when set, replaces the SDK's credential chain (tests,
	// simulated fleets).
	Credentials aws.CredentialsProvider
	// SharedConfigFiles and SharedCredentialsFiles replace the default
	// ~/.aws/config and ~/.aws/credentials when not empty.
	SharedConfigFiles      []string
	SharedCredentialsFiles []string

	// Region, Profile, Endpoint, S3Endpoint, Document, OutputS3Bucket and
	// OutputS3Prefix apply to hosts whose Target.SSM sets none.
	Region         string
	Profile        string
	Endpoint       string
	S3Endpoint     string
	Document       string
	OutputS3Bucket string
	OutputS3Prefix string
	// TransferBucket and TransferPrefix are where copy steps stage their
	// files, for hosts whose Target.SSM names no transfer bucket.
	TransferBucket string
	TransferPrefix string

	// PollInterval is the wait before the first poll of a command and
	// between polls while its invocations change; zero means 1s. Polls of a
	// command whose invocations do not change back off by half each time,
	// up to MaxPollInterval (zero means 15s); a throttled poll doubles it.
	PollInterval    time.Duration
	MaxPollInterval time.Duration
	// BatchWindow is how long a step's command waits for other hosts
	// running the same text before it is sent; zero means 200ms. A batch
	// is sent at once when it reaches MaxBatch hosts (zero means 50, the
	// API's limit).
	BatchWindow time.Duration
	MaxBatch    int
	// Concurrency bounds the API calls in flight per region; zero means 8.
	Concurrency int
	// DeliveryTimeout is SendCommand's TimeoutSeconds: how long SSM tries
	// to deliver a command to an agent; zero means 10 minutes (at least 30
	// seconds).
	DeliveryTimeout time.Duration
	// OutputCap is how many bytes of each stream a Result keeps; zero
	// means 1 MiB.
	OutputCap int
	// CleanupTimeout bounds the CancelCommand sent after a step's context
	// ended; zero means 10s.
	CleanupTimeout time.Duration
	// MaxAttempts is how often one API call is tried when AWS throttles or
	// fails transiently; zero means 5. A SendCommand is retried by the SDK
	// only when AWS provably did not take it, and sent again (up to
	// MaxAttempts times) only when ListCommands shows that it created no
	// command (see the package documentation).
	MaxAttempts int
	// AnswerTimeout is how long one attempt of SendCommand, or of the
	// ListCommands that looks for a command whose answer was lost, waits
	// for AWS's answer; zero means 30s.
	AnswerTimeout time.Duration
	// RetryBackoff, when set, replaces the SDK's backoff between attempts;
	// tests make it 0.
	RetryBackoff func(attempt int) time.Duration
}

func (o Options) withDefaults() Options {
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.MaxPollInterval <= 0 {
		o.MaxPollInterval = 15 * time.Second
	}
	if o.MaxPollInterval < o.PollInterval {
		o.MaxPollInterval = o.PollInterval
	}
	if o.BatchWindow <= 0 {
		o.BatchWindow = 200 * time.Millisecond
	}
	if o.MaxBatch <= 0 || o.MaxBatch > MaxInstancesPerCommand {
		o.MaxBatch = MaxInstancesPerCommand
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.DeliveryTimeout <= 0 {
		o.DeliveryTimeout = 10 * time.Minute
	}
	o.DeliveryTimeout = max(o.DeliveryTimeout, 30*time.Second)
	if o.OutputCap <= 0 {
		o.OutputCap = 1 << 20
	}
	if o.CleanupTimeout <= 0 {
		o.CleanupTimeout = 10 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.AnswerTimeout <= 0 {
		o.AnswerTimeout = 30 * time.Second
	}
	if o.Document == "" {
		o.Document = DefaultDocument
	}
	return o
}

func (o *Options) lookupEnv(key string) string {
	if o.LookupEnv == nil {
		return ""
	}
	v, _ := o.LookupEnv(key)
	return v
}

// hostConfig is what one host's target says about reaching it.
type hostConfig struct {
	name     string
	instance string
	key      clientKey
	document string
	bucket   string
	prefix   string
	encoding string
	// transferBucket and transferPrefix stage copy steps' files.
	transferBucket string
	transferPrefix string
}

// clientKey identifies the AWS clients (and the coordinator) a host uses.
type clientKey struct {
	region, profile, endpoint, s3Endpoint string
}

// resolve reads a target's settings, falling back on the options and the
// environment. Region precedence: the target's SSM region (the region EC2
// discovery found the instance in, else the inventory's ssm.region),
// Options.Region, AWS_REGION, AWS_DEFAULT_REGION; an empty region is left
// to the profile's configuration. The target's Vars (template variables)
// are never read.
func (o *Options) resolve(t *transport.Target) hostConfig {
	pick := func(vals ...string) string {
		for _, v := range vals {
			if v != "" {
				return v
			}
		}
		return ""
	}
	s := t.SSM
	hc := hostConfig{
		name:     pick(t.Name, s.InstanceID),
		instance: s.InstanceID,
		key: clientKey{
			region:     pick(s.Region, o.Region, o.lookupEnv("AWS_REGION"), o.lookupEnv("AWS_DEFAULT_REGION")),
			profile:    pick(s.Profile, o.Profile),
			endpoint:   pick(s.Endpoint, o.Endpoint, o.lookupEnv("AWS_ENDPOINT_URL_SSM"), o.lookupEnv("AWS_ENDPOINT_URL")),
			s3Endpoint: pick(s.S3Endpoint, o.S3Endpoint, o.lookupEnv("AWS_ENDPOINT_URL_S3"), o.lookupEnv("AWS_ENDPOINT_URL")),
		},
		document: pick(s.Document, o.Document),
		bucket:   pick(s.OutputS3Bucket, o.OutputS3Bucket),
		prefix:   pick(s.OutputS3Prefix, o.OutputS3Prefix),
		encoding: t.OutputEncoding,
		// A target's transfer bucket comes with its own prefix: the
		// options' prefix belongs to the options' bucket.
		transferBucket: pick(s.TransferBucket, o.TransferBucket),
		transferPrefix: s.TransferPrefix,
	}
	if s.TransferBucket == "" {
		hc.transferPrefix = o.TransferPrefix
	}
	return hc
}
