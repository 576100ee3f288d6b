package sim

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/masterzen/winrm"
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
			return enc
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
