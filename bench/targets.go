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
	TargetRatio         = 1.25                   // wall ≤ 1.25 × floor, main workload at forks 200
	TargetCPUPerRequest = 300 * time.Microsecond // controller CPU per WS-Man request
	TargetRSS           = 150 << 20              // peak RSS with 1,000 hosts in flight
	TargetSpeedup       = 5.0                    // × pywinrm's throughput at equal forks
	judgedForks         = 200
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
		if r.Fleet.Judged && r.Workload.Name == ThreeSteps.Name && r.Forks == judgedForks {
			v := Verdict{
				Target:   fmt.Sprintf("wall ≤ %.2f × protocol floor", TargetRatio),
				Scope:    fmt.Sprintf("%s, forks %d, %s", r.Workload.Title(), r.Forks, r.Fleet.Name),
				Measured: fmt.Sprintf("%s / %s = %.2f ×", fmtDur(r.Fleetrun.Wall), fmtDur(r.Floor), r.Ratio()),
				Met:      r.Ratio() <= TargetRatio,
			}
			if !v.Met {
				v.Why = whyRatio(r)
			}
			out = append(out, v)
		}
	}
	for _, w := range []Workload{ThreeSteps, TwentySteps, Megabyte} {
		var worst *Result
		for _, r := range results {
			if r.Fleet.Judged && r.Workload.Name == w.Name && (worst == nil || r.Fleetrun.CPUPerRequest() > worst.Fleetrun.CPUPerRequest()) {
				worst = r
			}
		}
		if worst == nil {
			continue
		}
		m := worst.Fleetrun
		v := Verdict{
			Target:   "controller CPU ≤ " + fmtDur(TargetCPUPerRequest) + " per WS-Man request",
			Scope:    worst.Workload.Title() + ", every forks and auth at 50 ms (worst run shown)",
			Measured: fmt.Sprintf("%s (%s CPU / %d requests; forks %d, %s)", fmtDur(m.CPUPerRequest()), fmtDur(m.CPU()), m.TotalRequests(), worst.Forks, worst.Fleet.Name),
			Met:      m.CPUPerRequest() <= TargetCPUPerRequest,
		}
		if !v.Met {
			v.Why = whyCPU(worst)
		}
		out = append(out, v)
	}
	for _, r := range results {
		if r.Fleet.Judged && r.Forks >= r.Workload.Hosts && r.Workload.Hosts >= 1000 {
			v := Verdict{
				Target:   "peak RSS ≤ " + fmtBytes(TargetRSS) + " with 1,000 hosts in flight",
				Scope:    fmt.Sprintf("%s, forks %d, %s", r.Workload.Title(), r.Forks, r.Fleet.Name),
				Measured: fmtBytes(r.Fleetrun.MaxRSS),
				Met:      r.Fleetrun.MaxRSS <= TargetRSS,
			}
			if !v.Met {
				v.Why = whyRSS(r)
			}
			out = append(out, v)
		}
	}
	for _, r := range results {
		if r.Peer == nil {
			continue
		}
		speedup, mem := Speedup(r), MemoryRatio(r)
		v := Verdict{
			Target:   fmt.Sprintf("≥ %.0f × pywinrm's throughput at equal forks, with less memory", TargetSpeedup),
			Scope:    fmt.Sprintf("%s, forks %d, %s", r.Workload.Title(), r.Forks, r.Fleet.Name),
			Measured: fmt.Sprintf("%.1f × faster; %s vs %s RSS (%.2f ×)", speedup, fmtBytes(r.Fleetrun.MaxRSS), fmtBytes(r.Peer.MaxRSS), mem),
			Met:      speedup >= TargetSpeedup && mem < 1,
		}
		if !v.Met {
			v.Why = whyPeer(r)
		}
		out = append(out, v)
	}
	return out
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
	if extra := extraRequests(m, r.Workload); extra != "" {
		fmt.Fprintf(&b, "; requests beyond the floor: %s", extra)
	}
	b.WriteString(".")
	return b.String()
}

func whyCPU(r *Result) string {
	m := r.Fleetrun
	w := r.Workload
	s := fmt.Sprintf("the controller used %s of CPU for %d requests", fmtDur(m.CPU()), m.TotalRequests())
	if w.StdoutPerStep >= 100<<10 {
		mb := float64(w.Hosts*w.Steps*w.StdoutPerStep) / (1 << 20)
		unseal := "NTLM unsealing (RC4 and HMAC-MD5 over every byte)"
		if r.Fleet.Spec.HTTPS {
			unseal = "TLS decryption"
		}
		s += fmt.Sprintf(", carrying %.0f MB of output (%s per MB): the cost follows the bytes (%s, reading the XML, base64, copying the output into the result), not the requests", mb, fmtDur(time.Duration(float64(m.CPU())/mb)), unseal)
	}
	return s + "."
}

func whyRSS(r *Result) string {
	w := r.Workload
	s := fmt.Sprintf("%d hosts in flight at once", min(r.Forks, w.Hosts))
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
		pMin, fMin := latencyBound(p, r), latencyBound(f, r)
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
// counted could take on the run's fleet: every request costs the latency,
// except that each step's Receive waits for the process start instead
// when that is longer; hosts go in waves of forks.
func latencyBound(m Measured, r *Result) time.Duration {
	w, spec := r.Workload, r.Fleet.Spec
	if w.Hosts == 0 {
		return 0
	}
	perHost := float64(m.TotalRequests()) / float64(w.Hosts)
	host := time.Duration((perHost-float64(w.Steps))*float64(spec.Latency)) + time.Duration(w.Steps)*max(spec.Latency, spec.ProcessStart)
	return time.Duration(Waves(w.Hosts, r.Forks)) * host
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
// Command and Receive per step.
func extraRequests(m Measured, w Workload) string {
	hosts, steps := int64(w.Hosts), int64(w.Hosts*w.Steps)
	want := map[string]int64{"Create": hosts, "Delete": hosts, "Command": steps, "Receive": steps}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m.Requests)) {
		if d := m.Requests[k] - want[k]; d > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", d, k))
		}
	}
	return strings.Join(parts, ", ")
}
