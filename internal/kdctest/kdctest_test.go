package kdctest

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

func TestKDCIssuesTheOperatorATicketForItsPassword(t *testing.T) {
	t.Parallel()
	k := Start(t, Options{Hosts: []string{"sim-0001", "sim-0002"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if k.Realm != "FLEETRUN.TEST" || k.Operator != "operator@FLEETRUN.TEST" {
		t.Fatalf("realm %q operator %q, want FLEETRUN.TEST and operator@FLEETRUN.TEST", k.Realm, k.Operator)
	}
	if err := k.Kinit(ctx, filepath.Join(t.TempDir(), "cc")); err != nil {
		t.Fatal(err)
	}
	issued, err := k.Issued()
	if err != nil {
		t.Fatal(err)
	}
	want := []Exchange{{Kind: "AS", Client: "operator@FLEETRUN.TEST", Server: "krbtgt/FLEETRUN.TEST@FLEETRUN.TEST"}}
	if diff := cmp.Diff(want, issued); diff != "" {
		t.Errorf("issued tickets (-want +got):\n%s", diff)
	}
	// The operator requires pre-authentication, as Active Directory does:
	// the first AS exchange is refused with NEEDED_PREAUTH.
	errs, err := k.Errors()
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 1 || !strings.HasPrefix(errs[0], "NEEDED_PREAUTH: operator@FLEETRUN.TEST for krbtgt/FLEETRUN.TEST@FLEETRUN.TEST") {
		t.Errorf("kdc refusals = %q, want one NEEDED_PREAUTH for the operator", errs)
	}
	if n, err := k.Count("AS", ""); err != nil || n != 1 {
		t.Errorf("Count(AS) = %d, %v; want 1", n, err)
	}
	if n, err := k.Count("TGS", ""); err != nil || n != 0 {
		t.Errorf("Count(TGS) = %d, %v; want 0", n, err)
	}
}

func TestKDCRefusesAWrongPassword(t *testing.T) {
	t.Parallel()
	k := Start(t, Options{Password: "right-password"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wrong := *k
	wrong.Password = "wrong-password"
	err := wrong.Kinit(ctx, filepath.Join(t.TempDir(), "cc"))
	if err == nil || !strings.Contains(err.Error(), "Password incorrect") {
		t.Fatalf("kinit with a wrong password: %v, want Password incorrect", err)
	}
	if n, err := k.Count("AS", ""); err != nil || n != 0 {
		t.Errorf("Count(AS) = %d, %v; want 0", n, err)
	}
}

func TestKDCWritesOneKeytabPerHost(t *testing.T) {
	t.Parallel()
	hosts := []string{"sim-0001", "web-01.fleetrun.test"}
	k := Start(t, Options{Hosts: hosts})
	for _, h := range append(hosts, "") {
		path, princ := k.OperatorKeytab, "operator"
		if h != "" {
			path, princ = k.Keytab(t, h), "HTTP/"+h
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		kt := keytab.New()
		if err := kt.Unmarshal(b); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var got []string
		for _, e := range kt.Entries {
			got = append(got, e.Principal.String()+" etype "+strconv.Itoa(int(e.Key.KeyType)))
		}
		want := []string{princ + "@FLEETRUN.TEST etype 18"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s entries (-want +got):\n%s", path, diff)
		}
	}
	if fi, err := os.Stat(k.Krb5Conf); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("krb5.conf: %v, %v", fi, err)
	}
	conf, err := os.ReadFile(k.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{" udp_preference_limit = 1\n", "  kdc = " + k.Addr + "\n"} {
		if !strings.Contains(string(conf), line) {
			t.Errorf("krb5.conf lacks %q:\n%s", line, conf)
		}
	}
}
