package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/sim/downloadtest"
)

// filesPlaybook copies a file and a folder to every host and fetches what
// the copy wrote back: the round trip proves the bytes reached the hosts.
const filesPlaybook = `name: files
steps:
  - name: stage config
    copy: {src: payload/app.conf, dest: 'C:\app\', sha256: %s}
  - name: stage tree
    copy: {src: payload/tree, dest: 'C:\app\tree'}
  - name: collect
    fetch: {src: 'C:\app\tree\sub\*.bin', dest_dir: collected}
  - name: collect nothing
    fetch: {src: 'C:\app\none\*.log', dest_dir: collected, optional: true}
`

// TestCopyAndFetchOnTheSimulatedFleet applies a playbook with copies and
// fetches to simulated hosts: the files are on the hosts, the fetched ones
// on disk with the bytes sent, and a second run changes nothing.
func TestCopyAndFetchOnTheSimulatedFleet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	inv, fleet := startRolloutFleet(t, 3, func(*sim.Scenario) {})
	conf := []byte("listen = 8080\r\n")
	// More than one Send's worth, so the transfer is split.
	big := make([]byte, 1<<20+12345)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(rng.UintN(256))
	}
	for name, data := range map[string][]byte{"app.conf": conf, "tree/a.txt": []byte("a"), "tree/sub/big.bin": big} {
		p := filepath.Join(dir, "payload", filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sum := sha256.Sum256(conf)
	pb := writeFile(t, dir, "files.yaml", fmt.Sprintf(filesPlaybook, hex.EncodeToString(sum[:])))

	for run, wantCopy := range []string{"ok", "unchanged"} {
		out := filepath.Join(dir, fmt.Sprintf("run%d.json", run))
		code, _, errOut := fleetrunIn(t, dir, "apply", pb, "-i", inv, "--report", out, "--no-progress")
		if code != 0 {
			t.Fatalf("run %d: exit status %d, want 0\n%s", run+1, code, errOut)
		}
		doc := readReport(t, out)
		if doc.Summary.OK != 3 {
			t.Fatalf("run %d: summary %+v, want 3 hosts ok", run+1, doc.Summary)
		}
		for _, h := range doc.Hosts {
			var got []string
			for _, s := range h.Steps {
				got = append(got, s.Status)
			}
			if want := []string{wantCopy, wantCopy, "ok", "ok"}; !slices.Equal(got, want) {
				t.Errorf("run %d: %s steps %v, want %v", run+1, h.Name, got, want)
			}
			tree := h.Steps[1].Files
			if len(tree) != 2 || tree[0].Path != `C:\app\tree\a.txt` || tree[1].Path != `C:\app\tree\sub\big.bin` || tree[1].Size != int64(len(big)) {
				t.Errorf("run %d: %s tree files %+v", run+1, h.Name, tree)
			}
			if run == 0 && len(tree) == 2 && (tree[1].Sent != int64(len(big)) || tree[1].Unchanged) {
				t.Errorf("run 1: %s sent %d bytes of %d (unchanged %v)", h.Name, tree[1].Sent, len(big), tree[1].Unchanged)
			}
			if run == 1 && len(tree) == 2 && (tree[1].Sent != 0 || !tree[1].Unchanged) {
				t.Errorf("run 2: %s sent %d bytes of an unchanged file", h.Name, tree[1].Sent)
			}
			fetched := h.Steps[2].Files
			local := filepath.Join("collected", h.Name, "big.bin")
			if len(fetched) != 1 || fetched[0].Local != local || fetched[0].Path != `C:\app\tree\sub\big.bin` {
				t.Errorf("run %d: %s fetched %+v, want big.bin stored as %s", run+1, h.Name, fetched, local)
			}
			data, err := os.ReadFile(filepath.Join(dir, local))
			if err != nil || !bytes.Equal(data, big) {
				t.Errorf("run %d: %s: the fetched file holds %d bytes (%v), want the %d sent", run+1, h.Name, len(data), err, len(big))
			}
			if files := h.Steps[3].Files; len(files) != 0 {
				t.Errorf("run %d: %s fetched %+v from an empty pattern", run+1, h.Name, files)
			}
		}
	}
	for _, h := range fleet.Hosts() {
		checkHostFile(t, h, `C:\app\app.conf`, conf)
		checkHostFile(t, h, `C:\app\tree\sub\big.bin`, big)
	}
}

// checkHostFile checks that a simulated host holds path with data.
func checkHostFile(t *testing.T, h *sim.Host, path string, data []byte) {
	t.Helper()
	got, err := h.ReadFile(path)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("%s: %s holds %d bytes (%v), want the %d copied", h.Name(), path, len(got), err, len(data))
	}
}

