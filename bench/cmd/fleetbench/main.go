// Command fleetbench runs fleetrun's fleet-scale benchmarks and writes
// BENCHMARKS.md. bench/run (make bench) builds fleetrun and calls it:
//
//	go run ./bench/cmd/fleetbench -fleetrun /tmp/fleetrun -out BENCHMARKS.md
//
// -quick runs a small plan (a few hosts, no judged fleet) to check the
// harness itself.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fleetrun/fleetrun/bench"
)

func main() {
	os.Exit(run())
}

func run() int {
	fleetrun := flag.String("fleetrun", "", "the fleetrun `binary` to measure (required)")
	out := flag.String("out", "BENCHMARKS.md", "write the report to `FILE`")
	workloads := flag.String("workloads", "bench/workloads", "`DIR` of the workload playbooks")
	python := flag.String("python", "/usr/bin/python3", "the `python` with python3-winrm for the peer; empty skips the peer")
	peerScript := flag.String("peer", "bench/peer_pywinrm.py", "the peer `script`")
	opensslConf := flag.String("openssl-conf", "bench/openssl-legacy.cnf", "OpenSSL config enabling MD4 for the peer's NTLM")
	ec2Only := flag.Bool("ec2-only", false, "run only the EC2 discovery and password benchmark and replace its section of -out")
	copyOnly := flag.Bool("copy-only", false, "run only the file-copy benchmark and replace its section of -out")
	kerberosOnly := flag.Bool("kerberos-only", false, "run only the Kerberos-beside-NTLM benchmark and replace its section of -out")
	quick := flag.Bool("quick", false, "run a small plan that checks the harness, not fleetrun")
	profile := flag.Bool("profile", true, "profile the controller on the main workload (needs the go tool; not with -quick)")
	keep := flag.Bool("keep", false, "keep the scratch folder (inventories, logs, journals)")
	quietLimit := flag.Float64("quiet", 0.15, "before each run, wait until other work keeps less than this share of the machine busy (0: do not wait)")
	// The controller mode is how -profile runs its child; not for people.
	var ctl bench.ControllerConfig
	flag.StringVar(&ctl.Playbook, "controller", "", "internal: run the in-process controller on `PLAYBOOK`")
	flag.StringVar(&ctl.Inventory, "inventory", "", "internal: the controller's inventory")
	flag.IntVar(&ctl.Forks, "forks", 50, "internal: the controller's (or the bare client's) forks")
	flag.StringVar(&ctl.Journal, "journal", "", "internal: the controller's journal")
	flag.StringVar(&ctl.CPUProfile, "cpuprofile", "", "internal: the controller's CPU profile")
	flag.StringVar(&ctl.HeapProfile, "heapprofile", "", "internal: the controller's heap profile")
	flag.StringVar(&ctl.PeakProfile, "peakprofile", "", "internal: the controller's heap profile at its peak")
	var bare bench.BareConfig
	flag.StringVar(&bare.URL, "bare", "", "internal: run the bare client (raw HTTP/1.1 exchanges) against `URL`")
	flag.IntVar(&bare.Hosts, "hosts", 1, "internal: the bare client's hosts")
	flag.IntVar(&bare.Requests, "requests", 1, "internal: the bare client's requests per host")
	flag.IntVar(&bare.Legs, "legs", 0, "internal: the bare client's handshake legs per host")
	flag.Parse()
	if bare.URL != "" {
		bare.Forks = ctl.Forks
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := bench.RunBareClient(ctx, bare); err != nil {
			fmt.Fprintln(os.Stderr, "fleetbench:", err)
			return 1
		}
		return 0
	}
	if ctl.Playbook != "" {
		ctl.Console, ctl.LookupEnv = os.Stderr, os.LookupEnv
		if err := bench.RunController(context.Background(), ctl); err != nil {
			fmt.Fprintln(os.Stderr, "fleetbench: controller:", err)
			return 1
		}
		return 0
	}
	if *ec2Only {
		return runEC2Only(*out)
	}
	if *fleetrun == "" {
		fmt.Fprintln(os.Stderr, "fleetbench: -fleetrun is required")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dir, err := os.MkdirTemp("", "fleetbench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		return 1
	}
	if *keep {
		fmt.Fprintln(os.Stderr, "fleetbench: scratch folder", dir)
	} else {
		defer func() { _ = os.RemoveAll(dir) }() // scratch files; a leftover is harmless
	}
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		return a
	}
	env := append(os.Environ(), "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	opts := bench.Options{
		Fleetrun:  abs(*fleetrun),
		Workloads: abs(*workloads),
		Dir:       dir,
		Env:       env,
		LookupEnv: os.LookupEnv,
		Log:       os.Stderr,
	}
	if self, err := os.Executable(); err == nil {
		opts.Self = self // runs the bare client
	} else {
		fmt.Fprintln(os.Stderr, "fleetbench: no bare client:", err)
	}
	if *quietLimit > 0 {
		opts.Quiet = &bench.Quiet{Limit: *quietLimit, MaxWait: 45 * time.Second, Budget: 4 * time.Minute}
	}
	if *python != "" {
		opts.Peer = bench.PeerRun{Python: *python, Script: abs(*peerScript), Env: append(env, "OPENSSL_CONF="+abs(*opensslConf))}
	}
	if *copyOnly {
		return runCopyOnly(ctx, opts, *out, *quick)
	}
	if *kerberosOnly {
		return runKerberosOnly(ctx, opts, *out, *quick)
	}
	plan := bench.DefaultPlan()
	if *quick {
		plan = bench.QuickPlan()
	}
	machine := bench.DescribeMachine(ctx, *python)
	started := time.Now()
	results, err := bench.Run(ctx, plan, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		return 1
	}
	rep := &bench.Report{Machine: machine, Started: started, Results: results,
		Command: "go run ./bench/cmd/fleetbench -fleetrun BIN -out BENCHMARKS.md" + quickFlag(*quick)}
	if *profile && !*quick {
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, "fleetbench:", err)
			return 1
		}
		p, err := bench.Profile(ctx, opts, bench.ProfileCommand{Program: self})
		if err != nil {
			fmt.Fprintln(os.Stderr, "fleetbench: profile:", err)
		}
		rep.Profile = p
	}
	if !*quick {
		if rep.EC2, err = bench.RunEC2(ctx, bench.DefaultEC2Plan(), dir); err != nil {
			fmt.Fprintln(os.Stderr, "fleetbench: ec2:", err)
			return 1
		}
	}
	copyPlan := bench.DefaultCopyPlan()
	if *quick {
		copyPlan = bench.QuickCopyPlan()
	}
	if rep.Copy, err = bench.RunCopy(ctx, copyPlan, opts); err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench: copy:", err)
		return 1
	}
	krbPlan := bench.DefaultKerberosPlan()
	if *quick {
		krbPlan = bench.QuickKerberosPlan()
	}
	if rep.Kerberos, err = bench.RunKerberos(ctx, krbPlan, opts); err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench: kerberos:", err)
		return 1
	}
	rep.Duration = time.Since(started)
	var buf bytes.Buffer
	if err := bench.WriteMarkdown(&buf, rep); err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		return 1
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "fleetbench: wrote", *out)
	for _, v := range bench.Judge(results) {
		mark := "met"
		if !v.Met {
			mark = "MISSED"
		}
		fmt.Fprintf(os.Stderr, "  %-6s %s (%s): %s\n", mark, v.Target, v.Scope, v.Measured)
	}
	return 0
}

