package winrm

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/transport"
)

// timeoutErr is a net.Error that timed out.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestNetworkErrorsAreClassified(t *testing.T) {
	t.Parallel()
	dial := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	tests := []struct {
		name      string
		err       error
		class     transport.Class
		transient bool
		hint      string
	}{
		{"an unknown host name", &net.DNSError{Err: "no such host", Name: "web-01.example", IsNotFound: true}, transport.ClassDNS, false, "address"},
		{"a DNS server failure", &net.DNSError{Err: "server misbehaving", Name: "web-01.example", IsTemporary: true}, transport.ClassDNS, true, ""},
		{"a refused connection", dial(os.NewSyscallError("connect", syscall.ECONNREFUSED)), transport.ClassRefused, true, "WinRM service"},
		{"a connect timeout", dial(timeoutErr{}), transport.ClassConnectTimeout, true, "firewall"},
		{"an unreachable network", dial(os.NewSyscallError("connect", syscall.ENETUNREACH)), transport.ClassConnectTimeout, true, "routes"},
		{"a reset connection", fmt.Errorf("read: %w", syscall.ECONNRESET), transport.ClassConnectionLost, true, "closed the connection"},
		{"a connection reset while connecting", dial(os.NewSyscallError("read", syscall.ECONNRESET)), transport.ClassConnectionLost, true, "closed the connection"},
		{"an unknown CA", x509.UnknownAuthorityError{}, transport.ClassTLS, false, "ca_file"},
		{"a name mismatch", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "web-01"}, transport.ClassTLS, false, "certificate for this name"},
		{"an expired certificate", x509.CertificateInvalidError{Cert: &x509.Certificate{}, Reason: x509.Expired}, transport.ClassTLS, false, "clocks"},
		{"a response that never came", timeoutErr{}, transport.ClassTimeout, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := classifyNetError(context.Background(), "web-01", tc.err)
			if got.Class != tc.class || got.Transient != tc.transient {
				t.Errorf("class %s transient %v, want %s %v (%v)", got.Class, got.Transient, tc.class, tc.transient, got)
			}
			if !strings.Contains(got.Hint, tc.hint) {
				t.Errorf("hint %q lacks %q", got.Hint, tc.hint)
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("the classified error does not wrap the cause")
			}
		})
	}
}

func TestAnEndedContextIsTheCause(t *testing.T) {
	t.Parallel()
	expired, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel()
	if got := classifyNetError(expired, "h", errors.New("use of closed network connection")); got.Class != transport.ClassTimeout {
		t.Errorf("class after a deadline = %s, want timeout", got.Class)
	}
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if got := classifyNetError(cancelled, "h", errors.New("use of closed network connection")); got.Class != transport.ClassInterrupted {
		t.Errorf("class after a cancellation = %s, want interrupted", got.Class)
	}
}

func TestFaultsGetCodesAndHints(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code      uint32
		class     transport.Class
		transient bool
		hint      string
	}{
		{CodeShellNotFound, transport.ClassWSManFault, true, "IdleTimeout"},
		{CodeMaxShellsPerUser, transport.ClassWSManFault, true, `winrm set winrm/config/winrs '@{MaxShellsPerUser="30"}'`},
		{CodeMaxOperationsPerUser, transport.ClassWSManFault, true, "MaxConcurrentOperationsPerUser"},
		{CodeAccessDenied, transport.ClassWSManFault, false, "administrator"},
		{CodeOperationTimeout, transport.ClassTimeout, true, ""},
		{2150858817, transport.ClassWSManFault, false, ""},
	}
	for _, tc := range tests {
		got := faultError("web-01", "Command", &fault{WSManCode: tc.code, Message: "  the\n message  "})
		if got.Class != tc.class || got.Code != tc.code || got.Transient != tc.transient || !strings.Contains(got.Hint, tc.hint) {
			t.Errorf("fault %d: got %s code %d transient %v hint %q", tc.code, got.Class, got.Code, got.Transient, got.Hint)
		}
		if got.Message != "Command on web-01 failed: the message" {
			t.Errorf("fault %d: message %q", tc.code, got.Message)
		}
	}
}

// faultFleet starts a one-host fleet with the given faults.
func faultFleet(t *testing.T, faults sim.FaultSettings) (*sim.Fleet, *sim.Host) {
	t.Helper()
	return fleetFor(t, ntlmHTTP, &sim.Scenario{Defaults: sim.Settings{Faults: faults}})
}

