package runner

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/transport"
)

// A journal records, as JSON lines appended to a file, which steps finished
// on which host, so that a run cut short (interrupted, budget spent, hosts
// failed) can be resumed without re-running what already succeeded. Every
// run appends a header line; a resumed run appends to the same file, so the
// journal always describes the whole rollout.

// journalLine is one line of a journal file.
type journalLine struct {
	// Header lines.
	Journal      int    `json:"journal,omitempty"` // format version, 1
	Playbook     string `json:"playbook,omitempty"`
	PlaybookHash string `json:"playbook_sha256,omitempty"`
	Started      string `json:"started_at,omitempty"`
	// ForcedFrom is, on the header of a run resumed with --force for a
	// changed playbook, the hash of the playbook the journal had so far:
	// the change was accepted, and the journal goes on with the new one.
	ForcedFrom string `json:"forced_from,omitempty"`
	// Progress lines.
	Host   string `json:"host,omitempty"`
	Step   *int   `json:"step,omitempty"`
	Name   string `json:"name,omitempty"`
	Status Status `json:"status,omitempty"`
	// Task names the task a step runs as (run_as: system): written with
	// status task_started before the task starts, and with the step's
	// status (retrying for an attempt tried again) once its outcome is
	// known.
	Task string `json:"task,omitempty"`
	// ExitCode and Outcome are a finished step's, so that a resumed run's
	// report still shows what a step done earlier ended with.
	ExitCode *uint32 `json:"exit_code,omitempty"`
	Outcome  string  `json:"outcome,omitempty"`
	At       string  `json:"at,omitempty"`
}

// PlaybookHash identifies a playbook's exact text.
func PlaybookHash(pb *playbook.Playbook) string {
	sum := sha256.Sum256(pb.Source)
	return hex.EncodeToString(sum[:])
}

// Journal is a Sink that appends progress to a journal file. Write errors
// are kept and returned by Close.
type Journal struct {
	mu   sync.Mutex
	f    *os.File
	path string
	err  error

	// line is the line being written, buf its text and enc the encoder
	// into buf (escaping HTML, as json.Marshal does): reused from line to
	// line, under mu, so that writing a line allocates little.
	line journalLine
	buf  bytes.Buffer
	enc  *json.Encoder
}

// OpenJournal opens (creating with mode 0600, or appending to) the journal at
// path and writes this run's header. An existing journal is given mode
// 0600; a file that is not a journal of pb is refused (see CheckJournal).
func OpenJournal(path string, pb *playbook.Playbook, now time.Time) (*Journal, error) {
	return openJournal(path, pb, now, "")
}

// ResumeJournal opens the journal of a resumed run, as OpenJournal does;
// when the playbook changed since from was written (a resume with --force),
// the header records the hash it replaces, so the journal can be read and
// resumed again.
func ResumeJournal(path string, pb *playbook.Playbook, now time.Time, from *Progress) (*Journal, error) {
	return openJournal(path, pb, now, forcedFrom(pb, from))
}

// forcedFrom is the playbook hash a resumed run replaces ("" if none).
func forcedFrom(pb *playbook.Playbook, from *Progress) string {
	if from != nil && from.PlaybookHash != "" && from.PlaybookHash != PlaybookHash(pb) {
		return from.PlaybookHash
	}
	return ""
}

// CheckJournal checks, before a run starts, that the journal at path can
// be appended to by a run of pb (resumed from from, or nil): either there
// is no file yet, or it is an empty file or a journal of this playbook (or
// of the one a --force resume replaces). Anything else — a folder, a
// device, a file that is not a journal, another playbook's journal — is
// refused rather than appended to. OpenJournal and ResumeJournal check the
// same.
func CheckJournal(path string, pb *playbook.Playbook, from *Progress) error {
	return checkJournal(path, pb, forcedFrom(pb, from))
}

