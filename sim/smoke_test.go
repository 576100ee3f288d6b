package sim

import "testing"

func TestSmoke(t *testing.T) {
	f := startFleet(t, FleetOptions{Hosts: 1, Scenario: mustScenario(t, "defaults: {allow_unencrypted: true}\n")})
	c := mzClient(t, f, f.Hosts()[0], basicHTTP, "PT60S")
	out, errOut, code := runMZ(t, c, "echo hi && hostname && whoami")
	t.Logf("out=%q err=%q code=%d", out, errOut, code)
	c2 := mzClient(t, f, f.Hosts()[0], ntlmSealed, "PT60S")
	out, errOut, code = runMZ(t, c2, "echo out && echo err>&2 && exit 1")
	t.Logf("out=%q err=%q code=%d", out, errOut, code)
	t.Logf("%+v", f.Stats().Totals)
}
