package inventory_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/inventory"
)

func TestSSMSettingsMergeKeyByKeyApartFromTemplateVars(t *testing.T) {
	t.Parallel()
	inv, err := inventory.Parse("inv.yaml", []byte(`
defaults:
  transport: ssm
  ssm: {region: us-east-1, output_s3_bucket: fleet-output, output_s3_prefix: runs/}
  vars: {region: ap-south-1}
groups:
  eu:
    ssm: {region: eu-west-1, profile: ops}
hosts:
  - {name: a, address: 10.0.0.1, ssm: {instance_id: i-0123456789abcdef0}, vars: {n: 3, ssm.region: us-west-2}}
  - {name: b, address: 10.0.0.2, groups: [eu], ssm: {endpoint: "https://vpce.example"}}
  - {name: c, address: 10.0.0.3, transport: winrm}
`))
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		SSM  inventory.SSMSettings
		Vars map[string]string
	}
	gotHosts := map[string]got{}
	for _, h := range inv.Hosts {
		gotHosts[h.Name+" "+h.Transport] = got{h.SSM, h.StringVars()}
	}
	want := map[string]got{
		"a ssm": {inventory.SSMSettings{InstanceID: "i-0123456789abcdef0", Region: "us-east-1", OutputS3Bucket: "fleet-output", OutputS3Prefix: "runs/"},
			map[string]string{"region": "ap-south-1", "n": "3", "ssm.region": "us-west-2"}},
		"b ssm": {inventory.SSMSettings{Region: "eu-west-1", Profile: "ops", Endpoint: "https://vpce.example", OutputS3Bucket: "fleet-output", OutputS3Prefix: "runs/"},
			map[string]string{"region": "ap-south-1"}},
		"c winrm": {inventory.SSMSettings{Region: "us-east-1", OutputS3Bucket: "fleet-output", OutputS3Prefix: "runs/"},
			map[string]string{"region": "ap-south-1"}},
	}
	if diff := cmp.Diff(want, gotHosts); diff != "" {
		t.Errorf("SSM settings and vars (-want +got):\n%s", diff)
	}
}

func TestSSMInstanceIDIsASettingNotATemplateVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml, want string
	}{
		{"an SSM host naming its instance in vars", `
hosts:
  - {name: legacy-01, address: 10.0.3.7, transport: ssm, vars: {instance_id: i-0123456789abcdef0}}
`, `inv.yaml:3:5: hosts[0]: host "legacy-01": vars are template variables and no longer name the SSM instance; give it as ssm: {instance_id: i-0123456789abcdef0} (and the region as ssm: {region: ...})`},
		{"an instance id that is none", `
hosts:
  - {name: a, address: 10.0.3.7, transport: ssm, ssm: {instance_id: web-01}}
`, `inv.yaml:3:69: hosts[0].ssm.instance_id: "web-01" is not an EC2 instance id such as i-0123456789abcdef0`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := inventory.Parse("inv.yaml", []byte(tc.yaml))
			if err == nil || err.Error() != tc.want {
				t.Errorf("Parse error = %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestSSMTransferBucketMergesKeyByKey(t *testing.T) {
	t.Parallel()
	inv, err := inventory.Parse("inv.yaml", []byte(`
defaults:
  transport: ssm
  ssm: {transfer_bucket: fleet-transfer, transfer_prefix: staged/files}
groups:
  eu:
    ssm: {transfer_bucket: fleet-transfer-eu}
hosts:
  - {name: a, address: 10.0.0.1}
  - {name: b, address: 10.0.0.2, groups: [eu]}
  - {name: c, address: 10.0.0.3, ssm: {transfer_prefix: other}}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]inventory.SSMSettings{}
	for _, h := range inv.Hosts {
		got[h.Name] = h.SSM
	}
	want := map[string]inventory.SSMSettings{
		"a": {TransferBucket: "fleet-transfer", TransferPrefix: "staged/files"},
		"b": {TransferBucket: "fleet-transfer-eu", TransferPrefix: "staged/files"},
		"c": {TransferBucket: "fleet-transfer", TransferPrefix: "other"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SSM settings (-want +got):\n%s", diff)
	}
}

func TestSSMTransferKeysAreChecked(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("p", 960)
	tests := []struct {
		name, yaml, want string
	}{
		{"a bucket name S3 refuses", `
defaults:
  ssm: {transfer_bucket: Fleet_Transfer}
`, `inv.yaml:3:26: defaults.ssm.transfer_bucket: "Fleet_Transfer" is not an S3 bucket name (3 to 63 lower-case letters, digits, dots and hyphens)`},
		{"a prefix starting with a slash", `
defaults:
  ssm: {transfer_bucket: fleet-transfer, transfer_prefix: /staged}
`, `inv.yaml:3:59: defaults.ssm.transfer_prefix: the key prefix "/staged" must not start with /`},
		{"a prefix with an empty segment", `
groups:
  web:
    ssm: {transfer_prefix: "a//b"}
`, `inv.yaml:4:28: groups.web.ssm.transfer_prefix: the key prefix "a//b" must not contain an empty segment (//)`},
		{"a prefix too long for an S3 key", `
defaults:
  ssm: {transfer_bucket: fleet-transfer, transfer_prefix: ` + long + `}
`, `inv.yaml:3:59: defaults.ssm.transfer_prefix: the key prefix is 960 bytes long; at most 959 leave room for the 64 hex digits of a SHA-256 in S3's 1,024-byte keys`},
		{"a prefix without a bucket", `
hosts:
  - {name: a, address: 10.0.3.7, transport: ssm, ssm: {transfer_prefix: staged}}
`, `inv.yaml:3:5: hosts[0]: host "a": ssm transfer_prefix needs transfer_bucket`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := inventory.Parse("inv.yaml", []byte(tc.yaml))
			if err == nil || err.Error() != tc.want {
				t.Errorf("Parse error = %v\nwant %s", err, tc.want)
			}
		})
	}
}
