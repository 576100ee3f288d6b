package runner_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

// taskPlaybook has a step in the session and a step run as a task, which
// its retry policy tries again on 1618.
const taskPlaybook = `
name: tasks
steps:
  - name: prepare
    cmd: mkdir C:\p
  - name: install
    command: [wusa.exe, 'C:\p\kb.msu', /quiet, /norestart]
    run_as: system
    retries: 2
    retry_on_exit: [1618]
    retry_delay: 1s
`

// taskNameRE is how the runner names the task of step 1's attempt n.
var taskNameRE = regexp.MustCompile(`^fleetrun-[0-9a-f]{12}-s1-a([0-9]+)$`)

// journalEntry is a progress line of a journal, without its time.
type journalEntry struct {
	Host   string `json:"host"`
	Step   *int   `json:"step"`
	Name   string `json:"name"`
	Status string `json:"status"`
	Task   string `json:"task"`
}

func (e journalEntry) String() string {
	b, _ := json.Marshal(e)
	return string(b)
}

func stepEntry(step int, name, status, task string) journalEntry {
	return journalEntry{Host: "h000", Step: &step, Name: name, Status: status, Task: task}
}

func hostEntry(status string) journalEntry { return journalEntry{Host: "h000", Status: status} }

// readJournalEntries returns a journal's progress lines, in order.
func readJournalEntries(t testing.TB, path string) []journalEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }() // read-only
	var out []journalEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l struct {
			Journal int `json:"journal"`
			journalEntry
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("journal line %q: %v", sc.Text(), err)
		}
		if l.Journal == 0 {
			out = append(out, l.journalEntry)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// taskHost is one host whose session runs steps with run_as: system as
// tasks (transport.TaskRunner). Run checks that the journal recorded the
// task before it starts, Forget that the journal closed it before it is
// forgotten; both log their calls.
type taskHost struct {
	t       *testing.T
	journal string
	// run answers a Run call of a task step.
	run func(ctx context.Context, cmd transport.Command) (transport.Result, error)

	mu  sync.Mutex
	log []string
}

func (h *taskHost) Dial(context.Context, transport.Target) (transport.Session, error) { return h, nil }

func (h *taskHost) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	if cmd.RunAs != transport.RunAsSystem {
		if cmd.Task != "" {
			h.t.Errorf("a step in the session was given task %q", cmd.Task)
		}
		h.record("run " + cmd.Line)
		return transport.Result{}, nil
	}
	if !taskNameRE.MatchString(cmd.Task) {
		h.t.Errorf("task name %q, want one like fleetrun-<12 hex digits>-s1-a<attempt>", cmd.Task)
	}
	// The journal has the task before it starts: its last line says so.
	lines := readJournalEntries(h.t, h.journal)
	if want := stepEntry(1, "install", "task_started", cmd.Task); len(lines) == 0 || lines[len(lines)-1].String() != want.String() {
		h.t.Errorf("Run(%s) with the journal at %v, want its last line %v", cmd.Task, lines, want)
	}
	h.record("run " + cmd.Task)
	return h.run(ctx, cmd)
}

func (h *taskHost) Detaches(cmd transport.Command) bool { return cmd.RunAs == transport.RunAsSystem }

func (h *taskHost) Forget(ctx context.Context, task string) error {
	// The journal closed the task (a line naming it after the one that
	// started it) before it may go.
	lines := readJournalEntries(h.t, h.journal)
	started, closed := -1, false
	for i, l := range lines {
		switch {
		case l.Task == task && l.Status == "task_started":
			started, closed = i, false
		case l.Task == task && started >= 0:
			closed = true
		}
	}
	if !closed {
		h.t.Errorf("Forget(%s) before the journal closed the task:\n%v", task, lines)
	}
	h.record("forget " + task)
	return nil
}

func (h *taskHost) Close(context.Context) error { return nil }

func (h *taskHost) record(s string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.log = append(h.log, s)
}

func (h *taskHost) calls() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.log...)
}

// taskNames returns the task names Run was given, in order.
func (h *taskHost) taskNames() []string {
	var out []string
	for _, c := range h.calls() {
		if n, ok := strings.CutPrefix(c, "run fleetrun-"); ok {
			out = append(out, "fleetrun-"+n)
		}
	}
	return out
}

