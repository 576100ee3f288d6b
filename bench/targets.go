package bench

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// The targets on a 2-core machine.
const (
	TargetRatio         = 1.25                   // wall ≤ 1.25 × floor, main workload at forks 200, per step
	TargetCPUPerRequest = 100 * time.Microsecond // controller CPU per WS-Man request, small output
	// TargetCPUPerRequestBytes is the megabyte workload's: its cost
	// follows the bytes, not the requests.
	TargetCPUPerRequestBytes = 300 * time.Microsecond
	TargetRSS                = 150 << 20 // peak RSS with 1,000 hosts in flight
	TargetSpeedup            = 5.0       // × pywinrm's throughput at equal forks
	// TargetTwentyStepRuns: the twenty steps in step runs at forks 200
	// (NTLM, 50 ms) take at most this share of the per-step floor.
	TargetTwentyStepRuns = 0.3
	// TargetCrossRegionStepRuns: the main workload in step runs at forks
	// 200 on the cross-region fleet (150 ms) takes at most this share of
	// the per-step floor.
	TargetCrossRegionStepRuns = 0.5
	// TargetTenThousandRSS is the controller's peak RSS with 10,000
	// hosts, at forks 2,000 and with all 10,000 in flight.
	TargetTenThousandRSS = 600 << 20
	judgedForks          = 200
	crossRegionLatency   = 150 * time.Millisecond
	tenThousandForks     = 2000
)

// Verdict is one target checked against one set of measurements.
type Verdict struct {
	Target   string // what was promised
	Scope    string // which runs it was judged on
	Measured string // what was measured
	Met      bool
	// Why explains a missed target from the measurements (empty when met).
	Why string
}

// Judge checks the targets against the results. Targets with no
// run to judge them on (a plan without judged fleets) are left out.
func Judge(results []*Result) []Verdict {
	var out []Verdict
	for _, r := range results {
		if r.Fleet.Judged && r.Workload.Name == ThreeSteps.Name && r.Forks == judgedForks && r.Path == PerStep {
			v := Verdict{
				Target:   fmt.Sprintf("wall ≤ %.2f × protocol floor", TargetRatio),
				Scope:    fmt.Sprintf("%s, forks %d, %s, %s", r.Workload.Title(), r.Forks, r.Path, r.Fleet.Name),
				Measured: fmt.Sprintf("%s / %s = %.2f ×", fmtDur(r.Fleetrun.Wall), fmtDur(r.Floor), r.Ratio()),
				Met:      r.Ratio() <= TargetRatio,
			}
			if !v.Met {
				v.Why = whyRatio(r)
			}
			out = append(out, v)
		}
	}
	out = append(out, judgeStepRuns(results)...)
	for _, w := range []Workload{ThreeSteps, TwentySteps, Megabyte} {
		for _, path := range []Path{PerStep, StepRuns} {
			var worst *Result
			for _, r := range results {
				if r.Fleet.Judged && r.Workload.Name == w.Name && r.Path == path && (worst == nil || r.Fleetrun.CPUPerRequest() > worst.Fleetrun.CPUPerRequest()) {
					worst = r
				}
			}
			if worst == nil {
				continue
			}
			out = append(out, cpuVerdict(results, worst, worst.Workload.Title()+", "+path.String()+", every forks and auth at 50 ms (worst run shown)"))
		}
	}
	for _, r := range results {
		if r.Fleet.Judged && r.Forks >= r.Workload.Hosts && r.Workload.Hosts >= 1000 {
			v := Verdict{
				Target:   "peak RSS ≤ " + fmtBytes(TargetRSS) + " with 1,000 hosts in flight",
				Scope:    fmt.Sprintf("%s, forks %d, %s, %s", r.Workload.Title(), r.Forks, r.Path, r.Fleet.Name),
				Measured: fmtBytes(r.Fleetrun.MaxRSS),
				Met:      r.Fleetrun.MaxRSS <= TargetRSS,
			}
			if !v.Met {
				v.Why = whyRSS(r)
			}
			out = append(out, v)
		}
	}
	out = append(out, judgeTenThousand(results)...)
	for _, r := range results {
		if r.Peer == nil {
			continue
		}
		speedup, mem := Speedup(r), MemoryRatio(r)
		v := Verdict{
			Target:   fmt.Sprintf("≥ %.0f × pywinrm's throughput at equal forks, with less memory", TargetSpeedup),
			Scope:    fmt.Sprintf("%s, forks %d, %s, %s", r.Workload.Title(), r.Forks, r.Path, r.Fleet.Name),
			Measured: fmt.Sprintf("%.2f × faster; %s vs %s RSS (%.2f ×)", speedup, fmtBytes(r.Fleetrun.MaxRSS), fmtBytes(r.Peer.MaxRSS), mem),
			Met:      speedup >= TargetSpeedup && mem < 1,
		}
		if !v.Met {
			v.Why = whyPeer(r)
		}
		out = append(out, v)
	}
	return out
}

