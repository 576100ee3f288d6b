package bench

import "time"

// Waves is how many rounds of hosts a pool of forks workers needs for
// hosts hosts: ceil(hosts/forks), at least 1 for any host. Forks below 1
// count as 1.
func Waves(hosts, forks int) int {
	if hosts <= 0 {
		return 0
	}
	forks = max(forks, 1)
	return (hosts + forks - 1) / forks
}

// Floor is the per-step protocol floor of docs/design.md: the least wall
// time any client needs, sending every step alone, when every WS-Man
// request costs latency and every process start processStart, counting
// Create and Delete once per host and Command plus Receive per step:
// (2 + 2·steps)·latency + steps·processStart per host, times the number of
// waves the forks allow.
func Floor(hosts, forks, steps int, latency, processStart time.Duration) time.Duration {
	perHost := time.Duration(2+2*steps)*latency + time.Duration(steps)*processStart
	return time.Duration(Waves(hosts, forks)) * perHost
}

// Grouping is how a host's steps go to it when consecutive steps are sent
// together (design.md, "Step runs"): Runs step runs, holding
// PowerShellInRuns powershell steps between them, and Alone steps sent
// alone (a single step, a reboot, run_as).
type Grouping struct {
	Runs, PowerShellInRuns, Alone int
}

// StepRunFloor is the step-run protocol floor of docs/design.md: a step
// run costs one Command and one Receive, one process start for the
// launcher and one more for each powershell step inside it (each starts a
// powershell.exe); a step sent alone costs what it costs in Floor. Per
// host (2 + 2·(runs + alone))·latency + (runs + powershell steps inside
// runs + alone)·processStart, times the waves.
func StepRunFloor(hosts, forks int, g Grouping, latency, processStart time.Duration) time.Duration {
	launches := g.Runs + g.Alone
	perHost := time.Duration(2+2*launches)*latency + time.Duration(launches+g.PowerShellInRuns)*processStart
	return time.Duration(Waves(hosts, forks)) * perHost
}

// SimMinimum is the least wall time the simulator itself allows for the
// same work sent step by step. The simulator starts a process when it
// answers the Command and holds the Receive's latency while the process
// starts, so a step costs latency + max(latency, processStart) instead of
// Floor's 2·latency + processStart. It is what a perfect client would
// measure here; Floor stays the judged figure (design.md), and a wall time
// below Floor is possible.
func SimMinimum(hosts, forks, steps int, latency, processStart time.Duration) time.Duration {
	perHost := 2*latency + time.Duration(steps)*(latency+max(latency, processStart))
	return time.Duration(Waves(hosts, forks)) * perHost
}

// StepRunSimMinimum is SimMinimum for steps sent in step runs. The
// simulator starts the launcher when it answers a run's Command and, from
// then on, the powershell.exe of the run's powershell steps four ahead in
// step order, as the step-run script does (design.md, "Step runs"), while
// the Receive's latency runs: a run with k powershell steps waits about
// (1 + ceil(k/4))·processStart for its starts, so it costs latency +
// max(latency, that). With several runs the starts are summed over them
// (k taken over all the runs); steps sent alone cost what they cost in
// SimMinimum.
func StepRunSimMinimum(hosts, forks int, g Grouping, latency, processStart time.Duration) time.Duration {
	runs := time.Duration(g.Runs)
	perHost := 2*latency + runs*latency + max(runs*latency, time.Duration(runStarts(g))*processStart) +
		time.Duration(g.Alone)*(latency+max(latency, processStart))
	return time.Duration(Waves(hosts, forks)) * perHost
}

// runStarts is how many process starts one after another a host's step
// runs wait for in the simulator: each run's launcher, and its powershell
// steps' processes in overlapping groups of four.
func runStarts(g Grouping) int {
	if g.Runs == 0 {
		return 0
	}
	return g.Runs + (g.PowerShellInRuns+3)/4
}
