package inventory_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/inventory"
)

func TestSSMSettingsMergeKeyByKeyAndReachTheTransportVars(t *testing.T) {
	t.Parallel()
	inv, err := inventory.Parse("inv.yaml", []byte(`
defaults:
  transport: ssm
  ssm: {region: us-east-1, output_s3_bucket: fleet-output, output_s3_prefix: runs/}
groups:
  eu:
    ssm: {region: eu-west-1, profile: ops}
hosts:
  - {name: a, address: 10.0.0.1, vars: {instance_id: i-0a, n: 3}}
  - {name: b, address: 10.0.0.2, groups: [eu], ssm: {endpoint: "https://vpce.example"}}
  - {name: c, address: 10.0.0.3, transport: winrm}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{}
	for _, h := range inv.Hosts {
		got[h.Name+" "+h.Transport] = h.TransportVars()
	}
	want := map[string]map[string]string{
		"a ssm": {"instance_id": "i-0a", "n": "3", "ssm.region": "us-east-1", "ssm.output_s3_bucket": "fleet-output", "ssm.output_s3_prefix": "runs/"},
		"b ssm": {"ssm.region": "eu-west-1", "ssm.profile": "ops", "ssm.endpoint": "https://vpce.example",
			"ssm.output_s3_bucket": "fleet-output", "ssm.output_s3_prefix": "runs/"},
		"c winrm": {"ssm.region": "us-east-1", "ssm.output_s3_bucket": "fleet-output", "ssm.output_s3_prefix": "runs/"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("transport vars (-want +got):\n%s", diff)
	}
}
