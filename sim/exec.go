package sim

import (
	"context"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
)

// runFunc runs a command's process with its pipes and returns its exit
// status.
type runFunc func(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) uint32

// procKey finds the running process in a program's context.
type procKey struct{}

// logon is the kind of logon session a process runs in. Windows decides
// much of what a process may do by it, and a WinRS shell is the most
// restricted of the three (KB 2773898 for wusa, MSDN "Using WUA From a
// Remote Computer" for the Windows Update Agent, the second-hop rules for
// file shares).
type logon int

const (
	// logonNetwork: a process of a WinRS shell, a network logon (type 3):
	// no delegable credentials, under the shell's job object and its
	// MaxMemoryPerShellMB.
	logonNetwork logon = iota
	// logonTask: a Task Scheduler task's process, outside any shell.
	logonTask
	// logonAgent: the SSM agent's processes, a service running as SYSTEM.
	logonAgent
)

func (l logon) String() string {
	switch l {
	case logonTask:
		return "task"
	case logonAgent:
		return "agent"
	}
	return "network"
}

// console is the console a process tree shares; chcp changes its code
// page for every process attached to it.
type console struct {
	mu       sync.Mutex
	codepage int
}

func newConsole(codepage int) *console { return &console{codepage: codepage} }

// CodePage returns the console's current code page.
func (c *console) CodePage() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.codepage
}

func (c *console) setCodePage(cp int) {
	c.mu.Lock()
	c.codepage = cp
	c.mu.Unlock()
}

// procState is what a simulated program knows about where it runs.
type procState struct {
	host *Host
	// cmd is the WinRS command the process belongs to; nil outside WinRS
	// (tasks, the SSM agent's scripts without a command of their own).
	cmd   *command
	logon logon
	// user is the account the process runs as ("SYSTEM" for tasks as
	// SYSTEM and the SSM agent).
	user string
	// memoryMB is the MaxMemoryPerShellMB the process runs under; 0 means
	// no cap (outside WinRS, or an unlimited shell).
	memoryMB int
	console  *console
	// tree ends when the process's tree does: the WinRS command (its
	// shell's job object), the task's instance, the SSM command.
	tree context.Context
	// pid and proc are the process in the host's table; 0 and nil for the
	// root of a tree (winrshost, the Task Scheduler, the SSM agent).
	pid  int
	proc *process
}

// remote reports whether the process runs in a network logon (a WinRS
// shell), where Windows refuses what it keeps for local callers.
func (ps *procState) remote() bool { return ps.logon == logonNetwork }

// codepage is the code page of the process's console now.
func (ps *procState) codepage() int { return ps.console.CodePage() }

// procFrom returns the process a program runs as. Programs only run inside
// commands, so a missing one is a bug in the simulator.
func procFrom(ctx context.Context) *procState {
	ps, ok := ctx.Value(procKey{}).(*procState)
	if !ok {
		panic("sim: program run outside a simulated process")
	}
	return ps
}

// sleep waits d on the host's clock as a waiting (not computing) process.
// It returns ctx's error when the process is stopped first.
func (ps *procState) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	if ps.cmd != nil {
		ps.cmd.block()
		defer ps.cmd.unblock()
	}
	t := ps.host.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.Chan():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// prepare decides how WinRS starts a Command: through cmd.exe, or (with
