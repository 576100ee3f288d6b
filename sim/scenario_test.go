package sim

import (
	"fmt"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestScenarioExampleMatchesTheDocumentation(t *testing.T) {
	t.Parallel()
	// The scenario format is documented in the README, under "The simulated
	// fleet", with this example.
	doc, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)### Example\n\n```yaml\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("the README has no scenario example")
	}
	example, err := os.ReadFile("testdata/scenarios/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(example), string(m[1])); diff != "" {
		t.Errorf("the scenario example in the README differs from testdata/scenarios/example.yaml (-file +doc):\n%s", diff)
	}
}

func TestScenarioExampleResolvesPerHost(t *testing.T) {
	t.Parallel()
	sc, err := LoadScenario("testdata/scenarios/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 20)
	addrs := make([]string, 20)
	for i := range names {
		names[i] = fmt.Sprintf("sim-%04d", i+1)
		addrs[i] = "127.0.0.1:0"
	}
	cfgs := resolveConfigs(sc, FleetOptions{Profile: "2022"}, names, addrs, "pw")
	type summary struct {
		Group, Profile, Encoding string
		Memory, Shells, Ops      int
		Idle                     time.Duration
		Latency                  time.Duration
		Rules                    int
		Faults                   Faults
		PS                       string
		Password                 string
	}
	sum := func(c HostConfig) summary {
		return summary{c.Group, c.Profile.Name, c.OutputEncoding, c.Quotas.MaxMemoryPerShellMB, c.Quotas.MaxShellsPerUser,
			c.Quotas.MaxConcurrentOperationsPerUser, c.Quotas.IdleTimeout, c.Latency, len(c.Rules), c.Faults, c.Preflight.PSVersion, c.Password}
	}
	tests := []struct {
		host int
		want summary
	}{
		{1, summary{"legacy", "2008r2", "utf-8", 150, 5, 15, 180 * time.Second, 5 * time.Millisecond, 2, Faults{}, "5.1.14409.1005", "pw"}},
		{4, summary{"web", "2019", "utf-8", 1024, 30, 1500, 2 * time.Hour, 5 * time.Millisecond, 3, Faults{}, "", "pw"}},
		{13, summary{"web", "2019", "utf-8", 1024, 30, 1500, 2 * time.Hour, 5 * time.Millisecond, 3, Faults{}, "", "pw"}},
		{14, summary{"japanese", "2019", "cp932", 1024, 30, 1500, 2 * time.Hour, 5 * time.Millisecond, 2, Faults{}, "", "pw"}},
		{15, summary{"", "2019", "utf-8", 1024, 30, 1500, 2 * time.Hour, 5 * time.Millisecond, 2, Faults{Refused: true}, "", "pw"}},
		{17, summary{"", "2019", "utf-8", 1024, 30, 1500, 2 * time.Hour, 5 * time.Millisecond, 2, Faults{Flaky: 2, SlowStart: 3 * time.Second}, "", "pw"}},
		{18, summary{"", "2019", "utf-8", 1024, 30, 1500, 2 * time.Hour, 5 * time.Millisecond, 2, Faults{ResetMidReceive: Times{N: 1}, HTTP500Garbage: Times{N: 1}}, "", "pw"}},
		{19, summary{"", "2019", "utf-8", 1024, 2, 5, time.Minute, 5 * time.Millisecond, 2, Faults{}, "", "pw"}},
		{20, summary{"", "2019", "utf-8", 1024, 30, 1500, 2 * time.Hour, 5 * time.Millisecond, 2, Faults{}, "", "not-the-fleet-password"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, sum(cfgs[tt.host-1])); diff != "" {
			t.Errorf("%s (-want +got):\n%s", names[tt.host-1], diff)
		}
	}
	if got := cfgs[4].Rules[0].Contains; got != "Invoke-WarmUp" {
		t.Errorf("group rules come before default rules; first rule is %q", got)
	}
	if cfgs[0].Files[`C:\scripts\deploy.bat`] == "" || len(cfgs[0].InstalledKBs) != 1 {
		t.Errorf("files and installed KBs from defaults: %v %v", cfgs[0].Files, cfgs[0].InstalledKBs)
	}
}

func TestScenarioErrorsCarryPositions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want string
	}{
		{"unknown keys are errors with a suggestion", "defaults:\n  profil: 2019\n", `test.yaml:2:3: defaults.profil: unknown key "profil"; did you mean "profile"?`},
		{"unknown profile", "defaults: {profile: 2003}\n", "test.yaml:1:21: defaults.profile: unknown profile \"2003\"; expected one of 2008r2, 2012r2, 2016, 2019, 2022"},
		{"a group needs exactly one selector", "groups:\n  - name: a\n    hosts: 'x*'\n    count: 2\n", "test.yaml:2:5: groups[0]: a group selects hosts with exactly one of hosts (a name pattern) or count"},
		{"rules need match or regex", "defaults:\n  rules:\n    - stdout: x\n", "test.yaml:3:7: defaults.rules[0]: a rule needs exactly one of match (a substring) or regex"},
		{"bad regular expressions", "defaults:\n  rules:\n    - regex: '('\n", "test.yaml:3:14: defaults.rules[0].regex: bad regular expression: error parsing regexp: missing closing ): `(`"},
		{"durations need units", "defaults: {latency: 50}\n", `test.yaml:1:21: defaults.latency: duration 50 has no unit; write it like "50s" or "50m"`},
		{"fault counts are true, false or numbers", "defaults: {faults: {hang: sometimes}}\n", `test.yaml:1:27: defaults.faults.hang: expected true, false or a count, found the string "sometimes"`},
		{"unknown auth schemes", "defaults: {auth: [kerberos]}\n", `test.yaml:1:19: defaults.auth[0]: unknown auth scheme "kerberos"; expected basic or ntlm`},
		{"files need Windows paths", "defaults:\n  files: {'/etc/x': y}\n", `test.yaml:2:10: defaults.files: file "/etc/x" needs an absolute Windows path such as C:\scripts\x.bat`},
		{"exit codes beyond a DWORD", "defaults:\n  rules:\n    - {match: x, exit: 4294967296}\n", "test.yaml:3:24: defaults.rules[0].exit: 4294967296 is out of range [-2147483648, 4294967295]"},
		{"fleet sizes beyond the bound", "hosts: 100000000\n", "test.yaml:1:8: hosts: a simulated fleet has between 1 and 100000 hosts (0 or no key: the fleet's own count), found 100000000"},
		{"negative fleet sizes", "hosts: -1\n", "test.yaml:1:8: hosts: a simulated fleet has between 1 and 100000 hosts (0 or no key: the fleet's own count), found -1"},
		{"group counts beyond the bound", "groups:\n  - {name: a, count: 100000001}\n", "test.yaml:2:22: groups[0].count: count must be between 1 and 100000, found 100000001"},
		{"unknown encodings", "host_settings:\n  sim-0001: {output_encoding: latin9}\n", `test.yaml:2:31: host_settings.sim-0001.output_encoding: unknown output encoding "latin9"; expected utf-8 or cp932`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseScenario("test.yaml", []byte(tt.text))
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
