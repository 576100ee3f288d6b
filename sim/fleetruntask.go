package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
)

// fleetrun's task script (launcher/task.ps1, docs/design.md "Steps run as
// scheduled tasks") is recognised by its marker, like the launcher: the
// simulator decodes its payload and does what the script does on Windows,
// through the host's Task Scheduler, process table and file system,
// without parsing the script's PowerShell.
const taskMarker = "# fleetrun-task v1"

// taskPayload is the task script's payload.
type taskPayload struct {
	V    int    `json:"v"`
	Op   string `json:"op"` // run, follow, stop, forget
	Task string `json:"task"`
	Dir  string `json:"dir"`
	// run: the batch file the task runs and the launcher payload it feeds
	// the launcher on stdin; limit_s is the task's ExecutionTimeLimit.
	Batch  string `json:"batch"`
	Input  string `json:"input"`
	LimitS int64  `json:"limit_s"`
	// run, follow: where the caller is in the output files, how often to
	// look at them and how long to follow before answering R.
	Out      int64 `json:"out"`
	Err      int64 `json:"err"`
	PollMS   int64 `json:"poll_ms"`
	WindowMS int64 `json:"window_ms"`
}

// taskNameRE is the only task name the script accepts: it goes into a WQL
// LIKE pattern and file names unquoted.
var taskNameRE = regexp.MustCompile(`^fleetrun-[0-9a-z-]{1,64}$`)

