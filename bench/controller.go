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
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	target := func(h *inventory.Host) (transport.Target, error) {
		pw, err := h.Password(c.LookupEnv)
		if err != nil {
			return transport.Target{}, err
		}
		return transport.Target{Name: h.Name, Address: h.Address, Port: h.Port, HTTPS: h.HTTPS, Auth: h.Auth,
			User: h.User, Password: pw, CAFile: h.CAFile, OutputEncoding: h.OutputEncoding, ConnectTimeout: h.ConnectTimeout}, nil
	}
	res, err := runner.Run(ctx, pb, hosts, runner.Options{Forks: c.Forks, Dialer: winrm.NewDialer(winrm.Options{}), Target: target,
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
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return err
		}
	}
	if res.Status != runner.StatusOK {
		return fmt.Errorf("run %s: %d of %d hosts not ok", res.Status, len(hosts)-countOK(res), len(hosts))
	}
	return nil
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
		"-journal", c.Journal, "-cpuprofile", c.CPUProfile, "-heapprofile", c.HeapProfile}
}

// Profile runs the in-process controller (as a child process, so the fleet
// still runs apart) on the main workload at forks 200 over NTLM with
// latency 50 ms and process start 100 ms, and summarises its CPU and heap
// profiles with `go tool pprof`.
func Profile(ctx context.Context, opts Options, pc ProfileCommand) (*ProfileSummary, error) {
	dir := filepath.Join(opts.Dir, "profile")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "sim.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	spec := FleetSpec{Hosts: ThreeSteps.Hosts, Latency: 50 * time.Millisecond, ProcessStart: 100 * time.Millisecond}
	fmt.Fprintf(opts.Log, "profile: starting %d simulated hosts\n", spec.Hosts)
	sp, err := StartSim(ctx, opts.Fleetrun, dir, spec, logFile)
	if err != nil {
		return nil, err
	}
	c := ControllerConfig{Playbook: ThreeSteps.Playbook(opts.Workloads), Inventory: sp.Inventory, Forks: judgedForks,
		Journal: filepath.Join(dir, "controller.journal"), CPUProfile: filepath.Join(dir, "cpu.pprof"), HeapProfile: filepath.Join(dir, "heap.pprof")}
	cmd := exec.Command(pc.Program, append(append([]string(nil), pc.Args...), ControllerArgs(c)...)...)
	cmd.Env = opts.Env
	cmd.Stderr = logFile
	fmt.Fprintf(opts.Log, "profile: %s at forks %d\n", ThreeSteps.Name, judgedForks)
	u, runErr := Measure(ctx, cmd)
	stopErr := sp.Stop()
	if runErr == nil && u.ExitCode != 0 {
		runErr = fmt.Errorf("controller exited %d (see %s)", u.ExitCode, logFile.Name())
	}
	if err := errors.Join(runErr, stopErr); err != nil {
		return nil, err
	}
	cpu, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodecount=30", c.CPUProfile).Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof: %w", err)
	}
	heap, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-sample_index=alloc_space", "-top", "-nodecount=20", c.HeapProfile).Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof: %w", err)
	}
	return &ProfileSummary{
		Scope: fmt.Sprintf("%s at forks %d over NTLM (latency 50 ms, process start 100 ms), profiled in bench's in-process replica of `fleetrun apply --no-progress` (same runner, WinRM dialer, journal and console; fleetrun has no profiling flag); wall %s, CPU %s, peak RSS %s",
			ThreeSteps.Title(), judgedForks, fmtDur(u.Wall), fmtDur(u.CPU()), fmtBytes(u.MaxRSS)),
		CPU:  pprofBody(string(cpu)),
		Heap: pprofBody(string(heap)),
	}, nil
}

// pprofBody drops pprof's header lines (file, build ID, time), which vary
// from run to run and say nothing.
func pprofBody(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if len(l) >= 5 && (l[:5] == "File:" || l[:5] == "Build" || l[:5] == "Time:" || l[:5] == "Type:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}
