package preflight_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/internal/fleettest"
	"github.com/fleetrun/fleetrun/internal/kdctest"
	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/preflight"
	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/winrm"
)

// TestPreflightReportsKerberosOffered: a host that accepts Kerberos offers
// it beside Negotiate, and the auth check says the messages are sealed by
// Kerberos.
func TestPreflightReportsKerberosOffered(t *testing.T) {
	t.Parallel()
	k := kdctest.Start(t, kdctest.Options{Hosts: []string{"sim-0001"}})
	f := fleettest.Start(t, 1, "", sim.FleetOptions{KerberosKeytabs: k.KeytabDir})
	krbTarget := func(ctx context.Context, h *inventory.Host) (transport.Target, error) {
		tg, err := target(ctx, h)
		tg.Auth, tg.User, tg.Password, tg.SPN = "kerberos", k.Operator, k.Password, "HTTP/"+h.Name
		tg.Vars = map[string]string{"krb5_conf": k.Krb5Conf}
		return tg, err
	}
	h := *f.Hosts[0]
	h.Auth, h.User = "kerberos", k.Operator
	results := preflight.Run(context.Background(), []*inventory.Host{&h}, preflight.Options{Target: krbTarget, Forks: 1})
	a := checkNamed(results[0], preflight.CheckAuth)
	want := `offers Negotiate, Kerberos; kerberos login as "operator@FLEETRUN.TEST" succeeded; messages encrypted (Kerberos sealing)`
	if a.Status != preflight.Pass || a.Detail != want {
		t.Errorf("auth check %s %q, want pass %q", a.Status, a.Detail, want)
	}
	if got := results[0].Facts.AuthOffered; len(got) != 2 || got[0] != "Negotiate" || got[1] != "Kerberos" {
		t.Errorf("offered %q", got)
	}
}

// TestPreflightKerberosFromTheTicketCacheAndItsFailures: pre-flight logs on
// with the ticket cache kinit filled (the WinRM options cmd takes from
// route's dialer, shared by every host) and, given a wrong password,
// fails the auth check with the cause named.
func TestPreflightKerberosFromTheTicketCacheAndItsFailures(t *testing.T) {
	t.Parallel()
	k := kdctest.Start(t, kdctest.Options{Hosts: []string{"sim-0001", "sim-0002"}})
	f := fleettest.Start(t, 2, "", sim.FleetOptions{KerberosKeytabs: k.KeytabDir})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ccache := filepath.Join(t.TempDir(), "ccache")
	if err := k.Kinit(ctx, ccache); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		password   string
		wantStatus preflight.Status
		wantDetail string
		wantFix    string
	}{
		{"the ticket cache", "", preflight.Pass,
			`offers Negotiate, Kerberos; kerberos login as "operator@FLEETRUN.TEST" succeeded; messages encrypted (Kerberos sealing)`, ""},
		{"a wrong password", "not-the-password", preflight.Fail, "",
			"the KDC refused the password (or keytab key): check password_env/password_file, or the keytab's key version after a password change"},
	}
	for _, tt := range tests {
		creds := &winrm.KerberosCredentials{CCache: ccache}
		t.Cleanup(creds.Close)
		krbTarget := func(ctx context.Context, h *inventory.Host) (transport.Target, error) {
			tg, err := target(ctx, h)
			tg.Auth, tg.User, tg.Password, tg.SPN = "kerberos", k.Operator, tt.password, "HTTP/"+h.Name
			return tg, err
		}
		var hosts []*inventory.Host
		for _, fh := range f.Hosts {
			h := *fh
			h.Auth, h.User = "kerberos", k.Operator
			hosts = append(hosts, &h)
		}
		results := preflight.Run(ctx, hosts, preflight.Options{Target: krbTarget, Forks: 2,
			WinRM: winrm.Options{Kerberos: creds, Krb5Config: k.Krb5Conf}})
		for _, r := range results {
			a := checkNamed(r, preflight.CheckAuth)
			if a.Status != tt.wantStatus || (tt.wantDetail != "" && a.Detail != tt.wantDetail) || a.Fix != tt.wantFix {
				t.Errorf("%s: %s: auth check %s %q (fix %q), want %s %q (fix %q)", tt.name, r.Host.Name, a.Status, a.Detail, a.Fix, tt.wantStatus, tt.wantDetail, tt.wantFix)
			}
		}
	}
	// One AS exchange for kinit, one for the wrong password (shared by
	// both hosts), none for the cache.
	if n, err := k.Count("AS", ""); err != nil || n != 1 {
		t.Errorf("successful AS exchanges = %d, %v; want 1 (kinit's)", n, err)
	}
}
