package sim

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// The process table: every simulated program that runs is a process with a
// PID, a parent and a command line, as Win32_Process and tasklist show
// them. Processes form trees whose lifetime is the tree's — a WinRS
// command (the shell's job object), a scheduled task's instance, an SSM
// command — not their parent's: ending one process alone (TerminateProcess,
// `taskkill /F` without /T, `schtasks /end`, which "ends only the instances
// of a program started by a scheduled task", Microsoft's schtasks docs)
// leaves its children running as orphans, while ending the tree ends all.

// process is one running simulated process.
type process struct {
	pid         int
	ppid        int
	image       string // lower-case image name: cmd.exe
	commandLine string
	started     time.Time
	logon       logon
	user        string

	mu       sync.Mutex
	cancel   context.CancelFunc // ends this process alone
	killed   bool
	exitCode uint32 // the code it was killed with
}

// kill ends the process alone with an exit code, as TerminateProcess does;
// false when it was already killed.
func (p *process) kill(code uint32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.killed {
		return false
	}
	p.killed, p.exitCode = true, code
	p.cancel()
	return true
}

// procTable is a host's running processes.
type procTable struct {
	mu     sync.Mutex
	next   int
	procs  map[int]*process
	killed int64 // processes ended by kill since the host started
}

func newProcTable() *procTable { return &procTable{next: 1000, procs: map[int]*process{}} }

// ProcessInfo is a snapshot of one running process.
type ProcessInfo struct {
	PID         int    `json:"pid"`
	ParentPID   int    `json:"parent_pid"`
	Image       string `json:"image"`
	CommandLine string `json:"command_line"`
	Logon       string `json:"logon"`
	User        string `json:"user"`
}

// Processes lists the host's running processes by PID.
func (h *Host) Processes() []ProcessInfo {
	t := h.ptable
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]ProcessInfo, 0, len(t.procs))
	for _, p := range t.procs {
		out = append(out, ProcessInfo{PID: p.pid, ParentPID: p.ppid, Image: p.image, CommandLine: p.commandLine, Logon: p.logon.String(), User: p.user})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}

// spawn runs a program as a new process of the tree the caller's process
// belongs to and returns its exit code: the code it was killed with when
// something ended it, else what run returned. The new process stops when
// its tree ends or when it is killed itself, not when its parent is killed.
func (h *Host) spawn(ctx context.Context, image, commandLine string, run func(context.Context) uint32) uint32 {
	parent := procFrom(ctx)
	child := *parent
	// Values (the process state, cmd.exe's bookkeeping) are inherited;
	// cancellation comes from the tree and from the process's own kill.
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(parent.tree, cancel) //nolint:contextcheck // the tree, not the parent, decides a process's life
	defer stop()
	defer cancel()
	p := &process{
		ppid: parent.pid, image: strings.ToLower(image), commandLine: commandLine,
		started: h.clock.Now(), logon: parent.logon, user: parent.user, cancel: cancel,
	}
	t := h.ptable
	t.mu.Lock()
	t.next += 4 // Windows hands out PIDs in multiples of four
	p.pid = t.next
	t.procs[p.pid] = p
	t.mu.Unlock()
	h.notifyChange()
	defer func() {
		t.mu.Lock()
		if t.procs[p.pid] == p {
			delete(t.procs, p.pid)
		}
		t.mu.Unlock()
		h.notifyChange()
	}()
	child.pid, child.proc = p.pid, p
	code := run(context.WithValue(pctx, procKey{}, &child))
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.killed {
		return p.exitCode
	}
	return code
}

// killed is a process a kill ended, with its parent's PID.
type killed struct{ pid, parent int }

// killProcess ends one process, or with tree also every process that
// descends from it, with exit code 1 (taskkill /F [/T]). It returns how
// many processes it ended; 0 when pid does not run.
func (h *Host) killProcess(pid int, tree bool, code uint32) int {
	return len(h.killTreeCode(pid, tree, code))
}

// killTree is taskkill /F [/T]: it ends pid (and with tree its
// descendants, deepest first) with exit code 1 and lists what it ended.
func (h *Host) killTree(pid int, tree bool) []killed { return h.killTreeCode(pid, tree, 1) }