func checkJournal(path string, pb *playbook.Playbook, forced string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("journal: %w", err)
	case fi.IsDir():
		return fmt.Errorf("journal %s: is a folder; give a file name", path)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("journal %s: is not a regular file (%s)", path, fi.Mode().Type())
	case fi.Size() == 0:
		return nil
	}
	if !startsWithHeader(path) {
		return fmt.Errorf("refusing to append to %s: it is not a fleetrun journal (found %d bytes whose first line is not a journal header)", path, fi.Size())
	}
	prog, err := ReadJournal(path)
	if err != nil {
		return fmt.Errorf("refusing to append to %s: it is a journal that cannot be read: %w", path, err)
	}
	if h := PlaybookHash(pb); prog.PlaybookHash != h && prog.PlaybookHash != forced {
		return fmt.Errorf("refusing to append to journal %s: it records playbook %q with another text (sha256 %.12s); resume it with --resume, or give this run its own --journal", path, prog.Playbook, prog.PlaybookHash)
	}
	return nil
}

// startsWithHeader reports whether the file's first line is a journal
// header. What the line holds otherwise is not repeated: it may be anything.
func startsWithHeader(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }() // read-only
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), 1<<20)
	var l journalLine
	return sc.Scan() && json.Unmarshal(sc.Bytes(), &l) == nil && l.Journal != 0
}

func openJournal(path string, pb *playbook.Playbook, now time.Time, forcedFrom string) (*Journal, error) {
	if err := checkJournal(path, pb, forcedFrom); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	// A journal names hosts and outcomes: it is its owner's alone, also
	// when an existing file had a wider mode.
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close() // nothing written yet; the mode is the error
		return nil, fmt.Errorf("journal %s: make it readable by its owner only: %w", path, err)
	}
	j := &Journal{f: f, path: path}
	j.enc = json.NewEncoder(&j.buf)
	j.write(journalLine{Journal: 1, Playbook: pb.Name, PlaybookHash: PlaybookHash(pb), Started: journalTime(now), ForcedFrom: forcedFrom})
	if j.err != nil {
		_ = f.Close() // the write error is what matters
		return nil, j.err
	}
	return j, nil
}

// Path is the journal's file name.
func (j *Journal) Path() string { return j.path }

func (j *Journal) write(l journalLine) {
	if j.err != nil {
		return
	}
	// The line is what json.Marshal makes of l, ended by the newline
	// Encode adds.
	j.line = l
	j.buf.Reset()
	err := j.enc.Encode(&j.line)
	j.line = journalLine{} // keep no pointer into the event
	if err != nil {
		j.err = fmt.Errorf("journal %s: %w", j.path, err)
		return
	}
	// One write per line with O_APPEND: a line is never split, and what was
	// written survives the process being killed.
	if _, err := j.f.Write(j.buf.Bytes()); err != nil {
		j.err = fmt.Errorf("journal %s: %w", j.path, err)
	}
}

// journalTime is how a journal line records when it happened.
func journalTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Event records finished steps and hosts.
func (j *Journal) Event(e Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch e.Kind {
	case StepTask:
		// Before the task starts: should fleetrun die while it runs, a
		// resumed run follows this task instead of starting the step again.
		// The line is one write to the file before Run is called, so it
		// survives fleetrun being killed.
		j.write(journalLine{Host: e.Host.Name, Step: &e.Step.Index, Name: e.Step.Name, Status: statusTaskStarted, Task: e.Step.Task, At: journalTime(e.Time)})
	case StepFinished:
		// A settled task is closed by the step's line; an unsettled one
		// stays open for a resumed run to follow.
		task := ""
		if e.Step.TaskSettled {
			task = e.Step.Task
		}
		switch {
		case e.Step.Status.Succeeded() && e.Step.Reason == "":
			// A copy or download that succeeded (ok or unchanged) is done
			// like any other step: a resumed run does not send it again.
			// Sending it again would be cheap (unchanged), but a later step
			// may have changed the file on purpose since.
			j.write(journalLine{Host: e.Host.Name, Step: &e.Step.Index, Name: e.Step.Name, Status: e.Step.Status, Task: task, ExitCode: e.Step.ExitCode, Outcome: e.Step.Outcome, At: journalTime(e.Time)})
		case rebootPending(e.Step):
			// The step did its work but the restart it asked for did not
			// complete: a resumed run restarts the host instead of running
			// the step again.
			j.write(journalLine{Host: e.Host.Name, Step: &e.Step.Index, Name: e.Step.Name, Status: statusRebootPending, Task: task, ExitCode: e.Step.ExitCode, Outcome: e.Step.Outcome, At: journalTime(e.Time)})
		case task != "":
			j.write(journalLine{Host: e.Host.Name, Step: &e.Step.Index, Name: e.Step.Name, Status: e.Step.Status, Task: task, ExitCode: e.Step.ExitCode, Outcome: e.Step.Outcome, At: journalTime(e.Time)})
		}
	case StepRetrying:
		// An attempt whose task settled and that the step tries again: the
		// task is closed before it is forgotten, lest a resumed run follow
		// a task that is gone (and start it again under its old name).
		if e.Step.Task != "" && e.Step.TaskSettled {
			j.write(journalLine{Host: e.Host.Name, Step: &e.Step.Index, Name: e.Step.Name, Status: statusRetrying, Task: e.Step.Task, At: journalTime(e.Time)})
		}
	case HostFinished:
		if e.Host.Reason != ReasonDoneEarlier {
			j.write(journalLine{Host: e.Host.Name, Status: e.Host.Status, At: journalTime(e.Time)})
		}
	}
}

