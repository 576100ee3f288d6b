package sim

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
)

// The Task Scheduler of a simulated host, as far as fleetrun and the
// examples use it: registered tasks with an exec action, run on demand
// (time triggers are accepted but never fire), as SYSTEM or the caller,
// their state and last result as schtasks.exe and the Task Scheduler API
// report them. A task's process runs outside any WinRS shell: in a task
// logon, with no per-shell memory cap, and it outlives the shell and the
// connection that started it; a restart of the host ends it.

// Task Scheduler result codes (Microsoft, "Task Scheduler Error and
// Success Constants").
const (
	schedTaskRunning    = 0x41301 // 267009 SCHED_S_TASK_RUNNING
	schedTaskHasNotRun  = 0x41303 // 267011 SCHED_S_TASK_HAS_NOT_RUN
	schedTaskTerminated = 0x41306 // 267014 SCHED_S_TASK_TERMINATED: ended by a user
)

// taskScheduler holds a host's registered tasks; h.mu guards it.
type taskScheduler struct {
	tasks map[string]*schedTask // by lower-case path (\folder\name)
}

func newTaskScheduler() *taskScheduler { return &taskScheduler{tasks: map[string]*schedTask{}} }

// schedTask is one registered task.
type schedTask struct {
	path    string // \fleetrun\fleetrun-0123abcd, as registered
	program string // the exec action's program, as registered
	args    string // its arguments
	user    string // SYSTEM, or the account it runs as
	highest bool   // run with highest privileges
	trigger string // schedule type as schtasks shows it ("One Time Only", "At system start up", "N/A")
	// limit is the ExecutionTimeLimit; 0 means none.
	limit time.Duration

	running    *taskInstance
	lastResult uint32
	lastRun    time.Time
	runs       int
}

// taskInstance is a running instance of a task.
type taskInstance struct {
	cancel context.CancelFunc // ends the whole tree (a restart, the host closing)
	root   *process           // the action's process, once it started
	timer  interface{ Stop() bool }
	ended  bool // the instance no longer counts as running
}

// taskState is the task's Status as schtasks shows it.
func (t *schedTask) state() string {
	if t.running != nil {
		return "Running"
	}
	return "Ready"
}

// taskCommandLine is the action as one command line: "program" args.
func (t *schedTask) commandLine() string {
	if t.args == "" {
		return t.program
	}
	return t.program + " " + t.args
}

