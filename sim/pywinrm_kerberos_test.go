package sim

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/internal/kdctest"
	"github.com/fleetrun/fleetrun/internal/testneeds"
)

// TestPywinrmKerberosEncrypted runs Debian's python3-winrm, unchanged, with
// Kerberos (requests-kerberos, a ticket cache kinit filled from a real MIT
// KDC) and message encryption against a simulated host that refuses
// unsealed messages (AllowUnencrypted false, plain HTTP).
func TestPywinrmKerberosEncrypted(t *testing.T) {
	t.Parallel()
	python := testneeds.Pywinrm(t, nil, "python3-winrm python3-requests-kerberos python3-gssapi", "import winrm, requests_kerberos, gssapi")
	k := kdctest.Start(t, kdctest.Options{Hosts: []string{"sim-0001"}})
	dir := t.TempDir()
	f := startFleet(t, FleetOptions{Hosts: 1, Dir: dir, KerberosKeytabs: k.KeytabDir})
	host := f.Hosts()[0]

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ccache := filepath.Join(dir, "ccache")
	if err := k.Kinit(ctx, ccache); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "config.json")
	data, err := json.Marshal(map[string]string{"url": host.URL(), "spn_host": host.Name()})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, python, "testdata/pywinrm_kerberos.py", cfgFile)
	cmd.Env = append(os.Environ(), k.Env(ccache)...)
	cmd.Env = append(cmd.Env, "PYTHONIOENCODING=utf-8")
	out, err := cmd.CombinedOutput()
	t.Logf("pywinrm:\n%s", out)
	if err != nil {
		t.Fatalf("pywinrm checks failed: %v", err)
	}
	if got := strings.Count(string(out), "ok   "); got != 4 {
		t.Errorf("%d checks passed, want 4", got)
	}
	if st := host.Stats(); st.AuthFailures != 0 {
		t.Errorf("auth failures = %d, want 0", st.AuthFailures)
	}
	// One TGS exchange for the host's SPN (kinit made the AS exchange).
	for kind, want := range map[string]int{"AS": 1, "TGS": 1} {
		if n, err := k.Count(kind, ""); err != nil || n != want {
			t.Errorf("kdc %s exchanges = %d, %v; want %d", kind, n, err, want)
		}
	}
}

// TestScenarioKeytabsConfigureKerberos: a scenario's keytab setting gives
// a host its Kerberos key (relative to the scenario file), an empty one
// turns Kerberos off, and the fleet's keytab folder is the default.
func TestScenarioKeytabsConfigureKerberos(t *testing.T) {
	t.Parallel()
	sc, err := ParseScenario(filepath.Join("conf", "fleet.yaml"), []byte(`
host_settings:
  sim-0002: {keytab: "keys/other.keytab"}
  sim-0003: {keytab: ""}
`))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sim-0001.keytab"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	names := []string{"sim-0001", "sim-0002", "sim-0003"}
	cfgs := resolveConfigs(sc, FleetOptions{KerberosKeytabs: dir}, names, []string{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"}, "pw")
	got := []string{cfgs[0].Keytab, cfgs[1].Keytab, cfgs[2].Keytab}
	want := []string{filepath.Join(dir, "sim-0001.keytab"), filepath.Join("conf", "keys", "other.keytab"), ""}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("host %d keytab %q, want %q", i+1, got[i], want[i])
		}
	}
}
