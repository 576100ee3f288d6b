package winrm

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/fleetrun/fleetrun/internal/kdctest"
	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/transport"
)

// kerberosFleet starts a KDC with a principal per simulated host and a
// fleet whose hosts accept Kerberos (AllowUnencrypted is false, Windows'
// default).
func kerberosFleet(t *testing.T, hosts int, https bool) (*kdctest.KDC, *sim.Fleet) {
	t.Helper()
	names := make([]string, hosts)
	for i := range names {
		names[i] = fmt.Sprintf("sim-%04d", i+1)
	}
	k := kdctest.Start(t, kdctest.Options{Hosts: names})
	f := startFleet(t, sim.FleetOptions{Hosts: hosts, HTTPS: https, KerberosKeytabs: k.KeytabDir})
	return k, f
}

// kerberosTarget reaches a simulated host by address, with its SPN named.
func kerberosTarget(k *kdctest.KDC, h *sim.Host, https bool) transport.Target {
	t := transport.Target{Name: h.Name(), Address: h.Address(), Port: h.Port(), HTTPS: https, Auth: "kerberos",
		User: k.Operator, Password: k.Password, SPN: "HTTP/" + h.Name(),
		Vars: map[string]string{"krb5_conf": k.Krb5Conf}}
	if https {
		t.CAFile = h.CAFile()
	}
	return t
}

// threeSteps are a playbook's three steps: a cmd line, a batch file's
// exit 9999 and a PowerShell script writing both streams.
var threeSteps = []transport.Command{
	{Kind: transport.KindCmd, Line: "echo hello& exit /b 3"},
	{Kind: transport.KindCmd, Line: `C:\scripts\exit9999.bat`},
	{Kind: transport.KindPowerShell, Script: "Write-Output 'out'\n[Console]::Error.WriteLine('err')\nexit 5\n"},
}

func runAll(t *testing.T, s *Session) []transport.Result {
	t.Helper()
	var out []transport.Result
	for _, c := range threeSteps {
		out = append(out, run(t, s, c))
	}
	return out
}

func TestKerberosSealedOverHTTPMatchesNTLM(t *testing.T) {
	t.Parallel()
	const hosts = 3
	k, f := kerberosFleet(t, hosts, false)
	creds := &KerberosCredentials{}
	t.Cleanup(creds.Close)
	var want []transport.Result
	for i, h := range f.Hosts() {
		ntlm := open(t, targetFor(f, h, ntlmHTTP), Options{})
		ntlmResults := runAll(t, ntlm)
		if i == 0 {
			want = ntlmResults
			if want[1].ExitCode != 9999 || want[0].ExitCode != 3 {
				t.Fatalf("ntlm results %+v", want)
			}
		}
		s := open(t, kerberosTarget(k, h, false), Options{Kerberos: creds})
		if !s.Encrypted() {
			t.Error("Encrypted() = false over http")
		}
		got := runAll(t, s)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: kerberos results differ from ntlm (-ntlm +kerberos):\n%s", h.Name(), diff)
		}
		if st := h.Stats(); st.AuthFailures != 0 {
			t.Errorf("%s: %d auth failures", h.Name(), st.AuthFailures)
		}
	}
	// One TGT for the run, one service ticket per host.
	as, err := k.Count("AS", "")
	if err != nil {
		t.Fatal(err)
	}
	if as != 1 {
		t.Errorf("AS exchanges = %d, want 1", as)
	}
	for _, h := range f.Hosts() {
		if n, err := k.Count("TGS", "HTTP/"+h.Name()+"@FLEETRUN.TEST"); err != nil || n != 1 {
			t.Errorf("TGS exchanges for %s = %d, %v; want 1", h.Name(), n, err)
		}
	}
}

func TestKerberosReconnectReusesTheServiceTicket(t *testing.T) {
	t.Parallel()
	k, f := kerberosFleet(t, 1, false)
	h := f.Hosts()[0]
	creds := &KerberosCredentials{}
	t.Cleanup(creds.Close)
	s := open(t, kerberosTarget(k, h, false), Options{Kerberos: creds})
	var got []uint32
	for _, c := range threeSteps {
		// The connection goes away between steps (a proxy's idle timeout,
		// a reset): the next request dials anew, finds no context there,
		// and authenticates again with the ticket it has.
		s.ep.conn.close()
		got = append(got, run(t, s, c).ExitCode)
	}
	if diff := cmp.Diff([]uint32{3, 9999, 5}, got); diff != "" {
		t.Errorf("exit codes (-want +got):\n%s", diff)
	}
	if n, err := k.Count("TGS", ""); err != nil || n != 1 {
		t.Errorf("TGS exchanges = %d, %v; want 1 across reconnects", n, err)
	}
	if st := h.Stats(); st.AuthFailures != 0 || st.Connections < 4 {
		t.Errorf("auth failures %d, connections %d; want 0 and at least 4", st.AuthFailures, st.Connections)
	}
}

