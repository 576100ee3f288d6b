package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKerberosInventoryUsesTheTicketCache(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	inv := filepath.Join(dir, "fleet.yaml")
	text := "defaults:\n  auth: ntlm\n  user: \"fleetrun\"\n  password_file: \"fleet.password\"\n  https: false\nhosts:\n  - name: sim-0001\n    address: 127.0.0.1\n    spn: \"HTTP/sim-0001\"\n"
	if err := os.WriteFile(inv, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := kerberosInventory(inv, "operator@FLEETRUN.TEST")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "fleet-kerberos.yaml"); got != want {
		t.Errorf("path %q, want %q", got, want)
	}
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	want := "defaults:\n  auth: kerberos\n  user: \"operator@FLEETRUN.TEST\"\n  https: false\nhosts:\n  - name: sim-0001\n    address: 127.0.0.1\n    spn: \"HTTP/sim-0001\"\n"
	if string(b) != want {
		t.Errorf("inventory:\n%s\nwant:\n%s", b, want)
	}
	// An inventory of another shape is refused, not half rewritten.
	if err := os.WriteFile(inv, []byte("hosts: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := kerberosInventory(inv, "operator@FLEETRUN.TEST"); err == nil || !strings.Contains(err.Error(), "found 0 of them") {
		t.Errorf("err = %v, want one counting the defaults found", err)
	}
}

func TestWriteKerberosRendersOneRowPerScheme(t *testing.T) {
	t.Parallel()
	r := &KerberosResult{Plan: KerberosPlan{Hosts: 1000, Forks: 50, Latency: 50 * time.Millisecond, ProcessStart: 100 * time.Millisecond},
		LoadAverage: "0.50 0.40 0.30", Runs: []KerberosRun{
			{Auth: "NTLM", Usage: Usage{Wall: 12 * time.Second, User: 2 * time.Second, System: 500 * time.Millisecond, MaxRSS: 57 << 20}, Requests: 9000},
			{Auth: "Kerberos", Usage: Usage{Wall: 13 * time.Second, User: 3 * time.Second, System: time.Second, MaxRSS: 60 << 20}, Requests: 9000, TGS: 1000},
		}}
	var b strings.Builder
	writeKerberos(&b, r)
	for _, want := range []string{
		"| NTLM | 12.0 s | 2500 ms | 9000 | 278 µs | 57 MB | none |\n",
		"| Kerberos | 13.0 s | 4000 ms | 9000 | 444 µs | 60 MB | 0 AS, 1000 TGS (one service ticket per host) |\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("section lacks %q:\n%s", want, b.String())
		}
	}
	doc := "# b\n\n## Copying files\n\nx\n\n## What stands in the way\n\ny\n"
	out := ReplaceKerberosSection(doc, r)
	if !strings.Contains(out, "x\n\n## Kerberos sealing beside NTLM\n") || !strings.HasSuffix(out, "## What stands in the way\n\ny\n") {
		t.Errorf("section placed wrongly:\n%s", out)
	}
	if again := ReplaceKerberosSection(out, r); again != out {
		t.Errorf("replacing the section again changed the document:\n%s", again)
	}
}
