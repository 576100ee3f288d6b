package route_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/internal/fleettest"
	"github.com/fleetrun/fleetrun/internal/kdctest"
	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/route"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/transport"
)

const threeStepPlaybook = `
name: three steps
forks: %d
steps:
  - name: cmd line
    cmd: "echo hello& exit /b 3"
    expect_exit: [3]
  - name: batch file
    cmd: 'C:\scripts\exit9999.bat'
    expect_exit: [9999]
  - name: powershell
    powershell: |
      Write-Output 'out'
      [Console]::Error.WriteLine('err')
      exit 5
    expect_exit: [5]
`

// stepView is what a step's result must be the same over NTLM and Kerberos.
type stepView struct {
	Name           string
	Status         runner.Status
	ExitCode       uint32
	Stdout, Stderr string
}

func viewOf(t *testing.T, res *runner.Result) map[string][]stepView {
	t.Helper()
	out := map[string][]stepView{}
	for _, h := range res.Hosts {
		if h.Status != runner.StatusOK {
			t.Errorf("%s: status %s (%v)", h.Name, h.Status, h.Err)
		}
		for _, s := range h.Steps {
			v := stepView{Name: s.Name, Status: s.Status, Stdout: s.Stdout, Stderr: s.Stderr}
			if s.ExitCode != nil {
				v.ExitCode = *s.ExitCode
			}
			if s.Err != nil {
				t.Errorf("%s: %s: %v", h.Name, s.Name, s.Err)
			}
			out[h.Name] = append(out[h.Name], v)
		}
	}
	return out
}

// TestKerberosPlaybookMatchesNTLM runs a three-step playbook on simulated
// hosts that refuse unsealed messages (AllowUnencrypted false, plain
// HTTP), once over NTLM and once over Kerberos from the ticket cache
// kinit filled, through route's dialer as fleetrun apply does; the
// results are the same, and the KDC saw kinit's AS exchange and one TGS
// exchange per host.
func TestKerberosPlaybookMatchesNTLM(t *testing.T) {
	t.Parallel()
	testKerberosPlaybook(t, 12, 12)
}

func testKerberosPlaybook(t *testing.T, n, forks int) {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("sim-%04d", i+1)
	}
	k := kdctest.Start(t, kdctest.Options{Hosts: names})
	f := fleettest.Start(t, n, "", sim.FleetOptions{KerberosKeytabs: k.KeytabDir})
	pb, err := playbook.Parse("three.yaml", []byte(fmt.Sprintf(threeStepPlaybook, forks)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ccache := filepath.Join(t.TempDir(), "ccache")
	if err := k.Kinit(ctx, ccache); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KRB5CCNAME": "FILE:" + ccache, "KRB5_CONFIG": k.Krb5Conf}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }

	run := func(target func(context.Context, *inventory.Host) (transport.Target, error)) *runner.Result {
		// The dialer outlives the run and is closed at cleanup, as in cmd.
		d := newDialer(t, f.Hosts, lookup) //nolint:contextcheck // closing at cleanup has no context to pass
		res, err := runner.Run(ctx, pb, f.Hosts, runner.Options{Dialer: d, Target: target, HostTimeout: 2 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// A loaded 2-core machine running 200 handshakes under -race answers
	// slowly; the test is about results and tickets, not speed.
	slow := func(ctx context.Context, h *inventory.Host) (transport.Target, error) {
		tg, err := fleettest.Target(ctx, h)
		tg.ConnectTimeout = time.Minute
		return tg, err
	}
	ntlm := viewOf(t, run(slow))
	krb := viewOf(t, run(func(ctx context.Context, h *inventory.Host) (transport.Target, error) {
		tg, err := slow(ctx, h)
		// The operator's ticket cache; the host is reached by address with
		// the SPN the fleet's inventory names (spn:).
		tg.Auth, tg.User, tg.Password = "kerberos", k.Operator, ""
		if tg.SPN != "HTTP/"+h.Name {
			t.Errorf("%s: the fleet's inventory gives spn %q", h.Name, tg.SPN)
		}
		return tg, err
	}))
	if diff := cmp.Diff(ntlm, krb); diff != "" {
		t.Errorf("kerberos results differ from ntlm (-ntlm +kerberos):\n%s", diff)
	}
	if got := ntlm[names[0]]; len(got) != 3 || got[1].ExitCode != 9999 {
		t.Errorf("%s steps %+v, want three with the batch file's 9999", names[0], got)
	}
	if n, err := k.Count("AS", ""); err != nil || n != 1 {
		t.Errorf("AS exchanges = %d, %v; want 1 (kinit's)", n, err)
	}
	for _, name := range names {
		if c, err := k.Count("TGS", "HTTP/"+name+"@FLEETRUN.TEST"); err != nil || c > 1 {
			t.Errorf("TGS exchanges for %s = %d, %v; want at most 1", name, c, err)
		}
	}
	if c, err := k.Count("TGS", ""); err != nil || c != n {
		t.Errorf("TGS exchanges = %d, %v; want %d", c, err, n)
	}
	if st := f.Stats().Totals; st.AuthFailures != 0 {
		t.Errorf("auth failures %d, want 0", st.AuthFailures)
	}
}

// TestKerberosPlaybookOnTwoHundredHosts is the same on 200 hosts, 50 at a
// time: still one logon for the run and one service ticket per host.
func TestKerberosPlaybookOnTwoHundredHosts(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("200 hosts")
	}
	testKerberosPlaybook(t, 200, 50)
}

// newDialer is route's dialer as fleetrun apply builds it, closed when the
// test ends.
func newDialer(t *testing.T, hosts []*inventory.Host, lookup func(string) (string, bool)) *route.Dialer {
	d := route.NewDialer(hosts, route.Options{LookupEnv: lookup})
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("close dialer: %v", err)
		}
	})
	return d
}
