package sim

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/internal/testneeds"
)

// TestPywinrm runs Debian's python3-winrm, unchanged, against a simulated
// fleet (testdata/pywinrm_check.py). Without pywinrm the test skips, unless
// FLEETRUN_REQUIRE_PYWINRM=1 (CI) makes that a failure.
func TestPywinrm(t *testing.T) {
	t.Parallel()
	python := testneeds.Pywinrm(t, nil, "python3-winrm", "import winrm")
	sc := mustScenario(t, `
host_settings:
  sim-0002:
    output_encoding: cp932
    rules:
      - match: Get-Greeting
        stdout: "こんにちは\r\n"
  sim-0003:
    https: true
  sim-0004:
    powershell_progress: false
  sim-0005:
    account: local_admin
    local_account_token_filter_policy: 0
  sim-0006:
    account: local_admin
    local_account_token_filter_policy: 0
    https: true
  sim-0007:
    account: builtin_admin
    local_account_token_filter_policy: 0
`)
	dir := t.TempDir()
	f := startFleet(t, FleetOptions{Hosts: 7, Scenario: sc, Dir: dir})
	hosts := f.Hosts()
	cfg := map[string]string{
		"user": f.User(), "password": f.Password(), "ca": f.CAFile(),
		"ntlm": hosts[0].URL(), "cp932": hosts[1].URL(), "https": hosts[2].URL(), "quiet": hosts[3].URL(),
		"filtered": hosts[4].URL(), "filtered_https": hosts[5].URL(), "builtin": hosts[6].URL(),
	}
	cfgFile := filepath.Join(dir, "config.json")
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	conf, err := filepath.Abs("testdata/openssl-legacy.cnf")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/pywinrm_check.py", cfgFile)
	// NTLM needs MD4, which OpenSSL 3 keeps in its legacy provider.
	cmd.Env = append(os.Environ(), "OPENSSL_CONF="+conf, "PYTHONIOENCODING=utf-8")
	out, err := cmd.CombinedOutput()
	t.Logf("pywinrm:\n%s", out)
	if err != nil {
		t.Fatalf("pywinrm checks failed: %v", err)
	}
	if st := hosts[0].Stats(); st.AuthFailures != 1 {
		t.Errorf("auth failures on the NTLM host = %d, want 1 (the wrong password)", st.AuthFailures)
	}
	for _, h := range hosts[4:6] {
		if st := h.Stats(); st.AuthFailures != 1 || st.ShellsOpened != 0 {
			t.Errorf("%s (filtered token): %d auth failures, %d shells opened; want 1 and none", h.Name(), st.AuthFailures, st.ShellsOpened)
		}
	}
	if st := hosts[6].Stats(); st.AuthFailures != 0 {
		t.Errorf("the built-in Administrator was refused %d times", st.AuthFailures)
	}
}