// statusRebootPending marks, in a journal, a step whose work is done but
// whose restart did not complete.
const statusRebootPending Status = "reboot_pending"

// statusTaskStarted marks, in a journal, a step's task about to start.
const statusTaskStarted Status = "task_started"

// statusRetrying marks, in a journal, an attempt whose task settled with a
// result the step tries again: it closes the attempt's task.
const statusRetrying Status = "retrying"

func rebootPending(s *StepResult) bool {
	return s.Status == StatusFailed && s.ExitCode != nil && s.Err != nil && s.Err.Class == transport.ClassRebootTimeout &&
		(s.Outcome == playbook.OutcomeRebootRequired || s.Outcome == playbook.OutcomeRebootInitiated)
}

// Close flushes the journal to disk and reports the first write error.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return j.err
	}
	if err := j.f.Sync(); err != nil && j.err == nil {
		j.err = fmt.Errorf("journal %s: %w", j.path, err)
	}
	if err := j.f.Close(); err != nil && j.err == nil {
		j.err = fmt.Errorf("journal %s: %w", j.path, err)
	}
	j.f = nil
	return j.err
}

// Progress is what a journal says about the rollout so far.
type Progress struct {
	Playbook     string
	PlaybookHash string
	// Hosts maps host names to what they completed.
	Hosts map[string]*HostProgress
}

// HostProgress is one host's completed steps and last status.
type HostProgress struct {
	Done map[int]bool
	// RebootPending marks steps whose work is done but whose restart did
	// not complete.
	RebootPending map[int]bool
	// Tasks names, by step, a task whose outcome no run has recorded: the
	// step must be followed, not started again.
	Tasks map[int]string
	// Results are the exit codes and outcomes of the steps in Done, where
	// the journal has them.
	Results map[int]StepEnd
	Status  Status // last recorded host status; "" if it never finished
}

// StepEnd is how a step done in an earlier run ended.
type StepEnd struct {
	ExitCode *uint32
	Outcome  string
	// Unchanged: a file step that found its files in place.
	Unchanged bool
}

// ErrPlaybookChanged means a journal was written for another version of the
// playbook.
var ErrPlaybookChanged = errors.New("the playbook changed since the journal was written")

// ReadJournal reads a journal file. A truncated last line (the process died
// mid-write) is ignored; any other malformed line is an error.
func ReadJournal(path string) (*Progress, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	defer func() { _ = f.Close() }() // read-only; what was read is what matters
	return parseJournal(path, f)
}