// canonTaskPath spells a task name as a path in the task folder tree:
// "x" and "\x" are the same task, folders compare case-insensitively.
func canonTaskPath(name string) string {
	name = strings.ReplaceAll(strings.TrimSpace(name), "/", `\`)
	if !strings.HasPrefix(name, `\`) {
		name = `\` + name
	}
	return name
}

// errTaskNotFound is what Windows says for a task that does not exist.
var errTaskNotFound = fmt.Errorf("the system cannot find the file specified")

// errTaskExists is the refusal to register a name in use without /F.
var errTaskExists = fmt.Errorf("cannot create a file when that file already exists")

// errTaskAccess is the refusal to register a task as SYSTEM (or with
// highest privileges) for a caller that is no administrator.
var errTaskAccess = fmt.Errorf("access is denied")

// taskSpec is a task to register.
type taskSpec struct {
	path    string
	program string
	args    string
	user    string
	highest bool
	trigger string
	limit   time.Duration
}

// schedulerRunning reports whether the Task Scheduler service runs.
func (h *Host) schedulerRunning() bool {
	s, ok := h.machine.Service("Schedule")
	return !ok || s.Running
}

// registerTask registers a task as caller (a process); replace allows an
// existing one to be replaced (schtasks /F, TASK_CREATE_OR_UPDATE).
func (h *Host) registerTask(caller *procState, spec taskSpec, replace bool) error {
	defer h.notifyChange()
	if !h.cfg.Account.admin() && caller.logon == logonNetwork {
		// Registering a task as SYSTEM or elevated needs an administrator;
		// a filtered or non-administrator token is refused.
		return errTaskAccess
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	key := strings.ToLower(canonTaskPath(spec.path))
	if old, ok := h.tasks.tasks[key]; ok {
		if !replace {
			return errTaskExists
		}
		// The running instance goes on; only the definition changes.
		old.program, old.args, old.user, old.highest, old.trigger, old.limit = spec.program, spec.args, spec.user, spec.highest, spec.trigger, spec.limit
		return nil
	}
	h.tasks.tasks[key] = &schedTask{
		path: canonTaskPath(spec.path), program: spec.program, args: spec.args, user: spec.user,
		highest: spec.highest, trigger: spec.trigger, limit: spec.limit, lastResult: schedTaskHasNotRun,
	}
	h.stats.add(&h.stats.tasksCreated, 1)
	return nil
}

// runTask starts a task's action now. A task already running is left
// alone (MultipleInstances IgnoreNew, the default): started is false then.
func (h *Host) runTask(path string) (started bool, err error) {
	defer h.notifyChange()
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.tasks.tasks[strings.ToLower(canonTaskPath(path))]
	if !ok {
		return false, errTaskNotFound
	}
	if t.running != nil {
		return false, nil
	}
	if h.closed || h.offline {
		return false, fmt.Errorf("the host is shutting down")
	}
	ctx, cancel := context.WithCancel(h.ctx)
	inst := &taskInstance{cancel: cancel}
	t.running, t.lastRun, t.lastResult = inst, h.clock.Now(), schedTaskRunning
	t.runs++
	h.stats.add(&h.stats.taskRuns, 1)
	program, args, user := t.program, t.args, t.user
	if t.limit > 0 {
		h.procs.Add(1)
		inst.timer = h.clock.AfterFunc(t.limit, func() {
			defer h.procs.Done()
			// The execution time limit passed: the Task Scheduler stops the
			// task as /end does.
			h.endInstance(t, inst)
		})
	}
	if !h.goProcLocked(func() {
		defer cancel()
		code := h.runTaskAction(ctx, inst, program, args, user)
		defer h.notifyChange()
		h.mu.Lock()
		defer h.mu.Unlock()
		if inst.timer != nil && inst.timer.Stop() {
			h.procs.Done()
		}
		if t.running == inst && !inst.ended {
			t.running, t.lastResult = nil, code
		}
	}) {
		cancel()
		t.running, t.lastResult = nil, schedTaskHasNotRun
		return false, fmt.Errorf("the host is shutting down")
	}
	return true, nil
}

// runTaskAction runs the action's program as the task's process: in a
// task logon, as user, with a new (hidden) console in the system's OEM
// code page, in the system folder, with SYSTEM's environment.
func (h *Host) runTaskAction(ctx context.Context, inst *taskInstance, program, args, user string) uint32 {
	ps := &procState{host: h, logon: logonTask, user: user, console: newConsole(h.defaultCodepage()), tree: ctx}
	ctx = context.WithValue(ctx, procKey{}, ps)
	env := h.systemEnv(`C:\Windows\system32`)
	if !strings.EqualFold(user, "SYSTEM") {
		env = cmdexe.NewEnv(h.baseEnv(user), h.userProfile(user))
	}
	program = strings.Trim(expandEnvStrings(program, env), `"`)
	if lower := strings.ToLower(program); strings.HasSuffix(lower, ".bat") || strings.HasSuffix(lower, ".cmd") {
		// CreateProcess hands a batch file to cmd.exe /c.
		args = strings.TrimSpace(`/c ""` + program + `" ` + args + `"`)
		program = pathCmd
	}
	image, prog, path, ok := h.resolveImage(program, env)
	if !ok {
		return 0x80070002 // ERROR_FILE_NOT_FOUND as an HRESULT, as Last Result shows it
	}
	line := `"` + path + `"`
	if args != "" {
		line += " " + args
	}
	if ps.sleep(ctx, h.cfg.ProcessStart+h.cfg.Faults.SlowStart) != nil {
		return schedTaskTerminated
	}
	h.stats.count(&h.stats.programs, image)
	return h.spawn(ctx, image, line, func(ctx context.Context) uint32 {
		h.mu.Lock()
		inst.root = procFrom(ctx).proc
		ended := inst.ended
		h.mu.Unlock()
		if ended {
			return schedTaskTerminated
		}
		return prog(ctx, &cmdexe.Proc{Name: path, CommandLine: line, Args: cmdexe.ParseArgs(line), Env: env,
			Stdin: strings.NewReader(""), Stdout: discard{}, Stderr: discard{}})
	})
}

// discard is a task's console: nobody reads it.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// resolveImage finds a program like resolveProgram, returning the image
// name and the program without starting a process for it.
func (h *Host) resolveImage(file string, env *cmdexe.Env) (image string, prog cmdexe.Program, path string, ok bool) {
	_, path, ok = h.resolveProgram(file, env)
	if !ok {
		return "", nil, "", false
	}
	image, prog, ok = h.lookupImage(path)
	return image, prog, path, ok
}

// endTask ends a running task as schtasks /end and IRegisteredTask.Stop
// do: the action's process alone is terminated (its children keep
// running, Microsoft: "SchTasks.exe ends only the instances of a program
// started by a scheduled task"), the task is Ready again and its last
// result 267014. running is false when the task was not running.
func (h *Host) endTask(path string) (running bool, err error) {
	h.mu.Lock()
	t, ok := h.tasks.tasks[strings.ToLower(canonTaskPath(path))]
	if !ok {
		h.mu.Unlock()
		return false, errTaskNotFound
	}
	inst := t.running
	h.mu.Unlock()
	if inst == nil {
		return false, nil
	}
	h.endInstance(t, inst)
	return true, nil
}

// endInstance stops an instance: its root process is killed alone.
func (h *Host) endInstance(t *schedTask, inst *taskInstance) {
	defer h.notifyChange()
	h.mu.Lock()
	if inst.ended || t.running != inst {
		h.mu.Unlock()
		return
	}
	inst.ended = true
	t.running, t.lastResult = nil, schedTaskTerminated
	root := inst.root
	h.mu.Unlock()
	h.stats.add(&h.stats.tasksEnded, 1)
	if root != nil {
		h.killProcess(root.pid, false, 1)
	}
}

// deleteTask removes a task's registration; a running instance goes on.
func (h *Host) deleteTask(path string) error {
	defer h.notifyChange()
	h.mu.Lock()
	defer h.mu.Unlock()
	key := strings.ToLower(canonTaskPath(path))
	if _, ok := h.tasks.tasks[key]; !ok {
		return errTaskNotFound
	}
	delete(h.tasks.tasks, key)
	h.stats.add(&h.stats.tasksDeleted, 1)
	return nil
}

// TaskInfo is a snapshot of a registered task.
type TaskInfo struct {
	Path        string    `json:"path"`
	Status      string    `json:"status"` // Ready, Running
	LastResult  uint32    `json:"last_result"`
	LastRunTime time.Time `json:"last_run_time"`
	Runs        int       `json:"runs"`
	RunAsUser   string    `json:"run_as_user"`
	TaskToRun   string    `json:"task_to_run"`
	Highest     bool      `json:"highest"`
	Trigger     string    `json:"trigger"`
}

func (t *schedTask) info() TaskInfo {
	return TaskInfo{Path: t.path, Status: t.state(), LastResult: t.lastResult, LastRunTime: t.lastRun, Runs: t.runs,
		RunAsUser: t.user, TaskToRun: t.commandLine(), Highest: t.highest, Trigger: t.trigger}
}

// Task returns a registered task by path; ok is false when none exists.
func (h *Host) Task(path string) (TaskInfo, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.tasks.tasks[strings.ToLower(canonTaskPath(path))]
	if !ok {
		return TaskInfo{}, false
	}
	return t.info(), true
}

// Tasks lists the registered tasks by path.
func (h *Host) Tasks() []TaskInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]TaskInfo, 0, len(h.tasks.tasks))
	for _, t := range h.tasks.tasks {
		out = append(out, t.info())
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Path) < strings.ToLower(out[j].Path) })
	return out
}

