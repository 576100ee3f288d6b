// Package awsconf builds the aws-sdk-go-v2 configuration options the two
// AWS users (EC2 discovery and the SSM transport) load their clients
// with, so both read profiles, shared files and credentials the same way.
package awsconf

import (
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Source says where configuration and credentials come from; the zero
// value is the SDK's defaults (environment, shared files in their usual
// places, instance roles).
type Source struct {
	// Profile is the shared-config profile; empty means the default.
	Profile string
	// SharedConfigFiles and SharedCredentialsFiles replace the usual
	// ~/.aws/config and ~/.aws/credentials when set.
	SharedConfigFiles      []string
	SharedCredentialsFiles []string
	// Credentials, when set, is used instead of the SDK's chain.
	Credentials aws.CredentialsProvider
	// HTTPClient, when set, sends the requests.
	HTTPClient *http.Client
}

// LoadOptions are s's options for config.LoadDefaultConfig; callers add
// their region, retryer and the like.
func (s Source) LoadOptions() []func(*config.LoadOptions) error {
	var lo []func(*config.LoadOptions) error
	if s.Profile != "" {
		lo = append(lo, config.WithSharedConfigProfile(s.Profile))
	}
	if len(s.SharedConfigFiles) > 0 {
		lo = append(lo, config.WithSharedConfigFiles(s.SharedConfigFiles))
	}
	if len(s.SharedCredentialsFiles) > 0 {
		lo = append(lo, config.WithSharedCredentialsFiles(s.SharedCredentialsFiles))
	}
	if s.Credentials != nil {
		lo = append(lo, config.WithCredentialsProvider(s.Credentials))
	}
	if s.HTTPClient != nil {
		lo = append(lo, config.WithHTTPClient(s.HTTPClient))
	}
	return lo
}
