package ec2_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/inventory/ec2"
)

// settingsView is a host's resolved connection settings.
type settingsView struct {
	Name, Address, Auth, User, PasswordEnv string
	Port                                   int
	HTTPS                                  bool
	Groups                                 []string
	Tags                                   map[string]string
	Site                                   any
	Source                                 string
}

func settingsOf(hs []*inventory.Host) []settingsView {
	var out []settingsView
	for _, h := range hs {
		out = append(out, settingsView{h.Name, h.Address, h.Auth, h.User, h.PasswordEnv, h.Port, h.HTTPS, h.Groups,
			map[string]string{"Role": h.Tags["Role"], "owner": h.Tags["owner"]}, h.Vars["site"], h.Source})
	}
	return out
}

func TestResolveAppendsDiscoveredHostsWithTheInventorysSettings(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	inv := parseInventory(t, `
defaults:
  user: Administrator
  password_env: FLEET_PW
  tags: {owner: ops}
  vars: {site: default}
groups:
  sql:
    https: true
    auth: basic
    tags: {Role: group-role, owner: dba}
    vars: {site: db-site}
hosts:
  - {name: build-01, address: 127.0.0.9}
ec2:
  regions: [eu-west-1]
  tags: {Role: [sql, file]}
  groups: [sql]
`)
	var problems []string
	opts := options(t, srv)
	opts.Problem = func(p string) { problems = append(problems, p) }
	if err := ec2.Resolve(context.Background(), inv, opts); err != nil {
		t.Fatal(err)
	}
	want := []settingsView{
		{"build-01", "127.0.0.9", "ntlm", "Administrator", "FLEET_PW", 5985, false, nil, map[string]string{"Role": "", "owner": "ops"}, "default", "inv.yaml"},
		// Group settings apply; the instance's own Role tag wins over the
		// group's.
		{"file-server-01", "127.0.1.11", "basic", "Administrator", "FLEET_PW", 5986, true, []string{"sql"}, map[string]string{"Role": "file", "owner": "dba"}, "db-site", "ec2"},
		{"sql-01", "127.0.1.10", "basic", "Administrator", "FLEET_PW", 5986, true, []string{"sql"}, map[string]string{"Role": "sql", "owner": "dba"}, "db-site", "ec2"},
	}
	if diff := cmp.Diff(want, settingsOf(inv.Hosts)); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
	wantProblems := []string{`instance i-0e00000000000000b in eu-west-1: tag Name "file server 01" is not a usable host name (spaces and , = ! @ " are not allowed); named it "file-server-01"`}
	if diff := cmp.Diff(wantProblems, problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// TestResolveGivesDiscoveredHostsTheirInstanceAsSSMSettings: the instance
// and the region it was found in reach the SSM transport as settings
// (winning over the inventory's ssm region), whatever template variables
// the inventory declares.
func TestResolveGivesDiscoveredHostsTheirInstanceAsSSMSettings(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	inv := parseInventory(t, `
defaults:
  transport: ssm
  ssm: {region: us-east-1, profile: ops}
  vars: {region: ap-south-1, instance_id: i-0fffffffffffffff0}
ec2:
  regions: [eu-west-1]
  tags: {Role: [sql]}
`)
	if err := ec2.Resolve(context.Background(), inv, options(t, srv)); err != nil {
		t.Fatal(err)
	}
	got := map[string]inventory.SSMSettings{}
	for _, h := range inv.Hosts {
		got[h.Name] = h.SSM
	}
	want := map[string]inventory.SSMSettings{"sql-01": {InstanceID: "i-0e00000000000000a", Region: "eu-west-1", Profile: "ops"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SSM settings (-want +got):\n%s", diff)
	}
}

func TestResolveGivesEachSectionsHostsTheSettingsOfItsOwnFile(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	first := parseInventory(t, "defaults: {port: 15985}\nhosts:\n  - {name: build-01, address: 127.0.0.9}\n")
	second, err := inventory.Parse("second.yaml", []byte("defaults: {port: 25985}\nec2:\n  regions: [eu-west-1]\n  tags: {Role: sql}\n"))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Merge(first, second)
	if err != nil {
		t.Fatal(err)
	}
	if err := ec2.Resolve(context.Background(), inv, options(t, srv)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range inv.Hosts {
		got = append(got, h.Name+":"+h.Endpoint())
	}
	want := []string{"build-01:http://127.0.0.9:15985/wsman", "sql-01:http://127.0.1.10:25985/wsman"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
}

func TestResolveListsAnInstanceFoundBySeveralSectionsOnceWithAllTheirGroups(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	a, err := inventory.Parse("a.yaml", []byte("ec2:\n  regions: [eu-west-1]\n  tags: {Role: sql}\n  groups: [db]\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := inventory.Parse("b.yaml", []byte("ec2:\n  regions: [eu-west-1]\n  tags: {PatchGroup: wave-2}\n  groups: [wave2, db]\n"))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := ec2.Resolve(context.Background(), inv, options(t, srv)); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, h := range inv.Hosts {
		got[h.Name] = h.Groups
	}
	want := map[string][]string{"sql-01": {"db", "wave2"}, "web-01": {"wave2", "db"}, "web-03": {"wave2", "db"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
}

func TestResolveRefusesANameTakenByAStaticHost(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	inv := parseInventory(t, `
hosts:
  - {name: SQL-01, address: 127.0.0.9}
ec2:
  regions: [eu-west-1]
  tags: {Role: sql}
`)
	err := ec2.Resolve(context.Background(), inv, options(t, srv))
	want := `ec2: instance i-0e00000000000000a in eu-west-1 is named "sql-01", as host "SQL-01" of inv.yaml; rename one of them (or use host_name: instance_id in the ec2 section)`
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	if len(inv.Hosts) != 1 {
		t.Errorf("inventory has %d hosts after a failed Resolve, want the 1 static host", len(inv.Hosts))
	}
}

func TestResolveRefusesSettingsADiscoveredHostCannotUse(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	inv := parseInventory(t, "defaults: {auth: basic}\nec2:\n  regions: [eu-west-1]\n  tags: {Role: sql}\n")
	err := ec2.Resolve(context.Background(), inv, options(t, srv))
	if err == nil || !strings.Contains(err.Error(), `ec2 section at inv.yaml:3:3: ec2: host "sql-01": basic auth over plain HTTP would send the password readably`) {
		t.Fatalf("error %v, want basic auth over HTTP refused", err)
	}
}

func TestResolveUsesGetPasswordDataInsteadOfTheDefaultsPassword(t *testing.T) {
	t.Parallel()
	key := launchKey(t)
	srv := startFake(t, passwordFleet(t, encryptPassword(t, key, "from-ec2")))
	inv := parseInventory(t, "defaults: {password_env: FLEET_PW}\nec2:\n  regions: [eu-west-1]\n  password_key_file: "+writeKey(t, key, 0o600)+"\n")
	if err := ec2.Resolve(context.Background(), inv, options(t, srv)); err != nil {
		t.Fatal(err)
	}
	h := inv.Hosts[0]
	pw, err := h.Password(context.Background(), envOf(map[string]string{"FLEET_PW": "from-env"}))
	if err != nil || pw != "from-ec2" || h.PasswordEnv != "" {
		t.Errorf("password %q (%v), password_env %q; want from-ec2 and no password_env", pw, err, h.PasswordEnv)
	}
}

func TestResolveWithoutSectionsChangesNothing(t *testing.T) {
	t.Parallel()
	inv := parseInventory(t, "hosts:\n  - {name: build-01, address: 127.0.0.9}\n")
	if err := ec2.Resolve(context.Background(), inv, ec2.Options{}); err != nil {
		t.Fatal(err)
	}
	if len(inv.Hosts) != 1 {
		t.Errorf("%d hosts, want 1", len(inv.Hosts))
	}
}

func TestFlagsOverrideTheSectionAndMakeOneWhenNoneExists(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	spec := parseSpec(t, "ec2:\n  regions: [eu-west-1]\n  tags: {Role: sql}\n")
	spec.Override([]string{"ap-northeast-1"}, "")
	d, err := ec2.Discover(context.Background(), spec, options(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"sql-01"}, names(d.Hosts)); diff != "" || d.Hosts[0].Vars["region"] != "ap-northeast-1" {
		t.Errorf("hosts (-want +got):\n%s (region %v)", diff, d.Hosts[0].Vars["region"])
	}

	inv := parseInventory(t, "defaults: {port: 15985}\nhosts:\n  - {name: build-01, address: 127.0.0.9}\n")
	inv.EC2 = append(inv.EC2, inventory.NewEC2Spec([]string{"ap-northeast-1"}, ""))
	if err := ec2.Resolve(context.Background(), inv, options(t, srv)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range inv.Hosts {
		got = append(got, h.Name+":"+h.Endpoint())
	}
	want := []string{
		"build-01:http://127.0.0.9:15985/wsman",
		"jp-app-02:http://127.0.3.3:15985/wsman",
		"sql-01:http://127.0.3.2:15985/wsman",
		"ウェブ-01:http://127.0.3.1:15985/wsman",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hosts (-want +got):\n%s", diff)
	}
}

func TestProfileComesFromTheSharedFiles(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	opts := options(t, srv)
	opts.Credentials = nil
	dir := t.TempDir()
	cfgFile, credFile := dir+"/config", dir+"/credentials"
	writeFile(t, cfgFile, "[profile prod]\nregion = ap-northeast-1\n")
	writeFile(t, credFile, "[prod]\naws_access_key_id = AKIDPRODPROFILE\naws_secret_access_key = prod-secret\n")
	opts.SharedConfigFiles, opts.SharedCredentialsFiles = []string{cfgFile}, []string{credFile}
	spec := inventory.NewEC2Spec(nil, "prod")
	if _, err := ec2.Discover(context.Background(), spec, opts); err != nil {
		t.Fatal(err)
	}
	r := srv.Requests()[0]
	if r.Region != "ap-northeast-1" || r.AccessKeyID != "AKIDPRODPROFILE" {
		t.Errorf("request signed for %s by %s, want the profile's ap-northeast-1 and AKIDPRODPROFILE", r.Region, r.AccessKeyID)
	}

	spec = inventory.NewEC2Spec([]string{"eu-west-1"}, "missing")
	_, err := ec2.Discover(context.Background(), spec, opts)
	if err == nil || !strings.Contains(err.Error(), "ec2 section at the command line's EC2 flags: loading the AWS configuration:") || !strings.Contains(err.Error(), "missing") {
		t.Errorf("error %v, want the missing profile named", err)
	}
}

// TestDiscoverWithoutCredentialsSaysHowToGiveThem is not parallel: it
// empties the process environment the SDK's credential chain reads, and
// turns off the instance-metadata lookup so nothing leaves loopback.
func TestDiscoverWithoutCredentialsSaysHowToGiveThem(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	srv := startFake(t, fleet(t))
	opts := options(t, srv)
	opts.Credentials = nil
	spec := parseSpec(t, "ec2:\n  regions: [eu-west-1]\n")
	_, err := ec2.Discover(context.Background(), spec, opts)
	if !errors.Is(err, ec2.ErrNoCredentials) {
		t.Fatalf("error %v, want ErrNoCredentials", err)
	}
	want := "ec2 section at inv.yaml:2:3: no AWS credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, run aws sso login"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start %q", err, want)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests sent without credentials", n)
	}
}
