package inventory_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/internal/strictyaml"
	"github.com/fleetrun/fleetrun/inventory"
)

func TestSelectors(t *testing.T) {
	t.Parallel()
	hosts := []*inventory.Host{
		{Name: "web-01", Groups: []string{"web"}, Tags: map[string]string{"role": "web", "env": "prod", "note": "a,b=c"}},
		{Name: "WEB-02", Groups: []string{"web"}, Tags: map[string]string{"role": "web", "env": "test"}},
		{Name: "db-01", Groups: []string{"db", "jp"}, Tags: map[string]string{"role": "db", "env": "prod", "名前": "東京"}},
	}
	cases := []struct {
		sel  string
		want []string
	}{
		{"all", []string{"web-01", "WEB-02", "db-01"}},
		{"web-*", []string{"web-01", "WEB-02"}},
		{"web-0[2-9]", []string{"WEB-02"}},
		{"@web", []string{"web-01", "WEB-02"}},
		{"@j*", []string{"db-01"}},
		{"role=web,env=prod", []string{"web-01"}},
		{"env=prod,!@db", []string{"web-01"}},
		{"!web-01", []string{"WEB-02", "db-01"}},
		{`note="a,b=c"`, []string{"web-01"}},
		{"env=pr*", []string{"web-01", "db-01"}},
		{"名前=東京", []string{"db-01"}},
		{"missing=*", nil},
		{" role = db ", []string{"db-01"}},
	}
	for _, tc := range cases {
		sel, err := inventory.ParseSelector(tc.sel)
		if err != nil {
			t.Errorf("%q: %v", tc.sel, err)
			continue
		}
		var got []string
		for _, h := range hosts {
			if sel.Match(h) {
				got = append(got, h.Name)
			}
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.sel, diff)
		}
	}
}

func TestSelectorErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		sel    string
		offset int
		msg    string
	}{
		{"", 0, "empty selector term (check for a doubled or trailing comma)"},
		{"a,,b", 2, "empty selector term (check for a doubled or trailing comma)"},
		{"a, !", 3, "`!` must be followed by a term"},
		{"@", 0, "`@` must be followed by a group name"},
		{"=x", 0, `tag term "=x" has no key before ` + "`=`"},
		{`k="x`, 0, `unterminated quote in selector term "k=\"x"`},
		{`k=a=b`, 0, "tag value \"a=b\" contains `=` or `\"`; quote it like k=\"...\""},
		{"web-[", 0, `bad pattern "web-[": syntax error in pattern`},
		{"two words", 0, `host name pattern "two words" contains a space or quote`},
	}
	for _, tc := range cases {
		_, err := inventory.ParseSelector(tc.sel)
		var se *inventory.SelectorError
		if !errors.As(err, &se) {
			t.Errorf("%q: err = %v, want *SelectorError", tc.sel, err)
			continue
		}
		if se.Offset != tc.offset || se.Msg != tc.msg {
			t.Errorf("%q: got (%d, %q), want (%d, %q)", tc.sel, se.Offset, se.Msg, tc.offset, tc.msg)
		}
	}
}

