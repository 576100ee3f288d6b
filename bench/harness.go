package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/sim"
)

// Plan is what a benchmark run measures: fleets, and on each fleet the
// workloads at several forks.
type Plan struct {
	Fleets []FleetPlan
}

// FleetPlan is one simulated fleet (one `fleetrun sim` process) and the
// runs made against it.
type FleetPlan struct {
	// Name labels the fleet in the report ("NTLM over HTTP, 50 ms").
	Name string
	Spec FleetSpec
	// Judged says the wall/floor target applies on this fleet (design.md:
	// at 50 ms latency and 100 ms process start).
	Judged bool
	Runs   []RunPlan
}

// RunPlan is one workload at one forks setting.
type RunPlan struct {
	Workload Workload
	Forks    int
	// Peer also runs the pywinrm peer at the same forks.
	Peer bool
	// Repeat measures fleetrun this many times and keeps the fastest run
	// (0 means once): the judged runs are repeated so that a burst of
	// other work on the machine does not decide them.
	Repeat int
}

// DefaultPlan is what `make bench` measures: every workload at forks 50,
// 200 and 1,000 over NTLM (sealed HTTP) and Basic over HTTPS at 50 ms
// latency and 100 ms process start, the main workload again at 10 ms and
// 20 ms (CPU-bound, reported only), and the pywinrm peer on the main
// workload at forks 50 and 200 on every fleet.
func DefaultPlan() Plan {
	all := func(peer bool) []RunPlan {
		var runs []RunPlan
		for _, w := range []Workload{ThreeSteps, Megabyte, TwentySteps} {
			for _, f := range []int{50, 200, 1000} {
				rp := RunPlan{Workload: w, Forks: f, Peer: peer && w.Name == ThreeSteps.Name && f <= 200}
				if w.Name == ThreeSteps.Name && f == judgedForks {
					rp.Repeat = 3
				}
				runs = append(runs, rp)
			}
		}
		return runs
	}
	main := func() []RunPlan {
		var runs []RunPlan
		for _, f := range []int{50, 200, 1000} {
			runs = append(runs, RunPlan{Workload: ThreeSteps, Forks: f, Peer: f <= 200})
		}
		return runs
	}
	return Plan{Fleets: []FleetPlan{
		{Name: "NTLM over HTTP (sealed), latency 50 ms, process start 100 ms", Judged: true,
			Spec: FleetSpec{Hosts: 1000, Latency: 50 * time.Millisecond, ProcessStart: 100 * time.Millisecond}, Runs: all(true)},
		{Name: "Basic over HTTPS, latency 50 ms, process start 100 ms", Judged: true,
			Spec: FleetSpec{Hosts: 1000, Latency: 50 * time.Millisecond, ProcessStart: 100 * time.Millisecond, HTTPS: true}, Runs: all(true)},
		{Name: "NTLM over HTTP (sealed), latency 10 ms, process start 20 ms",
			Spec: FleetSpec{Hosts: 1000, Latency: 10 * time.Millisecond, ProcessStart: 20 * time.Millisecond}, Runs: main()},
	}}
}

// QuickPlan checks the harness rather than fleetrun: ten hosts at 5 ms
// latency and 10 ms process start, every workload once, the peer on the
// main workload. Nothing in it is judged.
func QuickPlan() Plan {
	small := func(w Workload) Workload {
		w.Hosts = 10
		return w
	}
	return Plan{Fleets: []FleetPlan{{
		Name: "quick check: NTLM over HTTP (sealed), latency 5 ms, process start 10 ms",
		Spec: FleetSpec{Hosts: 10, Latency: 5 * time.Millisecond, ProcessStart: 10 * time.Millisecond},
		Runs: []RunPlan{
			{Workload: small(ThreeSteps), Forks: 5, Peer: true},
			{Workload: small(Megabyte), Forks: 10},
			{Workload: small(TwentySteps), Forks: 10},
		},
	}}}
}