func TestKerberosOverHTTPSAndFromATicketCache(t *testing.T) {
	t.Parallel()
	k, f := kerberosFleet(t, 2, true)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ccache := filepath.Join(t.TempDir(), "ccache")
	if err := k.Kinit(ctx, ccache); err != nil {
		t.Fatal(err)
	}
	creds := &KerberosCredentials{CCache: ccache}
	t.Cleanup(creds.Close)
	// Forks: both hosts at once, sharing the logon.
	var wg sync.WaitGroup
	results := make([][]transport.Result, 2)
	for i, h := range f.Hosts() {
		target := kerberosTarget(k, h, true)
		target.Password = "" // the ticket cache, as after kinit
		s := open(t, target, Options{Kerberos: creds})
		if s.Encrypted() {
			t.Error("Encrypted() = true over https")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range threeSteps {
				ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
				res, err := s.Run(ctx, c)
				cancel()
				if err != nil {
					t.Errorf("%s: %v", h.Name(), err)
					return
				}
				results[i] = append(results[i], res)
			}
		}()
	}
	wg.Wait()
	for i, r := range results {
		if len(r) != 3 || r[0].ExitCode != 3 || r[1].ExitCode != 9999 || r[2].ExitCode != 5 || r[2].Stdout != "out\r\n" {
			t.Errorf("host %d results %+v", i, r)
		}
	}
	// kinit's AS exchange only; the cache's TGT serves both hosts.
	if n, err := k.Count("AS", ""); err != nil || n != 1 {
		t.Errorf("AS exchanges = %d, %v; want 1 (kinit's)", n, err)
	}
	if n, err := k.Count("TGS", ""); err != nil || n != 2 {
		t.Errorf("TGS exchanges = %d, %v; want 2", n, err)
	}
}

func TestKerberosFailuresAreAuthErrorsWithAHint(t *testing.T) {
	t.Parallel()
	k, f := kerberosFleet(t, 1, false)
	h := f.Hosts()[0]
	tests := []struct {
		name     string
		mutate   func(*transport.Target)
		wantHint string
	}{
		{"a wrong password", func(t *transport.Target) { t.Password = "wrong" }, "the KDC refused the password"},
		{"an unknown user", func(t *transport.Target) { t.User = "nobody@FLEETRUN.TEST" }, "the KDC does not know the user"},
		{"a host reached by address without its SPN", func(t *transport.Target) { t.SPN = "" }, "the KDC knows no service principal for this host"},
		{"no credentials at all", func(t *transport.Target) { t.Password = "" }, "give the host a password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target := kerberosTarget(k, h, false)
			tc.mutate(&target)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			s, err := Open(ctx, target, Options{})
			if err == nil {
				_ = s.Close(ctx)
				t.Fatal("Open succeeded")
			}
			var te *transport.Error
			if !errors.As(err, &te) || te.Class != transport.ClassAuth {
				t.Fatalf("error %v (%T), want class auth", err, err)
			}
			if !strings.HasPrefix(te.Hint, tc.wantHint) {
				t.Errorf("hint %q, want one starting %q", te.Hint, tc.wantHint)
			}
			if strings.Contains(err.Error(), k.Password) {
				t.Errorf("error holds the password: %v", err)
			}
		})
	}
}