func TestLoadMergesDefaultsGroupsAndHosts(t *testing.T) {
	t.Parallel()
	inv, err := inventory.Load("../examples/inventory.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]inventory.Host{}
	for _, h := range inv.Hosts {
		got[h.Name] = *h
	}
	want := map[string]inventory.Host{
		"web-01":  {Name: "web-01", Address: "10.0.1.10", Port: 5985, Auth: "ntlm", User: `CORP\svc-patch`, PasswordEnv: "FLEETRUN_PASSWORD", OutputEncoding: "utf-8", ConnectTimeout: 10 * time.Second, Transport: "winrm", Tags: map[string]string{"env": "prod", "role": "web"}, Vars: map[string]any{}, Source: "../examples/inventory.yaml"},
		"app-01":  {Name: "app-01", Address: "10.0.2.10", Port: 5985, Auth: "ntlm", User: `CORP\svc-patch`, PasswordEnv: "FLEETRUN_PASSWORD", OutputEncoding: "cp932", ConnectTimeout: 10 * time.Second, Transport: "winrm", Groups: []string{"jp"}, Tags: map[string]string{"env": "prod", "role": "app"}, Vars: map[string]any{}, Source: "../examples/inventory.yaml"},
		"edge-01": {Name: "edge-01", Address: "edge-01.dmz.example.com", Port: 5986, HTTPS: true, CAFile: filepath.Join("../examples", "certs/corp-ca.pem"), Auth: "ntlm", User: `CORP\svc-patch`, PasswordEnv: "FLEETRUN_PASSWORD", OutputEncoding: "utf-8", ConnectTimeout: 10 * time.Second, Transport: "winrm", Groups: []string{"dmz"}, Tags: map[string]string{"env": "prod", "role": "web"}, Vars: map[string]any{}, Source: "../examples/inventory.yaml"},
	}
	for name, w := range want {
		if diff := cmp.Diff(w, got[name]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	if len(inv.Hosts) != 5 {
		t.Errorf("%d hosts, want 5", len(inv.Hosts))
	}
}

func TestMergeRefusesDuplicatesAcrossFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	b := filepath.Join(dir, "b.yaml")
	writeFile(t, a, "hosts:\n  - name: web-01\n    address: 10.0.0.1\n")
	writeFile(t, b, "hosts:\n  - name: Web-01\n    address: 10.0.0.2\n  - name: web-02\n    address: 10.0.0.3\n")
	_, err := inventory.LoadAll([]string{a, b})
	want := `host "Web-01" is defined in both ` + a + " and " + b
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	c := filepath.Join(dir, "c.yaml")
	writeFile(t, c, "hosts:\n  - name: web-03\n    address: 10.0.0.4\n")
	inv, err := inventory.LoadAll([]string{a, c})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Hosts) != 2 || inv.Hosts[0].Name != "web-01" || inv.Hosts[1].Name != "web-03" {
		t.Errorf("merged hosts: %v", inv.Hosts)
	}
}

func TestPasswordSources(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	loose := filepath.Join(dir, "loose")
	writeFile(t, good, "s3cret\n")
	writeFile(t, loose, "s3cret\n")
	if err := os.Chmod(good, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge")
	writeFile(t, huge, "")
	if err := os.Truncate(huge, 3<<30); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "folder")
	if err := os.Mkdir(folder, 0o700); err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) {
		if k == "PW" {
			return "from-env", true
		}
		return "", false
	}
	cases := []struct {
		host    inventory.Host
		want    string
		wantErr string
	}{
		{inventory.Host{Name: "a", PasswordEnv: "PW"}, "from-env", ""},
		{inventory.Host{Name: "b", PasswordEnv: "NOPE"}, "", "host b: password_env NOPE is not set in the environment"},
		{inventory.Host{Name: "c", PasswordFile: good}, "s3cret", ""},
		{inventory.Host{Name: "d", PasswordFile: loose}, "", "password file " + loose + " is readable by group or others (mode 0644); run chmod 600 " + loose},
		{inventory.Host{Name: "e"}, "", ""},
		{inventory.Host{Name: "f", PasswordFile: huge}, "", "password file " + huge + " is 3221225472 bytes, larger than 4096; is it the right file?"},
		{inventory.Host{Name: "g", PasswordFile: fifo}, "", "password file " + fifo + " is not a regular file (a named pipe); give the path of a file"},
		{inventory.Host{Name: "h", PasswordFile: folder}, "", "password file " + folder + " is a folder, not a file"},
	}
	for _, tc := range cases {
		got, err := tc.host.Password(context.Background(), env)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tc.want || gotErr != tc.wantErr {
			t.Errorf("%s: got (%q, %q), want (%q, %q)", tc.host.Name, got, gotErr, tc.want, tc.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error leaks the password", tc.host.Name)
		}
	}
}

func TestKnownEncodings(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"utf-8": "utf-8", "UTF8": "utf-8", "cp932": "shift_jis", "Shift_JIS": "shift_jis", "windows-1252": "windows-1252",
		"cp1252": "windows-1252", "cp437": "ibm437", "euc-kr": "euc-kr", "klingon": "", "": "",
	} {
		if got := inventory.CanonicalEncoding(name); got != want {
			t.Errorf("CanonicalEncoding(%q) = %q, want %q", name, got, want)
		}
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/invalid/*.yaml")
	seeds = append(seeds, "../examples/inventory.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := inventory.Parse("fuzz.yaml", data)
		if err != nil && strictyaml.AsErrors(err) == nil {
			t.Fatalf("unpositioned error: %v", err)
		}
	})
}

func FuzzSelector(f *testing.F) {
	for _, s := range []string{"all", "role=web,!@db", `k="a,b"`, "web-[0-9]*", "!", ",,"} {
		f.Add(s)
	}
	h := &inventory.Host{Name: "x", Groups: []string{"g"}, Tags: map[string]string{"k": "v"}}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := inventory.ParseSelector(s)
		if err != nil {
			var se *inventory.SelectorError
			if !errors.As(err, &se) {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		sel.Match(h) // must not panic
	})
}

func TestAddresses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr     string
		wantAddr string
		wantPort int
	}{
		{"web-01", "web-01", 5985},
		{"web-01.corp.example.com.", "web-01.corp.example.com.", 5985},
		{"WEB_01", "WEB_01", 5985},
		{"10.0.0.1", "10.0.0.1", 5985},
		{"10.0.0.1:5986", "10.0.0.1", 5986},
		{"web-01:15985", "web-01", 15985},
		{"::1", "::1", 5985},
		{"fe80::1%eth0", "fe80::1%eth0", 5985},
		{"[2001:db8::7]", "2001:db8::7", 5985},
		{"[2001:db8::7]:5986", "2001:db8::7", 5986},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			inv, err := inventory.Parse("inv.yaml", []byte(fmt.Sprintf("hosts:\n  - {name: h, address: '%s'}\n", tt.addr)))
			if err != nil {
				t.Fatal(err)
			}
			h := inv.Hosts[0]
			if h.Address != tt.wantAddr || h.Port != tt.wantPort {
				t.Errorf("address %q, port %d; want %q, %d", h.Address, h.Port, tt.wantAddr, tt.wantPort)
			}
		})
	}
}

func TestAddressErrorsNeverShowThePassword(t *testing.T) {
	t.Parallel()
	_, err := inventory.Parse("inv.yaml", []byte("hosts:\n  - {name: h, address: 'admin:S3cr3t-pw@127.0.0.1:5985'}\n"))
	if err == nil {
		t.Fatal("an address with credentials was accepted")
	}
	want := `inv.yaml:2:24: hosts[0].address: host "h": the address contains @: credentials do not belong in an address; use user with password_env or password_file`
	if got := err.Error(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if strings.Contains(err.Error(), "S3cr3t") {
		t.Errorf("the error shows the password: %v", err)
	}
}

func TestKerberosSPNAndKeytabReachTheHost(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "domain.yaml")
	writeFile(t, p, `defaults:
  auth: kerberos
  user: deploy@CORP.EXAMPLE
  keytab: keys/deploy.keytab
hosts:
  - name: web-01
    address: web-01.corp.example
  - name: web-02
    address: 10.0.1.12
    spn: HTTP/web-02.corp.example
`)
	inv, err := inventory.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	var got [][3]string
	for _, h := range inv.Hosts {
		got = append(got, [3]string{h.Name, h.SPN, h.Keytab})
	}
	kt := filepath.Join(dir, "keys/deploy.keytab")
	want := [][3]string{{"web-01", "", kt}, {"web-02", "HTTP/web-02.corp.example", kt}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hosts' spn and keytab (-want +got):\n%s", diff)
	}
}

// A password file is read again whenever it is another file or changed
// (size, modification time, mode); unchanged, the password read before is
// used, and a file that became unreadable fails even then.
func TestAPasswordFileIsReadAgainWhenItChanges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "pw")
	h := &inventory.Host{Name: "h1", PasswordFile: path}
	noEnv := func(string) (string, bool) { return "", false }
	write := func(content string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	want := func(step, pw string) {
		t.Helper()
		got, err := h.Password(context.Background(), noEnv)
		if err != nil || got != pw {
			t.Fatalf("%s: password %q, %v; want %q", step, got, err, pw)
		}
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	write("first\n", t0)
	want("first read", "first")
	write("second\n", t0) // another size
	want("new size", "second")
	write("thirds\n", t0.Add(time.Second)) // same size, new time
	want("new time", "thirds")
	// Same size and time in the same file: taken as unchanged, so the
	// password read before is used (the file is not read again).
	write("fourth\n", t0.Add(time.Second))
	want("unchanged", "thirds")
	// Another file (a new inode) put in its place with the same size and
	// time is read.
	other := filepath.Join(dir, "pw.new")
	if err := os.WriteFile(other, []byte("fifths\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(other, t0.Add(time.Second), t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	want("replaced", "fifths")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Password(context.Background(), noEnv); err == nil || !strings.Contains(err.Error(), "readable by group or others") {
		t.Fatalf("a password file made readable by others: %v, want its refusal", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Password(context.Background(), noEnv); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a removed password file: %v, want not exist", err)
	}
}