func parseJournal(path string, r io.Reader) (*Progress, error) {
	p := &Progress{Hosts: map[string]*HostProgress{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	lineNo := 0
	var pendingErr error
	for sc.Scan() {
		lineNo++
		if pendingErr != nil {
			return nil, pendingErr
		}
		var l journalLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			pendingErr = fmt.Errorf("journal %s:%d: %w", path, lineNo, err)
			continue
		}
		switch {
		case l.Journal != 0:
			if l.Journal != 1 {
				return nil, fmt.Errorf("journal %s:%d: unsupported journal version %d", path, lineNo, l.Journal)
			}
			if p.PlaybookHash != "" && p.PlaybookHash != l.PlaybookHash && l.ForcedFrom != p.PlaybookHash {
				return nil, fmt.Errorf("journal %s:%d: runs of different playbooks are mixed in one journal", path, lineNo)
			}
			p.Playbook, p.PlaybookHash = l.Playbook, l.PlaybookHash
		case l.Host != "" && p.PlaybookHash == "":
			return nil, fmt.Errorf("journal %s:%d: progress before any header", path, lineNo)
		case l.Host != "":
			hp := p.Hosts[l.Host]
			if hp == nil {
				hp = &HostProgress{Done: map[int]bool{}, RebootPending: map[int]bool{}, Tasks: map[int]string{}, Results: map[int]StepEnd{}}
				p.Hosts[l.Host] = hp
			}
			switch {
			case l.Step != nil && l.Status == statusTaskStarted:
				if l.Task == "" {
					return nil, fmt.Errorf("journal %s:%d: a task line without the task's name", path, lineNo)
				}
				hp.Tasks[*l.Step] = l.Task
			case l.Step != nil && l.Status == statusRebootPending:
				hp.RebootPending[*l.Step] = true
				closeTask(hp, *l.Step, l.Task)
			case l.Step != nil && l.Status.Succeeded():
				hp.Done[*l.Step] = true
				hp.Results[*l.Step] = StepEnd{ExitCode: l.ExitCode, Outcome: l.Outcome, Unchanged: l.Status == StatusUnchanged}
				delete(hp.RebootPending, *l.Step)
				closeTask(hp, *l.Step, l.Task)
			case l.Step != nil:
				// A step that ended otherwise, with its task settled.
				closeTask(hp, *l.Step, l.Task)
			default:
				hp.Status = l.Status
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	if p.PlaybookHash == "" {
		return nil, fmt.Errorf("journal %s: no header line; is this a fleetrun journal?", path)
	}
	return p, nil
}

// closeTask forgets a step's open task once a line settles it.
func closeTask(hp *HostProgress, step int, task string) {
	if task != "" && hp.Tasks[step] == task {
		delete(hp.Tasks, step)
	}
}

// Check refuses a journal written for another version of pb unless force.
func (p *Progress) Check(pb *playbook.Playbook, force bool) error {
	if p.PlaybookHash == PlaybookHash(pb) || force {
		return nil
	}
	return fmt.Errorf("%w (journal: %q sha256 %.12s, now: sha256 %.12s); resuming could skip or repeat the wrong steps — pass --force to resume anyway", ErrPlaybookChanged, p.Playbook, p.PlaybookHash, PlaybookHash(pb))
}

// Resume says where each host starts in a resumed run.
type Resume struct {
	Progress *Progress
	// RestartFailedHosts starts unfinished hosts from their first step
	// instead of their first unfinished step.
	RestartFailedHosts bool
}

// ReasonDoneEarlier marks hosts and steps a resumed run did not repeat.
const ReasonDoneEarlier = "done in an earlier run (journal)"

// rebootPending reports whether step of host did its work in an earlier run
// but its restart did not complete.
func (r *Resume) rebootPending(host string, step int) bool {
	if r == nil || r.Progress == nil || r.RestartFailedHosts {
		return false
	}
	hp := r.Progress.Hosts[host]
	return hp != nil && hp.RebootPending[step]
}

// result returns how a host's step done in an earlier run ended, as far as
// the journal says.
func (r *Resume) result(host string, step int) StepEnd {
	if r == nil || r.Progress == nil {
		return StepEnd{}
	}
	if hp := r.Progress.Hosts[host]; hp != nil {
		return hp.Results[step]
	}
	return StepEnd{}
}

// task returns the task a host's step left running in an earlier run, to
// be followed instead of started: "" when there is none. It holds with
// RestartFailedHosts too, since a step must never run twice at once.
func (r *Resume) task(host string, step int) string {
	if r == nil || r.Progress == nil {
		return ""
	}
	if hp := r.Progress.Hosts[host]; hp != nil {
		return hp.Tasks[step]
	}
	return ""
}

// firstStep returns the index of the first step host must run, and whether
// the host is already done.
func (r *Resume) firstStep(host string, steps int) (int, bool) {
	if r == nil || r.Progress == nil {
		return 0, false
	}
	hp := r.Progress.Hosts[host]
	if hp == nil {
		return 0, false
	}
	if hp.Status == StatusOK {
		return steps, true
	}
	if r.RestartFailedHosts {
		return 0, false
	}
	for i := 0; i < steps; i++ {
		if !hp.Done[i] {
			return i, false
		}
	}
	return steps, true
}