// results answers Run calls in turn.
func results(rs ...func(ctx context.Context) (transport.Result, error)) func(context.Context, transport.Command) (transport.Result, error) {
	var mu sync.Mutex
	i := 0
	return func(ctx context.Context, _ transport.Command) (transport.Result, error) {
		mu.Lock()
		r := rs[min(i, len(rs)-1)]
		i++
		mu.Unlock()
		return r(ctx)
	}
}

func exit(code uint32) func(context.Context) (transport.Result, error) {
	return func(context.Context) (transport.Result, error) { return transport.Result{ExitCode: code}, nil }
}

func fail(err error) func(context.Context) (transport.Result, error) {
	return func(context.Context) (transport.Result, error) { return transport.Result{}, err }
}

// runTasks runs pb on h000 with a journal at path (appended to) and
// returns the result.
func runTasks(t *testing.T, ctx context.Context, h *taskHost, path string, resume *runner.Resume, after func(time.Duration) <-chan time.Time, sinks ...runner.Sink) *runner.Result {
	t.Helper()
	pb := mustPlaybook(t, taskPlaybook)
	j, err := runner.OpenJournal(path, pb, fixedNow())
	if err != nil {
		t.Fatal(err)
	}
	if after == nil {
		after = immediate
	}
	res, err := runner.Run(ctx, pb, makeHosts(1), runner.Options{Dialer: h, Target: target, After: after,
		Sinks: append([]runner.Sink{j}, sinks...), Resume: resume})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return res
}

