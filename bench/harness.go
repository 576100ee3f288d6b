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
	// JudgedFor, when set, names the targets of the fleet's own (the
	// cross-region and the 10,000-host fleets), for the report.
	JudgedFor string
	Runs      []RunPlan
}

// RunPlan is one workload at one forks setting.
type RunPlan struct {
	Workload Workload
	Forks    int
	// Paths are the ways fleetrun sends the steps, each measured on the
	// same fleet in this order; none means the default, step runs.
	Paths []Path
	// Peer also runs the pywinrm peer at the same forks (after the
	// default path, step runs).
	Peer bool
	// Repeat measures fleetrun this many times on each path and keeps the
	// fastest run (0 means once): the judged runs are repeated so that a
	// burst of other work on the machine does not decide them.
	Repeat int
	// Bare also runs the bare client (see bare.go) with the step-run
	// path's requests per host, at the same forks and latency, as the
	// yardstick for its controller CPU.
	Bare bool
}

// Path is how fleetrun sends a host's steps (design.md, "Step runs").
type Path int

const (
	// StepRuns is the default: a host's consecutive argv, cmd and
	// powershell steps go in one launch.
	StepRuns Path = iota
	// PerStep sends every step alone (apply --no-step-runs).
	PerStep
)

func (p Path) String() string {
	if p == PerStep {
		return "per step"
	}
	return "step runs"
}

// Args are the apply flags choosing the path.
func (p Path) Args() []string {
	if p == PerStep {
		return []string{"--no-step-runs"}
	}
	return nil
}

// BothPaths measures a workload every step alone first, then in step
// runs.
var BothPaths = []Path{PerStep, StepRuns}

// paths are the plan's paths, the default when it names none.
func (rp RunPlan) paths() []Path {
	if len(rp.Paths) == 0 {
		return []Path{StepRuns}
	}
	return rp.Paths
}

// DefaultPlan is what `make bench` measures, in about 15 minutes on two
// cores: every workload at forks 50, 200 and 1,000 over NTLM (sealed HTTP)
// at 50 ms latency and 100 ms process start, the small-output workloads
// both ways (every step alone, then in step runs); Basic over HTTPS the
// same but the megabyte workload at forks 200 and 1,000 and the twenty
// steps at forks 200 only; the main workload at 10 ms and 20 ms
// (CPU-bound, reported only) at forks 200 and 1,000; the main workload on
// a cross-region fleet (150 ms latency) at forks 200 both ways; and the
// main playbook on 10,000 hosts at forks 2,000, in step runs and then
// every step alone (with the bare client beside it), and at forks 10,000
// (every host in flight at once) in step runs. The pywinrm peer runs on
// the main workload at forks 50 and 200 on the 50 ms fleets.
func DefaultPlan() Plan {
	small := func(w Workload, forks []int, peer bool) []RunPlan {
		var runs []RunPlan
		for _, f := range forks {
			rp := RunPlan{Workload: w, Forks: f, Paths: BothPaths, Peer: peer && w.Name == ThreeSteps.Name && f <= 200}
			if f == judgedForks {
				rp.Repeat = 3
			}
			runs = append(runs, rp)
		}
		return runs
	}
	megabyte := func(forks ...int) []RunPlan {
		var runs []RunPlan
		for _, f := range forks {
			// One step is always sent alone.
			runs = append(runs, RunPlan{Workload: Megabyte, Forks: f, Paths: []Path{PerStep}})
		}
		return runs
	}
	all := []int{50, 200, 1000}
	ntlm := append(append(small(ThreeSteps, all, true), megabyte(all...)...), small(TwentySteps, all, false)...)
	https := append(append(small(ThreeSteps, all, true), megabyte(200, 1000)...), small(TwentySteps, []int{200}, false)...)
	fast := []RunPlan{{Workload: ThreeSteps, Forks: 200, Paths: BothPaths}, {Workload: ThreeSteps, Forks: 1000, Paths: BothPaths}}
	return Plan{Fleets: []FleetPlan{
		{Name: "NTLM over HTTP (sealed), latency 50 ms, process start 100 ms", Judged: true,
			Spec: FleetSpec{Hosts: 1000, Latency: 50 * time.Millisecond, ProcessStart: 100 * time.Millisecond}, Runs: ntlm},
		{Name: "Basic over HTTPS, latency 50 ms, process start 100 ms", Judged: true,
			Spec: FleetSpec{Hosts: 1000, Latency: 50 * time.Millisecond, ProcessStart: 100 * time.Millisecond, HTTPS: true}, Runs: https},
		{Name: "NTLM over HTTP (sealed), latency 10 ms, process start 20 ms",
			Spec: FleetSpec{Hosts: 1000, Latency: 10 * time.Millisecond, ProcessStart: 20 * time.Millisecond}, Runs: fast},
		{Name: "NTLM over HTTP (sealed), latency 150 ms (cross-region), process start 100 ms", JudgedFor: "step runs against the per-step floor",
			Spec: FleetSpec{Hosts: 1000, Latency: crossRegionLatency, ProcessStart: 100 * time.Millisecond},
			Runs: []RunPlan{{Workload: ThreeSteps, Forks: judgedForks, Paths: BothPaths, Repeat: 3}}},
		{Name: "NTLM over HTTP (sealed), 10,000 hosts, latency 50 ms, process start 100 ms", JudgedFor: "every host ok, controller CPU and memory",
			Spec: FleetSpec{Hosts: 10000, Latency: 50 * time.Millisecond, ProcessStart: 100 * time.Millisecond, ConnectTimeout: time.Minute},
			Runs: []RunPlan{{Workload: TenThousand, Forks: tenThousandForks, Paths: []Path{StepRuns, PerStep}, Bare: true},
				{Workload: TenThousand, Forks: TenThousand.Hosts, Paths: []Path{StepRuns}}}},
	}}
}

