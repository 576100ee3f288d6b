package sim

import (
	"maps"
	"sync"
	"sync/atomic"
)

// HostStats are one host's counters since it started.
type HostStats struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Port    int    `json:"port"`
	// ShellsOpened counts successful Creates; OpenShells is the number open
	// now and PeakShells the most open at once.
	ShellsOpened int64 `json:"shells_opened"`
	OpenShells   int64 `json:"open_shells"`
	PeakShells   int64 `json:"peak_shells"`
	Commands     int64 `json:"commands"`
	Signals      int64 `json:"signals"`
	Deletes      int64 `json:"deletes"`
	Reboots      int64 `json:"reboots"`
	AuthFailures int64 `json:"auth_failures"`
	// ReceiveTimeouts counts Receives answered with the TimedOut fault.
	ReceiveTimeouts int64 `json:"receive_timeouts"`
	// Connections counts accepted TCP connections.
	Connections int64 `json:"connections"`
	// Programs counts invocations per simulated program ("hostname.exe",
	// "powershell.exe", "script-rule", ...).
	Programs map[string]int64 `json:"programs"`
	// Requests counts WS-Man requests by action ("Create", "Receive", ...)
	// and injected failures by name.
	Requests map[string]int64 `json:"requests"`
	// Faults counts faults sent, by WSManFault code.
	Faults map[string]int64 `json:"faults"`
	// Tasks counts the Task Scheduler's work.
	Tasks TaskStats `json:"tasks"`
	// Processes is the number of processes running now; ProcessesKilled
	// counts those ended by taskkill, schtasks /end and the like.
	Processes       int64 `json:"processes"`
	ProcessesKilled int64 `json:"processes_killed"`
	// SendBytes counts stdin bytes received through Send; FilesWritten
	// the files copy and download steps wrote, FilesUnchanged those they
	// found already holding the required bytes; Downloads the downloads
	// that went to the network (each once, however many tries);
	// FetchBytes the file bytes fetch steps sent.
	SendBytes      int64 `json:"send_bytes"`
	FilesWritten   int64 `json:"files_written"`
	FilesUnchanged int64 `json:"files_unchanged"`
	Downloads      int64 `json:"downloads"`
	FetchBytes     int64 `json:"fetch_bytes"`
	// StepRuns counts launchers that carried a step run (payload kind
	// run); RunSteps the step attempts started inside them.
	StepRuns int64 `json:"step_runs"`
	RunSteps int64 `json:"run_steps"`
}

// TaskStats are a host's Task Scheduler counters.
type TaskStats struct {
	Created int64 `json:"created"` // tasks registered
	Runs    int64 `json:"runs"`    // instances started
	Ended   int64 `json:"ended"`   // instances stopped (schtasks /end, Stop, time limit)
	Deleted int64 `json:"deleted"` // tasks deleted
	Running int64 `json:"running"` // instances running now
}

// FleetStats are the counters of every host and the fleet-wide figures.
type FleetStats struct {
	Hosts []HostStats `json:"hosts"`
	// OpenShells is the number of shells open across the fleet now, and
	// PeakShells the most that were open at once.
	OpenShells int64 `json:"open_shells"`
	PeakShells int64 `json:"peak_shells"`
	// Totals sums the per-host counters (its PeakShells is the largest
	// per-host peak).
	Totals HostStats `json:"totals"`
	// SSM counts the calls to the fleet's SSM endpoint, when it has one.
	SSM *SSMStats `json:"ssm,omitempty"`
	// ChunkStore is what the fleet's shared store of file content holds.
	ChunkStore *ChunkStoreStats `json:"chunk_store,omitempty"`
}

// hostCounters are the live counters behind HostStats.
type hostCounters struct {
	mu             sync.Mutex
	shellsOpened   int64
	openShells     int64
	peakShells     int64
	commands       int64
	signals        int64
	deletes        int64
	reboots        int64
	authFailures   int64
	timeouts       int64
	connections    int64
	tasksCreated   int64
	taskRuns       int64
	tasksEnded     int64
	tasksDeleted   int64
	sendBytes      int64
	filesWritten   int64
	filesUnchanged int64
	downloads      int64
	fetchBytes     int64
	stepRuns       int64
	runSteps       int64
	programs       map[string]int64
	requests       map[string]int64
	faults         map[string]int64
}

