package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

func TestWriteSummary(t *testing.T) {
	t.Parallel()
	ok := rolloutScenario()
	okRes := &runner.Result{Playbook: "p", Status: runner.StatusOK, Started: ok.t0, Finished: ok.t0.Add(4*time.Minute + 12*time.Second),
		Hosts: []*runner.HostResult{{Name: "web-01", Status: runner.StatusOK}, {Name: "web-02", Status: runner.StatusOK}}}
	tests := []struct {
		name string
		res  *runner.Result
		opts SummaryOptions
		// wrapped says every table line fits opts.Width.
		wrapped bool
	}{
		{"aborted rollout lists failures first", rolloutScenario().res, SummaryOptions{}, false},
		{"narrow width wraps hints", rolloutScenario().res, SummaryOptions{Width: 80}, true},
		{"colour on a terminal", rolloutScenario().res, SummaryOptions{Color: true}, false},
		{"all hosts ok", okRes, SummaryOptions{}, false},
		{"simulated fleet labels every line", hostileScenario().res, SummaryOptions{Width: 120}, true},
		{"many skipped hosts are grouped by reason", manySkipped(), SummaryOptions{}, false},
		{"compact summary has no host tables and at most ten groups", manyCauses(), SummaryOptions{Compact: true}, false},
		{"unlabelled simulated summary leaves the labels to the caller", hostileScenario().res, SummaryOptions{Compact: true, Unlabelled: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := WriteSummary(&buf, tt.res, tt.opts); err != nil {
				t.Fatal(err)
			}
			golden(t, "summary/"+strings.ReplaceAll(tt.name, " ", "-")+".txt", buf.Bytes())
			if !tt.opts.Color && strings.Contains(buf.String(), "\x1b") {
				t.Errorf("summary without colour holds an escape sequence:\n%s", buf.String())
			}
			if tt.wrapped {
				// Table rows fit the width; the counts and reason lines
				// outside the tables are not wrapped.
				inTable := false
				for _, l := range strings.Split(buf.String(), "\n") {
					text := strings.TrimSpace(strings.TrimPrefix(l, strings.TrimSpace(SimulatedPrefix)))
					switch {
					case strings.HasPrefix(text, "FAILED") || strings.HasPrefix(text, "UNREACHABLE") || strings.HasPrefix(text, "IGNORED"):
						inTable = true
					case text == "":
						inTable = false
					case inTable && len([]rune(l)) > tt.opts.Width:
						t.Errorf("table line of %d columns exceeds width %d: %q", len([]rune(l)), tt.opts.Width, l)
					}
				}
			}
		})
	}
}

func manySkipped() *runner.Result {
	r := &runner.Result{Playbook: "p", Status: runner.StatusAborted, StopReason: "interrupted"}
	for i := range 9 {
		r.Hosts = append(r.Hosts, &runner.HostResult{Name: fmt.Sprintf("app-%02d", i), Status: runner.StatusSkipped, Reason: runner.ReasonInterrupted})
	}
	r.Hosts = append(r.Hosts,
		&runner.HostResult{Name: "old-01", Status: runner.StatusSkipped, Reason: "unusable: no address"},
		&runner.HostResult{Name: "old-02", Status: runner.StatusFailed, Err: &transport.Error{Class: transport.ClassWSManFault, Code: 2150858770, Message: "The WS-Management service cannot process the request.\r\nThe shell was not found."}},
	)
	return r
}

// manyCauses is twelve hosts failing in twelve ways (the first two
// twice), one host ok and one unreachable.
func manyCauses() *runner.Result {
	r := &runner.Result{Playbook: "p", Status: runner.StatusFailed,
		Hosts: []*runner.HostResult{{Name: "ok-01", Status: runner.StatusOK}}}
	for i := range 12 {
		r.Hosts = append(r.Hosts, failedHost(fmt.Sprintf("app-%02d", i), "10.0.0.1", uint32(i+1), "error "+strings.Repeat("x", i)+"\n"))
		if i < 2 {
			r.Hosts = append(r.Hosts, failedHost(fmt.Sprintf("app-%02d-b", i), "10.0.0.1", uint32(i+1), "error "+strings.Repeat("x", i)+"\n"))
		}
	}
	r.Hosts = append(r.Hosts, &runner.HostResult{Name: "gone", Status: runner.StatusUnreachable,
		Err: &transport.Error{Class: transport.ClassRefused, Message: "connection refused"}})
	return r
}