func TestSimulatedFailuresAreClassified(t *testing.T) {
	t.Parallel()
	yes := true
	opts := Options{OperationTimeout: time.Second, RequestGrace: 200 * time.Millisecond, ConnectTimeout: 5 * time.Second}
	tests := []struct {
		name   string
		faults sim.FaultSettings
		class  transport.Class
	}{
		{"a refused connection", sim.FaultSettings{Refused: &yes}, transport.ClassRefused},
		{"a host that never answers", sim.FaultSettings{Hang: &sim.Times{Always: true}}, transport.ClassConnectTimeout},
		{"HTTP 500 with garbage", sim.FaultSettings{HTTP500Garbage: &sim.Times{Always: true}}, transport.ClassProtocol},
		{"a connection reset at once", sim.FaultSettings{Flaky: intPtr(1000)}, transport.ClassConnectionLost},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, h := faultFleet(t, tc.faults)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			_, err := Open(ctx, targetFor(f, h, ntlmHTTP), opts)
			var te *transport.Error
			if !errors.As(err, &te) || te.Class != tc.class {
				t.Fatalf("Open error = %v, want class %s", err, tc.class)
			}
		})
	}
}

func TestAConnectionResetMidReceiveIsReportedAsLost(t *testing.T) {
	t.Parallel()
	f, h := faultFleet(t, sim.FaultSettings{ResetMidReceive: &sim.Times{N: 1}})
	s := open(t, targetFor(f, h, ntlmHTTP), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, err := s.Run(ctx, argv(`C:\tools\exitcode.exe`, "0"))
	var te *transport.Error
	if !errors.As(err, &te) || !te.Transient || !strings.Contains(te.Message, "lost") {
		t.Fatalf("Run error = %v, want a transient lost-connection error", err)
	}
	// The command may still run: it was terminated and its shell deleted.
	if st := h.Stats(); st.Signals != 1 || st.Deletes != 1 {
		t.Errorf("after the lost connection the host saw %d Signals and %d Deletes, want 1 each", st.Signals, st.Deletes)
	}
	// The session authenticates a new connection and goes on.
	if res := run(t, s, argv(`C:\tools\exitcode.exe`, "4")); res.ExitCode != 4 {
		t.Errorf("next exit code = %d, want 4", res.ExitCode)
	}
}

func TestTLSProblemsAreNamed(t *testing.T) {
	t.Parallel()
	f, h := fleetFor(t, basicHTTPS, nil)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	noCA := targetFor(f, h, basicHTTPS)
	noCA.CAFile = ""
	_, err := Open(ctx, noCA, Options{})
	var te *transport.Error
	if !errors.As(err, &te) || te.Class != transport.ClassTLS || !strings.Contains(te.Message, "unknown authority") {
		t.Errorf("without the CA: %v, want a tls error naming the unknown authority", err)
	}

	skip := noCA
	skip.InsecureSkipVerify = true
	s, err := Open(ctx, skip, Options{})
	if err != nil {
		t.Fatalf("insecure_skip_verify: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Error(err)
	}

	// TLS to a plain-HTTP listener.
	fh, hh := fleetFor(t, ntlmHTTP, nil)
	wrong := targetFor(fh, hh, basicHTTPS)
	wrong.CAFile = h.CAFile()
	_, err = Open(ctx, wrong, Options{})
	if !errors.As(err, &te) || te.Class != transport.ClassTLS || !strings.Contains(te.Hint, "plain HTTP") {
		t.Errorf("https to an http port: %v, want a tls error pointing at plain HTTP", err)
	}
}

func TestAuthenticationFailuresNameWhatTheHostOffers(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	f, h := fleetFor(t, ntlmHTTP, nil)

	wrong := targetFor(f, h, ntlmHTTP)
	wrong.Password = "not-the-password"
	_, err := Open(ctx, wrong, Options{})
	var te *transport.Error
	if !errors.As(err, &te) || te.Class != transport.ClassAuth || !strings.Contains(te.Message, "Negotiate") || !strings.Contains(te.Hint, "password") {
		t.Errorf("wrong NTLM password: %v (hint %q)", err, hintOf(err))
	}

	// Basic over HTTP is refused before any connection is made.
	before := h.Stats().Connections
	basic := targetFor(f, h, mode{auth: "basic"})
	_, err = Open(ctx, basic, Options{})
	if !errors.As(err, &te) || te.Class != transport.ClassAuth || !strings.Contains(te.Hint, "https") {
		t.Errorf("basic over http: %v", err)
	}
	if got := h.Stats().Connections; got != before {
		t.Errorf("basic over http made %d connections, want none", got-before)
	}

	// Allowed by the inventory but refused by the host (AllowUnencrypted
	// false): the host offers only Negotiate.
	basic.AllowUnencrypted = true
	_, err = Open(ctx, basic, Options{})
	if !errors.As(err, &te) || te.Class != transport.ClassAuth || !strings.Contains(te.Message, "offers: Negotiate") || !strings.Contains(te.Hint, "does not offer Basic") {
		t.Errorf("basic refused by the host: %v (hint %q)", err, hintOf(err))
	}

	fs, hs := fleetFor(t, basicHTTPS, nil)
	wrongBasic := targetFor(fs, hs, basicHTTPS)
	wrongBasic.Password = "nope"
	_, err = Open(ctx, wrongBasic, Options{})
	if !errors.As(err, &te) || te.Class != transport.ClassAuth || !strings.Contains(te.Message, "Basic") {
		t.Errorf("wrong basic password: %v", err)
	}
}

// TestUACFilteredLocalAdministratorIsRefused: with UAC remote restrictions
// in force (LocalAccountTokenFilterPolicy 0) a local administrator other
// than the built-in Administrator is refused as a wrong password is, over
// NTLM and over Basic, and the hint names both causes with the fix; the
// built-in Administrator, a domain administrator and a Remote Management
// Users member are let in.
func TestUACFilteredLocalAdministratorIsRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		account string
		policy  int
		refused bool
	}{
		{"local_admin", 0, true},
		{"local_admin", 1, false},
		{"builtin_admin", 0, false},
		{"domain_admin", 0, false},
		{"non_admin", 0, false},
	}
	for _, tt := range tests {
		for _, m := range modes {
			t.Run(fmt.Sprintf("%s policy %d %s", tt.account, tt.policy, m.name), func(t *testing.T) {
				t.Parallel()
				kind := sim.AccountKind(tt.account)
				sc := &sim.Scenario{Defaults: sim.Settings{Account: &kind, TokenFilterPolicy: &tt.policy}}
				f, h := fleetFor(t, m, sc)
				ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
				defer cancel()
				s, err := Open(ctx, targetFor(f, h, m), Options{})
				if !tt.refused {
					if err != nil {
						t.Fatalf("open: %v", err)
					}
					if err := s.Close(ctx); err != nil {
						t.Error(err)
					}
					if n := h.Stats().AuthFailures; n != 0 {
						t.Errorf("%d auth failures, want none", n)
					}
					return
				}
				var te *transport.Error
				if !errors.As(err, &te) || te.Class != transport.ClassAuth {
					t.Fatalf("open: %v, want an auth error", err)
				}
				for _, want := range []string{"password", "built-in Administrator", "UAC", TokenFilterPolicyCommand} {
					if !strings.Contains(te.Hint, want) {
						t.Errorf("hint %q lacks %q", te.Hint, want)
					}
				}
				if n := h.Stats().AuthFailures; n != 1 {
					t.Errorf("%d auth failures, want 1", n)
				}
			})
		}
	}
}

