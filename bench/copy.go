package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CopyPlan is the file-copy benchmark: a SizeMB file copied with a `copy:`
// step to Hosts simulated hosts, Forks at a time, once over NTLM with
// message encryption (HTTP) and once over Basic on HTTPS, then copied again
// (every host already holds it).
type CopyPlan struct {
	Hosts, SizeMB, Forks int
}

// DefaultCopyPlan is what BENCHMARKS.md reports.
func DefaultCopyPlan() CopyPlan { return CopyPlan{Hosts: 100, SizeMB: 100, Forks: 100} }

// QuickCopyPlan checks the harness in seconds.
func QuickCopyPlan() CopyPlan { return CopyPlan{Hosts: 3, SizeMB: 2, Forks: 3} }

// CopyRun is one transport's measurements.
type CopyRun struct {
	Transport string // "NTLM, sealed (HTTP)" or "Basic over HTTPS"
	// First is the copy to hosts that lack the file; Again is the same
	// playbook run a second time.
	First, Again Usage
	// SimCPU is the fleet's CPU during the first copy.
	SimCPU time.Duration
	// SentFirst and SentAgain are the stdin bytes the fleet received
	// through Send (its send_bytes counter) during each run.
	SentFirst, SentAgain int64
	// UnchangedAgain is how many hosts reported the step unchanged on
	// the second run.
	UnchangedAgain int
}

// CopyResult is what the copy benchmark measured.
type CopyResult struct {
	Plan        CopyPlan
	Started     time.Time
	Runs        []CopyRun
	LoadAverage string
}

