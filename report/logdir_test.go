package report

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/runner"
)

func TestLogDirWritesOneExactFilePerHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		sc   *scenario
	}{
		{"rollout", rolloutScenario()},
		{"hostile", hostileScenario()},
		{"files", filesScenario()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "logs")
			d, err := NewLogDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			tt.sc.replay(d, d)
			if n := openFiles(d); n != 0 {
				t.Errorf("%d files still open after every host finished", n)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			checkMode(t, dir, 0o700)
			var names []string
			for _, h := range tt.sc.res.Hosts {
				file := LogFileName(h.Name)
				names = append(names, file)
				path := filepath.Join(dir, file)
				checkMode(t, path, 0o600)
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				golden(t, "logdir/"+tt.name+"/"+file, data)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			sort.Strings(names)
			if diff := cmp.Diff(names, got); diff != "" {
				t.Errorf("files in the log dir (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLogDirOutputReassembles checks that each attempt's stdout and stderr
// can be recovered byte for byte from the log.
func TestLogDirOutputReassembles(t *testing.T) {
	t.Parallel()
	sc := rolloutScenario()
	dir := t.TempDir()
	d, err := NewLogDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sc.replay(d, d)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string][2]string{}
	for _, a := range sc.actions {
		if a.out == nil {
			continue
		}
		if want[a.out.host] == nil {
			want[a.out.host] = map[string][2]string{}
		}
		k := attemptKey(a.out.step+1, a.out.attempt)
		v := want[a.out.host][k]
		if a.out.stderr {
			v[1] += a.out.data
		} else {
			v[0] += a.out.data
		}
		want[a.out.host][k] = v
	}
	for host, w := range want {
		data, err := os.ReadFile(filepath.Join(dir, LogFileName(host)))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(w, reassemble(t, data)); diff != "" {
			t.Errorf("%s: output reassembled from the log (-want +got):\n%s", host, diff)
		}
	}
}

func attemptKey(step, attempt int) string { return fmt.Sprintf("step %d attempt %d", step, attempt) }

var attemptStart = regexp.MustCompile(`^\S+ step (\d+) ".*" attempt (\d+) started`)

// reassemble reads a log back into each attempt's stdout and stderr,
// following the format LogDir documents.
func reassemble(t testing.TB, data []byte) map[string][2]string {
	t.Helper()
	got := map[string][2]string{}
	cur := ""
	// pending holds each stream's last line, whose "\n" belongs to the
	// output unless a "+" or "\" line for the stream follows.
	var pending [2]*string
	flush := func(s int, keepNewline bool) {
		if pending[s] == nil {
			return
		}
		v := got[cur]
		v[s] += *pending[s]
		if keepNewline {
			v[s] += "\n"
		}
		got[cur] = v
		pending[s] = nil
	}
	r := bufio.NewReader(bytes.NewReader(data))
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF {
			if line != "" {
				t.Fatalf("log ends without a newline: %q", line)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		line = strings.TrimSuffix(line, "\n")
		s := -1
		switch {
		case strings.HasPrefix(line, "out"):
			s = 0
		case strings.HasPrefix(line, "err"):
			s = 1
		}
		if s < 0 {
			flush(0, true)
			flush(1, true)
			if m := attemptStart.FindStringSubmatch(line); m != nil {
				cur = "step " + m[1] + " attempt " + m[2]
			}
			continue
		}
		if cur == "" {
			t.Fatalf("output line before any attempt started: %q", line)
		}
		body := line[3:]
		switch {
		case strings.HasPrefix(body, "| "):
			flush(s, true)
			rest := body[2:]
			pending[s] = &rest
		case strings.HasPrefix(body, "+ "):
			flush(s, false)
			rest := body[2:]
			pending[s] = &rest
		case body == `\ no newline at end`:
			flush(s, false)
		default:
			t.Fatalf("unknown output line %q", line)
		}
	}
	flush(0, true)
	flush(1, true)
	return got
}

func FuzzLogDirFraming(f *testing.F) {
	f.Add([]byte("a\nb"), []byte("c"), []byte("\n"), []byte("d\r\n"))
	f.Add([]byte(""), []byte("\n\n"), []byte("x"), []byte(""))
	f.Add([]byte("out| fake\n"), []byte("err+ x"), []byte("\\ no newline at end"), []byte("2024 step 9 \"x\" attempt 9 started\n"))
	f.Fuzz(func(t *testing.T, o1, e1, o2, e2 []byte) {
		dir := t.TempDir()
		d, err := NewLogDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		sc := newScenario("fuzz", 1, host("h", "", 0))
		h := sc.res.Hosts[0]
		sc.hostStarted(0, h)
		st := sc.stepStarted(1, h, 0, "s", playbook.KindPowerShell, 0)
		for i, chunk := range [][]byte{o1, e1, o2, e2} {
			if len(chunk) > 0 {
				sc.output(h, st, i%2 == 1, string(chunk))
			}
		}
		sc.stepFinished(2, h, st, runner.StatusOK, 0, nil)
		sc.hostFinished(3, h, runner.StatusOK)
		sc.replay(d, d)
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, "h.log"))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][2]string{}
		if st.Stdout != "" || st.Stderr != "" {
			want[attemptKey(1, 1)] = [2]string{st.Stdout, st.Stderr}
		}
		if diff := cmp.Diff(want, reassemble(t, data)); diff != "" {
			t.Errorf("reassembled output (-want +got):\n%s\nlog:\n%s", diff, data)
		}
	})
}

// TestLogDirConcurrentHosts runs many hosts at once, each writing output
// from its own goroutine while events arrive one at a time, as the runner
// delivers them; run it with -race.
func TestLogDirConcurrentHosts(t *testing.T) {
	t.Parallel()
	const hosts, forks, chunks = 40, 8, 50
	dir := t.TempDir()
	d, err := NewLogDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var emitMu sync.Mutex
	maxOpen := 0
	emit := func(e runner.Event) {
		emitMu.Lock()
		defer emitMu.Unlock()
		d.Event(e)
		maxOpen = max(maxOpen, openFiles(d))
	}
	sc := newScenario("concurrent", 1)
	sem := make(chan struct{}, forks)
	var wg sync.WaitGroup
	for i := range hosts {
		h := host(fmt.Sprintf("h-%02d", i), "", 0)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			emit(runner.Event{Kind: runner.HostStarted, Time: sc.at(i), Host: h})
			st := &runner.StepResult{Index: 0, Name: "s", Kind: playbook.KindPowerShell, Attempts: 1, Expected: []uint32{0}}
			emit(runner.Event{Kind: runner.StepStarted, Time: sc.at(i), Host: h, Step: st})
			stdout, stderr := d.StepOutput(h.Name, 0, 1)
			var inner sync.WaitGroup
			inner.Add(2)
			// Two writers at once, as a transport copying both streams in
			// separate goroutines would.
			for s, w := range []io.Writer{stdout, stderr} {
				go func() {
					defer inner.Done()
					for c := range chunks {
						fmt.Fprintf(w, "%s stream %d chunk %d\n", h.Name, s, c)
					}
				}()
			}
			inner.Wait()
			st.Status = runner.StatusOK
			emit(runner.Event{Kind: runner.StepFinished, Time: sc.at(i + 1), Host: h, Step: st})
			h.Status = runner.StatusOK
			h.Steps = []*runner.StepResult{st}
			emit(runner.Event{Kind: runner.HostFinished, Time: sc.at(i + 2), Host: h})
		}()
	}
	wg.Wait()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if maxOpen > forks {
		t.Errorf("up to %d files were open, want at most one per running host (%d)", maxOpen, forks)
	}
	for i := range hosts {
		name := fmt.Sprintf("h-%02d", i)
		data, err := os.ReadFile(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		got := reassemble(t, data)[attemptKey(1, 1)]
		for s := range 2 {
			var want strings.Builder
			for c := range chunks {
				fmt.Fprintf(&want, "%s stream %d chunk %d\n", name, s, c)
			}
			if got[s] != want.String() {
				t.Errorf("%s stream %d reassembled wrong:\n%s", name, s, got[s])
			}
		}
	}
}

func TestLogDirLateOutputIsKeptAndClosed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, err := NewLogDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sc := newScenario("late", 1, host("h", "", 0))
	h := sc.res.Hosts[0]
	sc.hostStarted(0, h)
	st := sc.stepStarted(1, h, 0, "s", playbook.KindPowerShell, 0)
	sc.stepFinished(2, h, st, runner.StatusOK, 0, nil)
	sc.hostFinished(3, h, runner.StatusOK)
	out, _ := d.StepOutput("h", 0, 1)
	sc.replay(d, d)
	if _, err := io.WriteString(out, "drained late\n"); err != nil {
		t.Fatal(err)
	}
	if n := openFiles(d); n != 0 {
		t.Errorf("%d files open after a late write, want 0", n)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(out, "after close\n"); err != nil {
		t.Fatalf("write after Close: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "h.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(data), "out| drained late\n") || strings.Contains(string(data), "after close") {
		t.Errorf("log does not end with the late output only:\n%s", data)
	}
}

func TestLogDirReplacesAnEarlierRunsLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old := filepath.Join(dir, "h.log")
	if err := os.WriteFile(old, []byte("old run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := NewLogDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sc := newScenario("again", 1, host("h", "", 0))
	sc.hostStarted(0, sc.res.Hosts[0])
	sc.hostFinished(1, sc.res.Hosts[0], runner.StatusOK)
	sc.replay(d, d)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(old)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "old run") {
		t.Errorf("the earlier run's log was kept:\n%s", data)
	}
	checkMode(t, old, 0o600)
}

func TestLogDirReportsWriteErrorsAtClose(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A folder where the host's file should go makes opening it fail.
	if err := os.Mkdir(filepath.Join(dir, "h.log"), 0o700); err != nil {
		t.Fatal(err)
	}
	d, err := NewLogDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sc := newScenario("broken", 1, host("h", "", 0))
	h := sc.res.Hosts[0]
	sc.hostStarted(0, h)
	st := sc.stepStarted(1, h, 0, "s", playbook.KindPowerShell, 0)
	sc.output(h, st, false, "x\n")
	sc.stepFinished(2, h, st, runner.StatusOK, 0, nil)
	sc.hostFinished(3, h, runner.StatusOK)
	sc.replay(d, d)
	err = d.Close()
	if err == nil || !strings.Contains(err.Error(), "log of h") {
		t.Errorf("Close = %v, want the log error of host h", err)
	}
}

func TestNewLogDirRejectsAFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewLogDir(path); err == nil {
		t.Error("NewLogDir on a file succeeded")
	}
}

func TestLogFileName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, host, want string
	}{
		{"a plain host name is kept", "web-01", "web-01.log"},
		{"dots and underscores are kept", "web_01.corp.example", "web_01.corp.example.log"},
		{"an IP address is kept", "10.0.1.10", "10.0.1.10.log"},
		{"a slash cannot escape the folder", "../etc/passwd", "_._etc_passwd-7fef78f5.log"},
		{"a leading dot would hide the file", ".hidden", "_hidden-16924190.log"},
		{"spaces and colons are replaced", "host a:5986", "host_a_5986-f18f792a.log"},
		{"non-ASCII is replaced", "サーバー", "____________-e8b52972.log"},
		{"Windows device names are avoided", "con", "con-1143da2b.log"},
		{"an empty name still gets a file", "", "_-e3b0c442.log"},
		{"a long name is clipped", strings.Repeat("a", 150), strings.Repeat("a", 100) + "-7595af82.log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := LogFileName(tt.host); got != tt.want {
				t.Errorf("LogFileName(%q) = %q, want %q", tt.host, got, tt.want)
			}
		})
	}
}

