package sim

import (
	"context"
	"os"
	"strings"
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

// sealedTransport is masterzen/winrm's encrypting transport with one retry
// of a request the host refused as unauthenticated. That transport does the
// NTLM handshake's legs and then the sealed request as separate requests
// through http.DefaultTransport and assumes they all ride one connection,
// as NTLM requires; but Go's pool hands a request a freshly dialled
// connection when the previous one has not been put back yet (its reader
// goroutine runs later on a loaded machine), and the host then answers 401,
// as Windows does for a leg on another connection. The failure is the
// client's; a refused request did nothing on the host, so sending it again
// (with a new handshake) is safe.
type sealedTransport struct{ *winrm.Encryption }

func (s sealedTransport) Post(c *winrm.Client, m *soap.SoapMessage) (string, error) {
	out, err := s.Encryption.Post(c, m)
	if err != nil && strings.Contains(err.Error(), "http response error: 401 ") {
		return s.Encryption.Post(c, m)
	}
	return out, err
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
