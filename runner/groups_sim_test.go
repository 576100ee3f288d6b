package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/report/html"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/winrm"
)

// groupsScenario gives six of every ten hosts a fault of their own kind:
// two exit codes, a program that does not exist, a PowerShell error,
// a hung host and a refused connection.
const groupsScenario = `
groups:
  - {name: exit5, hosts: "sim-*[0]"}
  - {name: exit1603, hosts: "sim-*[1]"}
  - {name: missing, hosts: "sim-*[2]"}
  - {name: pserror, hosts: "sim-*[3]"}
  - {name: hung, hosts: "sim-*[4]", faults: {hang: true}}
  - {name: refused, hosts: "sim-*[5]", faults: {refused: true}}
`

const groupsPlaybook = `
name: groups
forks: 50
steps:
  - name: who
    command: [hostname]
  - name: fail
    command: ['{{ if eq (index .host.tags "group") "missing" }}C:\tools\no-such-tool.exe{{ else }}C:\tools\exitcode.exe{{ end }}', '{{ if eq (index .host.tags "group") "exit5" }}5{{ else if eq (index .host.tags "group") "exit1603" }}1603{{ else }}0{{ end }}']
  - name: script
    powershell: |
      if ('{{ index .host.tags "group" }}' -eq 'pserror') { Write-Error "disk full on $env:COMPUTERNAME"; exit 2 }
`

// runGroupsFleet applies groupsPlaybook to n simulated hosts.
func runGroupsFleet(t *testing.T, n int, forks int) *runner.Result {
	t.Helper()
	hosts, _ := simFleet(t, n, groupsScenario)
	pb := mustPlaybook(t, groupsPlaybook)
	pb.Forks = forks
	tgt := func(ctx context.Context, h *inventory.Host) (transport.Target, error) {
		tg, err := simTarget(ctx, h)
		tg.ConnectTimeout = 10 * time.Second // room for healthy hosts on a loaded machine
		return tg, err
	}
	res, err := runner.Run(context.Background(), pb, hosts, runner.Options{
		Dialer: winrm.NewDialer(winrm.Options{}), Target: tgt, HostTimeout: 60 * time.Second, CloseTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// wantGroup is a failure group as the test expects it: hosts are those
// whose number ends in digit.
type wantGroup struct {
	class  string
	exit   uint32 // 0: no exit code
	cause  string
	step   string
	digit  int
	header string
}

var wantGroups = []wantGroup{
	{"connect_timeout", 0, "<host> accepted the connection but sent no answer within 10s (its connect timeout)", "connect", 4, `connect_timeout, step "connect"`},
	{"not_found", 1, `Exception calling "Start" with "<n>" argument(s): "The system cannot find the file specified"`, "fail", 2, `not_found, exit 1, step "fail"`},
	{"refused", 0, "connection to <host> refused", "connect", 5, `refused, step "connect"`},
	{"unexpected_exit", 2, "disk full on <host>", "script", 3, `unexpected_exit, exit 2, step "script"`},
	{"unexpected_exit", 5, "exit code <n>, expected [<n>]", "fail", 0, `unexpected_exit, exit 5, step "fail"`},
	{"unexpected_exit", 1603, "exit code <n>, expected [<n>]", "fail", 1, `unexpected_exit, exit 1603, step "fail"`},
}

// checkFleetGroups checks the six groups of a run on n hosts (sim-0001 to
// sim-n, n a multiple of ten) in the JSON report and the summary.
func checkFleetGroups(t *testing.T, res *runner.Result, n int) {
	t.Helper()
	type jsonGroup struct {
		Class    string   `json:"class"`
		ExitCode *uint32  `json:"exit_code"`
		Cause    string   `json:"cause"`
		Step     string   `json:"step"`
		Count    int      `json:"count"`
		Hosts    []string `json:"hosts"`
		Sample   string   `json:"sample"`
	}
	var want []jsonGroup
	var wantSummary, wantHTML []string
	for _, g := range wantGroups {
		jg := jsonGroup{Class: g.class, Cause: g.cause, Step: g.step, Count: n / 10}
		if g.exit != 0 {
			code := g.exit
			jg.ExitCode = &code
		}
		for i := 1; i <= n; i++ {
			if i%10 == g.digit {
				jg.Hosts = append(jg.Hosts, fmt.Sprintf("sim-%04d", i))
			}
		}
		jg.Sample = jg.Hosts[0]
		want = append(want, jg)
		wantSummary = append(wantSummary, fmt.Sprintf("%d hosts: %s", n/10, g.header), "  cause: "+g.cause)
		wantHTML = append(wantHTML, fmt.Sprintf("%d %s %s", n/10, template.HTMLEscapeString(g.cause), g.class))
	}

	var buf bytes.Buffer
	if err := report.WriteJSON(&buf, report.NewDocument(res)); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Summary       report.Summary `json:"summary"`
		FailureGroups []jsonGroup    `json:"failure_groups"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if want := (report.Summary{Hosts: n, OK: n * 4 / 10, Failed: n * 4 / 10, Unreachable: n * 2 / 10}); doc.Summary != want {
		t.Errorf("summary %+v, want %+v", doc.Summary, want)
	}
	if diff := cmp.Diff(want, doc.FailureGroups); diff != "" {
		t.Errorf("JSON failure_groups (-want +got):\n%s", diff)
	}

	buf.Reset()
	if err := report.WriteSummary(&buf, res, report.SummaryOptions{}); err != nil {
		t.Fatal(err)
	}
	_, grouped, ok := strings.Cut(buf.String(), "\nFAILURES BY CAUSE (6 groups)\n")
	if !ok {
		t.Fatalf("the summary has no FAILURES BY CAUSE (6 groups) section:\n%s", buf.String())
	}
	var got []string
	for _, l := range strings.Split(grouped, "\n") {
		if strings.HasPrefix(l, "  cause: ") || (l != "" && !strings.HasPrefix(l, " ")) {
			got = append(got, l)
		}
	}
	if diff := cmp.Diff(wantSummary, got); diff != "" {
		t.Errorf("summary groups (-want +got):\n%s", diff)
	}

	var page strings.Builder
	if err := html.Render(&page, report.NewDocument(res), html.Options{}); err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, m := range htmlGroup.FindAllStringSubmatch(page.String(), -1) {
		got = append(got, m[1]+" "+m[2]+" "+m[3])
	}
	if diff := cmp.Diff(wantHTML, got); diff != "" {
		t.Errorf("HTML groups (-want +got):\n%s", diff)
	}
}

// htmlGroup finds a failure group's count, cause and class on the page.
var htmlGroup = regexp.MustCompile(`<details class="fgroup"><summary><b>(\d+)</b> <span class="cause">(.*?)</span> <span class="cls">(.*?)</span>`)

// TestFailureGroupsOnASimulatedFleet fails 36 of 60 simulated hosts in
// six ways and checks that the reports show exactly six groups of six.
func TestFailureGroupsOnASimulatedFleet(t *testing.T) {
	t.Parallel()
	checkFleetGroups(t, runGroupsFleet(t, 60, 30), 60)
}