// RunCopy runs the copy benchmark: for each transport a fleet of its own,
// the source file written into opts.Dir.
func RunCopy(ctx context.Context, plan CopyPlan, opts Options) (*CopyResult, error) {
	dir := filepath.Join(opts.Dir, "copy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	sum, err := writeRandomFile(filepath.Join(dir, "payload.bin"), int64(plan.SizeMB)<<20)
	if err != nil {
		return nil, fmt.Errorf("copy benchmark: %w", err)
	}
	pb := filepath.Join(dir, "copy.yaml")
	text := fmt.Sprintf("name: copy-benchmark\nhosts: ['*']\nsteps:\n  - name: stage payload\n    copy: {src: payload.bin, dest: 'C:\\bench\\payload.bin', sha256: %s}\n", sum)
	if err := os.WriteFile(pb, []byte(text), 0o644); err != nil {
		return nil, err
	}
	res := &CopyResult{Plan: plan, Started: time.Now(), LoadAverage: loadAverage()}
	for _, https := range []bool{false, true} {
		r, err := runCopyOn(ctx, plan, opts, dir, pb, https)
		if err != nil {
			return nil, err
		}
		res.Runs = append(res.Runs, *r)
	}
	return res, nil
}

func runCopyOn(ctx context.Context, plan CopyPlan, opts Options, dir, pb string, https bool) (*CopyRun, error) {
	name, tag := "NTLM, sealed (HTTP)", "ntlm"
	if https {
		name, tag = "Basic over HTTPS", "https"
	}
	fleetDir := filepath.Join(dir, tag)
	if err := os.MkdirAll(fleetDir, 0o755); err != nil {
		return nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	p, err := StartSim(startCtx, opts.Fleetrun, fleetDir, FleetSpec{Hosts: plan.Hosts, HTTPS: https}, opts.Log)
	if err != nil {
		return nil, fmt.Errorf("copy benchmark (%s): %w", name, err)
	}
	defer func() { _ = p.Stop() }() // measured already; how the fleet exits adds nothing
	run := &CopyRun{Transport: name}
	measure := func(round string) (Usage, int64, time.Duration, *copyReport, error) {
		before, err := p.Stats(ctx)
		if err != nil {
			return Usage{}, 0, 0, nil, err
		}
		cpu0, err := p.CPU()
		if err != nil {
			return Usage{}, 0, 0, nil, err
		}
		base := filepath.Join(fleetDir, round)
		u, err := measureApply(ctx, opts, base, pb, "-i", p.Inventory, "--forks", strconv.Itoa(plan.Forks), "--no-progress", "--report", base+".json")
		if err != nil {
			return u, 0, 0, nil, fmt.Errorf("copy benchmark (%s, %s): %w", name, round, err)
		}
		cpu1, err := p.CPU()
		if err != nil {
			return u, 0, 0, nil, err
		}
		after, err := p.Stats(ctx)
		if err != nil {
			return u, 0, 0, nil, err
		}
		rep, err := readCopyReport(base + ".json")
		if err != nil {
			return u, 0, 0, nil, err
		}
		return u, after.Totals.SendBytes - before.Totals.SendBytes, cpu1 - cpu0, rep, nil
	}
	var rep *copyReport
	if run.First, run.SentFirst, run.SimCPU, rep, err = measure("first"); err != nil {
		return nil, err
	}
	want := int64(plan.Hosts) * int64(plan.SizeMB) << 20
	if run.SentFirst < want {
		return nil, fmt.Errorf("copy benchmark (%s): the fleet received %d bytes through Send, want at least %d", name, run.SentFirst, want)
	}
	if n := rep.count("ok"); n != plan.Hosts {
		return nil, fmt.Errorf("copy benchmark (%s): %d hosts copied the file, want %d", name, n, plan.Hosts)
	}
	if run.Again, run.SentAgain, _, rep, err = measure("again"); err != nil {
		return nil, err
	}
	run.UnchangedAgain = rep.count("unchanged")
	if run.UnchangedAgain != plan.Hosts || run.SentAgain != 0 {
		return nil, fmt.Errorf("copy benchmark (%s): second run: %d hosts unchanged (want %d), %d bytes sent (want 0)", name, run.UnchangedAgain, plan.Hosts, run.SentAgain)
	}
	return run, nil
}

// copyReport is the part of a JSON report the benchmark checks.
type copyReport struct {
	Hosts []struct {
		Steps []struct {
			Status string `json:"status"`
		} `json:"steps"`
	} `json:"hosts"`
}

func readCopyReport(path string) (*copyReport, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r copyReport
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// count is how many hosts' single step has status.
func (r *copyReport) count(status string) int {
	n := 0
	for _, h := range r.Hosts {
		if len(h.Steps) == 1 && h.Steps[0].Status == status {
			n++
		}
	}
	return n
}

// writeRandomFile writes size pseudo-random bytes (compression cannot
// shrink them) and returns their SHA-256.
func writeRandomFile(path string, size int64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	src := rand.NewChaCha8([32]byte{'f', 'l', 'e', 'e', 't', 'r', 'u', 'n'})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(int64(len(buf)), left)
		_, _ = src.Read(buf[:n]) // ChaCha8.Read never fails
		if _, err := f.Write(buf[:n]); err != nil {
			_ = f.Close() // the write error is the one to report
			return "", err
		}
		h.Write(buf[:n])
		left -= n
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func loadAverage() string {
	la, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.Join(strings.Fields(string(la))[:3], " ")
}

// copyRSSTarget is the controller's peak RSS the copy of 100 MB to 100
// hosts must stay under.
const copyRSSTarget = 200 << 20

// copyHeading starts the copy benchmark's section of BENCHMARKS.md.
const copyHeading = "## Copying files"

// writeCopy renders the copy benchmark's section.
func writeCopy(b *strings.Builder, r *CopyResult) {
	if r == nil {
		return
	}
	p := r.Plan
	mb := float64(p.SizeMB)
	fmt.Fprintf(b, "%s\n\n", copyHeading)
	fmt.Fprintf(b, "A `copy:` step sends a %d MB file of random bytes to %d simulated hosts, %d at a time (`--forks %d`), inside each host's WinRS shell: raw stdin in Send requests as large as the host's MaxEnvelopeSizekb allows (500 KB on these 2019 hosts), written to a temporary name and renamed once the SHA-256 the host computed matches. Then the same playbook runs again: every host already holds the bytes, reports `unchanged`, and the fleet's `send_bytes` counter must not move. No latency is injected (L = 0), so the copy is bound by CPU: the controller's (encoding, sealing) and the fleet's (unsealing, decoding, hashing) share the machine's 2 cores. Reproduce this section alone with `go run ./bench/cmd/fleetbench -fleetrun BIN -copy-only`.\n\n",
		p.SizeMB, p.Hosts, p.Forks, p.Forks)
	b.WriteString("| transport | wall | per host | aggregate | controller CPU | CPU per MB | controller peak RSS (target < 200 MB) | fleet CPU | bytes sent (fleet) | second run: wall, hosts unchanged, bytes sent |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, run := range r.Runs {
		total := mb * float64(p.Hosts)
		wall := run.First.Wall.Seconds()
		perHost, agg := 0.0, 0.0
		if wall > 0 {
			agg = total / wall
			perHost = agg / float64(min(p.Hosts, p.Forks))
		}
		cpuPerMB := time.Duration(float64(run.First.CPU()) / total)
		mark := "met"
		if run.First.MaxRSS >= copyRSSTarget {
			mark = "MISSED"
		}
		fmt.Fprintf(b, "| %s | %s | %.1f MB/s | %.1f MB/s | %s | %s | %s (%s) | %s | %d | %s, %d of %d, %d |\n",
			run.Transport, fmtDur(run.First.Wall), perHost, agg, fmtDur(run.First.CPU()), fmtDur(cpuPerMB),
			fmtBytes(run.First.MaxRSS), mark, fmtDur(run.SimCPU), run.SentFirst, fmtDur(run.Again.Wall), run.UnchangedAgain, p.Hosts, run.SentAgain)
	}
	fmt.Fprintf(b, "\nMeasured on %s; load average when it started: %s. \"Per host\" is the aggregate divided by the hosts in flight at once. The controller reads the source through one open file, and at most 8 Send requests per core are being built or are in flight across the process, so its peak RSS grows neither with the file's size nor with the forks.\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"), orUnknown(r.LoadAverage))
}

// ReplaceCopySection puts the copy benchmark's section into an existing
// BENCHMARKS.md text.
func ReplaceCopySection(doc string, r *CopyResult) string {
	var b strings.Builder
	writeCopy(&b, r)
	return replaceSection(doc, copyHeading, b.String())
}

// replaceSection puts sec (starting with heading) in place of doc's section
// under heading, else before "## What stands in the way", else at the end.
func replaceSection(doc, heading, sec string) string {
	if i := strings.Index(doc, heading+"\n"); i >= 0 {
		rest := doc[i+len(heading):]
		end := len(doc)
		if j := strings.Index(rest, "\n## "); j >= 0 {
			end = i + len(heading) + j + 1
		}
		return doc[:i] + sec + doc[end:]
	}
	if i := strings.Index(doc, "## What stands in the way\n"); i >= 0 {
		return doc[:i] + sec + doc[i:]
	}
	return doc + "\n" + sec
}
