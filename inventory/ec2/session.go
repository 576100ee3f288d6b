package ec2

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/fleetrun/fleetrun/internal/awsconf"
	"github.com/fleetrun/fleetrun/inventory"
)

// defaultMaxAttempts is higher than the SDK's 3: DescribeInstances over a
// large account is throttled often, and discovery is worth waiting for.
const defaultMaxAttempts = 5

// session is one section's AWS configuration: credentials (with the role
// assumed), the regions to query, an EC2 client per region, and the key
// that decrypts Windows passwords.
type session struct {
	spec     *inventory.EC2Spec
	opts     *Options
	regions  []string
	clients  map[string]*ec2.Client
	endpoint string // EC2 endpoint override, "" for the SDK's
	key      *rsa.PrivateKey
}

// newSession loads the AWS configuration for spec. It reads files (the
// shared AWS config, the password key) but calls no AWS API: credentials
// are resolved on the first request.
func newSession(ctx context.Context, spec *inventory.EC2Spec, opts *Options) (*session, error) {
	where := spec.Where()
	s := &session{spec: spec, opts: opts, clients: map[string]*ec2.Client{}}
	lo := awsconf.Source{Profile: spec.Profile, SharedConfigFiles: opts.SharedConfigFiles, SharedCredentialsFiles: opts.SharedCredentialsFiles,
		Credentials: opts.Credentials, HTTPClient: opts.HTTPClient}.LoadOptions()
	switch {
	case len(spec.Regions) > 0:
		lo = append(lo, config.WithRegion(spec.Regions[0]))
	default:
		if r, ok := opts.lookupEnv("AWS_REGION"); ok {
			lo = append(lo, config.WithRegion(r))
		}
	}
	lo = append(lo, config.WithRetryer(func() aws.Retryer { return newRetryer(opts) }))
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return nil, fmt.Errorf("ec2 section at %s: loading the AWS configuration: %w", where, err)
	}
	s.regions = spec.Regions
	if len(s.regions) == 0 {
		region := cfg.Region
		if region == "" {
			region, _ = opts.lookupEnv("AWS_DEFAULT_REGION")
		}
		if region == "" {
			return nil, fmt.Errorf("ec2 section at %s: no region: list regions in the section, pass --ec2-region, or set AWS_REGION or the profile's region", where)
		}
		s.regions = []string{region}
	}
	if ar := spec.AssumeRole; ar != nil {
		stsClient := sts.NewFromConfig(cfg, func(o *sts.Options) {
			if ep := s.serviceEndpoint("STS", ""); ep != "" {
				o.BaseEndpoint = aws.String(ep)
			}
		})
		provider := stscreds.NewAssumeRoleProvider(stsClient, ar.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = ar.SessionName
			if o.RoleSessionName == "" {
				o.RoleSessionName = "fleetrun"
			}
			if ar.ExternalID != "" {
				o.ExternalID = aws.String(ar.ExternalID)
			}
			if ar.Duration > 0 {
				o.Duration = ar.Duration
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(provider)
	}
	if cfg.Credentials != nil {
		// Resolve the credentials once, up front: the SDK caches them for
		// every region's requests, and a missing or refused credential is
		// reported once, with advice, instead of per region.
		err := s.call(ctx, func(ctx context.Context) error {
			_, err := cfg.Credentials.Retrieve(ctx)
			return err
		})
		if err != nil {
			var ae smithy.APIError
			switch {
			case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
				return nil, fmt.Errorf("ec2 section at %s: getting AWS credentials: %w", where, err)
			case spec.AssumeRole != nil && errors.As(err, &ae):
				return nil, s.apiError(s.regions[0], "AssumeRole", err)
			}
			return nil, fmt.Errorf("ec2 section at %s: %w (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, run aws sso login, give the section a profile, or run where an instance or container role applies): %w", where, ErrNoCredentials, err)
		}
	}
	s.endpoint = s.serviceEndpoint("EC2", spec.Endpoint)
	for _, r := range s.regions {
		s.clients[r] = ec2.NewFromConfig(cfg, func(o *ec2.Options) {
			o.Region = r
			if s.endpoint != "" {
				o.BaseEndpoint = aws.String(s.endpoint)
			}
		})
	}
	if spec.PasswordKeyFile != "" {
		if s.key, err = loadKey(spec.PasswordKeyFile); err != nil {
			return nil, fmt.Errorf("ec2 section at %s: %w", where, err)
		}
	}
	return s, nil
}

// errCallTimeout is matched by a call that ran out of its call_timeout.
var errCallTimeout = errors.New("no answer within the call timeout")

// call runs one AWS call (with the SDK's retries) bounded by the section's
// call_timeout as well as ctx. When the call timeout, not ctx, ended it, the
// error says so and matches errCallTimeout and context.DeadlineExceeded.
func (s *session) call(ctx context.Context, fn func(ctx context.Context) error) error {
	limit := s.spec.Timeout()
	cctx, cancel := context.WithTimeoutCause(ctx, limit, errCallTimeout)
	defer cancel()
	err := fn(cctx)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(cctx), errCallTimeout) {
		return &callTimeoutError{limit: limit, err: err}
	}
	return err
}

