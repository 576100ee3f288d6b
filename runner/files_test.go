package runner_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

func sum(data string) string {
	s := sha256.Sum256([]byte(data))
	return hex.EncodeToString(s[:])
}

// fakeDisks are the hosts' file systems as the fake transport sees them:
// host → lower-case path → bytes. They do what the copy and fetch scripts
// do: a copy whose destination holds the bytes writes nothing; a fetch
// sends every file matching the pattern's prefix.
type fakeDisks struct {
	mu    sync.Mutex
	files map[string]map[string]string
	blobs map[string][]transport.Blob // host → the blobs its copies read
}

func newFakeDisks() *fakeDisks {
	return &fakeDisks{files: map[string]map[string]string{}, blobs: map[string][]transport.Blob{}}
}

func (d *fakeDisks) put(host, path, data string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.files[host] == nil {
		d.files[host] = map[string]string{}
	}
	d.files[host][strings.ToLower(path)] = data
}

func (d *fakeDisks) behave(host string, cmd transport.Command, _ int) (transport.Result, error) {
	switch cmd.Kind {
	case transport.KindCopy:
		var res transport.Result
		res.Unchanged = true
		for _, f := range cmd.Copy.Files {
			buf := make([]byte, f.Src.Size())
			if _, err := f.Src.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
				return transport.Result{}, err
			}
			if got := sum(string(buf)); got != f.Src.SHA256() {
				return transport.Result{}, &transport.Error{Class: transport.ClassHashMismatch, Message: "bytes differ"}
			}
			d.mu.Lock()
			d.blobs[host] = append(d.blobs[host], f.Src)
			old, ok := d.files[host][strings.ToLower(f.Dest)]
			d.mu.Unlock()
			fr := transport.FileResult{Path: f.Dest, Size: f.Src.Size(), SHA256: f.Src.SHA256()}
			if ok && old == string(buf) {
				fr.Unchanged = true
			} else {
				d.put(host, f.Dest, string(buf))
				fr.Sent = f.Src.Size()
				res.Unchanged = false
			}
			res.Files = append(res.Files, fr)
		}
		return res, nil
	case transport.KindFetch:
		prefix := strings.ToLower(strings.TrimSuffix(cmd.Fetch.Src, "*"))
		d.mu.Lock()
		var paths []string
		for p := range d.files[host] {
			if strings.HasPrefix(p, prefix) {
				paths = append(paths, p)
			}
		}
		d.mu.Unlock()
		sort.Strings(paths)
		if len(paths) == 0 && !cmd.Fetch.Optional {
			return transport.Result{}, &transport.Error{Class: transport.ClassNotFound, Message: cmd.Fetch.Src + " matched no file"}
		}
		var res transport.Result
		for _, p := range paths {
			d.mu.Lock()
			data := d.files[host][p]
			d.mu.Unlock()
			w, err := cmd.Fetch.Sink.Create(p, p[strings.LastIndex(p, `\`)+1:], int64(len(data)))
			if err != nil {
				return transport.Result{}, err
			}
			if _, err := io.WriteString(w, data); err != nil {
				w.Abort()
				return transport.Result{}, err
			}
			local, err := w.Commit(sum(data))
			if err != nil {
				return transport.Result{}, err
			}
			res.Files = append(res.Files, transport.FileResult{Path: p, Local: local, Size: int64(len(data)), SHA256: sum(data), Sent: int64(len(data))})
		}
		return res, nil
	}
	return transport.Result{}, nil
}

// writeTree writes files (slash-separated paths relative to dir).
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, data := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func loadPlaybook(t *testing.T, dir, text string) *playbook.Playbook {
	t.Helper()
	path := filepath.Join(dir, "pb.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	pb, err := playbook.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

const msu = "pretend this is an update package"

var filesPlaybook = `
name: files
steps:
  - name: stage
    copy: {src: patches/kb.msu, dest: 'C:\patches\', sha256: ` + strings.ToUpper(sum(msu)) + `}
  - name: tree
    copy: {src: tools, dest: 'D:\tools'}
  - name: renamed
    copy: {src: patches/kb.msu, dest: 'C:\other\{{ .host.name }}.msu'}
  - name: collect
    fetch: {src: 'C:\logs\*', dest_dir: '{{ .vars.out }}'}
`

func TestCopyAndFetchThroughTheTransport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "collected")
	// tools is a link to the real folder, and the tree holds a link to a
	// file: both are followed.
	writeTree(t, dir, map[string]string{"patches/kb.msu": msu, "real-tools/a.txt": "A", "elsewhere/b.txt": "BB", "real-tools/sub/.keep": ""})
	if err := os.Remove(filepath.Join(dir, "real-tools", "sub", ".keep")); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"tools": "real-tools", "real-tools/sub/b.txt": "../../elsewhere/b.txt"} {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	pb := loadPlaybook(t, dir, filesPlaybook)
	disks := newFakeDisks()
	hosts := makeHosts(3)
	for _, h := range hosts {
		disks.put(h.Name, `C:\logs\app.log`, "log of "+h.Name)
		disks.put(h.Name, `C:\logs\setup.log`, "setup")
	}
	opts := runner.Options{Dialer: newFakeFleet(disks.behave), Target: target, After: immediate, Extra: map[string]string{"out": out}}
	res, err := runner.Run(context.Background(), pb, hosts, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != runner.StatusOK {
		t.Fatalf("run %s: %+v", res.Status, res.Hosts[0])
	}
	h := res.Hosts[1] // h001
	type stepView struct {
		Status   runner.Status
		ExitCode *uint32
		Files    []transport.FileResult
	}
	var got []stepView
	for _, s := range h.Steps {
		got = append(got, stepView{s.Status, s.ExitCode, s.Files})
	}
	local := func(name string) string { return filepath.Join(out, "h001", name) }
	want := []stepView{
		{runner.StatusOK, nil, []transport.FileResult{{Path: `C:\patches\kb.msu`, Size: int64(len(msu)), SHA256: sum(msu), Sent: int64(len(msu))}}},
		{runner.StatusOK, nil, []transport.FileResult{
			{Path: `D:\tools\a.txt`, Size: 1, SHA256: sum("A"), Sent: 1},
			{Path: `D:\tools\sub\b.txt`, Size: 2, SHA256: sum("BB"), Sent: 2},
		}},
		{runner.StatusOK, nil, []transport.FileResult{{Path: `C:\other\h001.msu`, Size: int64(len(msu)), SHA256: sum(msu), Sent: int64(len(msu))}}},
		{runner.StatusOK, nil, []transport.FileResult{
			{Path: `c:\logs\app.log`, Local: local("app.log"), Size: 12, SHA256: sum("log of h001"), Sent: 12},
			{Path: `c:\logs\setup.log`, Local: local("setup.log"), Size: 5, SHA256: sum("setup"), Sent: 5},
		}},
	}
	want[3].Files[0].Size, want[3].Files[0].Sent = 11, 11
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("h001's steps (-want +got):\n%s", diff)
	}
	for _, h := range hosts {
		data, err := os.ReadFile(filepath.Join(out, h.Name, "app.log"))
		if err != nil || string(data) != "log of "+h.Name {
			t.Errorf("%s: fetched app.log = %q, %v", h.Name, data, err)
		}
		if leftovers, _ := filepath.Glob(filepath.Join(out, h.Name, ".*")); len(leftovers) != 0 {
			t.Errorf("%s: temporary files left: %v", h.Name, leftovers)
		}
	}
	// Every host's copies of kb.msu read one open file: the source was
	// opened and hashed once for the run.
	disks.mu.Lock()
	first := disks.blobs["h000"][0]
	for _, h := range hosts {
		bs := disks.blobs[h.Name]
		if len(bs) != 4 || bs[0] != first || bs[3] != first {
			t.Errorf("%s read blobs %v, want kb.msu's one blob %p first and last", h.Name, bs, first)
		}
	}
	disks.mu.Unlock()

	// Again: every copy finds its files in place.
	res, err = runner.Run(context.Background(), pb, hosts, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range res.Hosts {
		var st []runner.Status
		for _, s := range h.Steps {
			st = append(st, s.Status)
		}
		if diff := cmp.Diff([]runner.Status{runner.StatusUnchanged, runner.StatusUnchanged, runner.StatusUnchanged, runner.StatusOK}, st); h.Status != runner.StatusOK || diff != "" {
			t.Errorf("%s second run: host %s, steps (-want +got):\n%s", h.Name, h.Status, diff)
		}
	}
	if res.Status != runner.StatusOK || res.Summarize().OK != 3 {
		t.Errorf("second run %s, summary %+v", res.Status, res.Summarize())
	}
}

// TestCopySourceProblemsStopTheRunBeforeAnyHost: a source that cannot be
// copied as the playbook says is an input error, positioned at the step,
// and no host is contacted.
func TestCopySourceProblemsStopTheRunBeforeAnyHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		files map[string]string
		link  [2]string // symlink name → target, relative to the playbook's folder
		copy  string
		opts  runner.Options
		want  string
	}{
		{name: "missing", copy: "{src: nope.msu, dest: 'C:\\x\\'}",
			want: "pb.yaml:4:17: steps[0].copy.src: nope.msu: no such file or directory"},
		{name: "pinned hash differs", files: map[string]string{"a.msu": "new bytes"},
			copy: "{src: a.msu, dest: 'C:\\x\\', sha256: " + sum("old bytes") + "}",
			want: "pb.yaml:4:47: steps[0].copy.sha256: a.msu has SHA-256 " + sum("new bytes") + ", not the " + sum("old bytes") + " the playbook pins; the source changed (update sha256 if the change is intended)"},
		{name: "hash on a folder", files: map[string]string{"d/a": "a"},
			copy: "{src: d, dest: 'C:\\x', sha256: " + sum("a") + "}",
			want: "pb.yaml:4:42: steps[0].copy.sha256: sha256 pins one file, but src d is a folder; leave sha256 out or copy the file itself"},
		{name: "empty folder", files: map[string]string{"d/.keep/": ""},
			copy: "{src: d/.keep, dest: 'C:\\x'}",
			want: "pb.yaml:4:17: steps[0].copy.src: d/.keep: the folder holds no files"},
		{name: "too many files", files: map[string]string{"d/a": "a", "d/b": "b", "d/c": "c"}, opts: runner.Options{MaxCopyFiles: 2},
			copy: "{src: d, dest: 'C:\\x'}",
			want: "pb.yaml:4:17: steps[0].copy.src: d: the folder holds more than 2 files, the most one copy step sends; copy a smaller folder or an archive"},
		{name: "too large", files: map[string]string{"d/a": "aaaa", "d/b": "bbbb"}, opts: runner.Options{MaxCopyBytes: 6},
			copy: "{src: d, dest: 'C:\\x'}",
			want: "pb.yaml:4:17: steps[0].copy.src: d: the folder holds more than the 6 B a copy source may hold; copy a smaller folder"},
		{name: "name Windows refuses", files: map[string]string{"d/a:b": "x"},
			copy: "{src: d, dest: 'C:\\x'}",
			want: "pb.yaml:4:17: steps[0].copy.src: d: a:b: the name \"a:b\" holds ':', which Windows does not allow in a file name; rename it"},
		{name: "device name", files: map[string]string{"d/aux.txt": "x"},
			copy: "{src: d, dest: 'C:\\x'}",
			want: "pb.yaml:4:17: steps[0].copy.src: d: aux.txt: \"aux.txt\" is a device name on Windows and cannot be a file name; rename it"},
		{name: "names that differ by case", files: map[string]string{"d/A.txt": "1", "d/a.txt": "2"},
			copy: "{src: d, dest: 'C:\\x'}",
			want: "pb.yaml:4:17: steps[0].copy.src: DIR/d/A.txt and DIR/d/a.txt would both be written to C:\\x\\a.txt (Windows file names ignore case); rename one"},
		{name: "link to a folder", files: map[string]string{"d/a": "a", "elsewhere/b": "b"}, link: [2]string{"d/l", "../elsewhere"},
			copy: "{src: d, dest: 'C:\\x'}",
			want: "pb.yaml:4:17: steps[0].copy.src: d: l is a link to a folder; fleetrun follows links to files only (copy that folder as a step of its own)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for p, data := range tc.files {
				if strings.HasSuffix(p, "/") {
					if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
						t.Fatal(err)
					}
					continue
				}
				writeTree(t, dir, map[string]string{p: data})
			}
			if tc.link[0] != "" {
				if err := os.Symlink(tc.link[1], filepath.Join(dir, tc.link[0])); err != nil {
					t.Fatal(err)
				}
			}
			pb := loadPlaybook(t, dir, "name: t\nsteps:\n  - name: stage\n    copy: "+tc.copy+"\n")
			fleet := newFakeFleet(exitWith(func(string) uint32 { return 0 }))
			opts := tc.opts
			opts.Dialer, opts.Target = fleet, target
			_, err := runner.Run(context.Background(), pb, makeHosts(2), opts)
			want := strings.ReplaceAll(strings.Replace(tc.want, "pb.yaml:4:", pb.File+":4:", 1), "DIR", dir)
			if err == nil || err.Error() != want {
				t.Errorf("Run error:\n got %v\nwant %s", err, want)
			}
			if _, runs := fleet.stats(); len(runs) != 0 {
				t.Errorf("hosts were contacted: %v", runs)
			}
		})
	}
}

func TestFileStepFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "a"})
	pb := loadPlaybook(t, dir, `name: t
steps:
  - name: stage
    copy: {src: a.txt, dest: 'C:\x\'}
    retries: 2
    retry_delay: 1s
  - name: collect
    fetch: {src: 'C:\logs\*.log', dest_dir: '`+filepath.Join(dir, "out")+`'}
`)
	for _, tc := range []struct {
		name      string
		copyErr   func(attempt int) error
		wantSteps []runner.Status
		wantClass transport.Class
		wantHint  string
		attempts  int
	}{
		{name: "transient failures are retried",
			copyErr: func(attempt int) error {
				if attempt < 3 {
					return &transport.Error{Class: transport.ClassConnectionLost, Message: "reset", Transient: true}
				}
				return nil
			},
			wantSteps: []runner.Status{runner.StatusOK, runner.StatusFailed}, wantClass: transport.ClassNotFound, attempts: 3,
			wantHint: "no file on the host matched fetch src; check the path, or set optional: true if having none is fine"},
		{name: "a hash mismatch is not retried",
			copyErr: func(int) error {
				return &transport.Error{Class: transport.ClassHashMismatch, Message: "the bytes differ"}
			},
			wantSteps: []runner.Status{runner.StatusFailed, runner.StatusSkipped}, wantClass: transport.ClassHashMismatch, attempts: 1,
			wantHint: "the bytes that arrived are not the ones required: for a download, check the URL and the sha256 the playbook gives; for a copy or fetch, a file changed while it was sent (run again)"},
		{name: "config failures keep the transport's hint",
			copyErr: func(int) error {
				return &transport.Error{Class: transport.ClassConfig, Message: "no bucket", Hint: "the transport's own"}
			},
			wantSteps: []runner.Status{runner.StatusFailed, runner.StatusSkipped}, wantClass: transport.ClassConfig, attempts: 1,
			wantHint: "the transport's own"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			disks := newFakeDisks()
			fleet := newFakeFleet(nil)
			fleet.behave = func(host string, cmd transport.Command, attempt int) (transport.Result, error) {
				if cmd.Kind == transport.KindCopy {
					if err := tc.copyErr(attempt); err != nil {
						return transport.Result{}, err
					}
				}
				return disks.behave(host, cmd, attempt)
			}
			res, err := runner.Run(context.Background(), pb, makeHosts(1), runner.Options{Dialer: fleet, Target: target, After: immediate})
			if err != nil {
				t.Fatal(err)
			}
			h := res.Hosts[0]
			var st []runner.Status
			var failed *runner.StepResult
			for _, s := range h.Steps {
				st = append(st, s.Status)
				if s.Status == runner.StatusFailed {
					failed = s
				}
			}
			if diff := cmp.Diff(tc.wantSteps, st); diff != "" || h.Status != runner.StatusFailed {
				t.Errorf("host %s, steps (-want +got):\n%s", h.Status, diff)
			}
			if failed == nil || failed.Err.Class != tc.wantClass || failed.Err.Hint != tc.wantHint {
				t.Errorf("failed step = %+v, want class %s with hint %q", failed, tc.wantClass, tc.wantHint)
			}
			if h.Steps[0].Attempts != tc.attempts {
				t.Errorf("copy attempts = %d, want %d", h.Steps[0].Attempts, tc.attempts)
			}
		})
	}
}

func TestFetchSinkStoresOnlyCheckedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sink := runner.NewFetchSink(dir, "web-01")
	listing := func() []string {
		var names []string
		entries, _ := os.ReadDir(filepath.Join(dir, "web-01"))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	w, err := sink.Create(`C:\logs\good.log`, "good.log", 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, "good"); err != nil {
		t.Fatal(err)
	}
	local, err := w.Commit(strings.ToUpper(sum("good")))
	if err != nil || local != filepath.Join(dir, "web-01", "good.log") {
		t.Fatalf("Commit = %q, %v", local, err)
	}
	// A file whose bytes do not match the host's hash is removed.
	w, _ = sink.Create(`C:\logs\bad.log`, "bad.log", 3)
	_, _ = io.WriteString(w, "bad")
	_, err = w.Commit(sum("good"))
	var te *transport.Error
	if !errors.As(err, &te) || te.Class != transport.ClassHashMismatch {
		t.Errorf("Commit of changed bytes: %v, want class hash_mismatch", err)
	}
	// Aborted, short and overlong files leave nothing.
	w, _ = sink.Create(`C:\logs\cut.log`, "cut.log", 10)
	_, _ = io.WriteString(w, "cut")
	w.Abort()
	w, _ = sink.Create(`C:\logs\short.log`, "short.log", 10)
	_, _ = io.WriteString(w, "short")
	if _, err := w.Commit(sum("short")); err == nil || err.Error() != `protocol: C:\logs\short.log: 5 bytes arrived, the host announced 10` {
		t.Errorf("Commit of a short file: %v", err)
	}
	w, _ = sink.Create(`C:\logs\long.log`, "long.log", 2)
	if _, err := io.WriteString(w, "long"); err == nil {
		t.Error("writing more than announced succeeded")
	}
	w.Abort()
	if diff := cmp.Diff([]string{"good.log"}, listing()); diff != "" {
		t.Errorf("stored files (-want +got):\n%s", diff)
	}
	for _, tc := range []struct{ name, want string }{
		{"..", `protocol: the host sent the file "C:\\x" under the name "..", which cannot be stored safely`},
		{`a\b`, `protocol: the host sent the file "C:\\x" under the name "a\\b", which cannot be stored safely`},
		{"x/y", `protocol: the host sent the file "C:\\x" under the name "x/y", which cannot be stored safely`},
		{"GOOD.LOG", `protocol: two matched files are named "GOOD.LOG"; fetch stores files by name, so narrow src to one folder`},
	} {
		if _, err := sink.Create(`C:\x`, tc.name, 1); err == nil || err.Error() != tc.want {
			t.Errorf("Create(%q) = %v, want %s", tc.name, err, tc.want)
		}
	}
}

func TestLocalHostName(t *testing.T) {
	t.Parallel()
	hashed := func(name, safe string) string {
		s := sha256.Sum256([]byte(name))
		return safe + "-" + hex.EncodeToString(s[:4])
	}
	for in, want := range map[string]string{
		"web-01":              "web-01",
		"web-01.corp.example": "web-01.corp.example",
		"..":                  hashed("..", "__"),
		".":                   hashed(".", "_"),
		"a/b":                 hashed("a/b", "a_b"),
		`..\..\etc`:           hashed(`..\..\etc`, "______etc"),
		"":                    hashed("", ""),
	} {
		if got := runner.LocalHostName(in); got != want {
			t.Errorf("LocalHostName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPlanShowsWhatFileStepsMove(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"patches/kb.msu": msu, "tools/a.txt": "A", "tools/b.txt": "BB"})
	pb := loadPlaybook(t, dir, `name: plan
steps:
  - name: stage
    copy: {src: patches/kb.msu, dest: 'C:\patches\'}
  - name: tree
    copy: {src: tools, dest: 'D:\tools\'}
  - name: pull
    download: {url: 'https://r.example/a.msi', dest: 'C:\a.msi', sha256: `+sum("a")+`, proxy: 'http://proxy:3128'}
  - name: collect
    fetch: {src: 'C:\logs\*.log', dest_dir: out, max_bytes: 50MiB, optional: true}
`)
	hosts := []*inventory.Host{{Name: "web-01", Transport: "winrm"}}
	plan, err := runner.Plan(pb, hosts, nil, func(*inventory.Host, transport.Command) (runner.Rendering, error) {
		return runner.Rendering{Note: "from the transport"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, s := range plan.Hosts[0].Steps {
		notes = append(notes, s.Note)
	}
	want := []string{
		fmt.Sprintf("copies %s (%d B, sha256 %s) to C:\\patches\\kb.msu; from the transport", filepath.Join(dir, "patches", "kb.msu"), len(msu), sum(msu)),
		"copies 2 files (3 B in all) from tools to D:\\tools\\; from the transport",
		"the host downloads https://r.example/a.msi to C:\\a.msi and keeps it only with sha256 " + sum("a") + " (2 further tries after a failed transfer, through the proxy http://proxy:3128); from the transport",
		"fetches C:\\logs\\*.log (at most 50 MiB) into " + filepath.Join("out", "web-01") + "/; no matching file is fine (optional); from the transport",
	}
	if diff := cmp.Diff(want, notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	wantFiles := []transport.FileResult{
		{Path: `D:\tools\a.txt`, Local: filepath.Join(dir, "tools", "a.txt"), Size: 1, SHA256: sum("A")},
		{Path: `D:\tools\b.txt`, Local: filepath.Join(dir, "tools", "b.txt"), Size: 2, SHA256: sum("BB")},
	}
	if diff := cmp.Diff(wantFiles, plan.Hosts[0].Steps[1].Files); diff != "" {
		t.Errorf("tree's planned files (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
		t.Errorf("the plan created the fetch folder: %v", err)
	}
}

// TestResumeKeepsCopiesDone: a copy that succeeded (ok or unchanged) is
// journaled as done and a resumed run does not send it again; the report
// of the resumed run shows how it ended.
func TestResumeKeepsCopiesDone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "a"})
	pb := loadPlaybook(t, dir, "name: t\nsteps:\n  - name: stage\n    copy: {src: a.txt, dest: 'C:\\x\\'}\n  - name: then\n    cmd: ver\n")
	journal := filepath.Join(dir, "run.journal")
	disks := newFakeDisks()
	disks.put("h000", `C:\x\a.txt`, "a") // unchanged on h000, sent to h001
	fail := true
	fleet := newFakeFleet(func(host string, cmd transport.Command, attempt int) (transport.Result, error) {
		if cmd.Kind == transport.KindCmd && fail {
			return transport.Result{ExitCode: 1}, nil
		}
		return disks.behave(host, cmd, attempt)
	})
	j, err := runner.OpenJournal(journal, pb, fixedNow())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runner.Run(context.Background(), pb, makeHosts(2), runner.Options{Dialer: fleet, Target: target, Sinks: []runner.Sink{j}}); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	prog, err := runner.ReadJournal(journal)
	if err != nil {
		t.Fatal(err)
	}
	fail = false
	fleet2 := newFakeFleet(disks.behave)
	res, err := runner.Run(context.Background(), pb, makeHosts(2), runner.Options{Dialer: fleet2, Target: target, Resume: &runner.Resume{Progress: prog}})
	if err != nil {
		t.Fatal(err)
	}
	if _, runs := fleet2.stats(); !cmp.Equal(runs, map[string]int{"h000": 1, "h001": 1}) {
		t.Errorf("runs on resume = %v, want only the cmd step on each host", runs)
	}
	for i, want := range []runner.Status{runner.StatusUnchanged, runner.StatusOK} {
		if s := res.Hosts[i].Steps[0]; s.Status != want || s.Reason != runner.ReasonDoneEarlier {
			t.Errorf("%s copy step: %s (%q), want %s done earlier", res.Hosts[i].Name, s.Status, s.Reason, want)
		}
	}
}

// TestOpenSourcesBeforeTheRun: sources opened ahead (before pre-flight
// checks contact hosts) report the problems Run would, and serve any
// number of runs without being read again.
func TestOpenSourcesBeforeTheRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "a"})
	pb := loadPlaybook(t, dir, "name: t\nsteps:\n  - name: stage\n    copy: {src: '{{ .host.tags.idx }}.txt', dest: 'C:\\x\\'}\n")
	_, err := runner.OpenSources(pb, makeHosts(2), nil, 0, 0)
	if want := pb.File + ":4:17: steps[0].copy.src: 0.txt: no such file or directory\n" + pb.File + ":4:17: steps[0].copy.src: 1.txt: no such file or directory"; err == nil || err.Error() != want {
		t.Errorf("OpenSources error:\n got %v\nwant %s", err, want)
	}
	writeTree(t, dir, map[string]string{"0.txt": "zero", "1.txt": "one"})
	srcs, err := runner.OpenSources(pb, makeHosts(2), nil, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srcs.Close() }()
	// Replacing a source now changes nothing: the run sends the file that
	// was opened and hashed. (A file rewritten in place would arrive with
	// other bytes and fail the transport's hash check.)
	writeTree(t, dir, map[string]string{"new.txt": "changed"})
	if err := os.Rename(filepath.Join(dir, "new.txt"), filepath.Join(dir, "0.txt")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		disks := newFakeDisks()
		res, err := runner.Run(context.Background(), pb, makeHosts(2), runner.Options{Dialer: newFakeFleet(disks.behave), Target: target, Sources: srcs})
		if err != nil {
			t.Fatal(err)
		}
		if f := res.Hosts[0].Steps[0].Files; len(f) != 1 || f[0].SHA256 != sum("zero") || f[0].Path != `C:\x\0.txt` {
			t.Errorf("h000 received %+v, want 0.txt as it was read", f)
		}
	}
}

// TestCheckSourcesWithoutHosts: a playbook checked alone reads the sources
// named literally or through its own vars, and leaves those that need a
// host.
func TestCheckSourcesWithoutHosts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"kb1.msu": "one"})
	pb := loadPlaybook(t, dir, `name: t
vars: {kb: kb2}
steps:
  - name: literal
    copy: {src: kb1.msu, dest: 'C:\x\', sha256: `+sum("one")+`}
  - name: by vars
    copy: {src: '{{ .vars.kb }}.msu', dest: 'C:\x\'}
  - name: by host
    copy: {src: '{{ .host.name }}.msu', dest: 'C:\x\'}
`)
	want := pb.File + ":7:17: steps[1].copy.src: kb2.msu: no such file or directory"
	if err := runner.CheckSources(pb); err == nil || err.Error() != want {
		t.Errorf("CheckSources:\n got %v\nwant %s", err, want)
	}
	writeTree(t, dir, map[string]string{"kb2.msu": "two"})
	if err := runner.CheckSources(pb); err != nil {
		t.Errorf("CheckSources with every source a host does not name: %v", err)
	}
}