// Options say how to run a plan.
type Options struct {
	// Fleetrun is the fleetrun binary under test (it also serves the sim).
	Fleetrun string
	// Workloads is the folder of the workload playbooks.
	Workloads string
	// Peer runs the pywinrm peer; a zero Python skips the peer.
	Peer PeerRun
	// Dir is a scratch folder (inventories, journals, logs).
	Dir string
	// Env is the environment of the fleetrun children.
	Env []string
	// LookupEnv resolves password_env references (simulated fleets use
	// password files, so this rarely matters).
	LookupEnv func(string) (string, bool)
	// Log receives progress lines.
	Log io.Writer
	// Quiet, when set, waits before each measured run for other work on
	// the machine to die down.
	Quiet *Quiet
}

// Result is one measured run.
type Result struct {
	Fleet    *FleetPlan
	Workload Workload
	Forks    int

	Fleetrun Measured
	// Runs is how many times fleetrun was measured; Fleetrun is the
	// fastest.
	Runs int
	// Peer is set when the pywinrm peer ran too.
	Peer *Measured

	// Floor and SimMinimum are the protocol floor and the simulator's own
	// minimum for the run (see Floor and SimMinimum).
	Floor, SimMinimum time.Duration
}

// Measured is what one client used and caused on the fleet.
type Measured struct {
	Usage
	// Requests counts the WS-Man requests the fleet received, by action.
	Requests map[string]int64
	// Connections is how many TCP connections the fleet accepted.
	Connections int64
	// Shells is how many shells the fleet opened.
	Shells int64
	// SimCPU is the CPU time the fleet's process spent meanwhile.
	SimCPU time.Duration
	// Background is the share of the machine's CPU time other processes
	// used meanwhile (busy time not spent by the client or the fleet), 0
	// to 1; -1 when it could not be read.
	Background float64
}

// TotalRequests is the number of WS-Man requests of every action.
func (m Measured) TotalRequests() int64 {
	var n int64
	for _, v := range m.Requests {
		n += v
	}
	return n
}

// CPUPerRequest is the client's CPU time per WS-Man request.
func (m Measured) CPUPerRequest() time.Duration {
	n := m.TotalRequests()
	if n == 0 {
		return 0
	}
	return m.CPU() / time.Duration(n)
}

// Ratio is the wall time over the floor.
func (r Result) Ratio() float64 {
	if r.Floor <= 0 {
		return 0
	}
	return float64(r.Fleetrun.Wall) / float64(r.Floor)
}

// Run measures every run of the plan and returns the results in plan order.
// A run whose client fails (a host not ok, a sim that stops answering)
// ends the benchmark with an error: numbers from a broken run would lie.
func Run(ctx context.Context, plan Plan, opts Options) ([]*Result, error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	scenario := filepath.Join(opts.Dir, "scenario.yaml")
	if err := WriteScenario(scenario); err != nil {
		return nil, err
	}
	var results []*Result
	for i := range plan.Fleets {
		fp := &plan.Fleets[i]
		rs, err := runFleet(ctx, fp, scenario, i, opts)
		results = append(results, rs...)
		if err != nil {
			return results, fmt.Errorf("%s: %w", fp.Name, err)
		}
	}
	return results, nil
}

func runFleet(ctx context.Context, fp *FleetPlan, scenario string, n int, opts Options) ([]*Result, error) {
	dir := filepath.Join(opts.Dir, "fleet-"+strconv.Itoa(n))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "sim.log"))
	if err != nil {
		return nil, err
	}
	defer func() { _ = logFile.Close() }() // a log for people; losing its tail changes no number
	spec := fp.Spec
	spec.Scenario = scenario
	fmt.Fprintf(opts.Log, "fleet: %s: starting %d simulated hosts\n", fp.Name, spec.Hosts)
	startCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	sp, err := StartSim(startCtx, opts.Fleetrun, dir, spec, logFile)
	cancel()
	if err != nil {
		return nil, err
	}
	var results []*Result
	runErr := func() error {
		for j, rp := range fp.Runs {
			r, err := runOne(ctx, sp, fp, rp, filepath.Join(dir, fmt.Sprintf("run-%02d", j)), opts)
			if err != nil {
				return fmt.Errorf("%s at forks %d: %w", rp.Workload.Name, rp.Forks, err)
			}
			results = append(results, r)
		}
		return nil
	}()
	stopErr := sp.Stop()
	return results, errors.Join(runErr, stopErr)
}

