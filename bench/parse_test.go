package bench

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/inventory"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseSimLineFindsTheReadyAndStatsLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line string
		want SimLine
	}{
		{"ready: 1000 hosts", SimLine{Kind: SimReady, Value: "1000"}},
		{"ready: 1000 hosts\r\n", SimLine{Kind: SimReady, Value: "1000"}},
		{"simulated fleet: stats at http://127.0.0.1:40123/stats", SimLine{Kind: SimStats, Value: "http://127.0.0.1:40123/stats"}},
		{"ready: many hosts", SimLine{}},
		{"ready: 10 host", SimLine{}},
		{"simulated fleet: stats at ftp://127.0.0.1/stats", SimLine{}},
		{"simulated fleet: stats at http://a b", SimLine{}},
		{"simulated fleet: inventory written to /tmp/fleet.yaml", SimLine{}},
		{"", SimLine{}},
	}
	for _, tt := range tests {
		if got := ParseSimLine(tt.line); got != tt.want {
			t.Errorf("ParseSimLine(%q) = %+v, want %+v", tt.line, got, tt.want)
		}
	}
}

func TestParseProcStatAddsUserAndSystemTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		data    string
		want    time.Duration
		wantErr bool
	}{
		{"a real line", string(readTestdata(t, "procstat.txt")), 6810 * time.Millisecond, false},
		{"a command name with spaces and parentheses", "7 (a) b (c)) S 1 1 1 0 -1 0 0 0 0 0 100 50 0 0", 1500 * time.Millisecond, false},
		{"no command name", "7 a S 1", 0, true},
		{"too few fields", "7 (a) S 1 2 3", 0, true},
		{"a negative time", "7 (a) S 1 1 1 0 -1 0 0 0 0 0 -1 50", 0, true},
		// 922337203685 ticks of 10 ms are the most a time.Duration holds;
		// multiplied by a second first, the product wrapped negative.
		{"the most ticks a duration holds", "7 (a) S 1 1 1 0 -1 0 0 0 0 0 922337203685 0", 922337203685 * 10 * time.Millisecond, false},
		{"more ticks than a duration holds", "7 (a) S 1 1 1 0 -1 0 0 0 0 0 922337203685 1", 0, true},
		{"a time whose product overflowed negative", "7 (a) S 1 1 1 0 -1 0 0 0 0 0 1099511627776 0", 0, true},
		{"two times whose sum overflows", "7 (a) S 1 1 1 0 -1 0 0 0 0 0 9223372036854775807 9223372036854775807", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseProcStat([]byte(tt.data))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseProcStat = %s, %v; want %s, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseCPUTimesSplitsBusyFromIdle(t *testing.T) {
	t.Parallel()
	got, err := ParseCPUTimes([]byte("cpu  100 2 30 400 5 6 7 8 9 10\ncpu0 1 1 1 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	// user nice system idle iowait irq softirq steal; guest is in user.
	if want := (CPUTimes{Busy: 100 + 2 + 30 + 6 + 7 + 8, Total: 100 + 2 + 30 + 400 + 5 + 6 + 7 + 8}); got != want {
		t.Errorf("ParseCPUTimes = %+v, want %+v", got, want)
	}
	if _, err := ParseCPUTimes(readTestdata(t, "stat.txt")); err != nil {
		t.Errorf("a real /proc/stat line: %v", err)
	}
	for _, bad := range []string{"", "cpu 1 2", "cpu a b c d", "intr 1 2 3 4 5"} {
		if _, err := ParseCPUTimes([]byte(bad)); err == nil {
			t.Errorf("ParseCPUTimes(%q) succeeded", bad)
		}
	}
	later := CPUTimes{Busy: got.Busy + 150, Total: got.Total + 200}
	if d := later.Sub(got); d.BusyShare() != 0.75 || d.BusyTime() != 1500*time.Millisecond {
		t.Errorf("between readings: share %v, busy %s; want 0.75 and 1.5s", d.BusyShare(), d.BusyTime())
	}
	if d := got.Sub(later); d != (CPUTimes{}) {
		t.Errorf("a reading from before the earlier one gave %+v, want zero", d)
	}
}

func TestMachineDescriptionParsers(t *testing.T) {
	t.Parallel()
	if got := ParseCPUModel(readTestdata(t, "cpuinfo-xeon.txt")); got != "Intel(R) Xeon(R) Processor" {
		t.Errorf("x86 model %q", got)
	}
	if got := ParseCPUModel(readTestdata(t, "cpuinfo-arm.txt")); got != "BCM2835" {
		t.Errorf("arm model %q, want the Hardware line", got)
	}
	if got := ParseMemTotal(readTestdata(t, "meminfo.txt")); got != 24684084*1024 {
		t.Errorf("MemTotal %d", got)
	}
	if got := ParseMemTotal([]byte("MemTotal: lots kB\n")); got != 0 {
		t.Errorf("a bad MemTotal gave %d", got)
	}
	if got := ParseOSRelease(readTestdata(t, "os-release.txt")); got != "Debian GNU/Linux 12 (bookworm)" {
		t.Errorf("os %q", got)
	}
	if got := ParseOSRelease([]byte("PRETTY_NAME='Plain'\n")); got != "Plain" {
		t.Errorf("single-quoted os %q", got)
	}
}

func TestParsePeerReportChecksTheCounts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		out     string
		want    PeerReport
		wantErr bool
	}{
		{"a report after other lines", "warning: something\n{\"hosts\": 3, \"ok\": 2, \"failed\": 1, \"wall_seconds\": 1.5, \"errors\": [\"h: boom\"]}\n",
			PeerReport{Hosts: 3, OK: 2, Failed: 1, WallSeconds: 1.5, Errors: []string{"h: boom"}}, false},
		{"counts that do not add up", `{"hosts": 3, "ok": 3, "failed": 1, "wall_seconds": 1, "errors": []}`, PeerReport{}, true},
		{"an unknown field", `{"hosts": 0, "ok": 0, "failed": 0, "wall_seconds": 0, "errors": [], "x": 1}`, PeerReport{}, true},
		{"nothing", "\n\n", PeerReport{}, true},
		{"a traceback", "Traceback (most recent call last):\n  ...\nNameError: x\n", PeerReport{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePeerReport([]byte(tt.out))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseSimLine(f *testing.F) {
	f.Add("ready: 12 hosts")
	f.Add("simulated fleet: stats at http://127.0.0.1:1/stats")
	f.Fuzz(func(t *testing.T, line string) {
		got := ParseSimLine(line)
		if got.Kind == SimOther && got.Value != "" {
			t.Fatalf("a value without a kind: %+v", got)
		}
	})
}

func FuzzParseProcStat(f *testing.F) {
	f.Add(readTestdata(f, "procstat.txt"))
	f.Add([]byte("1 ()) R"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if d, err := ParseProcStat(data); err == nil && d < 0 {
			t.Fatalf("negative cpu time %s", d)
		}
	})
}

func FuzzParseCPUTimes(f *testing.F) {
	f.Add(readTestdata(f, "stat.txt"))
	f.Add([]byte("cpu 18446744073709551615 1 0 0 0"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := ParseCPUTimes(data); err == nil && c.Busy > c.Total {
			t.Fatalf("busy %d above total %d", c.Busy, c.Total)
		}
	})
}

func FuzzMachineParsers(f *testing.F) {
	f.Add(readTestdata(f, "cpuinfo-xeon.txt"))
	f.Add(readTestdata(f, "meminfo.txt"))
	f.Add(readTestdata(f, "os-release.txt"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseCPUModel(data)
		ParseOSRelease(data)
		if n := ParseMemTotal(data); n < 0 {
			t.Fatalf("negative memory %d", n)
		}
	})
}

func FuzzParsePeerReport(f *testing.F) {
	f.Add([]byte(`{"hosts": 1, "ok": 1, "failed": 0, "wall_seconds": 0.5, "errors": []}`))
	f.Fuzz(func(t *testing.T, out []byte) {
		if r, err := ParsePeerReport(out); err == nil && r.OK+r.Failed != r.Hosts {
			t.Fatalf("accepted counts that do not add up: %+v", r)
		}
	})
}

func TestDecodeSnapshotReadsTheStepRunCounters(t *testing.T) {
	t.Parallel()
	type counts struct{ Hosts, Commands, Creates, StepRuns, RunSteps int64 }
	tests := []struct {
		file string
		want counts
	}{
		// A fleet that counts step runs: one run of three steps per host.
		{"stats-step-runs.json", counts{2, 2, 2, 2, 6}},
		// A fleet that does not count them (or ran none): 0.
		{"stats-per-step.json", counts{1, 3, 1, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			s, err := DecodeSnapshot(readTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got := counts{int64(len(s.Hosts)), s.Totals.Commands, s.Totals.Requests["Create"], s.StepRuns, s.RunSteps}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := DecodeSnapshot([]byte(`{"totals": {"step_runs": "many"}}`)); err == nil {
		t.Error("DecodeSnapshot accepted a step_runs that is not a number")
	}
}

func TestWithConnectTimeoutAddsItToTheDefaults(t *testing.T) {
	t.Parallel()
	inv := "# Simulated fleet written by fleetrun sim: these hosts are simulated, not Windows.\n" +
		"defaults:\n  auth: ntlm\n  user: fleetrun\nhosts:\n  - name: sim-0001\n    address: 127.0.0.1\n    port: 20001\n"
	want := "# Simulated fleet written by fleetrun sim: these hosts are simulated, not Windows.\n" +
		"defaults:\n  connect_timeout: 1m0s\n  auth: ntlm\n  user: fleetrun\nhosts:\n  - name: sim-0001\n    address: 127.0.0.1\n    port: 20001\n"
	got, err := WithConnectTimeout([]byte(inv), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("inventory (-want +got):\n%s", diff)
	}
	parsed, err := inventory.Parse("fleet.yaml", got)
	if err != nil {
		t.Fatal(err)
	}
	if h := parsed.Hosts[0]; h.ConnectTimeout != time.Minute {
		t.Errorf("the host's connect timeout is %s, want 1m", h.ConnectTimeout)
	}
	for _, bad := range []string{"hosts:\n  - name: a\n", "  mydefaults:\n  a: b\n"} {
		if _, err := WithConnectTimeout([]byte(bad), time.Minute); err == nil {
			t.Errorf("WithConnectTimeout accepted %q", bad)
		}
	}
}
