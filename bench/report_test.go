package bench

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// sampleResults are made-up measurements of the default plan's shape: the
// main workload meets every target at forks 200 but the peer comparison
// at forks 50 is latency-bound, and the megabyte workload misses CPU and
// memory.
func sampleResults() []*Result {
	plan := DefaultPlan()
	ntlm, https := &plan.Fleets[0], &plan.Fleets[1]
	ms := time.Millisecond
	measured := func(wall, cpu time.Duration, rss int64, w Workload, receivesPerStep int) Measured {
		steps := int64(w.Hosts * w.Steps)
		return Measured{
			Usage:       Usage{Wall: wall, User: cpu * 4 / 5, System: cpu / 5, MaxRSS: rss << 20},
			Requests:    map[string]int64{"Create": int64(w.Hosts), "Command": steps, "Receive": steps * int64(receivesPerStep), "Signal": int64(w.Hosts), "Delete": int64(w.Hosts)},
			Connections: int64(w.Hosts), Shells: int64(w.Hosts), SimCPU: cpu * 3 / 2, Background: 0.02,
		}
	}
	result := func(f *FleetPlan, w Workload, forks int, m Measured) *Result {
		return &Result{Fleet: f, Workload: w, Forks: forks, Fleetrun: m, Runs: 1,
			Floor:      Floor(w.Hosts, forks, w.Steps, f.Spec.Latency, f.Spec.ProcessStart),
			SimMinimum: SimMinimum(w.Hosts, forks, w.Steps, f.Spec.Latency, f.Spec.ProcessStart)}
	}
	main200 := result(ntlm, ThreeSteps, 200, measured(3780*ms, 2100*ms, 51, ThreeSteps, 1))
	main200.Runs = 3
	peer200 := measured(28500*ms, 27*time.Second, 76, ThreeSteps, 1)
	peer200.Requests = map[string]int64{"Create": 3000, "Command": 3000, "Receive": 3000, "Signal": 3000, "Delete": 3000}
	main200.Peer = &peer200
	main50 := result(ntlm, ThreeSteps, 50, measured(12500*ms, 2300*ms, 38, ThreeSteps, 1))
	peer50 := peer200
	peer50.Wall, peer50.MaxRSS, peer50.User, peer50.System = 23*time.Second, 50<<20, 16*time.Second, 2*time.Second
	main50.Peer = &peer50
	return []*Result{
		main50, main200,
		result(ntlm, ThreeSteps, 1000, measured(2900*ms, 1950*ms, 128, ThreeSteps, 1)),
		result(ntlm, Megabyte, 1000, measured(14*time.Second, 12600*ms, 2100, Megabyte, 10)),
		result(ntlm, TwentySteps, 200, measured(4200*ms, 2000*ms, 55, TwentySteps, 1)),
		result(https, ThreeSteps, 200, measured(3900*ms, 1800*ms, 60, ThreeSteps, 1)),
	}
}

func TestJudgeChecksEveryTarget(t *testing.T) {
	t.Parallel()
	var got []string
	for _, v := range Judge(sampleResults()) {
		mark := "met"
		if !v.Met {
			mark = "missed"
		}
		got = append(got, mark+": "+v.Target+" | "+v.Scope)
		if v.Met != (v.Why == "") {
			t.Errorf("%s (%s): met %v but why %q", v.Target, v.Scope, v.Met, v.Why)
		}
	}
	main := "1,000 hosts × 3 steps (argv, cmd, powershell; small output)"
	ntlm := "NTLM over HTTP (sealed), latency 50 ms, process start 100 ms"
	https := "Basic over HTTPS, latency 50 ms, process start 100 ms"
	want := []string{
		"met: wall ≤ 1.25 × protocol floor | " + main + ", forks 200, " + ntlm,
		"met: wall ≤ 1.25 × protocol floor | " + main + ", forks 200, " + https,
		"met: controller CPU ≤ 300 µs per WS-Man request | " + main + ", every forks and auth at 50 ms (worst run shown)",
		"met: controller CPU ≤ 300 µs per WS-Man request | 200 hosts × 20 steps (small output, one shell per host), every forks and auth at 50 ms (worst run shown)",
		"missed: controller CPU ≤ 300 µs per WS-Man request | 1,000 hosts × 1 step (1 MB of output), every forks and auth at 50 ms (worst run shown)",
		"met: peak RSS ≤ 150 MB with 1,000 hosts in flight | " + main + ", forks 1000, " + ntlm,
		"missed: peak RSS ≤ 150 MB with 1,000 hosts in flight | 1,000 hosts × 1 step (1 MB of output), forks 1000, " + ntlm,
		"missed: ≥ 5 × pywinrm's throughput at equal forks, with less memory | " + main + ", forks 50, " + ntlm,
		"met: ≥ 5 × pywinrm's throughput at equal forks, with less memory | " + main + ", forks 200, " + ntlm,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
}

func TestWhyAMissedTargetWasMissedComesFromTheMeasurements(t *testing.T) {
	t.Parallel()
	whys := map[string]string{}
	for _, v := range Judge(sampleResults()) {
		if !v.Met {
			whys[v.Target+" "+v.Scope] = v.Why
		}
	}
	for _, want := range []string{
		"carrying 1000 MB of output",      // megabyte CPU: the bytes, not the requests
		"what the report keeps of it",     // megabyte memory: the kept output
		"at most 1.50 × by latency alone", // the peer at forks 50
	} {
		found := false
		for _, why := range whys {
			found = found || strings.Contains(why, want)
		}
		if !found {
			t.Errorf("no explanation mentions %q; explanations: %q", want, whys)
		}
	}
}

func TestWriteMarkdownMatchesTheGoldenReport(t *testing.T) {
	t.Parallel()
	rep := &Report{
		Machine: Machine{CPUModel: "Test CPU", Cores: 2, MemoryBytes: 8 << 30, Kernel: "6.1.0", OS: "Debian GNU/Linux 12 (bookworm)",
			GoVersion: "go1.26.0", Python: "Python 3.11.2", Pywinrm: "0.3.0-4+deb12u1", LoadAverage: "0.10 0.20 0.30"},
		Started:  time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC),
		Duration: 9*time.Minute + 30*time.Second,
		Command:  "go run ./bench/cmd/fleetbench -fleetrun BIN -out BENCHMARKS.md",
		Results:  sampleResults(),
		Profile: &ProfileSummary{Scope: "a test profile", CPUScope: "a CPU run", CPU: "flat  flat%\n 1s 50% main", Heap: "flat  flat%\n 1MB 50% main",
			PeakScope: "a peak run", Peak: "flat  flat%\n 2MB 50% main"},
	}
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, rep); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "report.golden.md")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("report differs from %s (go test ./bench -run Golden -update rewrites it):\n%s", golden, diff)
	}
}