// TestDownloadOnTheSimulatedFleet: the hosts download a URL themselves,
// keep it only with the required SHA-256, and a second run fetches
// nothing; a wrong hash fails the step with class hash_mismatch and its
// hint, and exit status 2.
func TestDownloadOnTheSimulatedFleet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	inv, fleet := startRolloutFleet(t, 2, func(*sim.Scenario) {})
	agent := bytes.Repeat([]byte("agent "), 5000)
	srv := downloadtest.NewHTTP(map[string][]byte{"/agent.msi": agent})
	t.Cleanup(srv.Close)
	sum := sha256.Sum256(agent)
	good := writeFile(t, dir, "good.yaml", fmt.Sprintf("name: dl\nsteps:\n  - name: pull\n    download: {url: '%s', dest: 'C:\\tmp\\agent.msi', sha256: %s}\n",
		srv.URL("/agent.msi"), hex.EncodeToString(sum[:])))
	for run, want := range []string{"ok", "unchanged"} {
		out := filepath.Join(dir, fmt.Sprintf("good%d.json", run))
		code, _, errOut := fleetrunIn(t, dir, "apply", good, "-i", inv, "--report", out, "--no-progress")
		if code != 0 {
			t.Fatalf("run %d: exit status %d, want 0\n%s", run+1, code, errOut)
		}
		for _, h := range readReport(t, out).Hosts {
			s := h.Steps[0]
			if s.Kind != "download" || s.Status != want || len(s.Files) != 1 || s.Files[0].Path != `C:\tmp\agent.msi` || s.Files[0].SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("run %d: %s: %s %s %+v, want %s with the agent's hash", run+1, h.Name, s.Kind, s.Status, s.Files, want)
			}
		}
	}
	if got := srv.Stats().Requests; got != 2 {
		t.Errorf("the server answered %d requests, want 2 (one per host, none for the unchanged run)", got)
	}
	for _, h := range fleet.Hosts() {
		checkHostFile(t, h, `C:\tmp\agent.msi`, agent)
	}

	wrong := sha256.Sum256([]byte("another agent"))
	bad := writeFile(t, dir, "bad.yaml", fmt.Sprintf("name: dl\nsteps:\n  - name: pull\n    download: {url: '%s', dest: 'C:\\tmp\\other.msi', sha256: %s}\n",
		srv.URL("/agent.msi"), hex.EncodeToString(wrong[:])))
	out := filepath.Join(dir, "bad.json")
	code, _, errOut := fleetrunIn(t, dir, "apply", bad, "-i", inv, "--report", out, "--no-progress")
	if code != 2 {
		t.Fatalf("exit status %d, want 2\n%s", code, errOut)
	}
	for _, h := range readReport(t, out).Hosts {
		s := h.Steps[0]
		if h.Status != "failed" || s.Status != "failed" || s.Error == nil || s.Error.Class != "hash_mismatch" || s.Error.Hint == "" {
			t.Errorf("%s: %s, step %s %+v; want failed with class hash_mismatch and a hint", h.Name, h.Status, s.Status, s.Error)
		}
	}
	for _, h := range fleet.Hosts() {
		if _, ok := h.File(`C:\tmp\other.msi`); ok {
			t.Errorf("%s kept a download with the wrong hash", h.Name())
		}
	}
}

