package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/winrm"
)

// applyOutputCap is fleetrun apply's default --output-cap: what reports
// keep of each stream.
const applyOutputCap = 64 << 10

// ControllerConfig is one in-process `fleetrun apply --no-progress` for
// profiling: the same runner, WinRM dialer, journal and plain console
// lines, without the command line around them.
type ControllerConfig struct {
	Playbook, Inventory string
	Forks               int
	Journal             string
	Console             io.Writer
	LookupEnv           func(string) (string, bool)
	// CPUProfile and HeapProfile, when set, receive pprof profiles of the
	// run (the heap profile's alloc_space covers the whole run).
	CPUProfile, HeapProfile string
	// PeakProfile, when set, receives a heap profile written whenever the
	// heap in use reached a new high (by 5 %), so it ends as the profile
	// near the run's peak.
	PeakProfile string
}

// RunController runs the playbook on the inventory's selected hosts as
// `fleetrun apply` does and fails unless every host is ok.
func RunController(ctx context.Context, c ControllerConfig) (err error) {
	pb, err := playbook.Load(c.Playbook)
	if err != nil {
		return err
	}
	inv, err := inventory.Load(c.Inventory)
	if err != nil {
		return err
	}
	hosts := inv.Select(pb.Hosts)
	journal, err := runner.OpenJournal(c.Journal, pb, time.Now())
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, journal.Close()) }()
	console := report.NewConsole(c.Console, report.ConsoleOptions{Simulated: true})
	defer func() { err = errors.Join(err, console.Close()) }()
	if c.CPUProfile != "" {
		var f *os.File
		if f, err = os.Create(c.CPUProfile); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, f.Close()) }() // after StopCPUProfile below
		if err = pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	target := func(ctx context.Context, h *inventory.Host) (transport.Target, error) {
		pw, err := h.Password(ctx, c.LookupEnv)
		if err != nil {
			return transport.Target{}, err
		}
		return transport.Target{Name: h.Name, Address: h.Address, Port: h.Port, HTTPS: h.HTTPS, Auth: h.Auth,
			User: h.User, Password: pw, CAFile: h.CAFile, OutputEncoding: h.OutputEncoding, ConnectTimeout: h.ConnectTimeout}, nil
	}
	if c.PeakProfile != "" {
		stop := watchPeak(c.PeakProfile)
		defer func() { err = errors.Join(err, stop()) }()
	}
	res, err := runner.Run(ctx, pb, hosts, runner.Options{Forks: c.Forks, Dialer: winrm.NewDialer(winrm.Options{OutputCap: applyOutputCap}), Target: target,
		Sinks: []runner.Sink{journal, console}})
	if err != nil {
		return err
	}
	if c.HeapProfile != "" {
		runtime.GC()
		f, err := os.Create(c.HeapProfile)
		if err != nil {
			return err
		}
		werr := pprof.Lookup("allocs").WriteTo(f, 0)
		if err := errors.Join(werr, f.Close()); err != nil {
			return err
		}
	}
	if res.Status != runner.StatusOK {
		return fmt.Errorf("run %s: %d of %d hosts not ok", res.Status, len(hosts)-countOK(res), len(hosts))
	}
	return nil
}

// watchPeak samples the heap in use every 20 ms and writes a heap profile
// to path at every new high; stop ends the sampling and reports a write
// error.
func watchPeak(path string) (stop func() error) {
	done := make(chan struct{})
	finished := make(chan error, 1)
	go func() {
		var high uint64
		var werr error
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				finished <- werr
				return
			case <-tick.C:
			}
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse <= high+high/20 {
				continue
			}
			high = m.HeapInuse
			if err := writeHeapProfile(path); err != nil && werr == nil {
				werr = err
			}
		}
	}()
	return func() error {
		close(done)
		return <-finished
	}
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		_ = f.Close() // the write error is the one to report
		return err
	}
	return f.Close()
}

func countOK(res *runner.Result) int {
	n := 0
	for _, h := range res.Hosts {
		if h.Status == runner.StatusOK {
			n++
		}
	}
	return n
}

// ProfileCommand is how Profile starts the in-process controller: a
// program (fleetbench itself) and the arguments before the controller's
// own flags.
type ProfileCommand struct {
	Program string
	Args    []string
}

// ControllerArgs are the flags fleetbench's controller mode takes.
func ControllerArgs(c ControllerConfig) []string {
	return []string{"-controller", c.Playbook, "-inventory", c.Inventory, "-forks", strconv.Itoa(c.Forks),
		"-journal", c.Journal, "-cpuprofile", c.CPUProfile, "-heapprofile", c.HeapProfile, "-peakprofile", c.PeakProfile}
}