// cpuVerdict judges r's controller CPU per request: the small-output
// target, or the megabyte workload's own.
func cpuVerdict(results []*Result, r *Result, scope string) Verdict {
	target := TargetCPUPerRequest
	if !r.Workload.SmallOutput() {
		target = TargetCPUPerRequestBytes
	}
	m := r.Fleetrun
	v := Verdict{
		Target:   "controller CPU ≤ " + fmtDur(target) + " per WS-Man request",
		Scope:    scope,
		Measured: fmt.Sprintf("%s (%s CPU / %d requests; forks %d, %s)", fmtDur(m.CPUPerRequest()), fmtDur(m.CPU()), m.TotalRequests(), r.Forks, r.Fleet.Name),
		Met:      m.CPUPerRequest() <= target,
	}
	if !v.Met {
		v.Why = whyCPU(results, r)
	}
	return v
}

// judgeStepRuns checks the step-run targets: the twenty steps at forks
// 200 on the NTLM fleet at 50 ms, and the main workload at forks 200 on
// the cross-region fleet, each against a share of the per-step floor.
func judgeStepRuns(results []*Result) []Verdict {
	var out []Verdict
	for _, r := range results {
		spec := r.Fleet.Spec
		if r.Path != StepRuns || r.Forks != judgedForks || spec.HTTPS || spec.ProcessStart != 100*time.Millisecond {
			continue
		}
		share := 0.0
		switch {
		case r.Fleet.Judged && r.Workload.Name == TwentySteps.Name && spec.Latency == 50*time.Millisecond:
			share = TargetTwentyStepRuns
		case r.Workload.Name == ThreeSteps.Name && r.Workload.Hosts == ThreeSteps.Hosts && spec.Latency == crossRegionLatency:
			share = TargetCrossRegionStepRuns
		default:
			continue
		}
		limit := time.Duration(share * float64(r.PerStepFloor))
		v := Verdict{
			Target:   fmt.Sprintf("step runs: wall ≤ %.1f × the per-step floor", share),
			Scope:    fmt.Sprintf("%s, forks %d, %s", r.Workload.Title(), r.Forks, r.Fleet.Name),
			Measured: fmt.Sprintf("%s / %s = %.2f × (step-run floor %s)", fmtDur(r.Fleetrun.Wall), fmtDur(r.PerStepFloor), perStepShare(r), fmtDur(r.Floor)),
			Met:      r.Fleetrun.Wall <= limit,
		}
		if !v.Met {
			v.Why = whyStepRuns(results, r, limit)
		}
		out = append(out, v)
	}
	return out
}

// perStepShare is the wall time over the per-step floor.
func perStepShare(r *Result) float64 {
	if r.PerStepFloor <= 0 {
		return 0
	}
	return float64(r.Fleetrun.Wall) / float64(r.PerStepFloor)
}

// judgeTenThousand checks the 10,000-host run in step runs: every host ok
// (a run with a host not ok stops the benchmark, so a result is the
// proof), the controller's CPU per request and its peak RSS.
func judgeTenThousand(results []*Result) []Verdict {
	var out []Verdict
	for _, r := range results {
		if r.Workload.Hosts < TenThousand.Hosts || r.Path != StepRuns {
			continue
		}
		scope := fmt.Sprintf("%s, forks %d, %s, %s", r.Workload.Title(), r.Forks, r.Path, r.Fleet.Name)
		m := r.Fleetrun
		out = append(out, Verdict{
			Target:   "every host ok",
			Scope:    scope,
			Measured: fmt.Sprintf("%s of %s hosts ok, %s steps executed", thousands(r.Workload.Hosts), thousands(r.Workload.Hosts), thousands(int(m.Commands-m.StepRuns+m.RunSteps))),
			Met:      true,
		})
		out = append(out, cpuVerdict(results, r, scope))
		v := Verdict{
			Target:   "peak RSS ≤ " + fmtBytes(TargetTenThousandRSS) + " with 10,000 hosts",
			Scope:    scope,
			Measured: fmtBytes(m.MaxRSS),
			Met:      m.MaxRSS <= TargetTenThousandRSS,
		}
		if !v.Met {
			v.Why = whyRSS(r)
		}
		out = append(out, v)
	}
	return out
}

