package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteCopyRendersOneRowPerTransport(t *testing.T) {
	t.Parallel()
	r := &CopyResult{Plan: CopyPlan{Hosts: 10, SizeMB: 20, Forks: 5}, Started: time.Date(2026, 12, 3, 9, 56, 0, 0, time.UTC), LoadAverage: "0.50 0.40 0.30", Runs: []CopyRun{{
		Transport: "NTLM, sealed (HTTP)",
		First:     Usage{Wall: 4 * time.Second, User: 3 * time.Second, System: time.Second, MaxRSS: 150 << 20},
		Again:     Usage{Wall: 500 * time.Millisecond},
		SimCPU:    5 * time.Second, SentFirst: 209715200, SentAgain: 0, UnchangedAgain: 10,
	}}}
	var b strings.Builder
	writeCopy(&b, r)
	// 200 MB in 4 s: 50 MB/s in all, 10 MB/s for each of the 5 hosts in
	// flight; 4 s of CPU over 200 MB is 20 ms per MB.
	want := "| NTLM, sealed (HTTP) | " + fmtDur(4*time.Second) + " | 10.0 MB/s | 50.0 MB/s | " + fmtDur(4*time.Second) + " | " +
		fmtDur(20*time.Millisecond) + " | " + fmtBytes(150<<20) + " (met) | " + fmtDur(5*time.Second) + " | 209715200 | " + fmtDur(500*time.Millisecond) + ", 10 of 10, 0 |\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("section lacks the row\n%s\ngot\n%s", want, b.String())
	}
	if !strings.Contains(b.String(), "Measured on 2026-12-03 09:56 UTC; load average when it started: 0.50 0.40 0.30.") {
		t.Errorf("section lacks when it was measured:\n%s", b.String())
	}
	if !strings.HasPrefix(b.String(), copyHeading+"\n") {
		t.Errorf("section does not start with %q", copyHeading)
	}
	doc := "# x\n\n" + copyHeading + "\n\nold\n\n## What stands in the way\n\nw\n"
	if got, want := ReplaceCopySection(doc, r), "# x\n\n"+b.String()+"## What stands in the way\n\nw\n"; got != want {
		t.Errorf("ReplaceCopySection: got\n%s\nwant\n%s", got, want)
	}
}

func TestWriteRandomFileReturnsTheHashOfWhatItWrote(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "f")
	sum, err := writeRandomFile(path, 3<<20+17)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(data)
	if len(data) != 3<<20+17 || sum != hex.EncodeToString(h[:]) {
		t.Errorf("wrote %d bytes hashed %s, reported %s", len(data), hex.EncodeToString(h[:]), sum)
	}
	again, err := writeRandomFile(path, 3<<20+17)
	if err != nil || again != sum {
		t.Errorf("a second file has hash %s (%v), want the same bytes %s", again, err, sum)
	}
}