// Each attempt of a task step is journaled before Run and, once its
// outcome is settled, closed by the step's line; only then is the task
// forgotten, exactly once.
func TestTaskIsJournaledBeforeItStartsAndForgottenOnceItsResultIs(t *testing.T) {
	t.Parallel()
	unsettled := &transport.Error{Class: transport.ClassTimeout, Message: "the host stopped answering", Transient: true, Unsettled: true}
	tests := []struct {
		name string
		run  []func(context.Context) (transport.Result, error)
		// want* use A1, A2, A3 for the names of the attempts' tasks.
		wantCalls   []string
		wantJournal []journalEntry
		wantStatus  runner.Status
		wantClass   transport.Class
		wantSettled bool
	}{
		{"a task that exits 0", answers(exit(0)),
			[]string{"run mkdir C:\\p", "run A1", "forget A1"},
			[]journalEntry{stepEntry(0, "prepare", "ok", ""), stepEntry(1, "install", "task_started", "A1"), stepEntry(1, "install", "ok", "A1"), hostEntry("ok")},
			runner.StatusOK, "", true},
		{"a task that exits with a code the step does not accept", answers(exit(2)),
			[]string{"run mkdir C:\\p", "run A1", "forget A1"},
			[]journalEntry{stepEntry(0, "prepare", "ok", ""), stepEntry(1, "install", "task_started", "A1"), stepEntry(1, "install", "failed", "A1"), hostEntry("failed")},
			runner.StatusFailed, transport.ClassUnexpectedExit, true},
		{"a task that ended without an exit code", answers(fail(&transport.Error{Class: transport.ClassInterrupted, Message: "the task ended without an exit code"})),
			[]string{"run mkdir C:\\p", "run A1", "forget A1"},
			[]journalEntry{stepEntry(0, "prepare", "ok", ""), stepEntry(1, "install", "task_started", "A1"), stepEntry(1, "install", "failed", "A1"), hostEntry("failed")},
			runner.StatusFailed, transport.ClassInterrupted, true},
		{"a retried exit code gives each attempt its own task, forgotten before the next starts", answers(exit(1618), exit(1618), exit(0)),
			[]string{"run mkdir C:\\p", "run A1", "forget A1", "run A2", "forget A2", "run A3", "forget A3"},
			[]journalEntry{stepEntry(0, "prepare", "ok", ""),
				stepEntry(1, "install", "task_started", "A1"), stepEntry(1, "install", "retrying", "A1"),
				stepEntry(1, "install", "task_started", "A2"), stepEntry(1, "install", "retrying", "A2"),
				stepEntry(1, "install", "task_started", "A3"), stepEntry(1, "install", "ok", "A3"), hostEntry("ok")},
			runner.StatusOK, "", true},
		{"a settled transient failure is retried under a new task", answers(fail(&transport.Error{Class: transport.ClassRefused, Message: "refused", Transient: true}), exit(0)),
			[]string{"run mkdir C:\\p", "run A1", "forget A1", "run A2", "forget A2"},
			[]journalEntry{stepEntry(0, "prepare", "ok", ""),
				stepEntry(1, "install", "task_started", "A1"), stepEntry(1, "install", "retrying", "A1"),
				stepEntry(1, "install", "task_started", "A2"), stepEntry(1, "install", "ok", "A2"), hostEntry("ok")},
			runner.StatusOK, "", true},
		{"an unsettled failure leaves the task open and is not retried", answers(fail(unsettled)),
			[]string{"run mkdir C:\\p", "run A1"},
			[]journalEntry{stepEntry(0, "prepare", "ok", ""), stepEntry(1, "install", "task_started", "A1"), hostEntry("failed")},
			runner.StatusFailed, transport.ClassTimeout, false},
		{"an unsettled failure after a retry leaves only the last task open", answers(exit(1618), fail(unsettled)),
			[]string{"run mkdir C:\\p", "run A1", "forget A1", "run A2"},
			[]journalEntry{stepEntry(0, "prepare", "ok", ""),
				stepEntry(1, "install", "task_started", "A1"), stepEntry(1, "install", "retrying", "A1"),
				stepEntry(1, "install", "task_started", "A2"), hostEntry("failed")},
			runner.StatusFailed, transport.ClassTimeout, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "run.journal")
			h := &taskHost{t: t, journal: path, run: results(tc.run...)}
			var mu sync.Mutex
			var kinds []runner.EventKind
			sink := runner.SinkFunc(func(e runner.Event) {
				if e.Step != nil && e.Step.Index == 1 {
					mu.Lock()
					kinds = append(kinds, e.Kind)
					mu.Unlock()
				}
			})
			res := runTasks(t, context.Background(), h, path, nil, nil, sink)

			names := h.taskNames()
			alias := map[string]string{}
			for i, n := range names {
				if m := taskNameRE.FindStringSubmatch(n); m == nil || m[1] != strconv.Itoa(i+1) {
					t.Errorf("attempt %d ran as task %q", i+1, n)
				}
				if _, dup := alias[n]; dup {
					t.Errorf("task %q ran twice", n)
				}
				alias[n] = "A" + strconv.Itoa(i+1)
			}
			rename := func(s string) string {
				for n, a := range alias {
					s = regexp.MustCompile(regexp.QuoteMeta(n)).ReplaceAllString(s, a)
				}
				return s
			}
			var calls []string
			for _, c := range h.calls() {
				calls = append(calls, rename(c))
			}
			if diff := cmp.Diff(tc.wantCalls, calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			var journal []journalEntry
			for _, l := range readJournalEntries(t, path) {
				l.Task = rename(l.Task)
				journal = append(journal, l)
			}
			if diff := cmp.Diff(tc.wantJournal, journal); diff != "" {
				t.Errorf("journal (-want +got):\n%s", diff)
			}

			s := res.Hosts[0].Steps[1]
			gotClass := transport.Class("")
			if s.Err != nil {
				gotClass = s.Err.Class
			}
			if s.Status != tc.wantStatus || gotClass != tc.wantClass || s.TaskSettled != tc.wantSettled || s.Task != names[len(names)-1] || s.RunAs != "system" {
				t.Errorf("step %s class %q task %q settled %v run_as %q, want %s %q %q %v system",
					s.Status, gotClass, s.Task, s.TaskSettled, s.RunAs, tc.wantStatus, tc.wantClass, names[len(names)-1], tc.wantSettled)
			}
			if p := res.Hosts[0].Steps[0]; p.Task != "" || p.TaskSettled {
				t.Errorf("the session step has task %q settled %v", p.Task, p.TaskSettled)
			}
			// Every attempt announces its task after it starts and before
			// it runs.
			var want []runner.EventKind
			for i := range names {
				if i > 0 {
					want = append(want, runner.StepRetrying)
				}
				want = append(want, runner.StepStarted, runner.StepTask)
			}
			want = append(want, runner.StepFinished)
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(want, kinds); diff != "" {
				t.Errorf("events of the task step (-want +got):\n%s", diff)
			}
		})
	}
}

func answers(rs ...func(context.Context) (transport.Result, error)) []func(context.Context) (transport.Result, error) {
	return rs
}

