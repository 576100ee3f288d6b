package runner

import (
	"time"

	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/transport"
)

// Status is the state of a run, a host or a step, as reports show it.
type Status string

// Statuses. Runs use ok, failed, aborted and planned; hosts use ok, failed,
// unreachable, skipped and planned; steps use ok, unchanged, failed,
// skipped and planned.
const (
	StatusOK          Status = "ok"
	StatusFailed      Status = "failed"
	StatusUnreachable Status = "unreachable"
	StatusSkipped     Status = "skipped"
	StatusAborted     Status = "aborted"
	StatusPlanned     Status = "planned"
	// StatusUnchanged is a copy or download step that found every
	// destination already holding the required bytes and wrote nothing;
	// it counts as a success (the host stays ok).
	StatusUnchanged Status = "unchanged"
)

// Succeeded reports whether a step's status is a success (ok or
// unchanged).
func (s Status) Succeeded() bool { return s == StatusOK || s == StatusUnchanged }

// StepResult is what happened to one step on one host.
type StepResult struct {
	Index  int
	Name   string
	Kind   playbook.Kind
	Status Status
	// ExitCode is set when the process produced one.
	ExitCode *uint32
	Expected []uint32
	// Outcome is the meaning of the exit code (ok, reboot_required, ...),
	// empty when none applies.
	Outcome string
	// Rebooted says the host was restarted by or after this step.
	Rebooted bool
	Attempts int
	Started  time.Time
	Finished time.Time
	Stdout   string
	Stderr   string
	// OutputTruncated says stdout or stderr hit the in-memory cap.
	OutputTruncated bool
	// Err is the failure, nil on success and for skipped steps.
	Err *transport.Error
	// Reason says why a step was skipped.
	Reason string
	// RemoteCommand and CommandLine are filled in plans (dry runs).
	RemoteCommand []string
	CommandLine   string
	// Argv, CmdLine and Script are, in plans, what the step's program
	// receives, decoded: an argv step's arguments (program first), a cmd
	// step's line as cmd.exe parses it, a powershell step's script after
	// template expansion.
	Argv    []string
	CmdLine string
	Script  string
	// Note says, in plans, how the step reaches the host when that is not
	// plain (run_as: system).
	Note string
	// RunAs is the step's run_as (system), empty for the default.
	RunAs string
	// Task names the task the step's last attempt ran as; TaskSettled says
	// its outcome is known (it is not running any more).
	Task        string
	TaskSettled bool
	// Files are what a file step moved or found, one per file (in plans,
	// a copy's files with their sources as Local); Unchanged says every
	// destination already held the required bytes.
	Files     []transport.FileResult
	Unchanged bool
}

// Duration is how long the step took, zero when it did not run.
func (s *StepResult) Duration() time.Duration {
	if s.Started.IsZero() || s.Finished.IsZero() {
		return 0
	}
	return s.Finished.Sub(s.Started)
}

// HostResult is what happened on one host.
type HostResult struct {
	Name      string
	Address   string
	Batch     int
	Status    Status
	Reason    string // why skipped or unreachable
	Transport string
	Simulated bool
	Started   time.Time
	Finished  time.Time
	Steps     []*StepResult
	// Err is the connection failure for unreachable hosts.
	Err *transport.Error
}

// FailedStep returns the first failed step, or nil.
func (h *HostResult) FailedStep() *StepResult {
	for _, s := range h.Steps {
		if s.Status == StatusFailed {
			return s
		}
	}
	return nil
}

// IgnoredFailures counts the failed steps of a host that went on after
// them (continue_on_error): the steps that failed on a host whose status
// is ok. They leave the host ok and the run's exit status 0, but every
// report shows them (see docs/design.md, "Ignored failures (continue_on_error)").
func (h *HostResult) IgnoredFailures() int {
	if h.Status != StatusOK {
		return 0
	}
	n := 0
	for _, s := range h.Steps {
		if s.Status == StatusFailed {
			n++
		}
	}
	return n
}

// Summary counts hosts by status.
type Summary struct {
	Hosts       int
	OK          int
	Failed      int
	Unreachable int
	Skipped     int
}

// Result is a whole run (or plan).
type Result struct {
	Playbook string
	Status   Status
	// StopReason says why a run was aborted (budget spent, interrupted).
	StopReason string
	Started    time.Time
	Finished   time.Time
	Hosts      []*HostResult
	// Forks and Batches describe how the run was scheduled.
	Forks   int
	Batches int
	// MaxFail is the resolved failure budget (-1 for none).
	MaxFail int
	// Concurrency is how many hosts may run at once, and what bounds it.
	Concurrency Concurrency
}

// What bounds how many hosts run at once (Concurrency.LimitedBy).
const (
	LimitedByForks   = "forks"
	LimitedByBatch   = "batch"
	LimitedByMaxFail = "max_fail"
)

// Concurrency is the most hosts a run has in flight at once and what
// bounds it: forks, the largest batch (of serial, or every host when the
// playbook has no serial) or the failure budget. The
// runner starts a host only while failures + hosts in flight ≤ max_fail,
// so with max_fail B at most B+1 hosts run at once, fewer once hosts have
// failed; that bound is named only when it is below both forks and the
// largest batch. Zero for a run without hosts.
type Concurrency struct {
	Hosts     int
	LimitedBy string
}

// ConcurrencyOf is the Concurrency of a run with forks, hosts in the
// batches Batches gave (each host's batch number) and the resolved
// budget (-1 for none).
func ConcurrencyOf(forks int, batches []int, budget int) Concurrency {
	if len(batches) == 0 {
		return Concurrency{}
	}
	largest, size := 0, 0
	for i, b := range batches {
		if i > 0 && b != batches[i-1] {
			size = 0
		}
		size++
		largest = max(largest, size)
	}
	c := Concurrency{Hosts: forks, LimitedBy: LimitedByForks}
	if largest < forks {
		c = Concurrency{Hosts: largest, LimitedBy: LimitedByBatch}
	}
	if budget >= 0 && budget+1 < c.Hosts {
		c = Concurrency{Hosts: budget + 1, LimitedBy: LimitedByMaxFail}
	}
	return c
}

// Summarize counts the hosts of r by status.
func (r *Result) Summarize() Summary {
	s := Summary{Hosts: len(r.Hosts)}
	for _, h := range r.Hosts {
		switch h.Status {
		case StatusOK:
			s.OK++
		case StatusFailed:
			s.Failed++
		case StatusUnreachable:
			s.Unreachable++
		case StatusSkipped:
			s.Skipped++
		}
	}
	return s
}