func (c *hostCounters) init() {
	c.programs = map[string]int64{}
	c.requests = map[string]int64{}
	c.faults = map[string]int64{}
}

func (c *hostCounters) add(v *int64, n int64) {
	c.mu.Lock()
	*v += n
	c.mu.Unlock()
}

// gauge moves a level and keeps its peak.
func (c *hostCounters) gauge(v, peak *int64, n int64) {
	c.mu.Lock()
	*v += n
	if *v > *peak {
		*peak = *v
	}
	c.mu.Unlock()
}

func (c *hostCounters) count(m *map[string]int64, key string) {
	c.mu.Lock()
	(*m)[key]++
	c.mu.Unlock()
}

func (c *hostCounters) snapshot() HostStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return HostStats{
		ShellsOpened: c.shellsOpened, OpenShells: c.openShells, PeakShells: c.peakShells,
		Commands: c.commands, Signals: c.signals, Deletes: c.deletes, Reboots: c.reboots,
		AuthFailures: c.authFailures, ReceiveTimeouts: c.timeouts, Connections: c.connections,
		Programs: maps.Clone(c.programs), Requests: maps.Clone(c.requests), Faults: maps.Clone(c.faults),
		Tasks:     TaskStats{Created: c.tasksCreated, Runs: c.taskRuns, Ended: c.tasksEnded, Deleted: c.tasksDeleted},
		SendBytes: c.sendBytes, FilesWritten: c.filesWritten, FilesUnchanged: c.filesUnchanged,
		Downloads: c.downloads, FetchBytes: c.fetchBytes, StepRuns: c.stepRuns, RunSteps: c.runSteps,
	}
}

// Stats returns a snapshot of the host's counters.
func (h *Host) Stats() HostStats {
	s := h.stats.snapshot()
	s.Name, s.Address, s.Port = h.cfg.Name, h.Address(), h.Port()
	h.mu.Lock()
	for _, t := range h.tasks.tasks {
		if t.running != nil {
			s.Tasks.Running++
		}
	}
	h.mu.Unlock()
	h.ptable.mu.Lock()
	s.Processes, s.ProcessesKilled = int64(len(h.ptable.procs)), h.ptable.killed
	h.ptable.mu.Unlock()
	return s
}

// fleetGauge follows how many shells are open across a fleet.
type fleetGauge struct {
	open atomic.Int64
	peak atomic.Int64
}

func (g *fleetGauge) shellOpened() {
	if g == nil {
		return
	}
	n := g.open.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (g *fleetGauge) shellClosed() {
	if g != nil {
		g.open.Add(-1)
	}
}

// sumStats adds per-host counters into a total.
func sumStats(hosts []HostStats) HostStats {
	t := HostStats{Name: "total", Programs: map[string]int64{}, Requests: map[string]int64{}, Faults: map[string]int64{}}
	for _, s := range hosts {
		t.ShellsOpened += s.ShellsOpened
		t.OpenShells += s.OpenShells
		t.PeakShells = max(t.PeakShells, s.PeakShells)
		t.Commands += s.Commands
		t.Signals += s.Signals
		t.Deletes += s.Deletes
		t.Reboots += s.Reboots
		t.AuthFailures += s.AuthFailures
		t.ReceiveTimeouts += s.ReceiveTimeouts
		t.Connections += s.Connections
		t.Tasks.Created += s.Tasks.Created
		t.Tasks.Runs += s.Tasks.Runs
		t.Tasks.Ended += s.Tasks.Ended
		t.Tasks.Deleted += s.Tasks.Deleted
		t.Tasks.Running += s.Tasks.Running
		t.Processes += s.Processes
		t.ProcessesKilled += s.ProcessesKilled
		t.SendBytes += s.SendBytes
		t.FilesWritten += s.FilesWritten
		t.FilesUnchanged += s.FilesUnchanged
		t.Downloads += s.Downloads
		t.FetchBytes += s.FetchBytes
		t.StepRuns += s.StepRuns
		t.RunSteps += s.RunSteps
		for k, v := range s.Programs {
			t.Programs[k] += v
		}
		for k, v := range s.Requests {
			t.Requests[k] += v
		}
		for k, v := range s.Faults {
			t.Faults[k] += v
		}
	}
	return t
}
