package sim

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/winrm"
)

// TestJavaClasspathExampleRunsOnTheQuickStartFleet runs the argv step of
// examples/java-classpath.yaml on the hosts of examples/sim-scenario.yaml
// it selects, the way fleetrun sends it (its launcher, over its own WinRM
// transport), and checks that every argument reaches the JVM as written.
func TestJavaClasspathExampleRunsOnTheQuickStartFleet(t *testing.T) {
	t.Parallel()
	sc, err := LoadScenario("../examples/sim-scenario.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pb, err := playbook.Load("../examples/java-classpath.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := startFleet(t, FleetOptions{Scenario: sc, Dir: dir})
	invPath := filepath.Join(dir, "fleet.yaml")
	if err := f.WriteInventory(invPath); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(invPath)
	if err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) (string, bool) { return "", false }
	var ran []string
	for i := range inv.Hosts {
		h := inv.Hosts[i]
		if !pb.Hosts.Match(h) {
			continue
		}
		ran = append(ran, h.Name)
		steps, err := pb.Expand(playbook.HostData{Name: h.Name, Address: h.Address, Tags: h.Tags, Vars: h.Vars}, nil)
		if err != nil {
			t.Fatal(err)
		}
		target, err := runner.TargetOf(t.Context(), h, noEnv)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		s, err := winrm.Open(ctx, target, winrm.Options{})
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", h.Name, err)
		}
		res, err := s.Run(ctx, runner.Command(steps[0]))
		_ = s.Close(ctx)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		got := []any{res.ExitCode, res.Stdout, res.Stderr}
		want := []any{uint32(0),
			"simulated JVM: com.example.Report ran with a 512 MB heap\r\n--title\r\nNightly report for " + h.Name + " (100% & <done>)\r\n",
			"Picked up JAVA_TOOL_OPTIONS: -Dfile.encoding=UTF-8\r\n"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: (-want +got):\n%s", h.Name, diff)
		}
	}
	// role=app: the six app servers and the two legacy 2008 R2 hosts.
	want := []string{"sim-0013", "sim-0014", "sim-0015", "sim-0016", "sim-0017", "sim-0018", "sim-0019", "sim-0020"}
	if diff := cmp.Diff(want, ran); diff != "" {
		t.Errorf("hosts the example selects (-want +got):\n%s", diff)
	}
}