// callTimeoutError is a call ended by call_timeout.
type callTimeoutError struct {
	limit time.Duration
	err   error
}

func (e *callTimeoutError) Error() string {
	return fmt.Sprintf("no answer within the call_timeout of %s (is the endpoint reachable? raise call_timeout in the ec2 section if AWS is only slow): %v", e.limit, e.err)
}
func (e *callTimeoutError) Unwrap() []error { return []error{e.err, errCallTimeout} }

// serviceEndpoint is the endpoint override for a service: the section's
// own, then AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL (the SDK's
// documented precedence), or "" for the SDK's endpoint.
func (s *session) serviceEndpoint(service, own string) string {
	if own != "" {
		return own
	}
	if v, ok := s.opts.lookupEnv("AWS_ENDPOINT_URL_" + service); ok {
		return v
	}
	v, _ := s.opts.lookupEnv("AWS_ENDPOINT_URL")
	return v
}

func newRetryer(opts *Options) aws.Retryer {
	return retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = defaultMaxAttempts
		if opts.MaxAttempts > 0 {
			so.MaxAttempts = opts.MaxAttempts
		}
		if b := opts.RetryBackoff; b != nil {
			so.Backoff = retry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) {
				return b(attempt), nil
			})
		}
	})
}

// apiError wraps the error of an AWS call with where it happened and, when
// AWS refused the caller, a hint naming the permission to grant; such
// errors match ErrAccessDenied.
func (s *session) apiError(region, op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("ec2 section at %s: region %s: %s: %w", s.spec.Where(), region, op, err)
	}
	hint := ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "UnauthorizedOperation", "AccessDeniedException":
			hint = fmt.Sprintf("the credentials need the IAM permission ec2:%s", op)
		case "AccessDenied":
			if ar := s.spec.AssumeRole; ar != nil {
				hint = fmt.Sprintf("the credentials may not assume role %s: they need sts:AssumeRole on it, and the role's trust policy must allow them (and the external id, if any)", ar.RoleARN)
			} else {
				hint = fmt.Sprintf("the credentials need the IAM permission ec2:%s", op)
			}
		case "AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidAccessKeyId":
			hint = "AWS did not accept the credentials; check the profile, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the SSO session (aws sso login)"
		}
	}
	wrapped := fmt.Errorf("ec2 section at %s: region %s: %s: %w", s.spec.Where(), region, op, err)
	if hint == "" {
		return wrapped
	}
	return &deniedError{err: wrapped, hint: hint}
}

// deniedError is an AWS refusal with the permission to grant.
type deniedError struct {
	err  error
	hint string
}

func (e *deniedError) Error() string   { return e.err.Error() + "; " + e.hint }
func (e *deniedError) Unwrap() []error { return []error{e.err, ErrAccessDenied} }
