package ec2_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/inventory/ec2"
	"github.com/fleetrun/fleetrun/inventory/ec2/ec2test"
)

// hostView is what a discovered host shows, for goldens.
type hostView struct {
	Name     string            `json:"name"`
	Address  string            `json:"address"`
	Groups   []string          `json:"groups,omitempty"`
	Tags     map[string]string `json:"tags"`
	Vars     map[string]any    `json:"vars"`
	Unusable string            `json:"unusable,omitempty"`
	Source   string            `json:"source"`
}

func views(hs []*inventory.Host) []hostView {
	out := make([]hostView, 0, len(hs))
	for _, h := range hs {
		out = append(out, hostView{h.Name, h.Address, h.Groups, h.Tags, h.Vars, h.Unusable, h.Source})
	}
	return out
}

func names(hs []*inventory.Host) []string {
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

func TestDiscoverListsRunningWindowsInstancesOfBothRegions(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	spec := parseSpec(t, `
ec2:
  regions: [eu-west-1, ap-northeast-1]
`)
	d, err := ec2.Discover(context.Background(), spec, options(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "discover-two-regions.golden.json", map[string]any{"hosts": views(d.Hosts), "problems": d.Problems})
	for _, h := range d.Hosts {
		if h.Port != 5985 || h.Auth != "ntlm" || h.Transport != "winrm" {
			t.Errorf("host %s: port %d auth %s transport %s, want fleetrun's defaults 5985 ntlm winrm", h.Name, h.Port, h.Auth, h.Transport)
		}
	}
}

func TestDiscoverRequestsSendTheSectionsFilters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		section string
		// want is each request's filters (name=v1|v2), instance ids and
		// MaxResults, in the order sent.
		want []string
	}{
		{
			name:    "defaults ask for running Windows instances in pages",
			section: "regions: [eu-west-1]",
			want:    []string{"instance-state-name=running platform=windows ids= max=5"},
		},
		{
			name: "tags, several values, tag keys and other filters are ANDed in a fixed order",
			section: `regions: [eu-west-1]
  tags: {Role: [web, sql], Env: prod}
  tag_keys: [PatchGroup]
  filters: {vpc-id: vpc-0fakeeuwest, instance-type: ["t3.*", m5.large]}`,
			want: []string{"tag:Env=prod tag:Role=web|sql tag:PatchGroup=* instance-type=t3.*|m5.large vpc-id=vpc-0fakeeuwest instance-state-name=running platform=windows ids= max=5"},
		},
		{
			name: "states and platform any replace the defaults",
			section: `regions: [eu-west-1]
  states: [running, stopped]
  platform: any`,
			want: []string{"instance-state-name=running|stopped ids= max=5"},
		},
		{
			name: "instance ids are sent without MaxResults, which EC2 refuses with them",
			section: `regions: [eu-west-1]
  instance_ids: [i-0e000000000000001, i-0e000000000000002]`,
			want: []string{"instance-state-name=running platform=windows ids=i-0e000000000000001,i-0e000000000000002 max="},
		},
		{
			name: "any_of sends one query per alternative, each with the section's own filters",
			section: `regions: [eu-west-1]
  tags: {Env: prod}
  any_of:
    - tags: {Role: sql}
    - instance_ids: [i-0e000000000000001]`,
			want: []string{
				"tag:Env=prod tag:Role=sql instance-state-name=running platform=windows ids= max=5",
				"tag:Env=prod instance-state-name=running platform=windows ids=i-0e000000000000001 max=",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startFake(t, fleet(t))
			spec := parseSpec(t, "ec2:\n  "+tt.section+"\n")
			if _, err := ec2.Discover(context.Background(), spec, options(t, srv)); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range srv.Calls() {
				if r.Form["NextToken"] == nil { // first page of each query
					got = append(got, describeQuery(r.Form))
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

// describeQuery renders the Query API parameters of a DescribeInstances
// request: Filter.N.Name=Filter.N.Value.M|... in N order, then ids and
// MaxResults.
func describeQuery(form map[string][]string) string {
	var parts []string
	for n := 1; ; n++ {
		name := form[fmt.Sprintf("Filter.%d.Name", n)]
		if name == nil {
			break
		}
		var vals []string
		for m := 1; ; m++ {
			v := form[fmt.Sprintf("Filter.%d.Value.%d", n, m)]
			if v == nil {
				break
			}
			vals = append(vals, v[0])
		}
		parts = append(parts, name[0]+"="+strings.Join(vals, "|"))
	}
	var ids []string
	for n := 1; ; n++ {
		v := form[fmt.Sprintf("InstanceId.%d", n)]
		if v == nil {
			break
		}
		ids = append(ids, v[0])
	}
	max := ""
	if v := form["MaxResults"]; v != nil {
		max = v[0]
	}
	return strings.Join(append(parts, "ids="+strings.Join(ids, ","), "max="+max), " ")
}

func TestDiscoverFollowsNextTokenToTheLastPage(t *testing.T) {
	t.Parallel()
	var insts []ec2test.Instance
	for i := range 23 {
		insts = append(insts, ec2test.Instance{
			ID: fmt.Sprintf("i-%017x", i+1), Region: "eu-west-1", Platform: "windows",
			PrivateIP: fmt.Sprintf("127.0.0.%d", i+1),
		})
	}
	srv := startFake(t, insts)
	spec := parseSpec(t, "ec2:\n  regions: [eu-west-1]\n")
	d, err := ec2.Discover(context.Background(), spec, options(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Hosts) != 23 {
		t.Errorf("found %d hosts, want 23", len(d.Hosts))
	}
	var tokens []string
	for _, r := range srv.Calls() {
		tok := ""
		if v := r.Form["NextToken"]; v != nil {
			tok = "token"
		}
		tokens = append(tokens, fmt.Sprintf("%s max=%s %s", r.Action, r.Form["MaxResults"][0], tok))
	}
	want := []string{
		"DescribeInstances max=5 ",
		"DescribeInstances max=5 token",
		"DescribeInstances max=5 token",
		"DescribeInstances max=5 token",
		"DescribeInstances max=5 token",
	}
	if diff := cmp.Diff(want, tokens); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestDiscoverListsAnInstanceMatchedByOverlappingQueriesOnce(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	spec := parseSpec(t, `
ec2:
  regions: [eu-west-1]
  any_of:
    - tags: {PatchGroup: wave-2}
    - tags: {Role: sql}
    - instance_ids: [i-0e000000000000001, i-0e00000000000000a]
`)
	d, err := ec2.Discover(context.Background(), spec, options(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	// web-01, web-03 and sql-01 are wave-2; sql-01 is Role=sql; web-01 and
	// sql-01 are listed by id too.
	want := []string{"sql-01", "web-01", "web-03"}
	if diff := cmp.Diff(want, names(d.Hosts)); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
}

func TestDiscoverChoosesTheAddressAndReportsHostsWithoutIt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		address  string
		want     map[string]string // host → address
		unusable map[string]string // host → reason
	}{
		{
			address: "private_ip",
			want:    map[string]string{"web-03": "127.0.1.3", "web-05": "127.0.1.5"},
		},
		{
			address:  "public_ip",
			want:     map[string]string{"web-03": "127.0.2.3", "web-05": ""},
			unusable: map[string]string{"web-05": "EC2 instance i-0e000000000000005 in eu-west-1 has no public IP address (address: public_ip)"},
		},
		{
			address: "private_dns",
			want:    map[string]string{"web-03": "ip-127-0-1-3.eu-west-1.compute.internal", "web-05": "ip-127-0-1-5.eu-west-1.compute.internal"},
		},
		{
			address:  "public_dns",
			want:     map[string]string{"web-03": "ec2-127-0-2-3.eu-west-1.compute.amazonaws.com", "web-05": ""},
			unusable: map[string]string{"web-05": "EC2 instance i-0e000000000000005 in eu-west-1 has no public DNS name (address: public_dns)"},
		},
		{
			address:  "ipv6",
			want:     map[string]string{"web-03": "::1", "web-05": ""},
			unusable: map[string]string{"web-05": "EC2 instance i-0e000000000000005 in eu-west-1 has no IPv6 address (address: ipv6)"},
		},
		{
			address:  "tag:PatchGroup",
			want:     map[string]string{"web-03": "wave-2", "web-05": ""},
			unusable: map[string]string{"web-05": "EC2 instance i-0e000000000000005 in eu-west-1 has no tag PatchGroup (or it is empty) (address: tag:PatchGroup)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			t.Parallel()
			srv := startFake(t, fleet(t))
			spec := parseSpec(t, fmt.Sprintf("ec2:\n  regions: [eu-west-1]\n  instance_ids: [i-0e000000000000003, i-0e000000000000005]\n  address: %s\n", tt.address))
			d, err := ec2.Discover(context.Background(), spec, options(t, srv))
			if err != nil {
				t.Fatal(err)
			}
			got, unusable := map[string]string{}, map[string]string{}
			for _, h := range d.Hosts {
				got[h.Name] = h.Address
				if h.Unusable != "" {
					unusable[h.Name] = h.Unusable
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("addresses (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.unusable, unusable, cmpEmptyMap); diff != "" {
				t.Errorf("unusable (-want +got):\n%s", diff)
			}
			var wantProblems []string
			for name, why := range tt.unusable {
				wantProblems = append(wantProblems, fmt.Sprintf("host %s: %s; it will be skipped", name, why))
			}
			if diff := cmp.Diff(wantProblems, d.Problems); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

var cmpEmptyMap = cmp.Comparer(func(a, b map[string]string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return cmp.Equal(map[string]string(a), map[string]string(b))
})

func TestDiscoverNamesHosts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		section  string
		want     []string
		problems []string
	}{
		{
			name:    "instance_id names every host by its id",
			section: "host_name: instance_id\n  instance_ids: [i-0e000000000000001, i-0e00000000000000c]",
			want:    []string{"i-0e000000000000001", "i-0e00000000000000c"},
		},
		{
			name:    "an instance without the name tag is named by its id",
			section: "host_name: tag:PatchGroup\n  instance_ids: [i-0e000000000000001, i-0e00000000000000c]",
			want:    []string{"i-0e00000000000000c", "wave-2"},
		},
		{
			name:    "a Name with a space becomes a usable host name and is reported",
			section: "instance_ids: [i-0e00000000000000b]",
			want:    []string{"file-server-01"},
			problems: []string{
				`instance i-0e00000000000000b in eu-west-1: tag Name "file server 01" is not a usable host name (spaces and , = ! @ " are not allowed); named it "file-server-01"`,
			},
		},
		{
			name:    "names that differ only in case collide and every one is renamed",
			section: "host_name: tag:PatchGroup\n  tag_keys: [PatchGroup]",
			want: []string{
				"wave-1-i-0e000000000000002", "wave-1-i-0e000000000000004",
				"wave-2-i-0e000000000000001", "wave-2-i-0e000000000000003", "wave-2-i-0e00000000000000a",
			},
			problems: []string{
				`2 instances are named "wave-1"; named them wave-1-i-0e000000000000002 (i-0e000000000000002 in eu-west-1), wave-1-i-0e000000000000004 (i-0e000000000000004 in eu-west-1)`,
				`3 instances are named "wave-2"; named them wave-2-i-0e000000000000001 (i-0e000000000000001 in eu-west-1), wave-2-i-0e000000000000003 (i-0e000000000000003 in eu-west-1), wave-2-i-0e00000000000000a (i-0e00000000000000a in eu-west-1)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startFake(t, fleet(t))
			spec := parseSpec(t, "ec2:\n  regions: [eu-west-1]\n  "+tt.section+"\n")
			d, err := ec2.Discover(context.Background(), spec, options(t, srv))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, names(d.Hosts)); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.problems, d.Problems); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDiscoverNameCollisionsAcrossRegionsDoNotDependOnAnswerOrder(t *testing.T) {
	t.Parallel()
	insts := fleet(t)
	spec := parseSpec(t, "ec2:\n  regions: [ap-northeast-1, eu-west-1]\n  tags: {Role: sql}\n")
	var results [][]string
	for _, order := range [][]ec2test.Instance{insts, reversed(insts)} {
		srv := startFake(t, order)
		d, err := ec2.Discover(context.Background(), spec, options(t, srv))
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, append(names(d.Hosts), d.Problems...))
	}
	want := []string{
		"sql-01-i-0a000000000000002", "sql-01-i-0e00000000000000a",
		`2 instances are named "sql-01"; named them sql-01-i-0a000000000000002 (i-0a000000000000002 in ap-northeast-1), sql-01-i-0e00000000000000a (i-0e00000000000000a in eu-west-1)`,
	}
	for i, got := range results {
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("order %d (-want +got):\n%s", i, diff)
		}
	}
}

func reversed[T any](s []T) []T {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

func TestDiscoveredTagsWorkInSelectors(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	spec := parseSpec(t, "ec2:\n  regions: [eu-west-1, ap-northeast-1]\n")
	d, err := ec2.Discover(context.Background(), spec, options(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	inv := &inventory.Inventory{Hosts: d.Hosts}
	tests := []struct {
		selector string
		want     []string
	}{
		{`部署=経理`, []string{"ウェブ-01"}},
		{`Owner="ops=team,east"`, []string{"ウェブ-01"}},
		{`Owner="ops=*"`, []string{"ウェブ-01"}},
		{`ウェブ-*`, []string{"ウェブ-01"}},
		{`Role=sql,region=ap-northeast-1`, []string{}}, // vars are not tags
		{`Role=sql,!sql-01-i-0e*`, []string{"sql-01-i-0a000000000000002"}},
		{`PatchGroup=wave-1`, []string{"web-02", "web-04"}},
	}
	for _, tt := range tests {
		sel, err := inventory.ParseSelector(tt.selector)
		if err != nil {
			t.Fatalf("%s: %v", tt.selector, err)
		}
		if diff := cmp.Diff(tt.want, names(inv.Select(sel))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.selector, diff)
		}
	}
}

func TestDiscoverRetriesThrottledRequests(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	srv.Throttle(3)
	spec := parseSpec(t, "ec2:\n  regions: [eu-west-1]\n  tags: {Role: sql}\n")
	d, err := ec2.Discover(context.Background(), spec, options(t, srv))
	if err != nil {
		t.Fatalf("discovery failed despite retries: %v", err)
	}
	if diff := cmp.Diff([]string{"sql-01"}, names(d.Hosts)); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
	// The answers up to the first success: three throttles, then the
	// listing (a fast server's answer is sometimes sent twice; see Calls).
	var statuses []int
	for _, r := range srv.Requests() {
		statuses = append(statuses, r.Status)
		if r.Status == 200 {
			break
		}
	}
	if diff := cmp.Diff([]int{503, 503, 503, 200}, statuses); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
}

func TestDiscoverGivesUpWhenThrottledBeyondMaxAttempts(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	srv.Throttle(100)
	opts := options(t, srv)
	opts.MaxAttempts = 2
	spec := parseSpec(t, "ec2:\n  regions: [eu-west-1]\n")
	_, err := ec2.Discover(context.Background(), spec, opts)
	if err == nil || !strings.Contains(err.Error(), "RequestLimitExceeded") {
		t.Fatalf("error %v, want one naming RequestLimitExceeded", err)
	}
	if n := len(srv.Requests()); n != 2 {
		t.Errorf("%d requests, want 2 (MaxAttempts)", n)
	}
}

func TestDiscoverFailsWhenARegionDeniesAccess(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	srv.Deny("DescribeInstances", "ap-northeast-1")
	spec := parseSpec(t, "ec2:\n  regions: [eu-west-1, ap-northeast-1]\n")
	_, err := ec2.Discover(context.Background(), spec, options(t, srv))
	if !errors.Is(err, ec2.ErrAccessDenied) {
		t.Fatalf("error %v, want ErrAccessDenied", err)
	}
	for _, want := range []string{"ec2 section at inv.yaml:2:3: region ap-northeast-1: DescribeInstances:", "UnauthorizedOperation", "the credentials need the IAM permission ec2:DescribeInstances"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestDiscoverReportsFiltersEC2Refuses(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	spec := parseSpec(t, "ec2:\n  regions: [eu-west-1]\n  filters: {no-such-filter: x}\n")
	_, err := ec2.Discover(context.Background(), spec, options(t, srv))
	if err == nil || !strings.Contains(err.Error(), "InvalidParameterValue: The filter 'no-such-filter' is invalid") {
		t.Fatalf("error %v, want EC2's InvalidParameterValue", err)
	}
	if errors.Is(err, ec2.ErrAccessDenied) {
		t.Error("an invalid filter is not access denied")
	}
}

func TestDiscoverUsesTheEndpointKeyBeforeTheEnvironment(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	unused := startFake(t, nil)
	opts := options(t, srv)
	opts.LookupEnv = envOf(map[string]string{"AWS_ENDPOINT_URL_EC2": unused.URL, "AWS_ENDPOINT_URL": unused.URL})
	spec := parseSpec(t, fmt.Sprintf("ec2:\n  regions: [eu-west-1]\n  endpoint: %s\n  tags: {Role: sql}\n", srv.URL))
	d, err := ec2.Discover(context.Background(), spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Hosts) != 1 || len(unused.Requests()) != 0 {
		t.Errorf("found %d hosts, %d requests went to the environment's endpoint; want 1 and 0", len(d.Hosts), len(unused.Requests()))
	}
}

func TestDiscoverUsesTheGeneralEndpointVariableAndTheEnvironmentsRegion(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	opts := options(t, srv)
	opts.LookupEnv = envOf(map[string]string{"AWS_ENDPOINT_URL": srv.URL, "AWS_REGION": "ap-northeast-1"})
	spec := parseSpec(t, "ec2:\n  tags: {Role: sql}\n")
	d, err := ec2.Discover(context.Background(), spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"sql-01"}, names(d.Hosts)); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
	if r := srv.Requests()[0]; r.Region != "ap-northeast-1" || r.AccessKeyID != testKeyID {
		t.Errorf("request signed for %s by %s, want ap-northeast-1 by %s", r.Region, r.AccessKeyID, testKeyID)
	}
}

func TestDiscoverWithoutAnyRegionFails(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	spec := parseSpec(t, "ec2:\n  tags: {Role: sql}\n")
	_, err := ec2.Discover(context.Background(), spec, options(t, srv))
	want := "ec2 section at inv.yaml:2:3: no region: list regions in the section, pass --ec2-region, or set AWS_REGION or the profile's region"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

func TestDiscoverStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	spec := parseSpec(t, "ec2:\n  regions: [eu-west-1, ap-northeast-1]\n")
	_, err := ec2.Discover(ctx, spec, options(t, srv))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestDiscoverAssumesTheSectionsRole(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	opts := options(t, srv)
	opts.LookupEnv = envOf(map[string]string{"AWS_ENDPOINT_URL": srv.URL})
	spec := parseSpec(t, `
ec2:
  regions: [eu-west-1, ap-northeast-1]
  tags: {Role: sql}
  assume_role:
    role_arn: arn:aws:iam::123456789012:role/fleetrun-discovery
    external_id: fleet-7
    session_name: patch-night
`)
	if _, err := ec2.Discover(context.Background(), spec, opts); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range srv.Calls() {
		line := fmt.Sprintf("%s %s %s by %s", r.Service, r.Region, r.Action, r.AccessKeyID)
		if r.Action == "AssumeRole" {
			line += fmt.Sprintf(" role=%s external=%s session=%s", r.Form["RoleArn"][0], r.Form["ExternalId"][0], r.Form["RoleSessionName"][0])
		}
		got = append(got, line)
	}
	sort.Strings(got) // regions are queried concurrently
	want := []string{
		"ec2 ap-northeast-1 DescribeInstances by ASIAFAKEASSUMEDROLE1",
		"ec2 eu-west-1 DescribeInstances by ASIAFAKEASSUMEDROLE1",
		"sts eu-west-1 AssumeRole by " + testKeyID + " role=arn:aws:iam::123456789012:role/fleetrun-discovery external=fleet-7 session=patch-night",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestDiscoverExplainsARefusedAssumeRole(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	srv.Deny("AssumeRole", "")
	opts := options(t, srv)
	opts.LookupEnv = envOf(map[string]string{"AWS_ENDPOINT_URL": srv.URL})
	spec := parseSpec(t, `
ec2:
  regions: [eu-west-1]
  assume_role: {role_arn: "arn:aws:iam::123456789012:role/fleetrun-discovery"}
`)
	_, err := ec2.Discover(context.Background(), spec, opts)
	if !errors.Is(err, ec2.ErrAccessDenied) {
		t.Fatalf("error %v, want ErrAccessDenied", err)
	}
	want := "the credentials may not assume role arn:aws:iam::123456789012:role/fleetrun-discovery: they need sts:AssumeRole on it"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}