// runEC2Only runs the EC2 benchmark alone and rewrites its section of out.
func runEC2Only(out string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	doc, err := os.ReadFile(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "fleetbench-ec2-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }() // scratch files; a leftover is harmless
	res, err := bench.RunEC2(ctx, bench.DefaultEC2Plan(), dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench: ec2:", err)
		return 1
	}
	if err := os.WriteFile(out, []byte(bench.ReplaceEC2Section(string(doc), res)), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "fleetbench: wrote the EC2 section of", out)
	return 0
}

// runCopyOnly runs the copy benchmark alone and rewrites its section of
// out.
func runCopyOnly(ctx context.Context, opts bench.Options, out string, quick bool) int {
	doc, err := os.ReadFile(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		return 1
	}
	plan := bench.DefaultCopyPlan()
	if quick {
		plan = bench.QuickCopyPlan()
	}
	res, err := bench.RunCopy(ctx, plan, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench: copy:", err)
		return 1
	}
	if err := os.WriteFile(out, []byte(bench.ReplaceCopySection(string(doc), res)), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "fleetbench: wrote the copy section of", out)
	return 0
}

func quickFlag(q bool) string {
	if q {
		return " -quick"
	}
	return ""
}

// runKerberosOnly runs the Kerberos benchmark alone and rewrites its
// section of out.
func runKerberosOnly(ctx context.Context, opts bench.Options, out string, quick bool) int {
	doc, err := os.ReadFile(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		return 1
	}
	plan := bench.DefaultKerberosPlan()
	if quick {
		plan = bench.QuickKerberosPlan()
	}
	res, err := bench.RunKerberos(ctx, plan, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench: kerberos:", err)
		return 1
	}
	if err := os.WriteFile(out, []byte(bench.ReplaceKerberosSection(string(doc), res)), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "fleetbench: wrote the Kerberos section of", out)
	return 0
}
