package html

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/report"
)

func TestFormatMSReadsLikeADuration(t *testing.T) {
	t.Parallel()
	for ms, want := range map[int64]string{
		-1: "–", 0: "0ms", 812: "812ms", 1000: "1.0s", 4249: "4.2s", 59_999: "59s",
		192_000: "3m12s", 3_599_000: "59m59s", 3_720_000: "1h02m", 90_000_000: "25h00m",
	} {
		if got := formatMS(ms); got != want {
			t.Errorf("formatMS(%d) = %q, want %q", ms, got, want)
		}
	}
}

func TestFormatExitAddsHexForLargeCodes(t *testing.T) {
	t.Parallel()
	for code, want := range map[uint32]string{
		0: "0", 3010: "3010", 65535: "65535", 2359302: "2359302 (0x00240006)", 3221225477: "3221225477 (0xC0000005)",
	} {
		if got := formatExit(code); got != want {
			t.Errorf("formatExit(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestTailCutsAtCharactersAndLines(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		s        string
		n        int
		want     string
		wantLeft int
	}{
		{"short text is kept whole", "abc", 10, "abc", 0},
		{"a negative limit keeps everything", "abcdef", -1, "abcdef", 0},
		{"a cut inside a character moves to the next", "日本語", 7, "本語", 3},
		{"a cut just before a line end starts at the next line", "aaaa\nbbbbbbbbbbbbbbbbbbb", 21, "bbbbbbbbbbbbbbbbbbb", 5},
		{"a line end late in the tail is not worth losing text for", "aaaaaaaaaa\nbb", 8, "aaaaa\nbb", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, left := tail(tc.s, tc.n)
			if got != tc.want || left != tc.wantLeft {
				t.Errorf("tail(%q, %d) = %q, %d; want %q, %d", tc.s, tc.n, got, left, tc.want, tc.wantLeft)
			}
		})
	}
}

func TestTailLinesKeepsTheLastLines(t *testing.T) {
	t.Parallel()
	got, cut := tailLines("1\n2\n3\n4\n\n", 2, 100)
	if got != "3\n4" || !cut {
		t.Errorf("tailLines = %q, %v", got, cut)
	}
	got, cut = tailLines("only\r\n", 8, 100)
	if got != "only" || cut {
		t.Errorf("tailLines = %q, %v", got, cut)
	}
}

var t0 = time.Date(2026, 11, 28, 22, 0, 0, 0, time.UTC)

func at(d time.Duration) string { return t0.Add(d).Format(report.TimeFormat) }

func TestBudgetSpentIsWhenTheFailureOverTheLimitFinished(t *testing.T) {
	t.Parallel()
	one := 1
	host := func(status string, end time.Duration) report.Host {
		return report.Host{Name: "h", Status: status, StartedAt: at(0), FinishedAt: at(end)}
	}
	for _, tc := range []struct {
		name   string
		max    *int
		hosts  []report.Host
		want   time.Duration
		wantOK bool
	}{
		{"no budget", nil, []report.Host{host("failed", time.Minute)}, 0, false},
		{"within budget", &one, []report.Host{host("failed", time.Minute), host("ok", 2*time.Minute)}, 0, false},
		{"the second failure to finish spends a budget of one", &one,
			[]report.Host{host("failed", 5*time.Minute), host("unreachable", time.Minute), host("failed", 3*time.Minute)}, 3 * time.Minute, true},
		{"failures without times cannot be placed", &one, []report.Host{{Status: "failed"}, {Status: "failed"}}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRun(&report.Document{MaxFail: tc.max, Hosts: tc.hosts})
			got, _, ok := r.budgetSpent()
			if ok != tc.wantOK || (ok && !got.Equal(t0.Add(tc.want))) {
				t.Errorf("budgetSpent = %v, %v; want %v, %v", got, ok, t0.Add(tc.want), tc.wantOK)
			}
		})
	}
}

func TestTicksFallOnRoundTimes(t *testing.T) {
	t.Parallel()
	r := newRun(&report.Document{StartedAt: "2026-11-28T22:03:10.000+09:00", FinishedAt: "2026-11-28T22:41:00.000+09:00"})
	var got []string
	for _, tk := range ticks(r) {
		got = append(got, tk.Label+"@"+tk.Pct)
	}
	want := []string{"22:05@4.85", "22:10@18.06", "22:15@31.28", "22:20@44.49", "22:25@57.71", "22:30@70.93", "22:35@84.14", "22:40@97.36"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ticks (-want +got):\n%s", diff)
	}
}

