package preflight_test

import (
	"context"
	"testing"

	"github.com/fleetrun/fleetrun/internal/fleettest"
	"github.com/fleetrun/fleetrun/internal/kdctest"
	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/preflight"
	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/transport"
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