// A run interrupted between attempts has closed the earlier attempt's task
// before forgetting it: a resumed run does not follow a task that is gone.
func TestInterruptBetweenAttemptsLeavesNoTaskOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "run.journal")
	h := &taskHost{t: t, journal: path, run: results(exit(1618))}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	after := func(time.Duration) <-chan time.Time {
		// The retry delay: interrupt the run while it waits.
		once.Do(cancel)
		return nil
	}
	res := runTasks(t, ctx, h, path, nil, after)
	s := res.Hosts[0].Steps[1]
	if s.Status != runner.StatusFailed || s.Err == nil || s.Err.Class != transport.ClassInterrupted {
		t.Fatalf("step %s %v, want failed, interrupted", s.Status, s.Err)
	}
	names := h.taskNames()
	if len(names) != 1 {
		t.Fatalf("tasks run: %q, want one", names)
	}
	if diff := cmp.Diff([]string{"run mkdir C:\\p", "run " + names[0], "forget " + names[0]}, h.calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	prog, err := runner.ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if hp := prog.Hosts["h000"]; len(hp.Tasks) != 0 {
		t.Errorf("journal leaves tasks %v open, want none: the task was forgotten", hp.Tasks)
	}
}

// A task whose outcome is unknown (the transport said Unsettled, or the run
// was interrupted and the task could not be stopped) stays open in the
// journal; a resumed run follows it by the same name on its first attempt
// and never starts the step under a new one.
func TestResumedRunFollowsAnUnsettledTask(t *testing.T) {
	t.Parallel()
	unsettled := &transport.Error{Class: transport.ClassTimeout, Message: "the host stopped answering", Transient: true, Unsettled: true}
	for _, restart := range []bool{false, true} {
		for _, how := range []string{"returned", "interrupted"} {
			t.Run(how+" restart="+map[bool]string{false: "no", true: "yes"}[restart], func(t *testing.T) {
				t.Parallel()
				path := filepath.Join(t.TempDir(), "run.journal")
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				first := &taskHost{t: t, journal: path, run: results(fail(unsettled))}
				if how == "interrupted" {
					// Run blocks until the run is cancelled, and the task
					// cannot be stopped.
					started := make(chan struct{})
					first.run = func(ctx context.Context, _ transport.Command) (transport.Result, error) {
						close(started)
						<-ctx.Done()
						return transport.Result{}, &transport.Error{Class: transport.ClassInterrupted, Message: "interrupted; the task could not be ended", Unsettled: true}
					}
					go func() {
						<-started
						cancel()
					}()
				}
				res := runTasks(t, ctx, first, path, nil, nil)
				if s := res.Hosts[0].Steps[1]; s.Status != runner.StatusFailed || s.Attempts != 1 || s.TaskSettled {
					t.Fatalf("first run: step %s after %d attempts, settled %v; want one failed attempt, unsettled", s.Status, s.Attempts, s.TaskSettled)
				}
				names := first.taskNames()
				if len(names) != 1 {
					t.Fatalf("first run ran tasks %q, want one", names)
				}
				task := names[0]
				for _, c := range first.calls() {
					if c == "forget "+task {
						t.Errorf("the unsettled task was forgotten")
					}
				}
				for _, l := range readJournalEntries(t, path) {
					if l.Task == task && l.Status != "task_started" {
						t.Errorf("journal closes the unsettled task: %v", l)
					}
				}

				prog, err := runner.ReadJournal(path)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(map[int]string{1: task}, prog.Hosts["h000"].Tasks); diff != "" {
					t.Fatalf("open tasks (-want +got):\n%s", diff)
				}
				second := &taskHost{t: t, journal: path, run: results(exit(0))}
				res = runTasks(t, context.Background(), second, path, &runner.Resume{Progress: prog, RestartFailedHosts: restart}, nil)
				want := []string{"run " + task, "forget " + task}
				if restart {
					want = append([]string{"run mkdir C:\\p"}, want...)
				}
				if diff := cmp.Diff(want, second.calls()); diff != "" {
					t.Errorf("resumed run's calls (-want +got):\n%s", diff)
				}
				if s := res.Hosts[0].Steps[1]; s.Status != runner.StatusOK || s.Task != task || !s.TaskSettled {
					t.Errorf("resumed step %s task %q settled %v, want ok %q settled", s.Status, s.Task, s.TaskSettled, task)
				}
				prog, err = runner.ReadJournal(path)
				if err != nil {
					t.Fatal(err)
				}
				if hp := prog.Hosts["h000"]; len(hp.Tasks) != 0 || !hp.Done[0] || !hp.Done[1] || hp.Status != runner.StatusOK {
					t.Errorf("journal after the resumed run: %+v", hp)
				}
			})
		}
	}
}

