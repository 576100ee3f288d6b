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