// taskFolder is the Task Scheduler folder of fleetrun's tasks.
const taskFolder = `\fleetrun\`

// maxFrame bounds one O or E frame, as the script reads 64 KiB at a time.
const maxFrame = 64 << 10

func readTaskPayload(script string, stdin io.Reader) (*taskPayload, error) {
	var pl taskPayload
	if err := decodePayload("task script", script, stdin, &pl); err != nil {
		return nil, err
	}
	switch {
	case pl.V != 1:
		return nil, fmt.Errorf("payload version %d, expected 1", pl.V)
	case !taskNameRE.MatchString(pl.Task):
		return nil, fmt.Errorf("task name %q is not fleetrun-[0-9a-z-]", pl.Task)
	case !isAbsWindowsPath(pl.Dir):
		return nil, fmt.Errorf("work folder %q is not an absolute path", pl.Dir)
	}
	return &pl, nil
}

// fleetrunTask does what fleetrun's task script does (see
// launcher/task.ps1): run starts the step as a SYSTEM task unless it
// exists or ran already, then follows its output files; follow only
// follows; stop ends the task's process tree and the task; forget deletes
// the task and its files. Its stdout is the frames the script writes.
func (h *Host) fleetrunTask(ctx context.Context, p *cmdexe.Proc, script string) uint32 {
	ps := procFrom(ctx)
	pl, err := readTaskPayload(script, p.Stdin)
	if err != nil {
		h.writeHost(p.Stderr, "fleetrun task: "+err.Error()+"\r\n")
		return 1
	}
	if !h.schedulerRunning() {
		// The script's Schedule.Service Connect fails as any client of a
		// stopped service does: ERROR_SERVICE_NOT_ACTIVE (1062).
		h.writeHost(p.Stderr, "fleetrun task: Exception calling \"Connect\" with \"0\" argument(s): \"The service has not been started. (Exception from HRESULT: 0x80070426)\"\r\n")
		return 1
	}
	fs := h.fsFor(ps)
	dir := strings.TrimRight(pl.Dir, `\`)
	file := func(ext string) string { return dir + `\` + pl.Task + ext }
	path := taskFolder + pl.Task
	fail := func(format string, a ...any) uint32 {
		h.writeHost(p.Stderr, "fleetrun task "+pl.Task+": "+fmt.Sprintf(format, a...)+"\r\n")
		return 1
	}
	out := p.Stdout
	switch pl.Op {
	case "run", "follow":
		frame := "S attached\n"
		if pl.Op == "run" {
			// The task's lifetime is the host's, not this command's.
			started, err := h.startFleetrunTask(ps, pl, path, dir, file) //nolint:contextcheck // see above
			if err != nil {
				return fail("%v", err)
			}
			if started {
				frame = "S started\n"
			}
		}
		rawWrite(out, []byte(frame))
		return h.followTask(ctx, ps, pl, path, file, out)
	case "stop":
		// The task's tree is found by its root, the cmd.exe whose command
		// line names the task's batch file, and ended with taskkill /T /F
		// semantics while that root still lives; then the task is stopped.
		n := 0
		for _, pid := range h.findProcesses(pl.Task + ".cmd") {
			if h.imageOf(pid) == "cmd.exe" && len(h.killTree(pid, true)) > 0 {
				n++
			}
		}
		if _, err := h.endTask(path); err != nil && !errors.Is(err, errTaskNotFound) {
			return fail("%v", err)
		}
		rawWrite(out, []byte("K "+strconv.Itoa(n)+"\n"))
		return 0
	case "forget":
		if err := h.deleteTask(path); err != nil && !errors.Is(err, errTaskNotFound) {
			return fail("%v", err)
		}
		for _, ext := range []string{".cmd", ".in", ".out", ".err", ".rc"} {
			_ = fs.v.Remove(file(ext)) // a file that is not there is already forgotten
		}
		rawWrite(out, []byte("F\n"))
		return 0
	}
	return fail("unknown operation %q", pl.Op)
}

// startFleetrunTask registers and runs the step's task unless it exists
// already and ran (or left an exit code): a second run never starts the
// step again. started says it was started now.
func (h *Host) startFleetrunTask(ps *procState, pl *taskPayload, path, dir string, file func(string) string) (started bool, err error) {
	fs := h.fsFor(ps)
	if _, complete := readRC(fs, file(".rc")); complete {
		return false, nil
	}
	t, exists := h.Task(path)
	if exists && (t.LastResult != schedTaskHasNotRun || t.Status == "Running") {
		return false, nil
	}
	if !exists {
		if !fs.v.IsDir(dir) {
			// Created readable by SYSTEM and Administrators only (the
			// script sets a protected ACL; the simulator records it).
			if err := fs.v.Mkdir(dir); err != nil {
				return false, fmt.Errorf("create %s: %w", dir, err)
			}
			fs.v.setPrivate(dir)
		}
		if err := fs.WriteFile(file(".in"), []byte(pl.Input), false); err != nil {
			return false, fmt.Errorf("write %s: %w", file(".in"), err)
		}
		if err := fs.WriteFile(file(".cmd"), []byte(pl.Batch), false); err != nil {
			return false, fmt.Errorf("write %s: %w", file(".cmd"), err)
		}
		spec := taskSpec{path: path, program: `C:\Windows\System32\cmd.exe`, args: `/d /c "` + file(".cmd") + `"`,
			user: "SYSTEM", highest: true, trigger: "N/A", limit: time.Duration(pl.LimitS) * time.Second}
		if err := h.registerTask(ps, spec, true); err != nil {
			return false, fmt.Errorf("register task %s as SYSTEM: %s", path, sentence(err))
		}
	}
	if _, err := h.runTask(path); err != nil {
		return false, fmt.Errorf("run task %s: %s", path, sentence(err))
	}
	return true, nil
}

// readRC reads a task's exit-code file: complete once cmd.exe has written
// the whole line (a number and CR LF).
func readRC(fs *procFS, path string) (string, bool) {
	data, err := fs.ReadFile(path)
	if err != nil || !bytes.HasSuffix(data, []byte("\r\n")) {
		return "", false
	}
	text := strings.TrimSpace(string(data))
	if _, err := strconv.ParseInt(text, 10, 64); err != nil {
		return "", false
	}
	return text, true
}

// followTask writes the task's new output as frames until it ends or the
// window passes.
func (h *Host) followTask(ctx context.Context, ps *procState, pl *taskPayload, path string, file func(string) string, out io.Writer) uint32 {
	fs := h.fsFor(ps)
	offsets := map[string]int64{".out": pl.Out, ".err": pl.Err}
	copyNew := func() {
		for _, s := range []struct{ ext, tag string }{{".out", "O"}, {".err", "E"}} {
			for {
				data, _ := fs.v.ReadAt(file(s.ext), offsets[s.ext], maxFrame)
				if len(data) == 0 {
					break
				}
				rawWrite(out, append([]byte(s.tag+" "+strconv.Itoa(len(data))+"\n"), data...))
				offsets[s.ext] += int64(len(data))
			}
		}
	}
	poll := time.Duration(max(pl.PollMS, 1)) * time.Millisecond
	// As the script does: 25 ms, doubling up to poll_ms.
	wait := 25 * time.Millisecond
	deadline := h.clock.Now().Add(time.Duration(max(pl.WindowMS, 0)) * time.Millisecond)
	for {
		// Whether the task runs is read before its exit code, so a task
		// that ended in between is seen with its code.
		t, exists := h.Task(path)
		running := exists && t.Status == "Running"
		rc, complete := readRC(fs, file(".rc"))
		copyNew()
		switch {
		case complete:
			rawWrite(out, []byte("X "+rc+"\n"))
			return 0
		case !exists:
			rawWrite(out, []byte("N\n"))
			return 0
		case !running && t.LastResult != schedTaskHasNotRun:
			rawWrite(out, []byte("L "+strconv.FormatInt(int64(int32(t.LastResult)), 10)+"\n"))
			return 0
		case !h.clock.Now().Before(deadline):
			rawWrite(out, []byte("R\n"))
			return 0
		}
		if ps.sleep(ctx, min(wait, poll)) != nil {
			return cmdexe.ExitCanceled
		}
		wait *= 2
	}
}