// twin is the result of the same workload, fleet and forks sent along the
// other path, or nil.
func twin(results []*Result, r *Result) *Result {
	for _, o := range results {
		if o != r && o.Fleet == r.Fleet && o.Workload == r.Workload && o.Forks == r.Forks && o.Path != r.Path {
			return o
		}
	}
	return nil
}

// Speedup is pywinrm's wall time over fleetrun's for the same work.
func Speedup(r *Result) float64 {
	if r.Peer == nil || r.Fleetrun.Wall <= 0 {
		return 0
	}
	return float64(r.Peer.Wall) / float64(r.Fleetrun.Wall)
}

// MemoryRatio is fleetrun's peak RSS over pywinrm's.
func MemoryRatio(r *Result) float64 {
	if r.Peer == nil || r.Peer.MaxRSS <= 0 {
		return 0
	}
	return float64(r.Fleetrun.MaxRSS) / float64(r.Peer.MaxRSS)
}

// cpuShare is how many cores the client and the fleet kept busy on
// average: their CPU time over the wall time.
func cpuShare(m Measured) float64 {
	if m.Wall <= 0 {
		return 0
	}
	return float64(m.CPU()+m.SimCPU) / float64(m.Wall)
}

func whyRatio(r *Result) string {
	m := r.Fleetrun
	var b strings.Builder
	fmt.Fprintf(&b, "fleetrun took %s against a floor of %s (the simulator's own minimum is %s). ", fmtDur(m.Wall), fmtDur(r.Floor), fmtDur(r.SimMinimum))
	fmt.Fprintf(&b, "It sent %.2f WS-Man requests per step (the floor counts %.2f) and the controller and the fleet together used %.2f cores on average", perStep(m, r.Workload), floorRequestsPerStep(r.Workload), cpuShare(m))
	if extra := extraRequests(m, r.Workload, r.Path); extra != "" {
		fmt.Fprintf(&b, "; requests beyond the floor: %s", extra)
	}
	b.WriteString(".")
	return b.String()
}

func whyCPU(results []*Result, r *Result) string {
	m := r.Fleetrun
	w := r.Workload
	s := fmt.Sprintf("the controller used %s of CPU for %d requests", fmtDur(m.CPU()), m.TotalRequests())
	if n := m.TotalRequests(); n > 0 {
		// System time alone is a floor no user-space change removes: the
		// kernel's side of every socket write and read, each connection's
		// set-up and close, and the page faults of a growing heap.
		s += fmt.Sprintf(", %s of it system time (%s per request)", fmtDur(m.System), fmtDur(m.System/time.Duration(n)))
	}
	if !w.SmallOutput() {
		mb := float64(w.Hosts*w.Steps*w.StdoutPerStep) / (1 << 20)
		unseal := "NTLM unsealing (RC4 and HMAC-MD5 over every byte)"
		if r.Fleet.Spec.HTTPS {
			unseal = "TLS decryption"
		}
		s += fmt.Sprintf(", carrying %.0f MB of output (%s per MB): the cost follows the bytes (%s, reading the XML, base64, copying the output into the result), not the requests", mb, fmtDur(time.Duration(float64(m.CPU())/mb)), unseal)
		return s + "."
	}
	hosts := time.Duration(max(w.Hosts, 1))
	s += fmt.Sprintf(": %s per host, over %.2f requests per host", fmtDur(m.CPU()/hosts), float64(m.TotalRequests())/float64(hosts))
	if o := twin(results, r); o != nil && o.Fleetrun.TotalRequests() > 0 && o.Fleetrun.CPU() > 0 {
		om := o.Fleetrun
		s += fmt.Sprintf("; %s, the same hosts cost %s each over %.2f requests (%s per request)", o.Path, fmtDur(om.CPU()/hosts), float64(om.TotalRequests())/float64(hosts), fmtDur(om.CPUPerRequest()))
		if ratio := float64(m.CPU()) / float64(om.CPU()); ratio > 0.75 && ratio < 1.34 {
			s += ": the CPU follows the hosts (the process, the playbook and inventory, each host's connection, NTLM logon, expanded steps, journal and report entries) more than the requests, so fewer requests per host leave more CPU on each"
		}
	}
	if b := r.Bare; b != nil && b.CPUPerRequest() > 0 {
		legs := ""
		if b.Config.Legs > 0 {
			legs = fmt.Sprintf(" after NTLM's %d handshake legs (empty bodies)", b.Config.Legs)
		}
		s += fmt.Sprintf("; a bare client making the same HTTP exchanges and nothing else (per host, one keep-alive TCP connection and %d requests with %d-byte bodies both ways%s, each request written whole from prepared bytes and each answer read by its Content-Length, no HTTP library) at forks %d against a loopback server answering each request after %d ms used %s per request, %s of it system time, so fleetrun used %.1f × the machine's own cost of the HTTP exchanges",
			b.Config.Requests, bareBodyBytes, legs, b.Config.Forks, r.Fleet.Spec.Latency.Milliseconds(), fmtDur(b.CPUPerRequest()), fmtDur(b.SystemPerRequest()), float64(m.CPUPerRequest())/float64(b.CPUPerRequest()))
	}
	return s + "."
}