// A resumed run that loses the task again leaves the same task open, and
// the next one follows it still.
func TestTaskStaysOpenAcrossResumesUntilSettled(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "run.journal")
	unsettled := &transport.Error{Class: transport.ClassTimeout, Message: "the host stopped answering", Unsettled: true}
	var task string
	for i, run := range []func(context.Context) (transport.Result, error){fail(unsettled), fail(unsettled), exit(0)} {
		var resume *runner.Resume
		if i > 0 {
			prog, err := runner.ReadJournal(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[int]string{1: task}, prog.Hosts["h000"].Tasks); diff != "" {
				t.Fatalf("before run %d, open tasks (-want +got):\n%s", i+1, diff)
			}
			resume = &runner.Resume{Progress: prog}
		}
		h := &taskHost{t: t, journal: path, run: results(run)}
		runTasks(t, context.Background(), h, path, resume, nil)
		names := h.taskNames()
		if len(names) != 1 || (task != "" && names[0] != task) {
			t.Fatalf("run %d ran tasks %q, want only %q", i+1, names, task)
		}
		task = names[0]
	}
	prog, err := runner.ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if hp := prog.Hosts["h000"]; len(hp.Tasks) != 0 || !hp.Done[1] {
		t.Errorf("journal after the task settled: %+v", hp)
	}
}

