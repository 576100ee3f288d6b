//go:build scale

package bench

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestScaleQuickPlanMeasuresEveryRun builds fleetrun and runs the quick
// plan (ten simulated hosts in a separate process): every run must be
// measured on each path and counted as the fleet saw it (a Command per
// step alone, a Command per host in step runs), and the report must
// render.
// The peer runs when Debian's python3-winrm is installed. It takes minutes
// (it runs the plan's workloads for real), so it runs in make test-scale.
func TestScaleQuickPlanMeasuresEveryRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds fleetrun and starts a simulated fleet")
	}
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "fleetrun")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/fleetrun").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	self := filepath.Join(dir, "fleetbench")
	if out, err := exec.Command("go", "build", "-o", self, "./cmd/fleetbench").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var log bytes.Buffer
	opts := Options{Fleetrun: bin, Self: self, Workloads: "workloads", Dir: dir, Env: os.Environ(), Log: &log,
		LookupEnv: func(string) (string, bool) { return "", false }}
	python := "/usr/bin/python3"
	withPeer := exec.Command(python, "-c", "import winrm").Run() == nil
	if withPeer {
		script, err := filepath.Abs("peer_pywinrm.py")
		if err != nil {
			t.Fatal(err)
		}
		conf, err := filepath.Abs("openssl-legacy.cnf")
		if err != nil {
			t.Fatal(err)
		}
		opts.Peer = PeerRun{Python: python, Script: script, Env: append(os.Environ(), "OPENSSL_CONF="+conf)}
	}
	plan := QuickPlan()
	results, err := Run(ctx, plan, opts)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	type run struct {
		name string
		path Path
	}
	var got []run
	for _, r := range results {
		got = append(got, run{r.Workload.Name, r.Path})
	}
	want := []run{{ThreeSteps.Name, PerStep}, {ThreeSteps.Name, StepRuns}, {Megabyte.Name, PerStep}, {TwentySteps.Name, PerStep}, {TwentySteps.Name, StepRuns}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(run{})); diff != "" {
		t.Fatalf("runs measured (-want +got):\n%s", diff)
	}
	for _, r := range results {
		w, m := r.Workload, r.Fleetrun
		hosts, steps := int64(w.Hosts), int64(w.Hosts*w.Steps)
		launches, runs, inRuns := steps, int64(0), int64(0)
		if r.Path == StepRuns {
			launches, runs, inRuns = hosts, hosts, steps
		}
		if m.Requests["Create"] != hosts || m.Requests["Command"] != launches || m.Requests["Receive"] < launches || m.Requests["Delete"] != hosts {
			t.Errorf("%s, %s: requests %v for %d hosts × %d steps", w.Name, r.Path, m.Requests, w.Hosts, w.Steps)
		}
		if m.Commands != launches || m.StepRuns != runs || m.RunSteps != inRuns {
			t.Errorf("%s, %s: %d commands, %d step runs, %d steps in runs; want %d, %d, %d", w.Name, r.Path, m.Commands, m.StepRuns, m.RunSteps, launches, runs, inRuns)
		}
		if m.Connections != hosts || m.Shells != hosts {
			t.Errorf("%s, %s: %d connections and %d shells for %d hosts, want one each", w.Name, r.Path, m.Connections, m.Shells, w.Hosts)
		}
		if m.Wall <= 0 || m.CPU() <= 0 || m.MaxRSS <= 0 || m.SimCPU < 0 {
			t.Errorf("%s, %s: usage %+v", w.Name, r.Path, m.Usage)
		}
		if r.Floor <= 0 || r.SimMinimum <= 0 || r.SimMinimum > r.Floor || r.Floor > r.PerStepFloor {
			t.Errorf("%s, %s: floor %s, simulator minimum %s, per-step floor %s", w.Name, r.Path, r.Floor, r.SimMinimum, r.PerStepFloor)
		}
		if wantPeer := withPeer && w.Name == ThreeSteps.Name && r.Path == StepRuns; (r.Peer != nil) != wantPeer {
			t.Errorf("%s, %s: peer measured %v, want %v", w.Name, r.Path, r.Peer != nil, wantPeer)
		}
		// The bare client beside the main workload's step runs: as many
		// hosts and requests per host (rounded), at the same forks.
		if wantBare := w.Name == ThreeSteps.Name && r.Path == StepRuns; (r.Bare != nil) != wantBare {
			t.Errorf("%s, %s: bare client measured %v, want %v", w.Name, r.Path, r.Bare != nil, wantBare)
		} else if r.Bare != nil {
			perHost := int((m.TotalRequests() + hosts/2) / hosts)
			if want := (BareConfig{URL: r.Bare.Config.URL, Hosts: w.Hosts, Forks: r.Forks, Requests: perHost, Legs: 2}); r.Bare.Config != want || r.Bare.CPU() <= 0 || r.Bare.ExitCode != 0 {
				t.Errorf("bare client %+v, want config %+v and some CPU", *r.Bare, want)
			}
		}
		if r.Peer != nil && (r.Peer.Requests["Create"] != steps || r.Peer.Requests["Command"] != steps) {
			t.Errorf("peer requests %v, want a shell per step", r.Peer.Requests)
		}
	}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, &Report{Machine: DescribeMachine(ctx, python), Started: time.Now(), Results: results, Command: "test"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## 10 hosts × 3 steps", "## 10 hosts × 1 step (1 MB of output)", "## 10 hosts × 20 steps", "| 5 | per step |", "| 5 | step runs |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}
