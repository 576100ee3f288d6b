package awsconf_test

import (
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/internal/awsconf"
)

func TestLoadOptionsCarryWhatIsSetAndNothingElse(t *testing.T) {
	t.Parallel()
	apply := func(s awsconf.Source) config.LoadOptions {
		var lo config.LoadOptions
		for _, f := range s.LoadOptions() {
			if err := f(&lo); err != nil {
				t.Fatal(err)
			}
		}
		return lo
	}
	if n := len(awsconf.Source{}.LoadOptions()); n != 0 {
		t.Errorf("the zero Source gives %d options, want none (the SDK's defaults)", n)
	}
	creds := credentials.NewStaticCredentialsProvider("AKID", "secret", "")
	hc := &http.Client{}
	lo := apply(awsconf.Source{Profile: "prod", SharedConfigFiles: []string{"c"}, SharedCredentialsFiles: []string{"k"}, Credentials: creds, HTTPClient: hc})
	if lo.SharedConfigProfile != "prod" || lo.Credentials == nil || lo.HTTPClient != hc {
		t.Errorf("profile %q, credentials %v, http client %v", lo.SharedConfigProfile, lo.Credentials, lo.HTTPClient)
	}
	if got, ok := lo.Credentials.(credentials.StaticCredentialsProvider); !ok || got.Value.AccessKeyID != "AKID" {
		t.Errorf("credentials %#v, want the static provider given", lo.Credentials)
	}
	if diff := cmp.Diff([]string{"c"}, lo.SharedConfigFiles); diff != "" {
		t.Errorf("config files (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"k"}, lo.SharedCredentialsFiles); diff != "" {
		t.Errorf("credentials files (-want +got):\n%s", diff)
	}
}