func TestReadJournalTracksOpenTasks(t *testing.T) {
	t.Parallel()
	const header = `{"journal":1,"playbook":"p","playbook_sha256":"00ff","started_at":"2026-11-28T10:00:00Z"}` + "\n"
	type hp struct {
		Done, RebootPending []int
		Tasks               map[int]string
		Status              runner.Status
		// Results of Done steps that the journal recorded (the others'
		// are zero).
		Results map[int]runner.StepEnd
	}
	code3010 := uint32(3010)
	tests := []struct {
		name    string
		lines   string
		want    map[string]hp
		wantErr string // %s is the journal's path
	}{
		{"a started task is open", `{"host":"a","step":1,"name":"s","status":"task_started","task":"fleetrun-x"}`,
			map[string]hp{"a": {Tasks: map[int]string{1: "fleetrun-x"}}}, ""},
		{"the step's ok line with the task's name closes it",
			`{"host":"a","step":1,"name":"s","status":"task_started","task":"fleetrun-x"}` + "\n" + `{"host":"a","step":1,"name":"s","status":"ok","task":"fleetrun-x"}`,
			map[string]hp{"a": {Done: []int{1}}}, ""},
		{"the step's ok line keeps the exit code and outcome for a resumed run's report",
			`{"host":"a","step":1,"name":"s","status":"task_started","task":"fleetrun-x"}` + "\n" + `{"host":"a","step":1,"name":"s","status":"ok","task":"fleetrun-x","exit_code":3010,"outcome":"reboot_required"}`,
			map[string]hp{"a": {Done: []int{1}, Results: map[int]runner.StepEnd{1: {ExitCode: &code3010, Outcome: "reboot_required"}}}}, ""},
		{"a failed line with the task's name closes it",
			`{"host":"a","step":1,"name":"s","status":"task_started","task":"fleetrun-x"}` + "\n" + `{"host":"a","step":1,"name":"s","status":"failed","task":"fleetrun-x"}`,
			map[string]hp{"a": {}}, ""},
		{"a retrying line with the task's name closes it",
			`{"host":"a","step":1,"name":"s","status":"task_started","task":"fleetrun-x"}` + "\n" + `{"host":"a","step":1,"name":"s","status":"retrying","task":"fleetrun-x"}`,
			map[string]hp{"a": {}}, ""},
		{"a reboot_pending line with the task's name closes it",
			`{"host":"a","step":1,"name":"s","status":"task_started","task":"fleetrun-x"}` + "\n" + `{"host":"a","step":1,"name":"s","status":"reboot_pending","task":"fleetrun-x"}`,
			map[string]hp{"a": {RebootPending: []int{1}}}, ""},
		{"a line naming another task does not close it",
			`{"host":"a","step":1,"name":"s","status":"task_started","task":"fleetrun-x"}` + "\n" + `{"host":"a","step":1,"name":"s","status":"ok","task":"fleetrun-y"}`,
			map[string]hp{"a": {Done: []int{1}, Tasks: map[int]string{1: "fleetrun-x"}}}, ""},
		{"a failed line naming another task does not close it",
			`{"host":"a","step":1,"name":"s","status":"task_started","task":"fleetrun-x"}` + "\n" + `{"host":"a","step":1,"name":"s","status":"failed","task":"fleetrun-y"}`,
			map[string]hp{"a": {Tasks: map[int]string{1: "fleetrun-x"}}}, ""},
		{"a step line without a task does not close it",
			`{"host":"a","step":1,"name":"s","status":"task_started","task":"fleetrun-x"}` + "\n" + `{"host":"a","step":1,"name":"s","status":"ok"}`,
			map[string]hp{"a": {Done: []int{1}, Tasks: map[int]string{1: "fleetrun-x"}}}, ""},
		{"the line of another step does not close it",
			`{"host":"a","step":1,"name":"s","status":"task_started","task":"fleetrun-x"}` + "\n" + `{"host":"a","step":0,"name":"r","status":"ok","task":"fleetrun-x"}`,
			map[string]hp{"a": {Done: []int{0}, Tasks: map[int]string{1: "fleetrun-x"}}}, ""},
		{"the line of another host does not close it",
			`{"host":"a","step":1,"name":"s","status":"task_started","task":"fleetrun-x"}` + "\n" + `{"host":"b","step":1,"name":"s","status":"ok","task":"fleetrun-x"}`,
			map[string]hp{"a": {Tasks: map[int]string{1: "fleetrun-x"}}, "b": {Done: []int{1}}}, ""},
		{"the host's status line leaves it open",
			`{"host":"a","step":1,"name":"s","status":"task_started","task":"fleetrun-x"}` + "\n" + `{"host":"a","status":"failed"}`,
			map[string]hp{"a": {Tasks: map[int]string{1: "fleetrun-x"}, Status: runner.StatusFailed}}, ""},
		{"a later attempt's task replaces the earlier one",
			`{"host":"a","step":1,"name":"s","status":"task_started","task":"fleetrun-x"}` + "\n" + `{"host":"a","step":1,"name":"s","status":"task_started","task":"fleetrun-y"}`,
			map[string]hp{"a": {Tasks: map[int]string{1: "fleetrun-y"}}}, ""},
		{"closing the earlier task leaves the later one open",
			`{"host":"a","step":1,"name":"s","status":"task_started","task":"fleetrun-x"}` + "\n" + `{"host":"a","step":1,"name":"s","status":"task_started","task":"fleetrun-y"}` + "\n" +
				`{"host":"a","step":1,"name":"s","status":"failed","task":"fleetrun-x"}`,
			map[string]hp{"a": {Tasks: map[int]string{1: "fleetrun-y"}}}, ""},
		{"an old journal without task fields",
			`{"host":"a","step":0,"name":"r","status":"ok","at":"2026-11-28T10:00:01Z"}` + "\n" + `{"host":"a","step":1,"name":"s","status":"reboot_pending"}` + "\n" + `{"host":"a","status":"failed"}` + "\n" +
				`{"host":"b","step":0,"name":"r","status":"ok"}` + "\n" + `{"host":"b","step":1,"name":"s","status":"ok"}` + "\n" + `{"host":"b","status":"ok"}`,
			map[string]hp{"a": {Done: []int{0}, RebootPending: []int{1}, Status: runner.StatusFailed}, "b": {Done: []int{0, 1}, Status: runner.StatusOK}}, ""},
		{"a task line without the task's name",
			`{"host":"a","step":0,"name":"r","status":"ok"}` + "\n" + `{"host":"a","step":1,"name":"s","status":"task_started"}`,
			nil, "journal %s:3: a task line without the task's name"},
		{"a task line with an empty name", `{"host":"a","step":1,"name":"s","status":"task_started","task":""}`,
			nil, "journal %s:2: a task line without the task's name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "run.journal")
			if err := os.WriteFile(path, []byte(header+tc.lines+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			prog, err := runner.ReadJournal(path)
			if tc.wantErr != "" {
				if want := fmt.Sprintf(tc.wantErr, path); err == nil || err.Error() != want {
					t.Fatalf("error %v, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]*runner.HostProgress{}
			for host, w := range tc.want {
				p := &runner.HostProgress{Done: map[int]bool{}, RebootPending: map[int]bool{}, Tasks: map[int]string{}, Results: map[int]runner.StepEnd{}, Status: w.Status}
				for _, i := range w.Done {
					p.Done[i] = true
					p.Results[i] = w.Results[i]
				}
				for _, i := range w.RebootPending {
					p.RebootPending[i] = true
				}
				for i, n := range w.Tasks {
					p.Tasks[i] = n
				}
				want[host] = p
			}
			if diff := cmp.Diff(want, prog.Hosts); diff != "" {
				t.Errorf("progress (-want +got):\n%s", diff)
			}
		})
	}
}