func TestLogDirKeepsHostsApartOnCaseInsensitiveNames(t *testing.T) {
	t.Parallel()
	d, err := NewLogDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	a, b := d.host("Web-01"), d.host("web-01")
	if got := []string{filepath.Base(a.path), filepath.Base(b.path), filepath.Base(d.Path("web-01"))}; !cmp.Equal(got, []string{"Web-01.log", "web-01~2.log", "web-01~2.log"}) {
		t.Errorf("files = %v", got)
	}
}

func BenchmarkLogDirOutput(b *testing.B) {
	d, err := NewLogDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := d.Close(); err != nil {
			b.Error(err)
		}
	})
	out, errw := d.StepOutput("h", 0, 1)
	chunk := bytes.Repeat([]byte("some output text of a typical line\r\n"), 100)
	b.ReportAllocs()
	b.SetBytes(int64(2 * len(chunk)))
	for b.Loop() {
		if _, err := out.Write(chunk); err != nil {
			b.Fatal(err)
		}
		if _, err := errw.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
}

// openFiles counts the host files LogDir holds open.
func openFiles(d *LogDir) int {
	d.mu.Lock()
	hosts := make([]*hostLog, 0, len(d.hosts))
	for _, h := range d.hosts {
		hosts = append(hosts, h)
	}
	d.mu.Unlock()
	n := 0
	for _, h := range hosts {
		h.mu.Lock()
		if h.f != nil {
			n++
		}
		h.mu.Unlock()
	}
	return n
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %o, want %o", path, got, want)
	}
}