// whyStepRuns explains a step-run target missed: how the wall time
// compares with the step-run floor (the least any client needs sending
// the steps in runs) and the simulator's own minimum, how many requests
// each host sent, and how busy the cores were.
func whyStepRuns(results []*Result, r *Result, limit time.Duration) string {
	m, w, spec := r.Fleetrun, r.Workload, r.Fleet.Spec
	g := w.Grouping()
	var b strings.Builder
	fmt.Fprintf(&b, "the target allows %s; in step runs a host needs at least (2 + 2·%d)·L + (%d + %d)·P = %s (L = %s, P = %s), %d waves at forks %d make the step-run floor %s and the simulator's own minimum %s",
		fmtDur(limit), g.Runs+g.Alone, g.Runs+g.Alone, g.PowerShellInRuns, fmtDur(r.Floor/time.Duration(max(Waves(w.Hosts, r.Forks), 1))), fmtDur(spec.Latency), fmtDur(spec.ProcessStart),
		Waves(w.Hosts, r.Forks), r.Forks, fmtDur(r.Floor), fmtDur(r.SimMinimum))
	if r.SimMinimum > limit {
		b.WriteString(", so no client can meet the target on this fleet: the latency of the requests a step run still needs and the process starts inside it (each powershell step starts a powershell.exe) are over it already")
	} else {
		fmt.Fprintf(&b, "; fleetrun took %s (%.2f × the step-run floor), sending %.2f requests per host (the floor counts %d)",
			fmtDur(m.Wall), r.Ratio(), float64(m.TotalRequests())/float64(max(w.Hosts, 1)), 2+2*(g.Runs+g.Alone))
		if extra := extraRequests(m, w, r.Path); extra != "" {
			fmt.Fprintf(&b, ", beyond it %s", extra)
		}
		fmt.Fprintf(&b, ", with the controller and the fleet using %.2f cores on average", cpuShare(m))
		if o := twin(results, r); o != nil {
			fmt.Fprintf(&b, " (every step alone: %s)", fmtDur(o.Fleetrun.Wall))
		}
	}
	return b.String() + "."
}

func whyRSS(r *Result) string {
	w := r.Workload
	inFlight := min(r.Forks, w.Hosts)
	s := fmt.Sprintf("%d hosts in flight at once", inFlight)
	if w.Hosts > inFlight {
		s += fmt.Sprintf(" of %s: %.0f KB of peak RSS per host in flight, %.0f KB per host of the run", thousands(w.Hosts), float64(r.Fleetrun.MaxRSS)/float64(inFlight)/1024, float64(r.Fleetrun.MaxRSS)/float64(w.Hosts)/1024)
	}
	if out := int64(w.Hosts*w.Steps) * int64(w.StdoutPerStep); out >= 100<<20 {
		kept := int64(w.Hosts*w.Steps) * int64(min(w.StdoutPerStep, 64<<10))
		s += fmt.Sprintf("; answers are read, unsealed and decoded only a few at a time (the WinRM transport's gate, 2 per core), so what grows with the output is what the report keeps of it: up to 64 KiB of each stream (apply's --output-cap), about %s for %d host-steps, on top of what the small-output runs hold, and Go's default GC target (GOGC=100) lets the heap grow to about twice what is live; a smaller --output-cap lowers it", fmtBytes(kept), w.Hosts*w.Steps)
	} else if r.Fleet.Spec.HTTPS {
		s += "; over HTTPS every connection also carries crypto/tls state and the buffers its handshake grew (see the heap profile at the peak below)"
	}
	return s + "."
}