// WINRS_SKIP_CMD_SHELL on releases that honour it) directly.
func (h *Host) prepare(s *shell, cl *CommandLine, skipCmd bool) (runFunc, *Fault) {
	// WinRS joins Command and Arguments with spaces and adds no quoting.
	line := strings.Join(append([]string{cl.Command}, cl.Arguments...), " ")
	env := h.shellEnv(s)
	if skipCmd && h.cfg.Profile.Name == "2008r2" {
		// CreateProcess without cmd.exe: 2008 R2 needs the program's full
		// path (test_winrs_no_cmd_shell.yml).
		args := cmdexe.ParseArgs(line)
		if len(args) == 0 || !isAbsWindowsPath(args[0]) {
			return nil, faultFileNotFound()
		}
		prog, path, ok := h.resolveProgram(args[0], env)
		if !ok {
			return nil, faultFileNotFound()
		}
		return func(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) uint32 {
			return prog(ctx, &cmdexe.Proc{Name: path, CommandLine: line, Args: args, Env: env, Stdin: stdin, Stdout: stdout, Stderr: stderr})
		}, nil
	}
	return func(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) uint32 {
		// WinRS runs the line through cmd.exe /c, one process.
		return h.spawn(ctx, "cmd.exe", `C:\Windows\system32\cmd.exe /c `+line, func(ctx context.Context) uint32 {
			con := procFrom(ctx).console
			return cmdexe.Run(ctx, line, env, h.fsFor(procFrom(ctx)), h.lookup, stdin, consoleOut(stdout, con), consoleOut(stderr, con))
		})
	}, nil
}

// consoleWriter is a pipe as cmd.exe's built-ins see it: they write text
// in the console code page (WINRS_CODEPAGE, or what chcp set since). cmdexe
// hands over UTF-8, which is converted here; simulated programs write their
// own bytes past it with rawWrite, as real programs write to the pipe
// directly.
type consoleWriter struct {
	w       io.Writer
	console *console
}

// consoleOut wraps w for a console.
func consoleOut(w io.Writer, con *console) io.Writer {
	return &consoleWriter{w: w, console: con}
}