func runOne(ctx context.Context, sp *SimProcess, fp *FleetPlan, rp RunPlan, base string, opts Options) (*Result, error) {
	w := rp.Workload
	r := &Result{Fleet: fp, Workload: w, Forks: rp.Forks,
		Floor:      Floor(w.Hosts, rp.Forks, w.Steps, fp.Spec.Latency, fp.Spec.ProcessStart),
		SimMinimum: SimMinimum(w.Hosts, rp.Forks, w.Steps, fp.Spec.Latency, fp.Spec.ProcessStart)}
	pbFile := w.Playbook(opts.Workloads)
	for i := range max(rp.Repeat, 1) {
		fmt.Fprintf(opts.Log, "run: %s, forks %d: fleetrun apply (%d of %d)\n", w.Name, rp.Forks, i+1, max(rp.Repeat, 1))
		waitQuiet(ctx, opts)
		m, err := observe(ctx, sp, w, func() (Usage, error) {
			return runApply(ctx, opts, pbFile, sp.Inventory, rp.Forks, fmt.Sprintf("%s-%d", base, i))
		})
		if err != nil {
			return nil, fmt.Errorf("fleetrun: %w", err)
		}
		fmt.Fprintf(opts.Log, "     wall %s (floor %s), cpu %s, rss %d MB, %d requests, other load %.0f%%\n",
			m.Wall.Round(time.Millisecond), r.Floor, m.CPU().Round(time.Millisecond), m.MaxRSS>>20, m.TotalRequests(), 100*m.Background)
		if r.Runs == 0 || m.Wall < r.Fleetrun.Wall {
			r.Fleetrun = m
		}
		r.Runs++
	}
	if rp.Peer && opts.Peer.Python != "" {
		pb, err := playbook.Load(pbFile)
		if err != nil {
			return nil, err
		}
		steps, err := PeerSteps(pb, 1)
		if err != nil {
			return nil, err
		}
		cfg, err := PeerTargets(ctx, sp.Inventory, opts.LookupEnv)
		if err != nil {
			return nil, err
		}
		cfg.Forks, cfg.Steps, cfg.URLs = rp.Forks, steps, cfg.URLs[:w.Hosts]
		fmt.Fprintf(opts.Log, "run: %s, forks %d: pywinrm peer\n", w.Name, rp.Forks)
		waitQuiet(ctx, opts)
		pr := opts.Peer
		pr.Dir = filepath.Dir(base)
		var rep PeerReport
		pm, err := observe(ctx, sp, w, func() (Usage, error) {
			var u Usage
			var err error
			rep, u, err = RunPeer(ctx, pr, cfg, filepath.Base(base))
			if err == nil && rep.Failed > 0 {
				err = fmt.Errorf("%d of %d hosts failed, first: %v", rep.Failed, rep.Hosts, rep.Errors)
			}
			return u, err
		})
		if err != nil {
			return nil, fmt.Errorf("pywinrm peer: %w", err)
		}
		r.Peer = &pm
		fmt.Fprintf(opts.Log, "     wall %s, cpu %s, rss %d MB, %d requests, other load %.0f%%\n",
			pm.Wall.Round(time.Millisecond), pm.CPU().Round(time.Millisecond), pm.MaxRSS>>20, pm.TotalRequests(), 100*pm.Background)
	}
	return r, nil
}

// waitQuiet waits for the machine to quieten down, as opts.Quiet says.
func waitQuiet(ctx context.Context, opts Options) {
	if opts.Quiet == nil {
		return
	}
	if share := opts.Quiet.Wait(ctx); share >= opts.Quiet.Limit {
		fmt.Fprintf(opts.Log, "     the machine is still %.0f%% busy with other work; measuring anyway\n", 100*share)
	}
}