func hintOf(err error) string {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.Hint
	}
	return ""
}

// TestThePasswordAppearsInNoOutput runs failing steps and failing
// connections and searches everything they produce for the password.
func TestThePasswordAppearsInNoOutput(t *testing.T) {
	t.Parallel()
	f, h := fleetFor(t, ntlmHTTP, nil)
	password := f.Password()
	var outputs []string
	collect := func(res transport.Result, err error) {
		outputs = append(outputs, fmt.Sprintf("%+v", res), res.Stdout, res.Stderr)
		if err != nil {
			outputs = append(outputs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
			var te *transport.Error
			if errors.As(err, &te) {
				outputs = append(outputs, te.Message, te.Hint)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for _, m := range []mode{ntlmHTTP, {"basic", false, "basic"}, {"kerberos", false, "kerberos"}, {"bogus", false, "bogus"}} {
		target := targetFor(f, h, m)
		bad := target
		bad.Password = password + "x"
		for _, tg := range []transport.Target{target, bad} {
			s, err := Open(ctx, tg, Options{})
			collect(transport.Result{}, err)
			if err == nil {
				collect(s.Run(ctx, transport.Command{Kind: transport.KindCmd, Line: "exit /b 1"}))
				collect(s.Run(ctx, argv(`C:\deploy\x.bat`)))
				if err := s.Close(ctx); err != nil {
					collect(transport.Result{}, err)
				}
			}
		}
	}
	// Render output is what --dry-run prints.
	r, err := launcher.Render(argv(`C:\tools\echoargs.exe`, "x"), launcher.RenderOptions{})
	collect(transport.Result{}, err)
	outputs = append(outputs, strings.Join(r.RemoteCommand, " "), r.CommandLine)
	for _, out := range outputs {
		if strings.Contains(out, password) {
			t.Fatalf("the password appears in output: %.300q", out)
		}
	}
	if len(outputs) < 20 {
		t.Fatalf("collected only %d outputs", len(outputs))
	}
}

func TestKerberosIsConfiguredFromTheTarget(t *testing.T) {
	t.Parallel()
	conf := filepath.Join("testdata", "krb5.conf")
	base := transport.Target{Name: "web-01", Address: "web-01.corp.example", HTTPS: true, Auth: "kerberos", User: "deploy@CORP.EXAMPLE", Password: "pw",
		Vars: map[string]string{"krb5_conf": conf}}
	tests := []struct {
		name      string
		mutate    func(*transport.Target)
		wantUser  string
		wantSPN   string
		wantError string
	}{
		{"realm from the user name", func(*transport.Target) {}, "deploy@CORP.EXAMPLE", "HTTP/web-01.corp.example", ""},
		{"realm from DOMAIN\\user, upper-cased", func(t *transport.Target) { t.User = `corp.example\deploy` }, "deploy@CORP.EXAMPLE", "HTTP/web-01.corp.example", ""},
		{"default realm from krb5.conf", func(t *transport.Target) { t.User = "deploy" }, "deploy@DEFAULT.EXAMPLE", "HTTP/web-01.corp.example", ""},
		{"explicit realm and SPN", func(t *transport.Target) {
			t.Vars = map[string]string{"krb5_conf": conf, "realm": "OTHER", "spn": "WSMAN/web-01"}
		}, "deploy@OTHER", "WSMAN/web-01", ""},
		{"a missing krb5.conf", func(t *transport.Target) { t.Vars = map[string]string{"krb5_conf": "testdata/missing.conf"} }, "", "", "krb5_conf"},
		{"plain HTTP seals the messages", func(t *transport.Target) { t.HTTPS = false }, "deploy@CORP.EXAMPLE", "HTTP/web-01.corp.example", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target := base
			tc.mutate(&target)
			s, err := newSession(target, Options{})
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error()+hintOf(err), tc.wantError) {
					t.Fatalf("error = %v (hint %q), want one mentioning %q", err, hintOf(err), tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.ep.auth.close()
			ka, ok := s.ep.auth.(*kerberosAuth)
			if !ok {
				t.Fatalf("auth is %T", s.ep.auth)
			}
			if ka.username != tc.wantUser || ka.spn != tc.wantSPN {
				t.Errorf("user %q spn %q, want %q %q", ka.username, ka.spn, tc.wantUser, tc.wantSPN)
			}
			if ka.seal != !target.HTTPS {
				t.Errorf("seal %t over https %t", ka.seal, target.HTTPS)
			}
		})
	}
}

func TestConfigurationErrorsComeBeforeAnyConnection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target transport.Target
		class  transport.Class
		want   string
	}{
		{"an unknown mechanism", transport.Target{Address: "127.0.0.1", Auth: "digest"}, transport.ClassAuth, "unknown auth"},
		{"an unknown output encoding", transport.Target{Address: "127.0.0.1", OutputEncoding: "klingon"}, transport.ClassInternal, "klingon"},
		{"certificate auth without https", transport.Target{Address: "127.0.0.1", Auth: "certificate"}, transport.ClassAuth, "https"},
		{"a missing CA file", transport.Target{Address: "127.0.0.1", HTTPS: true, CAFile: "testdata/none.pem"}, transport.ClassTLS, "ca_file"},
		{"no address", transport.Target{Name: "web-01"}, transport.ClassDNS, "no address"},
	}
	for _, tc := range tests {
		_, err := newSession(tc.target, Options{})
		var te *transport.Error
		if !errors.As(err, &te) || te.Class != tc.class || !strings.Contains(te.Message, tc.want) {
			t.Errorf("%s: %v, want class %s mentioning %q", tc.name, err, tc.class, tc.want)
		}
	}
}

func intPtr(n int) *int { return &n }