// QuickPlan checks the harness rather than fleetrun: ten hosts at 5 ms
// latency and 10 ms process start, every workload once, the small-output
// ones both ways, the peer and the bare client on the main workload.
// Nothing in it is judged.
func QuickPlan() Plan {
	small := func(w Workload) Workload {
		w.Hosts = 10
		return w
	}
	return Plan{Fleets: []FleetPlan{{
		Name: "quick check: NTLM over HTTP (sealed), latency 5 ms, process start 10 ms",
		Spec: FleetSpec{Hosts: 10, Latency: 5 * time.Millisecond, ProcessStart: 10 * time.Millisecond},
		Runs: []RunPlan{
			{Workload: small(ThreeSteps), Forks: 5, Paths: BothPaths, Peer: true, Bare: true},
			{Workload: small(Megabyte), Forks: 10, Paths: []Path{PerStep}},
			{Workload: small(TwentySteps), Forks: 10, Paths: BothPaths},
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
	// Self is fleetbench's own binary, which runs the bare client; empty
	// skips the bare client.
	Self string
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
	// Path is how fleetrun sent the steps.
	Path Path

	Fleetrun Measured
	// Runs is how many times fleetrun was measured; Fleetrun is the
	// fastest.
	Runs int
	// Peer is set when the pywinrm peer ran too.
	Peer *Measured
	// Bare is set when the bare client ran too (step runs only).
	Bare *BareRun

	// Floor and SimMinimum are the protocol floor and the simulator's own
	// minimum for the run's path (see Floor, StepRunFloor and their
	// simulator minimums); PerStepFloor is the per-step floor whatever
	// the path, which the step-run targets are judged against.
	Floor, SimMinimum, PerStepFloor time.Duration
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
	// LeftOpen is how many shells were open on the fleet once the client
	// had ended (every run starts with none).
	LeftOpen int64
	// Commands is how many WinRS Commands the fleet started; StepRuns how
	// many of them were step runs and RunSteps the steps those ran.
	Commands, StepRuns, RunSteps int64
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
	return perRequest(m.CPU(), m.TotalRequests())
}

// perRequest is d over n requests, 0 without requests.
func perRequest(d time.Duration, n int64) time.Duration {
	if n <= 0 {
		return 0
	}
	return d / time.Duration(n)
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
			rs, err := runOne(ctx, sp, fp, rp, filepath.Join(dir, fmt.Sprintf("run-%02d", j)), opts)
			if err != nil {
				return fmt.Errorf("%s at forks %d: %w", rp.Workload.Name, rp.Forks, err)
			}
			results = append(results, rs...)
		}
		return nil
	}()
	stopErr := sp.Stop()
	return results, errors.Join(runErr, stopErr)
}

func runOne(ctx context.Context, sp *SimProcess, fp *FleetPlan, rp RunPlan, base string, opts Options) ([]*Result, error) {
	w := rp.Workload
	pbFile := w.Playbook(opts.Workloads)
	var results []*Result
	var peerOn *Result
	for _, path := range rp.paths() {
		r := NewResult(fp, rp, path)
		for i := range max(rp.Repeat, 1) {
			fmt.Fprintf(opts.Log, "run: %s, %d hosts, forks %d, %s: fleetrun apply (%d of %d)\n", w.Name, w.Hosts, rp.Forks, path, i+1, max(rp.Repeat, 1))
			waitQuiet(ctx, opts)
			m, err := observe(ctx, sp, w, path, func() (Usage, error) {
				return runApply(ctx, opts, pbFile, sp.Inventory, rp.Forks, path, fmt.Sprintf("%s-%s-%d", base, pathFile(path), i))
			})
			if err != nil {
				return nil, fmt.Errorf("fleetrun (%s): %w", path, err)
			}
			fmt.Fprintf(opts.Log, "     wall %s (floor %s), cpu %s, rss %d MB, %d requests, other load %.0f%%\n",
				m.Wall.Round(time.Millisecond), r.Floor, m.CPU().Round(time.Millisecond), m.MaxRSS>>20, m.TotalRequests(), 100*m.Background)
			if r.Runs == 0 || m.Wall < r.Fleetrun.Wall {
				r.Fleetrun = m
			}
			r.Runs++
		}
		results = append(results, r)
		if peerOn == nil || path == StepRuns {
			peerOn = r
		}
	}
	if rp.Bare && opts.Self != "" {
		// The bare client is a yardstick, not fleetrun: its failure leaves
		// the run without one rather than ending the benchmark.
		if err := runBare(ctx, fp, rp, results, opts); err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			fmt.Fprintf(opts.Log, "     %v; the report goes without it\n", err)
		}
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
		// The peer sends every step alone, whatever fleetrun did.
		pm, err := observe(ctx, sp, w, PerStep, func() (Usage, error) {
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
		peerOn.Peer = &pm
		fmt.Fprintf(opts.Log, "     wall %s, cpu %s, rss %d MB, %d requests, other load %.0f%%\n",
			pm.Wall.Round(time.Millisecond), pm.CPU().Round(time.Millisecond), pm.MaxRSS>>20, pm.TotalRequests(), 100*pm.Background)
	}
	return results, nil
}

// runBare measures the bare client beside the step-run result among
// results: as many hosts, forks and requests per host (rounded), NTLM's
// two handshake legs per host on an HTTP fleet, the fleet's latency.
func runBare(ctx context.Context, fp *FleetPlan, rp RunPlan, results []*Result, opts Options) error {
	for _, r := range results {
		if r.Path != StepRuns {
			continue
		}
		hosts := rp.Workload.Hosts
		perHost := int((r.Fleetrun.TotalRequests() + int64(hosts)/2) / int64(hosts))
		c := BareConfig{Hosts: hosts, Forks: rp.Forks, Requests: max(perHost, 1)}
		if !fp.Spec.HTTPS {
			c.Legs = 2 // NTLM's NEGOTIATE and AUTHENTICATE on each host's connection
		}
		fmt.Fprintf(opts.Log, "run: bare client, %d hosts × (%d handshake legs + %d requests), forks %d\n", c.Hosts, c.Legs, c.Requests, c.Forks)
		waitQuiet(ctx, opts)
		b, err := measureBare(ctx, opts.Self, c, fp.Spec.Latency, opts.Env)
		if err != nil {
			return fmt.Errorf("bare client: %w", err)
		}
		fmt.Fprintf(opts.Log, "     wall %s, cpu %s (%s per request, %s of it system), rss %d MB\n",
			b.Wall.Round(time.Millisecond), b.CPU().Round(time.Millisecond), fmtDur(b.CPUPerRequest()), fmtDur(b.SystemPerRequest()), b.MaxRSS>>20)
		r.Bare = &b
	}
	return nil
}

// NewResult is an empty result of rp's workload on fp sent along path,
// with its floors worked out.
func NewResult(fp *FleetPlan, rp RunPlan, path Path) *Result {
	w, l, p := rp.Workload, fp.Spec.Latency, fp.Spec.ProcessStart
	r := &Result{Fleet: fp, Workload: w, Forks: rp.Forks, Path: path,
		Floor:        Floor(w.Hosts, rp.Forks, w.Steps, l, p),
		SimMinimum:   SimMinimum(w.Hosts, rp.Forks, w.Steps, l, p),
		PerStepFloor: Floor(w.Hosts, rp.Forks, w.Steps, l, p)}
	if path == StepRuns {
		r.Floor = StepRunFloor(w.Hosts, rp.Forks, w.Grouping(), l, p)
		r.SimMinimum = StepRunSimMinimum(w.Hosts, rp.Forks, w.Grouping(), l, p)
	}
	return r
}

// pathFile names a path in scratch file names.
func pathFile(p Path) string {
	if p == PerStep {
		return "per-step"
	}
	return "step-runs"
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
// checks that every host of the workload ran every step, along path.
func observe(ctx context.Context, sp *SimProcess, w Workload, path Path, client func() (Usage, error)) (Measured, error) {
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
	m.Requests, m.Connections, m.Shells = diffStats(&before.FleetStats, &after.FleetStats)
	m.Commands = after.Totals.Commands - before.Totals.Commands
	m.StepRuns, m.RunSteps = after.StepRuns-before.StepRuns, after.RunSteps-before.RunSteps
	m.LeftOpen = after.OpenShells
	if err := CheckSteps(w, path, m); err != nil {
		return m, err
	}
	return m, CheckShellsClosed(m)
}

// CheckShellsClosed checks that the client deleted every shell it opened:
// a shell left open holds a host's quota until its idle timeout, and a
// client that leaves one has a bug the wall time would not show.
func CheckShellsClosed(m Measured) error {
	if m.LeftOpen != 0 {
		return fmt.Errorf("%d shells were still open on the fleet when the client ended (it opened %d); every shell must be deleted", m.LeftOpen, m.Shells)
	}
	return nil
}

// CheckSteps checks that the fleet executed exactly hosts × steps steps
// (the bench runs no retries): every Command is a step, except that a
// step run's Command starts the steps it counts in run_steps instead of
// one. On the step-run path every host's steps must have gone in the runs
// the workload's grouping says; on the per-step path in none.
func CheckSteps(w Workload, path Path, m Measured) error {
	executed := m.Commands - m.StepRuns + m.RunSteps
	if want := int64(w.Hosts * w.Steps); executed != want {
		return fmt.Errorf("the fleet executed %d steps (%d commands, %d step runs holding %d steps), want %d (%d hosts × %d steps)",
			executed, m.Commands, m.StepRuns, m.RunSteps, want, w.Hosts, w.Steps)
	}
	want := int64(0)
	if path == StepRuns {
		want = int64(w.Hosts * w.Grouping().Runs)
	}
	if m.StepRuns != want {
		return fmt.Errorf("the fleet counted %d step runs on the %s path, want %d (%d hosts)", m.StepRuns, path, want, w.Hosts)
	}
	return nil
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
func runApply(ctx context.Context, opts Options, pbFile, inv string, forks int, path Path, base string) (Usage, error) {
	args := append([]string{pbFile, "-i", inv, "--forks", strconv.Itoa(forks), "--no-progress", "--journal", base + ".journal"}, path.Args()...)
	return measureApply(ctx, opts, base, args...)
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