// observe runs a client and records what the fleet saw meanwhile; it
// checks that every host of the workload opened a shell and ran every step.
func observe(ctx context.Context, sp *SimProcess, w Workload, client func() (Usage, error)) (Measured, error) {
	before, err := sp.Stats(ctx)
	if err != nil {
		return Measured{}, err
	}
	cpuBefore, err := sp.CPU()
	if err != nil {
		return Measured{}, err
	}
	machineBefore, machineErr := ReadCPUTimes()
	u, err := client()
	if err != nil {
		return Measured{}, err
	}
	machineAfter, err := ReadCPUTimes()
	if machineErr == nil {
		machineErr = err
	}
	cpuAfter, err := sp.CPU()
	if err != nil {
		return Measured{}, err
	}
	after, err := sp.Stats(ctx)
	if err != nil {
		return Measured{}, err
	}
	m := Measured{Usage: u, SimCPU: cpuAfter - cpuBefore, Background: -1}
	if machineErr == nil {
		m.Background = background(machineAfter.Sub(machineBefore), u.CPU()+m.SimCPU)
	}
	m.Requests, m.Connections, m.Shells = diffStats(before, after)
	commands := after.Totals.Commands - before.Totals.Commands
	if want := int64(w.Hosts * w.Steps); commands != want {
		return m, fmt.Errorf("the fleet ran %d commands, want %d (%d hosts × %d steps)", commands, want, w.Hosts, w.Steps)
	}
	return m, nil
}

// background is the share of the machine's CPU time that went to other
// processes while a client ran: busy time minus what the client and the
// fleet used, over all the CPU time there was.
func background(machine CPUTimes, ours time.Duration) float64 {
	total := ticksDuration(machine.Total)
	if total <= 0 {
		return 0
	}
	return max(0, float64(machine.BusyTime()-ours)/float64(total))
}

// diffStats is what happened on the fleet between two snapshots.
func diffStats(before, after *sim.FleetStats) (requests map[string]int64, connections, shells int64) {
	requests = maps.Clone(after.Totals.Requests)
	if requests == nil {
		requests = map[string]int64{}
	}
	for k, v := range before.Totals.Requests {
		requests[k] -= v
		if requests[k] == 0 {
			delete(requests, k)
		}
	}
	return requests, after.Totals.Connections - before.Totals.Connections,
		after.Totals.ShellsOpened - before.Totals.ShellsOpened
}

// runApply runs `fleetrun apply` on the fleet and measures it; any exit
// status but 0 (every host ok) is an error.
func runApply(ctx context.Context, opts Options, pbFile, inv string, forks int, base string) (Usage, error) {
	return measureApply(ctx, opts, base, pbFile, "-i", inv, "--forks", strconv.Itoa(forks), "--no-progress", "--journal", base+".journal")
}

// measureApply runs `fleetrun apply args...`, its stdout and stderr kept in
// base.stdout and base.stderr, and measures it; any exit status but 0 is
// an error.
func measureApply(ctx context.Context, opts Options, base string, args ...string) (Usage, error) {
	stdout, err := os.Create(base + ".stdout")
	if err != nil {
		return Usage{}, err
	}
	defer func() { _ = stdout.Close() }() // the child's output, kept for people only
	stderr, err := os.Create(base + ".stderr")
	if err != nil {
		return Usage{}, err
	}
	defer func() { _ = stderr.Close() }() // likewise
	cmd := exec.Command(opts.Fleetrun, append([]string{"apply"}, args...)...)
	cmd.Env = opts.Env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	u, err := Measure(ctx, cmd)
	if err != nil {
		return u, err
	}
	if u.ExitCode != 0 {
		return u, fmt.Errorf("fleetrun apply exited %d (see %s.stderr): %s", u.ExitCode, base, tail(base+".stderr", 1500))
	}
	return u, nil
}

// tail is the end of a file, for error messages.
func tail(path string, n int64) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if int64(len(data)) > n {
		data = data[int64(len(data))-n:]
	}
	return string(data)
}
