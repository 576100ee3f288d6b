package sim

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHostPortsComeFromBelowTheEphemeralRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		file   string // ip_local_port_range; empty for a missing file
		lo, hi int
	}{
		{"Linux's default range", "32768\t60999\n", 16384, 32768},
		{"a range starting low leaves too little room", "17000 60999\n", 0, 0},
		{"a range starting higher leaves more", "49152 65535\n", 16384, 49152},
		{"an unreadable file", "", 0, 0},
		{"a malformed file", "32768\n", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "ip_local_port_range")
			if tt.file != "" {
				if err := os.WriteFile(path, []byte(tt.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := newPortRange(path)
			if r.lo != tt.lo || r.hi != tt.hi {
				t.Fatalf("range [%d, %d), want [%d, %d)", r.lo, r.hi, tt.lo, tt.hi)
			}
			if r.size() == 0 {
				if p := r.take(); p != 0 {
					t.Errorf("an empty range gave port %d", p)
				}
				return
			}
			// Every port once, in order from the random start, wrapping.
			seen := map[int]bool{}
			prev := 0
			for i := range r.size() {
				p := r.take()
				if p < r.lo || p >= r.hi || seen[p] {
					t.Fatalf("take %d gave %d (seen %v)", i, p, seen[p])
				}
				wrapped := prev == r.hi-1 && p == r.lo
				if i > 0 && p != prev+1 && !wrapped {
					t.Fatalf("take %d gave %d after %d", i, p, prev)
				}
				seen[p], prev = true, p
			}
			r.setFull()
			if p := r.take(); p != 0 {
				t.Errorf("a full range gave port %d", p)
			}
		})
	}
}

func TestAHostOnPortZeroListensBelowTheEphemeralRange(t *testing.T) {
	t.Parallel()
	if hostPorts.size() == 0 {
		t.Skip("this kernel's ephemeral range leaves no room below it")
	}
	l, err := newHostListener("127.0.0.1:0", true, 0, Times{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	port := l.Addr().(*net.TCPAddr).Port
	if port < hostPorts.lo || port >= hostPorts.hi {
		t.Errorf("port %d, want one in [%d, %d)", port, hostPorts.lo, hostPorts.hi)
	}
}

func TestAFleetMustFitTheOpenFilesLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		hosts   int
		limit   uint64
		wantErr string
	}{
		{10000, 20000, ""},
		{10000, 10256, ""},
		{10000, 10255, "10000 hosts need at least 10256 open files (a listening socket each, one more per open connection), but the limit is 10255"},
		{100000, 20000, "100000 hosts need at least 100256 open files"},
	}
	for _, tt := range tests {
		err := openFilesFit(tt.hosts, tt.limit)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if tt.wantErr == "" && got != "" || tt.wantErr != "" && !strings.HasPrefix(got, tt.wantErr) {
			t.Errorf("openFilesFit(%d, %d) = %q, want %q", tt.hosts, tt.limit, got, tt.wantErr)
		}
	}
}
