package sim

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"
)

// startFleet starts a fleet that the test closes when it ends.
func startFleet(t testing.TB, opts FleetOptions) *Fleet {
	t.Helper()
	f, err := StartFleet(context.Background(), opts)
	if err != nil {
		t.Fatalf("StartFleet: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f
}

// mustScenario parses an inline scenario.
func mustScenario(t testing.TB, text string) *Scenario {
	t.Helper()
	sc, err := ParseScenario("test.yaml", []byte(text))
	if err != nil {
		t.Fatalf("ParseScenario: %v", err)
	}
	return sc
}

// clientMode selects how masterzen/winrm talks to a host.
type clientMode int

const (
	basicHTTP clientMode = iota
	ntlmSealed
	basicHTTPS
)

func (m clientMode) String() string {
	return [...]string{"basic over http", "ntlm with message encryption", "basic over https"}[m]
}

// mzClient returns masterzen/winrm's own client for host h.
func mzClient(t testing.TB, f *Fleet, h *Host, mode clientMode, opTimeout string) *winrm.Client {
	t.Helper()
	ep := &winrm.Endpoint{Host: h.Address(), Port: h.Port(), Timeout: 30 * time.Second}
	params := winrm.NewParameters(opTimeout, "en-US", 153600)
	switch mode {
	case ntlmSealed:
		params.TransportDecorator = func() winrm.Transporter {
			enc, err := winrm.NewEncryption("ntlm")
			if err != nil {
				t.Fatalf("NewEncryption: %v", err)
			}
			return sealedTransport{enc}
		}
	case basicHTTPS:
		ep.HTTPS = true
		ca, err := os.ReadFile(h.CAFile())
		if err != nil {
			t.Fatalf("read CA file: %v", err)
		}
		ep.CACert = ca
	}
	c, err := winrm.NewClientWithParameters(ep, f.User(), f.Password(), params)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

// sealedTransport is masterzen/winrm's encrypting transport with retries
// of a message the host refused before running it. That transport does
// the NTLM handshake's legs and then the sealed request as separate
// requests through http.DefaultTransport and assumes they all ride one
// connection, as NTLM requires; but Go's pool hands a request a freshly
// dialled connection when the previous one has not been put back yet (its
// write goroutine reports late on a loaded machine), and the host then
// refuses it, as Windows does: a handshake leg on another connection with
// 401, a sealed request on a connection without an NTLM context with 400.
// The failure is the client's; a refused request did nothing on the host,
// so sending it again (with a new handshake) is safe.
type sealedTransport struct{ *winrm.Encryption }

// sealedTries bounds how often one message is sent.
const sealedTries = 3

func (s sealedTransport) Post(c *winrm.Client, m *soap.SoapMessage) (string, error) {
	out, err := s.Encryption.Post(c, m)
	for try := 1; try < sealedTries && refusedBeforeRunning(out, err); try++ {
		out, err = s.Encryption.Post(c, m)
	}
	return out, err
}

// refusedBeforeRunning tells whether masterzen's encrypting transport
// met one of those refusals. A refused handshake comes back as an error
// (its 401). A refused sealed request comes back as an empty body and no
// error, because that path does not look at the answer's status; the
// caller's XML parser then fails with a bare EOF. Every WS-Management
// answer the host sends has a body, so an empty one is always a refusal
// made before the message ran.
func refusedBeforeRunning(out string, err error) bool {
	if err != nil {
		return strings.Contains(err.Error(), "http response error: 401 ")
	}
	return out == ""
}

// runMZ runs a command with masterzen's client and returns its results.
func runMZ(t testing.TB, c *winrm.Client, command string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, errOut, code, err := c.RunCmdWithContext(ctx, command)
	if err != nil {
		t.Fatalf("run %q: %v", command, err)
	}
	return out, errOut, code
}

// progCase is one command line sent to a simulated host through
// masterzen/winrm (so through WinRS and cmd.exe, as an operator's ad hoc
// command would go), with what must come back exactly.
type progCase struct {
	name    string
	command string
	stdin   string // sent, then stdin is closed; empty sends nothing
	stdout  string
	stderr  string
	code    int
}

// progFleet starts hosts for the program tests: Basic over plain HTTP (so
// several clients may run at once), on a clock fixed at 2024-03-01 09:00
// UTC so that dates in the output are known.
func progFleet(t *testing.T, hosts int, scenario string) (*Fleet, *testClock) {
	t.Helper()
	clock := newTestClock()
	sc := mustScenario(t, "defaults:\n  allow_unencrypted: true\n"+scenario)
	f := startFleet(t, FleetOptions{Hosts: hosts, Scenario: sc, Dir: t.TempDir(), Clock: clock})
	return f, clock
}

// runCases runs the cases in order on one host (later cases may depend on
// what earlier ones changed).
func runCases(t *testing.T, c *winrm.Client, cases []progCase) {
	t.Helper()
	for _, tt := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var out, errOut string
		var code int
		var err error
		if tt.stdin != "" {
			out, errOut, code, err = c.RunWithContextWithString(ctx, tt.command, tt.stdin)
		} else {
			out, errOut, code, err = c.RunCmdWithContext(ctx, tt.command)
		}
		cancel()
		if err != nil {
			t.Fatalf("%s: %q: %v", tt.name, tt.command, err)
		}
		if diff := cmp.Diff([]any{tt.stdout, tt.stderr, tt.code}, []any{out, errOut, code}); diff != "" {
			t.Errorf("%s: %q (-want +got):\n%s", tt.name, tt.command, diff)
		}
	}
}

// crlf joins lines, each ended by CR LF.
func crlf(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n" }

const notModelledExit = 1

// closeIdleBeforeFirstBody is http.DefaultTransport's stand-in for one
// test: before the first request with a body (the sealed request that
// follows the NTLM handshake's empty legs) it drops the pooled connection,
// so that request goes out on a fresh one, as Go's pool does on a loaded
// machine, and keeps the status the host answered it with.
type closeIdleBeforeFirstBody struct {
	tr     *http.Transport
	done   *atomic.Bool
	status *atomic.Int32
}

func (c closeIdleBeforeFirstBody) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.ContentLength == 0 || !c.done.CompareAndSwap(false, true) {
		return c.tr.RoundTrip(r)
	}
	c.tr.CloseIdleConnections()
	resp, err := c.tr.RoundTrip(r)
	if err == nil {
		c.status.Store(int32(resp.StatusCode))
	}
	return resp, err
}

// Not parallel: it swaps http.DefaultTransport, which masterzen's
// encrypting transport uses, and parallel tests wait until the sequential
// ones have finished.
func TestSealedTransportResendsARequestRefusedOnAFreshConnection(t *testing.T) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	old := http.DefaultTransport
	fake := closeIdleBeforeFirstBody{tr: tr, done: new(atomic.Bool), status: new(atomic.Int32)}
	http.DefaultTransport = fake
	t.Cleanup(func() { http.DefaultTransport = old })
	f := startFleet(t, FleetOptions{Hosts: 1, Profile: "2008r2"})
	c := mzClient(t, f, f.Hosts()[0], ntlmSealed, "PT60S")
	out, _, code := runMZ(t, c, "winrm get winrm/config/winrs")
	if !fake.done.Load() {
		t.Fatal("no request with a body went through the fake transport")
	}
	// Windows' answer to an encrypted message on a connection without an
	// NTLM context, as the simulated host models it (ntlmsrv).
	if got := fake.status.Load(); got != http.StatusBadRequest {
		t.Errorf("the sealed request on a fresh connection was answered %d, want 400", got)
	}
	if !strings.HasPrefix(out, "Winrs\r\n") || code != 0 {
		t.Errorf("winrm get after a refused sealed request: exit %d, %q", code, out)
	}
}

func TestRefusedBeforeRunning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		out  string
		err  error
		want bool
	}{
		{"", nil, true},
		{"<s:Envelope/>", nil, false},
		{"", errors.New("http response error: 401 - invalid content type"), true},
		{"", errors.New("http response error: 500 - invalid content type"), false},
		{"", errors.New("unknown error dial tcp: connection refused"), false},
	}
	for _, tt := range tests {
		if got := refusedBeforeRunning(tt.out, tt.err); got != tt.want {
			t.Errorf("refusedBeforeRunning(%q, %v) = %v, want %v", tt.out, tt.err, got, tt.want)
		}
	}
}