func TestWrap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		limit int
		want  []string
	}{
		{"short text stays on one line", "add 3010 to expect_exit", 30, []string{"add 3010 to expect_exit"}},
		{"breaks at the last space that fits", "one two three four", 9, []string{"one two", "three", "four"}},
		{"splits a word longer than the limit", "abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"counts runes not bytes", "日本語 日本語", 3, []string{"日本語", "日本語"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, wrap(tt.in, tt.limit)); diff != "" {
				t.Errorf("wrap(%q, %d) (-want +got):\n%s", tt.in, tt.limit, diff)
			}
		})
	}
}

func BenchmarkWriteSummary(b *testing.B) {
	res := rolloutScenario().res
	b.ReportAllocs()
	for b.Loop() {
		var buf bytes.Buffer
		if err := WriteSummary(&buf, res, SummaryOptions{Width: 100}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSummaryBoundsPerHostTables checks that 300 failed and 30 unreachable
// hosts print twenty rows per table, a line counting the rest, and the
// groups that count every host.
func TestSummaryBoundsPerHostTables(t *testing.T) {
	t.Parallel()
	r := &runner.Result{Playbook: "p", Status: runner.StatusFailed}
	for i := range 300 {
		r.Hosts = append(r.Hosts, &runner.HostResult{Name: fmt.Sprintf("web-%03d", i), Status: runner.StatusFailed, Steps: []*runner.StepResult{{
			Name: "install", Status: runner.StatusFailed, ExitCode: u32(1603),
			Err: &transport.Error{Class: transport.ClassUnexpectedExit, Code: 1603, Message: "exit code 1603"},
		}}})
	}
	for i := range 30 {
		r.Hosts = append(r.Hosts, &runner.HostResult{Name: fmt.Sprintf("db-%02d", i), Status: runner.StatusUnreachable,
			Err: &transport.Error{Class: transport.ClassRefused, Message: "connection refused"}})
	}
	var buf bytes.Buffer
	if err := WriteSummary(&buf, r, SummaryOptions{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "summary/many-failures-are-cut-to-twenty-rows.txt", buf.Bytes())
	out := buf.String()
	for _, want := range []string{
		"... and 280 more failed hosts (FAILURES BY CAUSE below counts them; every one is in the JSON report and the per-host logs)\n",
		"... and 10 more unreachable hosts (FAILURES BY CAUSE below counts them; every one is in the JSON report and the per-host logs)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if n := strings.Count(out, "\n"); n > 80 {
		t.Errorf("summary of 330 failed hosts has %d lines, want at most 80:\n%s", n, out)
	}
}

// The counts line says how many failures were ignored on ok hosts, and on
// how many hosts when more than one.
func TestSummaryCountsIgnoredFailures(t *testing.T) {
	t.Parallel()
	failed := func(name string) *runner.StepResult {
		return &runner.StepResult{Name: name, Kind: "command", Status: runner.StatusFailed, Expected: []uint32{0}}
	}
	okStep := &runner.StepResult{Name: "ok", Kind: "command", Status: runner.StatusOK}
	tests := []struct {
		hosts []*runner.HostResult
		want  string
	}{
		{[]*runner.HostResult{{Name: "a", Status: runner.StatusOK, Steps: []*runner.StepResult{okStep}}},
			"1 host: 1 ok, 0 failed, 0 unreachable, 0 skipped\n"},
		{[]*runner.HostResult{{Name: "a", Status: runner.StatusOK, Steps: []*runner.StepResult{failed("x"), okStep}}},
			"1 host: 1 ok (1 failure ignored: continue_on_error), 0 failed, 0 unreachable, 0 skipped\n"},
		{[]*runner.HostResult{{Name: "a", Status: runner.StatusOK, Steps: []*runner.StepResult{failed("x"), failed("y")}}},
			"1 host: 1 ok (2 failures ignored: continue_on_error), 0 failed, 0 unreachable, 0 skipped\n"},
		{[]*runner.HostResult{
			{Name: "a", Status: runner.StatusOK, Steps: []*runner.StepResult{failed("x"), failed("y")}},
			{Name: "b", Status: runner.StatusOK, Steps: []*runner.StepResult{failed("x")}},
			{Name: "c", Status: runner.StatusFailed, Steps: []*runner.StepResult{failed("x")}},
		}, "3 hosts: 2 ok (3 failures ignored on 2 hosts: continue_on_error), 1 failed, 0 unreachable, 0 skipped\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := WriteSummary(&b, &runner.Result{Playbook: "p", Status: runner.StatusOK, Hosts: tt.hosts}, SummaryOptions{}); err != nil {
			t.Fatal(err)
		}
		if first, _, _ := strings.Cut(b.String(), "\n"); first+"\n" != tt.want {
			t.Errorf("counts line %q, want %q", first+"\n", tt.want)
		}
	}
}
