package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/report/html"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/winrm"
)

const ignoredPlaybook = `
name: ignored
steps:
  - name: optional cleanup
    command: ['C:\tools\exitcode.exe', '{{ if eq .host.name "sim-0001" }}3{{ else }}0{{ end }}']
    continue_on_error: true
  - name: who
    command: [hostname]
`

// A host whose failed steps were all allowed to fail (continue_on_error)
// is ok and the run succeeds, but every report shows what was ignored:
// the step stays failed with its error, the JSON host counts it, the
// summary and the HTML page say "ok (1 failure ignored:
// continue_on_error)", JUnit passes the case and says so in system-out.
func TestIgnoredFailuresOnASimulatedFleet(t *testing.T) {
	t.Parallel()
	hosts, _ := simFleet(t, 2, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := runner.Run(ctx, mustPlaybook(t, ignoredPlaybook), hosts, runner.Options{
		Dialer: winrm.NewDialer(winrm.Options{}), Target: simTarget, CloseTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := res.Hosts[0]
	if res.Status != runner.StatusOK || h.Status != runner.StatusOK || h.IgnoredFailures() != 1 || res.Hosts[1].IgnoredFailures() != 0 {
		t.Fatalf("run %s, sim-0001 %s with %d ignored failures; want both ok, one failure ignored on sim-0001", res.Status, h.Status, h.IgnoredFailures())
	}
	if s := h.Steps[0]; s.Status != runner.StatusFailed || s.Err == nil || s.Err.Message != "exit code 3, expected [0]" || h.Steps[1].Status != runner.StatusOK {
		t.Errorf("sim-0001's steps: %s (%v), %s; want the first failed with its error, the second ok", s.Status, s.Err, h.Steps[1].Status)
	}

	var buf bytes.Buffer
	if err := report.WriteJSON(&buf, report.NewDocument(res)); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Status string `json:"status"`
		Hosts  []struct {
			Status  string `json:"status"`
			Ignored *int   `json:"ignored_failures"`
			Steps   []struct {
				Status string `json:"status"`
				Error  *struct {
					Class string `json:"class"`
				} `json:"error"`
			} `json:"steps"`
		} `json:"hosts"`
		Groups []any `json:"failure_groups"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	j := doc.Hosts[0]
	if doc.Status != "ok" || j.Status != "ok" || j.Ignored == nil || *j.Ignored != 1 || doc.Hosts[1].Ignored != nil ||
		j.Steps[0].Status != "failed" || j.Steps[0].Error == nil || j.Steps[0].Error.Class != "unexpected_exit" || doc.Groups != nil {
		t.Errorf("JSON report: %s", buf.String())
	}

	buf.Reset()
	if err := report.WriteSummary(&buf, res, report.SummaryOptions{}); err != nil {
		t.Fatal(err)
	}
	sum := buf.String()
	for _, want := range []string{
		"2 hosts: 2 ok (1 failure ignored: continue_on_error), 0 failed, 0 unreachable, 0 skipped\nrun ok",
		"\nIGNORED FAILURES (1, continue_on_error)\n",
		"\nsim-0001  optional cleanup  3     [0]       unexpected_exit  -\n",
	} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
	if strings.Contains(sum, "FAILURES BY CAUSE") || strings.Contains(sum, "\nFAILED") {
		t.Errorf("summary reports an ignored failure as a failure:\n%s", sum)
	}

	buf.Reset()
	if err := report.WriteJUnit(&buf, res); err != nil {
		t.Fatal(err)
	}
	junit := buf.String()
	for _, want := range []string{
		`<testsuites name="ignored" tests="4" failures="0" errors="0" skipped="0"`,
		"<testcase name=\"optional cleanup\" classname=\"sim-0001\"",
		"<system-out><![CDATA[failure ignored (continue_on_error): sim-0001 went on and is ok\nstep \"optional cleanup\" failed on sim-0001 after 1 attempt\nexit code: 3\nexpected: [0]\nclass: unexpected_exit\nmessage: exit code 3, expected [0]\n",
	} {
		if !strings.Contains(junit, want) {
			t.Errorf("JUnit lacks %q:\n%s", want, junit)
		}
	}
	if strings.Contains(junit, "<failure") {
		t.Errorf("JUnit fails an ignored step:\n%s", junit)
	}

	var page strings.Builder
	if err := html.Render(&page, report.NewDocument(res), html.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<div class="sub ignored">ok (1 failure ignored: continue_on_error)</div>`, `"ig":1`} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("the HTML page lacks %s", want)
		}
	}
}
