package ec2_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/fleetrun/fleetrun/internal/strictyaml"
	"github.com/fleetrun/fleetrun/inventory"
)

func TestSectionParsesEveryKey(t *testing.T) {
	t.Parallel()
	inv, err := inventory.Parse("/inv/prod.yaml", []byte(`
ec2:
  regions: [eu-west-1, ap-northeast-1]
  profile: prod
  endpoint: http://127.0.0.1:4566
  assume_role:
    role_arn: arn:aws:iam::123456789012:role/fleetrun
    external_id: fleet-7
    session_name: patch-night
    duration: 30m
  tags:
    Role: [web, sql]
    Env: prod
  tag_keys: [PatchGroup]
  filters: {vpc-id: vpc-1, instance-type: ["t3.*"]}
  any_of:
    - tags: {Tier: front}
    - instance_ids: [i-01234567]
  states: [running, stopped]
  platform: any
  address: tag:WinRMHost
  host_name: instance_id
  groups: [windows, patch]
  password_key_file: keys/fleet.pem
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &inventory.EC2Spec{
		File:       "/inv/prod.yaml",
		Regions:    []string{"eu-west-1", "ap-northeast-1"},
		Profile:    "prod",
		Endpoint:   "http://127.0.0.1:4566",
		AssumeRole: &inventory.EC2AssumeRole{RoleARN: "arn:aws:iam::123456789012:role/fleetrun", ExternalID: "fleet-7", SessionName: "patch-night", Duration: 30 * time.Minute},
		EC2Query: inventory.EC2Query{
			Tags:    map[string]inventory.EC2Values{"Role": {"web", "sql"}, "Env": {"prod"}},
			TagKeys: []string{"PatchGroup"},
			Filters: map[string]inventory.EC2Values{"vpc-id": {"vpc-1"}, "instance-type": {"t3.*"}},
		},
		AnyOf: []inventory.EC2Query{
			{Tags: map[string]inventory.EC2Values{"Tier": {"front"}}},
			{InstanceIDs: []string{"i-01234567"}},
		},
		States:          []string{"running", "stopped"},
		Platform:        "any",
		Address:         inventory.EC2Address{Kind: inventory.EC2Tag, Tag: "WinRMHost"},
		HostName:        inventory.EC2HostName{InstanceID: true},
		Groups:          []string{"windows", "patch"},
		PasswordKeyFile: "/inv/keys/fleet.pem",
	}
	ignorePos := cmpopts.IgnoreTypes(strictyaml.Pos{})
	if diff := cmp.Diff(want, inv.EC2[0], ignorePos); diff != "" {
		t.Errorf("section (-want +got):\n%s", diff)
	}
	if got := inv.EC2[0].Where(); got != "/inv/prod.yaml:3:3" {
		t.Errorf("Where() = %q", got)
	}
}

func TestSectionErrorsPointAtTheValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		section string
		want    []string
	}{
		{"an empty region list", "regions: []", []string{
			"inv.yaml:2:12: ec2.regions: regions must list at least one region, such as eu-west-1; leave the key out to use the AWS configuration's region"}},
		{"a misspelt and a repeated region", "regions: [eu-west-1, EU-WEST-1, eu-west-1]", []string{
			`inv.yaml:2:24: ec2.regions[1]: "EU-WEST-1" is not an AWS region name such as eu-west-1`,
			"inv.yaml:2:35: ec2.regions[2]: region eu-west-1 is listed twice"}},
		{"an unknown key with a suggestion", "region: eu-west-1", []string{
			`inv.yaml:2:3: ec2.region: unknown key "region"; did you mean "regions"?`}},
		{"an unknown address with a suggestion", "address: public_ipv4", []string{
			`inv.yaml:2:12: ec2.address: unknown address "public_ipv4"; expected one of private_ip, public_ip, private_dns, public_dns, ipv6 or tag:NAME (did you mean "public_ip"?)`}},
		{"an address tag without a name", "address: 'tag:'", []string{
			"inv.yaml:2:12: ec2.address: tag: needs a tag name, as in tag:WinRMHost"}},
		{"an unknown host_name", "host_name: Name", []string{
			`inv.yaml:2:14: ec2.host_name: unknown host_name "Name"; expected instance_id or tag:NAME (such as tag:Name)`}},
		{"filters fleetrun has keys for", "filters: {instance-state-name: stopped, platform: windows, 'tag:Role': web}", []string{
			"inv.yaml:2:12: ec2.filters.instance-state-name: write instance states under states: (default: running)",
			"inv.yaml:2:12: ec2.filters.platform: choose the platform with platform: windows or platform: any",
			"inv.yaml:2:12: ec2.filters.tag:Role: write tag filters under tags: (Role: VALUE)"}},
		{"an empty value list", "tags: {Role: []}", []string{
			"inv.yaml:2:16: ec2.tags.Role: expected at least one value, found an empty list"}},
		{"a tag both filtered and required", "tags: {Role: web}\n  tag_keys: [Role, Env, Env]", []string{
			`inv.yaml:3:14: ec2.tag_keys[0]: tag "Role" is already filtered under tags`,
			`inv.yaml:3:25: ec2.tag_keys[2]: tag key "Env" is listed twice`}},
		{"malformed instance ids", "instance_ids: [i-123, web-01]", []string{
			`inv.yaml:2:18: ec2.instance_ids[0]: "i-123" is not an instance id such as i-0123456789abcdef0`,
			`inv.yaml:2:25: ec2.instance_ids[1]: "web-01" is not an instance id such as i-0123456789abcdef0`}},
		{"an unknown state and platform", "states: [runing]\n  platform: linux", []string{
			`inv.yaml:2:12: ec2.states[0]: unknown instance state "runing"; expected one of pending, running, shutting-down, terminated, stopping, stopped`,
			`inv.yaml:3:13: ec2.platform: unknown platform "linux"; expected windows (the default) or any`}},
		{"an any_of query that matches everything", "any_of:\n    - {}", []string{
			"inv.yaml:3:7: ec2.any_of[0]: query sets no tags, tag_keys, filters or instance_ids, so it would match every instance"}},
		{"an any_of query repeating the section's criteria", "tags: {Env: prod}\n  tag_keys: [Owner]\n  filters: {vpc-id: v1}\n  instance_ids: [i-01234567]\n  any_of:\n    - {tags: {Env: test}, tag_keys: [Owner], filters: {vpc-id: v2}, instance_ids: [i-0123456a]}", []string{
			`inv.yaml:7:14: ec2.any_of[0].tags.Env: tag "Env" is already filtered by the section itself; filter it in one place`,
			`inv.yaml:7:38: ec2.any_of[0].tag_keys[0]: tag "Owner" is already filtered by the section itself; filter it in one place`,
			`inv.yaml:7:55: ec2.any_of[0].filters.vpc-id: filter "vpc-id" is already given by the section itself; give it in one place`,
			`inv.yaml:7:83: ec2.any_of[0].instance_ids: instance_ids are given by the section itself too; give them in one place`}},
		{"an endpoint that is not a URL", "endpoint: localhost:4566", []string{
			`inv.yaml:2:13: ec2.endpoint: endpoint "localhost:4566" is not an http:// or https:// URL with a host`}},
		{"assume_role without a role", "assume_role: {external_id: x1}", []string{
			"inv.yaml:2:16: ec2.assume_role.role_arn: assume_role needs role_arn, such as arn:aws:iam::123456789012:role/fleetrun"}},
		{"assume_role with bad values", "assume_role: {role_arn: 'arn:aws:iam::1:user/me', session_name: 'a b', duration: 5m}", []string{
			`inv.yaml:2:27: ec2.assume_role.role_arn: "arn:aws:iam::1:user/me" is not a role ARN such as arn:aws:iam::123456789012:role/fleetrun`,
			"inv.yaml:2:67: ec2.assume_role.session_name: session_name must be 2 to 64 characters of letters, digits and +=,.@-",
			"inv.yaml:2:84: ec2.assume_role.duration: duration 5m0s is out of STS's range [15m, 12h]"}},
		{"an empty profile and key file", "profile: ''\n  password_key_file: ''", []string{
			"inv.yaml:2:12: ec2.profile: profile is empty; leave the key out to use AWS_PROFILE or the default profile",
			"inv.yaml:3:22: ec2.password_key_file: password_key_file is empty"}},
		{"a call timeout out of range", "call_timeout: 100ms", []string{
			"inv.yaml:2:17: ec2.call_timeout: call_timeout 100ms is out of range [1s, 1h]; leave the key out for 1m0s"}},
		{"a group name selectors cannot name", "groups: ['web servers']", []string{
			`inv.yaml:2:12: ec2.groups[0]: group name "web servers" is empty or contains a space or one of , = ! @ "`}},
		{"a wrong type", "regions: eu-west-1", []string{
			`inv.yaml:2:12: ec2.regions: expected a list, found the string "eu-west-1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := inventory.Parse("inv.yaml", []byte("ec2:\n  "+tt.section+"\n"))
			if diff := cmp.Diff(tt.want, errorLines(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParseSection checks that no ec2 section makes the inventory parser
// panic, and that a section that parses has the values discovery relies on.
func FuzzParseSection(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/sections/*.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Add("regions: [eu-west-1]\n  tags: {Role: web}")
	f.Add("address: tag:X\n  host_name: tag:Y\n  any_of: [{tag_keys: [a]}]")
	f.Fuzz(func(t *testing.T, section string) {
		inv, err := inventory.Parse("inv.yaml", []byte("ec2:\n  "+section+"\n"))
		if err != nil || len(inv.EC2) == 0 {
			return
		}
		s := inv.EC2[0]
		for _, r := range s.Regions {
			if r == "" || strings.ContainsAny(r, " /") {
				t.Errorf("region %q accepted", r)
			}
		}
		for _, q := range append([]inventory.EC2Query{s.EC2Query}, s.AnyOf...) {
			for k, v := range q.Tags {
				if k == "" || len(v) == 0 {
					t.Errorf("tag filter %q = %q accepted", k, v)
				}
			}
		}
		if s.Address.Kind == inventory.EC2Tag && s.Address.Tag == "" {
			t.Error("address tag: without a name accepted")
		}
	})
}
