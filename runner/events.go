package runner

import (
	"io"
	"time"
)

// EventKind says what an Event reports.
type EventKind int

// Event kinds, in the order they occur for a run.
const (
	// RunStarted: Hosts (the total), Batches, Concurrency, MaxFail.
	RunStarted EventKind = iota
	// BatchStarted: Batch, Hosts (hosts in this batch).
	BatchStarted
	// HostStarted: Host, Batch.
	HostStarted
	// StepStarted: Host, Step (Index, Name, Kind, Attempts so far).
	StepStarted
	// StepTask: Host, Step (with Task): the step's attempt runs as a task
	// on the host under this name, about to be started or followed; sinks
	// that must survive the controller (the journal) record it now.
	StepTask
	// StepRetrying: Host, Step (the failed attempt), Delay before the next.
	StepRetrying
	// StepFinished: Host, Step (final).
	StepFinished
	// HostFinished: Host (final, with all steps).
	HostFinished
	// Stopping: Reason (budget spent or interrupted); no new hosts start.
	Stopping
	// RunFinished: Result.
	RunFinished
)

// Event is one thing that happened during a run. Events come from the
// hosts' goroutines but are delivered one at a time, in the order they
// happened (the runner serialises them), so a sink needs no lock of its
// own; the pointers they carry are snapshots the receiver may keep.
type Event struct {
	Kind    EventKind
	Time    time.Time
	Batch   int
	Hosts   int
	Batches int
	Host    *HostResult
	Step    *StepResult
	Delay   time.Duration
	Reason  string
	Result  *Result
	// Concurrency and MaxFail (the resolved budget, -1 for none) come
	// with RunStarted.
	Concurrency Concurrency
	MaxFail     int
}

// Sink receives events. Implementations need not be safe for concurrent
// use: the runner never calls a sink from two goroutines at once.
type Sink interface {
	Event(Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event)

// Event calls f.
func (f SinkFunc) Event(e Event) { f(e) }

// OutputSink gives, for a step on a host, writers that receive every byte
// of the step's output as it arrives (per-host logs). It is called once per
// attempt; returned writers are used from the host's goroutine only. Nil
// writers mean "not wanted".
type OutputSink interface {
	StepOutput(host string, step int, attempt int) (stdout, stderr io.Writer)
}
