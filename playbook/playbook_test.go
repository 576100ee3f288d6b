package playbook_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/internal/strictyaml"
	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
)

const full = `
name: full
hosts: ["role=web,env=prod", "@db"]
preflight: true
requires: {memory_per_shell_mb: 1024, shells_per_user: 5, disk_free_gb: 2.5, powershell: "5.1"}
forks: 12
serial: [1, "10%", 5]
max_fail: "20%"
vars:
  kb: KB123
  greeting: from playbook
defaults:
  timeout: 10m
  retries: 2
  retry_delay: 30s
  expect_exit: [0, 3010]
  env: {A: "1", B: "2"}
  workdir: 'C:\work'
steps:
  - name: install
    command: ["wusa.exe", 'C:\p\{{ .vars.kb }}.msu', "/quiet"]
  - name: script
    powershell: Write-Output '{{ .host.name }}'
    expect_exit: [0xC0000005, 4294967295]
    retries: 0
    timeout: 90s
    env: {B: "two", C: "{{ .host.tags.role }}"}
    continue_on_error: true
  - name: line
    cmd: echo {{ .vars.greeting }}
    retry_on_exit: [1618]
    workdir: D:\x
`

func TestParseFullPlaybook(t *testing.T) {
	t.Parallel()
	pb, err := playbook.Parse("full.yaml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if pb.Name != "full" || pb.Forks != 12 || pb.MaxFail == nil || pb.MaxFail.Percent != 20 {
		t.Errorf("header: %q forks %d max_fail %+v", pb.Name, pb.Forks, pb.MaxFail)
	}
	if diff := cmp.Diff([]playbook.Size{{Count: 1}, {Percent: 10}, {Count: 5}}, pb.Serial); diff != "" {
		t.Errorf("serial (-want +got):\n%s", diff)
	}
	if r := pb.Requires; !pb.Preflight || r.MemoryPerShellMB != 1024 || r.ShellsPerUser != 5 || r.DiskFreeGB != 2.5 || r.PowerShell != "5.1" {
		t.Errorf("preflight %v requires %+v", pb.Preflight, r)
	}
	if got := pb.Hosts.String(); got != "role=web,env=prod | @db" {
		t.Errorf("hosts = %q", got)
	}
	type stepView struct {
		Name            string
		Kind            playbook.Kind
		ExpectExit      []uint32
		RetryOnExit     []uint32
		Timeout         time.Duration
		Retries         int
		RetryDelay      time.Duration
		ContinueOnError bool
		Env             map[string]string
		Workdir         string
	}
	var got []stepView
	for _, s := range pb.Steps {
		got = append(got, stepView{s.Name, s.Kind, s.ExpectExit, s.RetryOnExit, s.Timeout, s.Retries, s.RetryDelay, s.ContinueOnError, s.Env, s.Workdir})
	}
	want := []stepView{
		{"install", playbook.KindCommand, []uint32{0, 3010}, nil, 10 * time.Minute, 2, 30 * time.Second, false, map[string]string{"A": "1", "B": "2"}, `C:\work`},
		{"script", playbook.KindPowerShell, []uint32{3221225477, 4294967295}, nil, 90 * time.Second, 0, 30 * time.Second, true, map[string]string{"A": "1", "B": "two", "C": "{{ .host.tags.role }}"}, `C:\work`},
		{"line", playbook.KindCmd, []uint32{0, 3010}, []uint32{1618}, 10 * time.Minute, 2, 30 * time.Second, false, map[string]string{"A": "1", "B": "2"}, `D:\x`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}

func TestSelectorOfPlaybookMatchesHosts(t *testing.T) {
	t.Parallel()
	pb, err := playbook.Parse("full.yaml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	hosts := []*inventory.Host{
		{Name: "web-1", Tags: map[string]string{"role": "web", "env": "prod"}},
		{Name: "web-2", Tags: map[string]string{"role": "web", "env": "test"}},
		{Name: "db-1", Groups: []string{"db"}},
		{Name: "other"},
	}
	var names []string
	for _, h := range hosts {
		if pb.Hosts.Match(h) {
			names = append(names, h.Name)
		}
	}
	if diff := cmp.Diff([]string{"web-1", "db-1"}, names); diff != "" {
		t.Errorf("selected (-want +got):\n%s", diff)
	}
}

// Substitution happens per argv element: a value with spaces, quotes or
// shell operators stays exactly one argument.
func TestExpandKeepsEachArgumentWhole(t *testing.T) {
	t.Parallel()
	pb, err := playbook.Parse("p.yaml", []byte(`
name: p
steps:
  - name: s
    command: ["C:\\t\\echoargs.exe", "{{ .vars.v }}", "pre-{{ .host.tags.t }}-post", "{{ .host.address }}"]
`))
	if err != nil {
		t.Fatal(err)
	}
	hostile := `a b "c" \d\\ & | > %PATH% ; @{x=1} ]]>` + "\n" + `日本語 🚀`
	steps, err := pb.Expand(playbook.HostData{Name: "h", Address: "10.0.0.1", Tags: map[string]string{"t": "x y"}}, map[string]string{"v": hostile})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`C:\t\echoargs.exe`, hostile, "pre-x y-post", "10.0.0.1"}
	if diff := cmp.Diff(want, steps[0].Argv); diff != "" {
		t.Errorf("argv (-want +got):\n%s", diff)
	}
}

func TestVariablePrecedence(t *testing.T) {
	t.Parallel()
	pb, err := playbook.Parse("p.yaml", []byte(`
name: p
vars: {a: playbook, b: playbook}
steps:
  - name: s
    cmd: echo {{ .vars.a }} {{ .vars.b }} {{ .vars.c }}
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		host  map[string]any
		extra map[string]string
		want  string
	}{
		{"host vars fill what the playbook lacks", map[string]any{"a": "host", "c": "host"}, nil, "echo playbook playbook host"},
		{"-e beats the playbook", map[string]any{"c": "host"}, map[string]string{"a": "extra"}, "echo extra playbook host"},
		{"-e beats host vars", map[string]any{"c": "host"}, map[string]string{"c": "extra"}, "echo playbook playbook extra"},
	}
	for _, tc := range cases {
		steps, err := pb.Expand(playbook.HostData{Name: "h", Vars: tc.host}, tc.extra)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if steps[0].Line != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, steps[0].Line, tc.want)
		}
	}
}

func TestCheckGroupsMissingVariablesByHost(t *testing.T) {
	t.Parallel()
	pb, err := playbook.Parse("p.yaml", []byte("name: p\nsteps:\n  - name: s\n    powershell: |\n      Write-Output 1\n      Write-Output {{ .host.tags.role }}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var hosts []playbook.HostData
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		hosts = append(hosts, playbook.HostData{Name: n, Tags: map[string]string{}})
	}
	hosts[2].Tags["role"] = "web"
	err = pb.Check(hosts, nil)
	want := `p.yaml:4:17: steps[0].powershell: hosts a, b, d and 1 more: map has no entry for key "role"`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestExamplesParse(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../examples/*.yaml")
	n := 0
	for _, f := range files {
		if strings.Contains(f, "inventory") || strings.Contains(f, "scenario") {
			continue
		}
		n++
		if _, err := playbook.Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if n < 4 {
		t.Errorf("found %d example playbooks, want at least 4", n)
	}
}

// FuzzParse checks the parser never panics and that every error it reports
// is positioned.
func FuzzParse(f *testing.F) {
	f.Add([]byte(full))
	seeds, _ := filepath.Glob("testdata/invalid/*.yaml")
	examples, _ := filepath.Glob("../examples/*.yaml")
	seeds = append(seeds, examples...)
	for _, s := range seeds {
		f.Add(readFile(f, s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := playbook.Parse("fuzz.yaml", data)
		if err != nil && strictyaml.AsErrors(err) == nil {
			t.Fatalf("unpositioned error: %v", err)
		}
	})
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}