func (h *Host) killTreeCode(pid int, tree bool, code uint32) []killed {
	t := h.ptable
	t.mu.Lock()
	root, ok := t.procs[pid]
	if !ok {
		t.mu.Unlock()
		return nil
	}
	victims := []*process{root}
	if tree {
		// Walk down from the root; the processes are ended deepest first,
		// as taskkill /T reports children before their parent.
		for i := 0; i < len(victims); i++ {
			for _, p := range t.procs {
				if p.ppid == victims[i].pid && p != victims[i] {
					victims = append(victims, p)
				}
			}
		}
	}
	t.mu.Unlock()
	var out []killed
	for i := len(victims) - 1; i >= 0; i-- {
		if v := victims[i]; v.kill(code) {
			out = append(out, killed{pid: v.pid, parent: v.ppid})
		}
	}
	t.mu.Lock()
	t.killed += int64(len(out))
	// A killed process is gone at once, though the simulator's code for it
	// may still wait for a child it started (which lives on).
	for _, k := range out {
		delete(t.procs, k.pid)
	}
	t.mu.Unlock()
	h.notifyChange()
	return out
}

// imageOf returns the image name of a running process, "" if none runs.
func (h *Host) imageOf(pid int) string {
	h.ptable.mu.Lock()
	defer h.ptable.mu.Unlock()
	if p, ok := h.ptable.procs[pid]; ok {
		return p.image
	}
	return ""
}

// childProcesses lists the PIDs of the running processes whose parent is
// pid.
func (h *Host) childProcesses(pid int) []int {
	h.ptable.mu.Lock()
	defer h.ptable.mu.Unlock()
	var out []int
	for _, p := range h.ptable.procs {
		if p.ppid == pid {
			out = append(out, p.pid)
		}
	}
	sort.Ints(out)
	return out
}

// running reports whether a process with pid runs.
func (h *Host) running(pid int) bool {
	h.ptable.mu.Lock()
	defer h.ptable.mu.Unlock()
	_, ok := h.ptable.procs[pid]
	return ok
}

// processesByImage lists the PIDs of running processes of an image name.
func (h *Host) processesByImage(image string) []int {
	h.ptable.mu.Lock()
	defer h.ptable.mu.Unlock()
	var out []int
	for _, p := range h.ptable.procs {
		if strings.EqualFold(p.image, image) {
			out = append(out, p.pid)
		}
	}
	sort.Ints(out)
	return out
}

// findProcesses returns the PIDs of running processes whose command line
// contains text (case-insensitively), as a WQL query
// `CommandLine LIKE '%text%'` on Win32_Process finds them.
func (h *Host) findProcesses(text string) []int {
	t := h.ptable
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []int
	lower := strings.ToLower(text)
	for _, p := range t.procs {
		if strings.Contains(strings.ToLower(p.commandLine), lower) {
			out = append(out, p.pid)
		}
	}
	sort.Ints(out)
	return out
}

// broadcast wakes everyone waiting for a change of the host's tasks or
// processes (WaitFor).
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *broadcast) notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}

// notifyChange wakes the host's and the fleet's WaitFor.
func (h *Host) notifyChange() {
	h.changes.notify()
	if h.fleetChanges != nil {
		h.fleetChanges.notify()
	}
}

// WaitFor waits until cond, evaluated now and after each change of any
// host's tasks or processes, and each request a network cut leaves
// unanswered, is true; ctx bounds the wait.
func (f *Fleet) WaitFor(ctx context.Context, cond func() bool) error {
	for {
		ch := f.changes.wait()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("simulated fleet: %w", ctx.Err())
		}
	}
}

// WaitFor waits until cond, evaluated now and after each change of the
// host's tasks or processes, each restart, and each request a network cut
// leaves unanswered, is true; ctx bounds the wait. Tests use it to
// wait for a task to end or a process to appear without polling.
func (h *Host) WaitFor(ctx context.Context, cond func() bool) error {
	for {
		ch := h.changes.wait()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("host %s: %w", h.cfg.Name, ctx.Err())
		}
	}
}