// TestKerberosExpiredTicketCacheIsNamed: an operator whose kinit ticket
// has run out (a two-second ticket, waited out against the ticket's own
// end time) gets class auth with the hint to kinit again, and the KDC is
// not asked for a service ticket with it.
func TestKerberosExpiredTicketCacheIsNamed(t *testing.T) {
	t.Parallel()
	k, f := kerberosFleet(t, 1, false)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ccache := filepath.Join(t.TempDir(), "ccache")
	if err := k.KinitFor(ctx, ccache, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	cc, err := credentials.LoadCCache(ccache)
	if err != nil {
		t.Fatal(err)
	}
	tgt, ok := cc.GetEntry(types.NewPrincipalName(2, "krbtgt/FLEETRUN.TEST"))
	if !ok {
		t.Fatal("kinit left no TGT in the cache")
	}
	if life := tgt.EndTime.Sub(tgt.StartTime); life > time.Minute {
		t.Fatalf("kinit -l 2s gave a ticket for %s", life)
	}
	// The ticket's end is a wall-clock instant: wait for it to pass.
	select {
	case <-time.After(time.Until(tgt.EndTime) + time.Second):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	creds := &KerberosCredentials{CCache: ccache}
	t.Cleanup(creds.Close)
	target := kerberosTarget(k, f.Hosts()[0], false)
	target.Password = ""
	s, err := Open(ctx, target, Options{Kerberos: creds})
	if err == nil {
		_ = s.Close(ctx)
		t.Fatal("Open succeeded with an expired ticket cache")
	}
	var te *transport.Error
	if !errors.As(err, &te) || te.Class != transport.ClassAuth {
		t.Fatalf("error %v (%T), want class auth", err, err)
	}
	if want := "the ticket expired: run kinit again (or renew it) before the run"; te.Hint != want {
		t.Errorf("hint %q, want %q (error: %v)", te.Hint, want, err)
	}
	if n, err := k.Count("TGS", ""); err != nil || n != 0 {
		t.Errorf("TGS exchanges = %d, %v; want none with an expired TGT", n, err)
	}
}

func TestKerberosClockSkewAtTheHostIsNamed(t *testing.T) {
	t.Parallel()
	k, f := kerberosFleet(t, 1, false)
	s, err := newSession(kerberosTarget(k, f.Hosts()[0], false), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ka := s.ep.auth.(*kerberosAuth)
	ka.now = func() time.Time { return time.Now().Add(-10 * time.Minute) }
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	err = s.firstContact(ctx)
	s.ep.auth.close()
	s.ep.conn.close()
	var te *transport.Error
	if !errors.As(err, &te) || te.Class != transport.ClassAuth || !strings.HasPrefix(te.Hint, "the clocks of this machine") {
		t.Fatalf("error %v (hint %q), want class auth naming the clocks", err, hintOf(err))
	}
	if !strings.Contains(te.Message, "KRB_AP_ERR_SKEW") {
		t.Errorf("message %q does not name KRB_AP_ERR_SKEW", te.Message)
	}
}

func TestKerberosErrorsNameTheirCause(t *testing.T) {
	t.Parallel()
	sname := types.NewPrincipalName(1, "krbtgt/FLEETRUN.TEST")
	tests := []struct {
		name string
		err  error
		hint string
	}{
		{"a refused password", messages.NewKRBError(sname, "FLEETRUN.TEST", errorcode.KDC_ERR_PREAUTH_FAILED, "x"), "the KDC refused the password"},
		{"an unknown user", messages.NewKRBError(sname, "FLEETRUN.TEST", errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN, "x"), "the KDC does not know the user"},
		{"an unknown SPN", messages.NewKRBError(sname, "FLEETRUN.TEST", errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN, "x"), "the KDC knows no service principal"},
		{"clock skew", messages.NewKRBError(sname, "FLEETRUN.TEST", errorcode.KRB_AP_ERR_SKEW, "x"), "the clocks of this machine"},
		{"an expired ticket", messages.NewKRBError(sname, "FLEETRUN.TEST", errorcode.KRB_AP_ERR_TKT_EXPIRED, "x"), "the ticket expired"},
		{"a cached TGT that ran out during the run", errors.New("[Root cause: KRBMessage_Handling_Error] cannot login, no user credentials available and no valid existing session"), "the ticket expired"},
		{"anything else", errors.New("connection refused"), "check krb5.conf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := krbError("web-01", "logon", tc.err)
			if e.Class != transport.ClassAuth || !strings.HasPrefix(e.Hint, tc.hint) {
				t.Errorf("class %s hint %q, want auth and a hint starting %q", e.Class, e.Hint, tc.hint)
			}
			if !strings.HasPrefix(e.Message, "web-01: kerberos: logon: ") {
				t.Errorf("message %q", e.Message)
			}
		})
	}
}