func whyPeer(r *Result) string {
	var parts []string
	if Speedup(r) < TargetSpeedup {
		f, p, w := r.Fleetrun, *r.Peer, r.Workload
		pMin, fMin := latencyBound(p, r, PerStep, false), latencyBound(f, r, r.Path, true)
		ceiling := 0.0
		if fMin > 0 {
			ceiling = float64(pMin) / float64(fMin)
		}
		parts = append(parts, fmt.Sprintf("the fleet's latency sets the pace here: pywinrm opens and deletes a shell for every step (%.2f requests per step against fleetrun's %.2f), "+
			"so with the requests each sent pywinrm needs at least %s at forks %d and fleetrun %s, at most %.2f × by latency alone however fast either client is; "+
			"pywinrm took %s using %s of CPU (%.2f cores on average; the GIL runs its Python code on one)",
			perStep(p, w), perStep(f, w), fmtDur(pMin), r.Forks, fmtDur(fMin), ceiling, fmtDur(p.Wall), fmtDur(p.CPU()), cpuShareClient(p)))
	}
	if MemoryRatio(r) >= 1 {
		parts = append(parts, fmt.Sprintf("fleetrun's peak RSS %s is not below pywinrm's %s", fmtBytes(r.Fleetrun.MaxRSS), fmtBytes(r.Peer.MaxRSS)))
	}
	return strings.Join(parts, "; ") + "."
}

// latencyBound is the least wall time a client sending the requests m
// counted along path could take on the run's fleet: every request costs
// the latency, except that the Receive of each launch waits for its
// process starts instead when they take longer (a step alone starts one
// process, a step run the launcher and its powershell steps' processes,
// four ahead: see StepRunSimMinimum); hosts go in waves of forks. With
// closeBeside (fleetrun), a host's Signal and Delete go beside the next
// host's work and hold no place in the wave; only the last wave's are
// waited for.
func latencyBound(m Measured, r *Result, path Path, closeBeside bool) time.Duration {
	w, spec := r.Workload, r.Fleet.Spec
	if w.Hosts == 0 {
		return 0
	}
	perHost := float64(m.TotalRequests()) / float64(w.Hosts)
	var last time.Duration
	if closeBeside {
		closes := float64(m.Requests["Signal"]+m.Requests["Delete"]) / float64(w.Hosts)
		perHost -= closes
		last = time.Duration(closes * float64(spec.Latency))
	}
	launches, starts := w.Steps, w.Steps
	if g := w.Grouping(); path == StepRuns {
		launches, starts = g.Runs+g.Alone, runStarts(g)+g.Alone
	}
	wait := max(time.Duration(launches)*spec.Latency, time.Duration(starts)*spec.ProcessStart)
	host := time.Duration((perHost-float64(launches))*float64(spec.Latency)) + wait
	return time.Duration(Waves(w.Hosts, r.Forks))*host + last
}

func cpuShareClient(m Measured) float64 {
	if m.Wall <= 0 {
		return 0
	}
	return float64(m.CPU()) / float64(m.Wall)
}

func perStep(m Measured, w Workload) float64 {
	steps := w.Hosts * w.Steps
	if steps == 0 {
		return 0
	}
	return float64(m.TotalRequests()) / float64(steps)
}

// floorRequestsPerStep is the floor's count: Create and Delete once per
// host, Command and Receive per step.
func floorRequestsPerStep(w Workload) float64 {
	if w.Steps == 0 {
		return 0
	}
	return float64(2+2*w.Steps) / float64(w.Steps)
}

// extraRequests lists requests beyond Create and Delete per host and
// Command and Receive per launch: per step on the per-step path, per run
// (and per step still alone) on the step-run path.
func extraRequests(m Measured, w Workload, path Path) string {
	hosts, launches := int64(w.Hosts), int64(w.Hosts*w.Steps)
	if g := w.Grouping(); path == StepRuns {
		launches = hosts * int64(g.Runs+g.Alone)
	}
	want := map[string]int64{"Create": hosts, "Delete": hosts, "Command": launches, "Receive": launches}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m.Requests)) {
		if d := m.Requests[k] - want[k]; d > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", d, k))
		}
	}
	return strings.Join(parts, ", ")
}