func TestAggregateStacksHostsByWhatTheyRan(t *testing.T) {
	t.Parallel()
	step := func(status, outcome string, from, to time.Duration) report.Step {
		return report.Step{Status: status, Outcome: outcome, Attempts: 1, StartedAt: at(from), FinishedAt: at(to)}
	}
	// Two hosts over a 240-minute run, so one slice is one minute.
	doc := &report.Document{StartedAt: at(0), FinishedAt: at(240 * time.Minute), Hosts: []report.Host{
		{Status: "ok", StartedAt: at(0), FinishedAt: at(2*time.Minute + 30*time.Second), Steps: []report.Step{
			step("ok", "ok", 0, time.Minute+30*time.Second),
			step("ok", "reboot_required", time.Minute+30*time.Second, 2*time.Minute+30*time.Second),
		}},
		{Status: "failed", StartedAt: at(0), FinishedAt: at(30 * time.Second), Steps: []report.Step{
			step("failed", "", 0, 30*time.Second),
		}},
	}}
	r := newRun(doc)
	rects, peak := aggregate(r, r.hosts)
	want := []rect{
		{X: 0, W: 1, Y: "12.00", H: "12.00", Class: "failed"},
		{X: 0, W: 1, Y: "0.00", H: "12.00", Class: "ok"},
		{X: 1, W: 2, Y: "12.00", H: "12.00", Class: "reboot"},
	}
	if diff := cmp.Diff(want, rects); diff != "" || peak != 2 {
		t.Errorf("peak %d, rects (-want +got):\n%s", peak, diff)
	}
}

// TestUnchangedFileSteps: a file step that found its files in place has a
// bar of its own and is counted apart from ok in the step's card.
func TestUnchangedFileSteps(t *testing.T) {
	t.Parallel()
	doc := &report.Document{Playbook: "p", Status: "ok", Hosts: []report.Host{
		{Name: "a", Status: "ok", Steps: []report.Step{{Name: "stage", Kind: "copy", Status: "unchanged", Attempts: 1, DurationMS: 40}}},
		{Name: "b", Status: "ok", Steps: []report.Step{{Name: "stage", Kind: "copy", Status: "ok", Attempts: 1, DurationMS: 900}}},
	}}
	if got := stepBar(&doc.Hosts[0].Steps[0]); got != barUnchanged {
		t.Errorf("bar of an unchanged step = %q, want %q", got, barUnchanged)
	}
	if got := stepBar(&doc.Hosts[1].Steps[0]); got != barOK {
		t.Errorf("bar of an ok copy = %q, want %q", got, barOK)
	}
	st := buildStepStats(newRun(doc))
	if len(st) != 1 || st[0].OK != 1 || st[0].Unchanged != 1 || st[0].Ran != 2 {
		t.Errorf("step stats = %+v, want 1 ok, 1 unchanged, 2 ran", st)
	}
}

// TestFileStepsListTheirFiles: the page's data gives a file step's files,
// one line each, for the host's step table.
func TestFileStepsListTheirFiles(t *testing.T) {
	t.Parallel()
	doc := &report.Document{Playbook: "p", Status: "ok", Hosts: []report.Host{{Name: "a", Status: "ok", Steps: []report.Step{
		{Name: "stage", Kind: "copy", Status: "ok", Attempts: 1, Files: []report.File{
			{Path: `C:\x\a.msu`, Size: 3174, SHA256: "3f7a", Sent: 3174},
			{Path: `C:\x\b.txt`, Size: 2, SHA256: "9c1e", Unchanged: true},
		}},
		{Name: "collect", Kind: "fetch", Status: "ok", Attempts: 1, Files: []report.File{
			{Path: `C:\logs\app.log`, Size: 20, SHA256: "0a1b", Sent: 20, Local: "collected/a/app.log"},
		}},
		{Name: "run", Kind: "cmd", Status: "ok", Attempts: 1},
	}}}}
	d := buildData(newRun(doc), nil, 1000)
	var got []string
	for _, st := range d.Hosts[0].St {
		got = append(got, d.Strs[st.Fl])
	}
	want := []string{
		"C:\\x\\a.msu  3.1 KiB  sha256 3f7a  sent\nC:\\x\\b.txt  2 B  sha256 9c1e  unchanged\n",
		"C:\\logs\\app.log  20 B  sha256 0a1b  fetched to collected/a/app.log\n",
		d.Strs[0],
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files text (-want +got):\n%s", diff)
	}
	if d.Hosts[0].St[2].Fl != 0 {
		t.Errorf("a cmd step lists files: %q", d.Strs[d.Hosts[0].St[2].Fl])
	}
}