// stopTasksLocked ends every running task with its whole process tree, as
// a restart does; h.mu is held.
func (h *Host) stopTasksLocked() {
	defer h.notifyChange()
	for _, t := range h.tasks.tasks {
		if inst := t.running; inst != nil {
			inst.ended = true
			t.running, t.lastResult = nil, schedTaskTerminated
			inst.cancel()
		}
	}
}

// systemEnv is the environment of SYSTEM's processes outside WinRS, in
// the folder cwd.
func (h *Host) systemEnv(cwd string) *cmdexe.Env {
	vars := h.baseEnv("SYSTEM")
	profile := `C:\Windows\system32\config\systemprofile`
	vars["USERPROFILE"] = profile
	vars["APPDATA"] = profile + `\AppData\Roaming`
	vars["LOCALAPPDATA"] = profile + `\AppData\Local`
	vars["TEMP"], vars["TMP"] = `C:\Windows\TEMP`, `C:\Windows\TEMP`
	vars["USERNAME"] = strings.ToUpper(h.cfg.Name) + "$"
	vars["USERDOMAIN"] = "WORKGROUP"
	env := cmdexe.NewEnv(vars, cwd)
	env.Version = "Microsoft Windows [Version " + h.cfg.Profile.Version + "]"
	return env
}

// expandEnvStrings expands %NAME% references as ExpandEnvironmentStrings
// does (an unknown name stays as written).
func expandEnvStrings(s string, env *cmdexe.Env) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i+1:], '%')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		name := s[i+1 : i+1+j]
		if v, ok := env.Get(name); ok && name != "" {
			b.WriteString(s[:i])
			b.WriteString(v)
		} else {
			b.WriteString(s[:i+2+j])
		}
		s = s[i+2+j:]
	}
}