// TestFetchOfALogFromThreeHundredHosts fetches a log by pattern from 300
// simulated hosts: each host's own bytes land in its own folder with the
// hash the report gives; a pattern with no match fails every host with
// class not_found, unless the step says optional: true.
func TestFetchOfALogFromThreeHundredHosts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	inv, fleet := startRolloutFleet(t, 300, func(*sim.Scenario) {})
	logOf := func(host string) []byte { return fmt.Appendf(nil, "%s: KB5034439 installed\r\nexit 0\r\n", host) }
	for _, h := range fleet.Hosts() {
		for path, data := range map[string][]byte{`C:\logs\patch.log`: logOf(h.Name()), `C:\logs\patch.txt`: []byte("not a log")} {
			if err := h.WriteFile(path, data); err != nil {
				t.Fatal(err)
			}
		}
	}
	pb := writeFile(t, dir, "fetch.yaml", "name: logs\nforks: 100\nsteps:\n  - name: collect\n    fetch: {src: 'C:\\logs\\*.log', dest_dir: logs}\n")
	out := filepath.Join(dir, "fetch.json")
	if code, _, errOut := fleetrunIn(t, dir, "apply", pb, "-i", inv, "--report", out, "--no-progress"); code != 0 {
		t.Fatalf("exit status %d, want 0\n%s", code, errOut)
	}
	doc := readReport(t, out)
	if len(doc.Hosts) != 300 || doc.Summary.OK != 300 {
		t.Fatalf("%d hosts, summary %+v; want 300 ok", len(doc.Hosts), doc.Summary)
	}
	for _, h := range doc.Hosts {
		want := logOf(h.Name)
		sum := sha256.Sum256(want)
		files := h.Steps[0].Files
		local := filepath.Join("logs", h.Name, "patch.log")
		if len(files) != 1 || files[0].Path != `C:\logs\patch.log` || files[0].Local != local || files[0].Size != int64(len(want)) || files[0].SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: fetched %+v, want patch.log (%d bytes, sha256 %x) stored as %s", h.Name, files, len(want), sum, local)
			continue
		}
		if got, err := os.ReadFile(filepath.Join(dir, local)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %s holds %q (%v), want %q", h.Name, local, got, err, want)
		}
	}
	entries, err := os.ReadDir(filepath.Join(dir, "logs"))
	if err != nil || len(entries) != 300 {
		t.Errorf("logs/ holds %d folders (%v), want one per host", len(entries), err)
	}

	for _, tt := range []struct {
		optional bool
		code     int
		status   string
	}{{false, 2, "failed"}, {true, 0, "ok"}} {
		pb := writeFile(t, dir, fmt.Sprintf("none-%v.yaml", tt.optional), fmt.Sprintf("name: no-logs-%v\nforks: 100\nsteps:\n  - name: collect\n    fetch: {src: 'C:\\logs\\*.etl', dest_dir: none, optional: %v}\n", tt.optional, tt.optional))
		out := filepath.Join(dir, fmt.Sprintf("none-%v.json", tt.optional))
		if code, _, errOut := fleetrunIn(t, dir, "apply", pb, "-i", inv, "--report", out, "--no-progress"); code != tt.code {
			t.Fatalf("optional %v: exit status %d, want %d\n%s", tt.optional, code, tt.code, errOut)
		}
		for _, h := range readReport(t, out).Hosts {
			s := h.Steps[0]
			class := ""
			if s.Error != nil {
				class = s.Error.Class
			}
			if wantClass := map[bool]string{false: "not_found", true: ""}[tt.optional]; s.Status != tt.status || class != wantClass || len(s.Files) != 0 {
				t.Errorf("optional %v: %s: step %s class %q files %+v, want %s class %q and no files", tt.optional, h.Name, s.Status, class, s.Files, tt.status, wantClass)
			}
		}
	}
}

// TestDownloadOnOldAndNewHosts downloads on a 2008 R2 host (150 KB
// envelopes) and a 2019 host (500 KB), once with a URL short enough for
// the command line and once with one so long that the payload goes to the
// host on stdin.
func TestDownloadOnOldAndNewHosts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old, modern := "2008r2", "2019"
	inv, fleet := startRolloutFleet(t, 2, func(sc *sim.Scenario) {
		sc.Groups = append(sc.Groups,
			sim.Group{Name: "old", Pattern: "sim-0001", Settings: sim.Settings{Profile: &old}},
			sim.Group{Name: "modern", Pattern: "sim-0002", Settings: sim.Settings{Profile: &modern}})
	})
	pkg := bytes.Repeat([]byte{0, 1, 2, 0xff}, 300<<10) // 1.2 MB, larger than either envelope
	srv := downloadtest.NewHTTP(map[string][]byte{"/pkg.msu": pkg})
	t.Cleanup(srv.Close)
	sum := sha256.Sum256(pkg)
	long := srv.URL("/pkg.msu") + "?token=" + strings.Repeat("x", 3000)
	for i, u := range []string{srv.URL("/pkg.msu"), long} {
		dest := fmt.Sprintf(`C:\patches\pkg%d.msu`, i)
		pb := writeFile(t, dir, fmt.Sprintf("dl%d.yaml", i), fmt.Sprintf("name: dl\nsteps:\n  - name: pull\n    download: {url: '%s', dest: '%s', sha256: %x}\n", u, dest, sum))
		out := filepath.Join(dir, fmt.Sprintf("dl%d.json", i))
		if code, _, errOut := fleetrunIn(t, dir, "apply", pb, "-i", inv, "--report", out, "--no-progress"); code != 0 {
			t.Fatalf("url of %d characters: exit status %d, want 0\n%s", len(u), code, errOut)
		}
		for _, h := range fleet.Hosts() {
			checkHostFile(t, h, dest, pkg)
		}
	}
	for _, h := range fleet.Hosts() {
		want := map[string]int{"sim-0001": 150, "sim-0002": 500}[h.Name()]
		if got := h.Quotas().MaxEnvelopeSizeKB; got != want {
			t.Errorf("%s: MaxEnvelopeSizekb %d, want %d", h.Name(), got, want)
		}
	}
}
