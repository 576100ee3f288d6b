//go:build scale

package sim

import "testing"

// TestScaleThousandHostsAnswerARound starts 1,000 simulated hosts in one
// process and has each answer a command, over NTLM with message
// encryption and over Basic inside TLS (make test-scale, without -race).
func TestScaleThousandHostsAnswerARound(t *testing.T) {
	for _, mode := range []clientMode{ntlmSealed, basicHTTPS} {
		t.Run(mode.String(), func(t *testing.T) {
			f := startFleet(t, FleetOptions{Hosts: 1000, HTTPS: mode == basicHTTPS, Dir: t.TempDir()})
			d := runRound(t, f, mode, 100)
			t.Logf("1000 hosts answered a round (%s) in %v", mode, d)
		})
	}
}