// Profile profiles the in-process controller (as a child process, so the
// fleet still runs apart) twice on the main workload: its CPU and
// allocations at forks 200 over NTLM, and its heap in use at the peak with
// 1,000 hosts in flight over HTTPS. Both fleets have latency 50 ms and
// process start 100 ms. `go tool pprof` summarises the profiles.
func Profile(ctx context.Context, opts Options, pc ProfileCommand) (*ProfileSummary, error) {
	spec := FleetSpec{Hosts: ThreeSteps.Hosts, Latency: 50 * time.Millisecond, ProcessStart: 100 * time.Millisecond}
	cpuRun, err := profileRun(ctx, opts, pc, "profile-cpu", spec, judgedForks, func(c *ControllerConfig, dir string) {
		c.CPUProfile, c.HeapProfile = filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "allocs.pprof")
	})
	if err != nil {
		return nil, err
	}
	spec.HTTPS = true
	peakRun, err := profileRun(ctx, opts, pc, "profile-peak", spec, ThreeSteps.Hosts, func(c *ControllerConfig, dir string) {
		c.PeakProfile = filepath.Join(dir, "peak.pprof")
	})
	if err != nil {
		return nil, err
	}
	top := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof"}, args...)...).Output()
		if err != nil {
			return "", fmt.Errorf("go tool pprof: %w", err)
		}
		return pprofBody(string(out)), nil
	}
	p := &ProfileSummary{
		Scope:    fmt.Sprintf("%s, profiled in bench's in-process replica of `fleetrun apply --no-progress` (same runner, WinRM dialer, journal and console; fleetrun has no profiling flag), against fleets with latency 50 ms and process start 100 ms", ThreeSteps.Title()),
		CPUScope: fmt.Sprintf("forks %d over NTLM: wall %s, CPU %s, peak RSS %s", judgedForks, fmtDur(cpuRun.Wall), fmtDur(cpuRun.CPU()), fmtBytes(cpuRun.MaxRSS)),
		PeakScope: fmt.Sprintf("forks %d (every host in flight) over Basic/HTTPS: wall %s, CPU %s, peak RSS %s; the heap profile written at the largest heap in use the run reached",
			ThreeSteps.Hosts, fmtDur(peakRun.Wall), fmtDur(peakRun.CPU()), fmtBytes(peakRun.MaxRSS)),
	}
	dir := filepath.Join(opts.Dir, "profile-cpu")
	if p.CPU, err = top("-top", "-cum", "-nodecount=30", filepath.Join(dir, "cpu.pprof")); err != nil {
		return nil, err
	}
	if p.Heap, err = top("-sample_index=alloc_space", "-top", "-nodecount=20", filepath.Join(dir, "allocs.pprof")); err != nil {
		return nil, err
	}
	peak := filepath.Join(opts.Dir, "profile-peak", "peak.pprof")
	if p.Peak, err = top("-sample_index=inuse_space", "-top", "-cum", "-nodecount=30", peak); err != nil {
		return nil, err
	}
	return p, nil
}

// profileRun starts a fleet for spec in opts.Dir/name, runs the
// controller on the main workload at forks with the profiles set asks
// for, and stops the fleet.
func profileRun(ctx context.Context, opts Options, pc ProfileCommand, name string, spec FleetSpec, forks int, set func(*ControllerConfig, string)) (Usage, error) {
	dir := filepath.Join(opts.Dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Usage{}, err
	}
	logFile, err := os.Create(filepath.Join(dir, "sim.log"))
	if err != nil {
		return Usage{}, err
	}
	defer func() { _ = logFile.Close() }() // a log for people; losing its tail changes no number
	fmt.Fprintf(opts.Log, "%s: starting %d simulated hosts\n", name, spec.Hosts)
	sp, err := StartSim(ctx, opts.Fleetrun, dir, spec, logFile)
	if err != nil {
		return Usage{}, err
	}
	c := ControllerConfig{Playbook: ThreeSteps.Playbook(opts.Workloads), Inventory: sp.Inventory, Forks: forks,
		Journal: filepath.Join(dir, "controller.journal")}
	set(&c, dir)
	cmd := exec.Command(pc.Program, append(append([]string(nil), pc.Args...), ControllerArgs(c)...)...)
	cmd.Env = opts.Env
	cmd.Stderr = logFile
	fmt.Fprintf(opts.Log, "%s: %s at forks %d\n", name, ThreeSteps.Name, forks)
	waitQuiet(ctx, opts)
	u, runErr := Measure(ctx, cmd)
	stopErr := sp.Stop()
	if runErr == nil && u.ExitCode != 0 {
		runErr = fmt.Errorf("controller exited %d (see %s)", u.ExitCode, logFile.Name())
	}
	return u, errors.Join(runErr, stopErr)
}

// pprofBody drops pprof's header lines (file, build ID, time, type), which
// vary from run to run and say nothing.
func pprofBody(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Time:") || strings.HasPrefix(l, "Type:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}