func (c *consoleWriter) Write(p []byte) (int, error) {
	cp := c.console.CodePage()
	if cp == 65001 {
		if _, err := c.w.Write(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if _, err := c.w.Write(transcodeConsole(cp, p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// rawWrite writes bytes a program produced itself, bypassing the console
// conversion of cmd.exe's built-ins.
func rawWrite(w io.Writer, b []byte) {
	if cw, ok := w.(*consoleWriter); ok {
		w = cw.w
	}
	_, _ = w.Write(b) // the command's pipes never fail; a closed one drops data as Windows does
}

// transcodeConsole converts UTF-8 text to a console code page; bytes that
// are not UTF-8 pass through unchanged.
func transcodeConsole(codepage int, p []byte) []byte {
	ascii := true
	for _, b := range p {
		if b >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return p
	}
	out := make([]byte, 0, len(p))
	for len(p) > 0 {
		r, n := utf8.DecodeRune(p)
		if r == utf8.RuneError && n <= 1 {
			out = append(out, p[0])
			p = p[1:]
			continue
		}
		out = append(out, encodeConsole(codepage, string(p[:n]))...)
		p = p[n:]
	}
	return out
}

// resolveWindowsPath makes p absolute against the directory cwd, as
// Windows resolves a relative file name.
func resolveWindowsPath(cwd, p string) string { return cmdexe.ResolvePath(cwd, p) }

// isAbsWindowsPath reports whether p starts with a drive and a backslash.
func isAbsWindowsPath(p string) bool {
	return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') &&
		(p[0]|0x20 >= 'a' && p[0]|0x20 <= 'z')
}

// userProfile is the user's home directory, WinRS's default directory.
func (h *Host) userProfile(user string) string {
	if user == "" {
		user = h.cfg.User
	}
	return `C:\Users\` + user
}

// baseEnv is the environment block every process of the host starts with.
func (h *Host) baseEnv(user string) map[string]string {
	if user == "" {
		user = h.cfg.User
	}
	home := h.userProfile(user)
	return map[string]string{
		"ALLUSERSPROFILE":         `C:\ProgramData`,
		"APPDATA":                 home + `\AppData\Roaming`,
		"CommonProgramFiles":      `C:\Program Files\Common Files`,
		"CommonProgramFiles(x86)": `C:\Program Files (x86)\Common Files`,
		"CommonProgramW6432":      `C:\Program Files\Common Files`,
		"COMPUTERNAME":            strings.ToUpper(h.cfg.Name),
		"ComSpec":                 `C:\Windows\system32\cmd.exe`,
		"LOCALAPPDATA":            home + `\AppData\Local`,
		"NUMBER_OF_PROCESSORS":    "2",
		"OS":                      "Windows_NT",
		"Path":                    `C:\Windows\system32;C:\Windows;C:\Windows\System32\Wbem;C:\Windows\System32\WindowsPowerShell\v1.0\;C:\ProgramData\Oracle\Java\javapath`,
		"PATHEXT":                 ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC",
		"PROCESSOR_ARCHITECTURE":  "AMD64",
		"ProgramData":             `C:\ProgramData`,
		"ProgramFiles":            `C:\Program Files`,
		"ProgramFiles(x86)":       `C:\Program Files (x86)`,
		"ProgramW6432":            `C:\Program Files`,
		"PROMPT":                  "$P$G",
		"PSModulePath":            `C:\Windows\system32\WindowsPowerShell\v1.0\Modules\`,
		"PUBLIC":                  `C:\Users\Public`,
		"SystemDrive":             "C:",
		"SystemRoot":              `C:\Windows`,
		"TEMP":                    home + `\AppData\Local\Temp`,
		"TMP":                     home + `\AppData\Local\Temp`,
		"USERDOMAIN":              strings.ToUpper(h.cfg.Name),
		"USERNAME":                user,
		"USERPROFILE":             home,
		"windir":                  `C:\Windows`,
	}
}

// shellEnv is the environment of a process started in shell s: the base
// block plus the shell's variables, in the shell's directory.
func (h *Host) shellEnv(s *shell) *cmdexe.Env {
	vars := h.baseEnv(s.owner)
	for _, v := range s.env {
		vars[v.Name] = v.Value
	}
	cwd := s.workdir
	if cwd == "" {
		cwd = h.userProfile(s.owner)
	}
	env := cmdexe.NewEnv(vars, cwd)
	env.Version = "Microsoft Windows [Version " + h.cfg.Profile.Version + "]"
	return env
}

// encodeHost turns text into the bytes the host's programs write: UTF-8,
// or CP932 on Japanese hosts, whatever the shell's code page.
func (h *Host) encodeHost(s string) []byte {
	if h.cfg.OutputEncoding == "cp932" {
		return encodeLossy(japanese.ShiftJIS, s)
	}
	return []byte(s)
}

// encodeConsole turns text into the bytes a program that writes through
// the console code page (cmd built-ins, Windows PowerShell) produces.
// Characters the code page lacks become '?', as on Windows.
func encodeConsole(codepage int, s string) []byte {
	switch codepage {
	case 65001:
		return []byte(s)
	case 932:
		return encodeLossy(japanese.ShiftJIS, s)
	case 437:
		return encodeLossy(charmap.CodePage437, s)
	case 850:
		return encodeLossy(charmap.CodePage850, s)
	case 1252:
		return encodeLossy(charmap.Windows1252, s)
	}
	return encodeLossy(nil, s)
}

// encodeLossy encodes s rune by rune, writing '?' for what enc cannot
// represent; a nil enc keeps ASCII only.
func encodeLossy(enc encoding.Encoding, s string) []byte {
	out := make([]byte, 0, len(s))
	var e *encoding.Encoder
	if enc != nil {
		e = enc.NewEncoder()
	}
	var buf [utf8.UTFMax]byte
	for _, r := range s {
		if r < utf8.RuneSelf {
			out = append(out, byte(r))
			continue
		}
		if e != nil {
			n := utf8.EncodeRune(buf[:], r)
			if b, err := e.Bytes(buf[:n]); err == nil {
				out = append(out, b...)
				continue
			}
		}
		out = append(out, '?')
	}
	return out
}
