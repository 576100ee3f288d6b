package inventory

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/fleetrun/fleetrun/internal/strictyaml"
)

// SSMSpec is the `ssm:` key of an inventory's defaults, a group or a host:
// how hosts with transport: ssm are reached through AWS Systems Manager Run
// Command. Unset keys inherit from the level below (defaults, then groups,
// then the host), key by key.
type SSMSpec struct {
	Pos strictyaml.Pos
	// InstanceID is the managed instance a static host is (EC2 discovery
	// sets it for the hosts it finds).
	InstanceID *string `yaml:"instance_id"`
	// Region is the hosts' AWS region (EC2 discovery sets the region it
	// found an instance in, which wins).
	Region *string `yaml:"region"`
	// Profile names a profile of the shared AWS config and credentials
	// files.
	Profile *string `yaml:"profile"`
	// Endpoint replaces the SSM endpoint URL (a VPC endpoint, a test
	// server).
	Endpoint *string `yaml:"endpoint"`
	// S3Endpoint replaces the S3 endpoint URL the output is read from.
	S3Endpoint *string `yaml:"s3_endpoint"`
	// OutputS3Bucket and OutputS3Prefix make commands upload their full
	// output to S3, where fleetrun reads it; without a bucket, output is
	// what SSM returns inline (24,000 characters of stdout, 8,000 of
	// stderr) and longer output is marked truncated.
	OutputS3Bucket *string `yaml:"output_s3_bucket"`
	OutputS3Prefix *string `yaml:"output_s3_prefix"`
	// TransferBucket and TransferPrefix are where copy steps put their
	// sources for the hosts to download (key TransferPrefix/<sha256>);
	// copy steps over SSM need the bucket.
	TransferBucket *string `yaml:"transfer_bucket"`
	TransferPrefix *string `yaml:"transfer_prefix"`
	// Document is the SSM document to run; it must take AWS-RunPowerShellScript's
	// parameters (commands, executionTimeout). Empty means
	// AWS-RunPowerShellScript.
	Document *string `yaml:"document"`
}

// SSMSettings are a host's resolved SSM settings; empty strings mean the
// transport's defaults.
type SSMSettings struct {
	InstanceID     string `json:"instance_id,omitempty"`
	Region         string `json:"region,omitempty"`
	Profile        string `json:"profile,omitempty"`
	Endpoint       string `json:"endpoint,omitempty"`
	S3Endpoint     string `json:"s3_endpoint,omitempty"`
	OutputS3Bucket string `json:"output_s3_bucket,omitempty"`
	OutputS3Prefix string `json:"output_s3_prefix,omitempty"`
	Document       string `json:"document,omitempty"`
	TransferBucket string `json:"transfer_bucket,omitempty"`
	TransferPrefix string `json:"transfer_prefix,omitempty"`
}

// IsZero reports whether no SSM setting is given.
func (s SSMSettings) IsZero() bool { return s == SSMSettings{} }

// StringVars returns the host's variables as strings, as transports
// receive them in transport.Target.Vars. They are template variables;
// the SSM settings travel typed (SSM), never among them.
func (h *Host) StringVars() map[string]string {
	out := make(map[string]string, len(h.Vars))
	for k, v := range h.Vars {
		out[k] = stringify(v)
	}
	return out
}

// ssmMaxTransferPrefix is the longest transfer_prefix: an S3 key is at
// most 1,024 bytes (the S3 user guide's object key naming) and fleetrun
// appends / and 64 hex digits.
const ssmMaxTransferPrefix = 1024 - 65

var (
	ssmRegionRE   = regexp.MustCompile(`^[a-z]{2,}(-[a-z]+)+-[0-9]+$`)
	ssmBucketRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	ssmDocumentRE = regexp.MustCompile(`^[A-Za-z0-9_.:/-]{3,128}$`)
)

// check validates the values given at one level.
func (s *SSMSpec) check(d *strictyaml.Decoder, path string) {
	errf := func(key, format string, args ...any) {
		d.Errorf(s.Pos.Value(key), strictyaml.JoinKey(path, key), format, args...)
	}
	if s.InstanceID != nil && !ec2InstanceIDRE.MatchString(*s.InstanceID) {
		errf("instance_id", "%q is not an EC2 instance id such as i-0123456789abcdef0", *s.InstanceID)
	}
	if s.Region != nil && !ssmRegionRE.MatchString(*s.Region) {
		errf("region", "%q is not an AWS region name such as us-east-1", *s.Region)
	}
	for key, v := range map[string]*string{"endpoint": s.Endpoint, "s3_endpoint": s.S3Endpoint} {
		if v == nil {
			continue
		}
		u, err := url.Parse(*v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errf(key, "%q is not an http(s) URL", *v)
		}
	}
	for key, v := range map[string]*string{"output_s3_bucket": s.OutputS3Bucket, "transfer_bucket": s.TransferBucket} {
		if v != nil && (!ssmBucketRE.MatchString(*v) || strings.Contains(*v, "..")) {
			errf(key, "%q is not an S3 bucket name (3 to 63 lower-case letters, digits, dots and hyphens)", *v)
		}
	}
	if s.OutputS3Prefix != nil && strings.HasPrefix(*s.OutputS3Prefix, "/") {
		errf("output_s3_prefix", "the key prefix %q must not start with /", *s.OutputS3Prefix)
	}
	if p := s.TransferPrefix; p != nil {
		switch {
		case strings.HasPrefix(*p, "/"):
			errf("transfer_prefix", "the key prefix %q must not start with /", *p)
		case strings.Contains(*p, "//"):
			errf("transfer_prefix", "the key prefix %q must not contain an empty segment (//)", *p)
		case len(*p) > ssmMaxTransferPrefix:
			errf("transfer_prefix", "the key prefix is %d bytes long; at most %d leave room for the 64 hex digits of a SHA-256 in S3's 1,024-byte keys", len(*p), ssmMaxTransferPrefix)
		case strings.ContainsFunc(*p, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			errf("transfer_prefix", "the key prefix %q contains a control character", *p)
		}
	}
	if s.Document != nil && !ssmDocumentRE.MatchString(*s.Document) {
		errf("document", "%q is not an SSM document name", *s.Document)
	}
	if s.Profile != nil && strings.TrimSpace(*s.Profile) == "" {
		errf("profile", "profile must not be empty")
	}
}

// applyTo merges the level's settings into a host's.
func (s *SSMSpec) applyTo(h *SSMSettings) {
	if s == nil {
		return
	}
	setStr(&h.InstanceID, s.InstanceID)
	setStr(&h.Region, s.Region)
	setStr(&h.Profile, s.Profile)
	setStr(&h.Endpoint, s.Endpoint)
	setStr(&h.S3Endpoint, s.S3Endpoint)
	setStr(&h.OutputS3Bucket, s.OutputS3Bucket)
	setStr(&h.OutputS3Prefix, s.OutputS3Prefix)
	setStr(&h.Document, s.Document)
	setStr(&h.TransferBucket, s.TransferBucket)
	setStr(&h.TransferPrefix, s.TransferPrefix)
}

// stringify writes a variable's value as a transport reads it.
func stringify(v any) string { return fmt.Sprint(v) }
