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

// Floor is the protocol floor of docs/design.md: the least wall time any
// client needs when every WS-Man request costs latency and every process
// start processStart, counting Create and Delete once per host and Command
// plus Receive per step: (2 + 2·steps)·latency + steps·processStart per
// host, times the number of waves the forks allow.
func Floor(hosts, forks, steps int, latency, processStart time.Duration) time.Duration {
	perHost := time.Duration(2+2*steps)*latency + time.Duration(steps)*processStart
	return time.Duration(Waves(hosts, forks)) * perHost
}

// SimMinimum is the least wall time the simulator itself allows for the
// same work. The simulator starts a process when it answers the Command and
// holds the Receive's latency while the process starts, so a step costs
// latency + max(latency, processStart) instead of Floor's 2·latency +
// processStart. It is what a perfect client would measure here; Floor stays
// the judged figure (design.md), and a wall time below Floor is possible.
func SimMinimum(hosts, forks, steps int, latency, processStart time.Duration) time.Duration {
	perHost := 2*latency + time.Duration(steps)*(latency+max(latency, processStart))
	return time.Duration(Waves(hosts, forks)) * perHost
}
