package cmdexe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// FS is the small virtual file system cmd.exe sees. Paths are absolute,
// normalised Windows paths (`C:\dir\file.txt`) and must be compared
// case-insensitively.
type FS interface {
	// ReadFile returns a file's contents.
	ReadFile(path string) ([]byte, error)
	// WriteFile replaces a file's contents, or appends to them when
	// appendTo is set, creating the file if needed. cmd.exe calls it once
	// with empty data when a redirection opens the file, then once per
	// write, with appendTo set.
	WriteFile(path string, data []byte, appendTo bool) error
	// Exists reports whether a file or directory exists. `cd`, `pushd`
	// and `if exist` ask it about directories too; drive roots such as
	// `C:\` are assumed to exist without asking.
	Exists(path string) bool
}

// Proc is one program invocation as a simulated program sees it.
type Proc struct {
	// Name is the program as cmd.exe resolved it: a full path built from
	// a PATH (or current) directory and the name, with the PATHEXT
	// extension in lower case when cmd.exe added it
	// (`C:\Windows\System32\hostname.exe`).
	Name string
	// CommandLine is the full command line the program receives: the
	// program token as written (quotes kept) and the rest of the command,
	// after cmd.exe removed escaping carets and redirections.
	CommandLine string
	// Args is ParseArgs(CommandLine).
	Args []string
	// Env is the program's own copy of the environment, carrying the
	// current directory.
	Env *Env
	// Stdin, Stdout and Stderr are never nil.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Program is a simulated executable; it returns the process exit code (a
// DWORD). It should return promptly once ctx is done.
type Program func(ctx context.Context, p *Proc) uint32

// Lookup resolves a full candidate path (cmd.exe tries the current
// directory, then each PATH directory, with each PATHEXT extension) to a
// Program; ok=false means no such executable. Comparison should be
// case-insensitive. Batch files (.bat, .cmd) are not asked for: cmd.exe
// reads them from the FS.
type Lookup func(path string) (Program, bool)

// Exit codes cmd.exe produces itself.
const (
	// ExitNotRecognized is the errorlevel after an unknown command.
	ExitNotRecognized = 9009
	// ExitSyntaxError is the exit code after a line that does not parse.
	ExitSyntaxError = 255
	// ExitCanceled is STATUS_CONTROL_C_EXIT, returned when ctx ends the
	// run early.
	ExitCanceled = 0xC000013A
)

// canceledLevel is ExitCanceled as cmd.exe's signed errorlevel.
const canceledLevel int32 = -1073741510

// maxLine is cmd.exe's command-line limit in characters (Microsoft Learn,
// "Command prompt (Cmd. exe) command-line string limitation").
const maxLine = 8191

// Simulation guards: they keep a looping batch file or a batch file that
// starts cmd.exe on itself from running forever. They are not Windows
// behaviour; exceeding one prints a message that says so.
var (
	maxSteps     int64 = 200_000
	maxShells          = 32
	maxCallDepth       = 200
)

type limitsKey struct{}

// limits is shared by every shell a Run starts, nested cmd.exe included.
type limits struct {
	steps  *atomic.Int64
	shells int
}

// shell is one cmd.exe process.
type shell struct {
	env     *Env
	fs      FS
	lookup  Lookup
	echo    bool
	delayed bool
	cmdline string // %CMDCMDLINE%
	lim     *limits

	batch     *batchFrame
	forVars   map[byte]string // active FOR variables
	callDepth int
	locals    []localFrame
	dirStack  []string
}

type stdio struct {
	in       io.Reader
	out, err io.Writer
}

type ctlKind int

const (
	ctlNone     ctlKind = iota
	ctlGoto             // goto label in the current batch file
	ctlEndBatch         // leave the current batch file (exit /b, goto :eof)
	ctlExit             // leave cmd.exe with code
	ctlAbort            // a simulation guard tripped or ctx ended
	ctlChain            // replace the current batch file by frame
)

type control struct {
	kind  ctlKind
	label string
	code  int32
	frame *batchFrame
}

// withStepBudget returns a context whose shells share a budget of n steps
// instead of maxSteps (for tests and fuzzing).
func withStepBudget(ctx context.Context, n int64) context.Context {
	lim := &limits{steps: new(atomic.Int64)}
	lim.steps.Store(n)
	return context.WithValue(ctx, limitsKey{}, lim)
}

// newShell returns a shell over env (created empty if nil) in a context
// that carries the shared limits; it fails when too many shells are
// nested.
func newShell(ctx context.Context, env *Env, fs FS, lookup Lookup) (context.Context, *shell, error) {
	if env == nil {
		env = NewEnv(nil, "")
	}
	parent, _ := ctx.Value(limitsKey{}).(*limits)
	var lim *limits
	if parent != nil {
		if parent.shells >= maxShells {
			return ctx, nil, errors.New("simulated cmd.exe: too many nested cmd.exe processes")
		}
		// Nested shells count against the outermost one's budget.
		lim = &limits{steps: parent.steps, shells: parent.shells + 1}
	} else {
		lim = &limits{steps: new(atomic.Int64), shells: 1}
		lim.steps.Store(maxSteps)
	}
	if fs == nil {
		fs = emptyFS{}
	}
	if lookup == nil {
		lookup = func(string) (Program, bool) { return nil, false }
	}
	sh := &shell{env: env, fs: fs, lookup: lookup, echo: true, lim: lim}
	// cmd.exe defines PROMPT when it starts if the environment lacks it
	// (PROMPT=$P$G appears in `set` output in the recordings).
	if _, ok := env.Get("PROMPT"); !ok {
		env.Set("PROMPT", "$P$G")
	}
	return context.WithValue(ctx, limitsKey{}, lim), sh, nil
}

type emptyFS struct{}

func (emptyFS) ReadFile(path string) ([]byte, error) {
	return nil, fmt.Errorf("read %s: no file system", path)
}
func (emptyFS) WriteFile(path string, _ []byte, _ bool) error {
	return fmt.Errorf("write %s: no file system", path)
}
func (emptyFS) Exists(string) bool { return false }

func stdioOf(stdin io.Reader, stdout, stderr io.Writer) stdio {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	return stdio{in: stdin, out: stdout, err: stderr}
}

// Run executes one cmd.exe command line with `cmd.exe /c <line>` semantics
// (the line as it reaches cmd.exe's parser, after /c quote stripping) and
// returns cmd.exe's exit code: the code given to `exit`, or else the last
// errorlevel as a DWORD.
//
// env is the shell state and is updated in place (variables set, current
// directory, errorlevel); Run defines PROMPT=$P$G in it if it is missing,
// as cmd.exe does when it starts. fs and lookup may be nil (nothing exists).
// stdin may be nil (empty); stdout and stderr may be nil (discarded). When
// ctx ends, Run stops before the next command and returns ExitCanceled.
// Run starts no goroutines.
func Run(ctx context.Context, line string, env *Env, fs FS, lookup Lookup, stdin io.Reader, stdout, stderr io.Writer) uint32 {
	ctx, sh, err := newShell(ctx, env, fs, lookup)
	std := stdioOf(stdin, stdout, stderr)
	if err != nil {
		fmt.Fprintf(std.err, "%s\r\n", err)
		return 1
	}
	return sh.finish(sh.runLine(ctx, line, std))
}

// finish turns the control state after a run into the process exit code.
func (sh *shell) finish(ctl control) uint32 {
	switch ctl.kind {
	case ctlExit:
		sh.env.errorLevel = ctl.code
		return uint32(ctl.code)
	case ctlAbort:
		return uint32(ctl.code)
	}
	return uint32(sh.env.errorLevel)
}

// runLine runs one command-line-context line (no batch frame).
func (sh *shell) runLine(ctx context.Context, line string, std stdio) control {
	line = strings.TrimRight(line, "\r\n")
	expanded := sh.expandPercent(line, nil)
	if tooLong(line) || tooLong(expanded) {
		fmt.Fprint(std.err, "The command line is too long.\r\n")
		sh.env.errorLevel = 1
		return control{}
	}
	n, err := parseLine(expanded, true)
	if err != nil {
		var se *syntaxError
		if errors.As(err, &se) {
			fmt.Fprintf(std.err, "%s\r\n", se.msg)
		}
		sh.env.errorLevel = ExitSyntaxError
		return control{}
	}
	_, ctl := sh.exec(ctx, n, std)
	if ctl.kind == ctlEndBatch || ctl.kind == ctlGoto || ctl.kind == ctlChain {
		// Outside a batch file these only stop the line.
		return control{}
	}
	return ctl
}

// tooLong reports whether a line exceeds cmd.exe's limit (counted in
// characters; cmd.exe counts UTF-16 units, which differs only outside the
// Basic Multilingual Plane).
func tooLong(s string) bool {
	return len(s) > maxLine && utf8.RuneCountInString(s) > maxLine
}

// step charges one unit of the simulation budget and checks ctx.
func (sh *shell) step(ctx context.Context, std stdio) (control, bool) {
	if ctx.Err() != nil {
		return control{kind: ctlAbort, code: canceledLevel}, false
	}
	if sh.lim.steps.Add(-1) < 0 {
		fmt.Fprint(std.err, "simulated cmd.exe: step limit exceeded, stopping\r\n")
		return control{kind: ctlAbort, code: 1}, false
	}
	return control{}, true
}

// exec runs a parsed node and returns its result code (0 is success, for
// && and ||) and any control transfer.
func (sh *shell) exec(ctx context.Context, n node, std stdio) (int32, control) {
	if n == nil {
		return 0, control{}
	}
	if ctl, ok := sh.step(ctx, std); !ok {
		return 1, ctl
	}
	switch n := n.(type) {
	case *binNode:
		return sh.execBin(ctx, n, std)
	case *blockNode:
		std2, ok := sh.applyRedirs(n.redirs, std)
		if !ok {
			return 1, control{}
		}
		return sh.exec(ctx, n.body, std2)
	case *ifNode:
		return sh.execIf(ctx, n, std)
	case *forNode:
		return sh.execFor(ctx, n, std)
	case *cmdNode:
		text := sh.expandDelayed(sh.expandForVars(n.text))
		redirs := n.redirs
		if sh.delayed || len(sh.forVars) > 0 {
			redirs = make([]redir, len(n.redirs))
			for i, r := range n.redirs {
				r.target = sh.expandDelayed(sh.expandForVars(r.target))
				redirs[i] = r
			}
		}
		std2, ok := sh.applyRedirs(redirs, std)
		if !ok {
			return 1, control{}
		}
		return sh.dispatch(ctx, text, std2, false)
	}
	return 0, control{}
}

func (sh *shell) execBin(ctx context.Context, n *binNode, std stdio) (int32, control) {
	switch n.op {
	case "&":
		if _, ctl := sh.exec(ctx, n.l, std); ctl.kind != ctlNone {
			return 1, ctl
		}
		return sh.exec(ctx, n.r, std)
	case "&&", "||":
		rc, ctl := sh.exec(ctx, n.l, std)
		if ctl.kind != ctlNone {
			return rc, ctl
		}
		if (rc == 0) == (n.op == "&&") {
			return sh.exec(ctx, n.r, std)
		}
		return rc, control{}
	case "|":
		return sh.execPipe(ctx, n, std)
	}
	return 0, control{}
}

// execPipe runs both sides of a pipe one after the other through a
// buffer. On Windows each side that is not an external program runs in its
// own `cmd /S /D /c` process, so neither side can change this shell's
// variables, directory or echo state: both run in copies. The errorlevel
// afterwards is the right side's.
func (sh *shell) execPipe(ctx context.Context, n *binNode, std stdio) (int32, control) {
	var buf bytes.Buffer
	left := sh.sub()
	_, lctl := left.exec(ctx, n.l, stdio{in: std.in, out: &buf, err: std.err})
	if lctl.kind == ctlAbort {
		return 1, lctl
	}
	right := sh.sub()
	rc, rctl := right.exec(ctx, n.r, stdio{in: &buf, out: std.out, err: std.err})
	if rctl.kind == ctlAbort {
		return 1, rctl
	}
	code := right.env.errorLevel
	if rctl.kind == ctlExit {
		code = rctl.code
		rc = code
	}
	sh.env.errorLevel = code
	return rc, control{}
}

// sub returns a child shell for one side of a pipe.
func (sh *shell) sub() *shell {
	c := &shell{
		env: sh.env.Clone(), fs: sh.fs, lookup: sh.lookup, echo: sh.echo,
		delayed: sh.delayed, cmdline: sh.cmdline, lim: sh.lim,
	}
	if len(sh.forVars) > 0 {
		c.forVars = make(map[byte]string, len(sh.forVars))
		for k, v := range sh.forVars {
			c.forVars[k] = v
		}
	}
	return c
}

// applyRedirs returns std with the redirections applied left to right, so
// `>f 2>&1` sends both streams to f while `2>&1 >f` sends stderr to the old
// stdout. A file that cannot be opened stops the command with cmd.exe's
// message.
func (sh *shell) applyRedirs(rs []redir, std stdio) (stdio, bool) {
	if len(rs) == 0 {
		return std, true
	}
	handles := map[int]any{0: std.in, 1: std.out, 2: std.err}
	for _, r := range rs {
		if r.dup >= 0 {
			h, ok := handles[r.dup]
			if !ok {
				fmt.Fprint(std.err, "The handle could not be duplicated\r\nduring redirection of handle ", r.fd, ".\r\n")
				return std, false
			}
			handles[r.fd] = h
			continue
		}
		target := strings.ReplaceAll(r.target, `"`, "")
		if r.op == "<" {
			if isNulDevice(target) {
				handles[r.fd] = strings.NewReader("")
				continue
			}
			data, err := sh.fs.ReadFile(resolvePath(sh.env.cwd, target))
			if err != nil {
				if accessDenied(err) {
					fmt.Fprint(std.err, msgAccessDenied)
				} else {
					fmt.Fprint(std.err, "The system cannot find the file specified.\r\n")
				}
				return std, false
			}
			handles[r.fd] = bytes.NewReader(data)
			continue
		}
		if isNulDevice(target) {
			handles[r.fd] = io.Discard
			continue
		}
		path := resolvePath(sh.env.cwd, target)
		if err := sh.fs.WriteFile(path, nil, r.op == ">>"); err != nil {
			if accessDenied(err) {
				fmt.Fprint(std.err, msgAccessDenied)
			} else {
				fmt.Fprint(std.err, "The system cannot find the path specified.\r\n")
			}
			return std, false
		}
		handles[r.fd] = &fileWriter{fs: sh.fs, path: path}
	}
	out := std
	if r, ok := handles[0].(io.Reader); ok {
		out.in = r
	}
	if w, ok := handles[1].(io.Writer); ok {
		out.out = w
	}
	if w, ok := handles[2].(io.Writer); ok {
		out.err = w
	}
	return out, true
}

// fileWriter appends every write to a file in the FS.
type fileWriter struct {
	fs   FS
	path string
}

func (w *fileWriter) Write(p []byte) (int, error) {
	if err := w.fs.WriteFile(w.path, p, true); err != nil {
		return 0, fmt.Errorf("write %s: %w", w.path, err)
	}
	return len(p), nil
}

// dispatch runs the text of a simple command: a label, a built-in, or an
// external program or batch file.
func (sh *shell) dispatch(ctx context.Context, text string, std stdio, isCall bool) (int32, control) {
	text = strings.TrimLeft(text, " \t,;=@")
	if text == "" || text[0] == ':' {
		return 0, control{}
	}
	if b, rest, ok := findBuiltin(text); ok {
		return b(sh, ctx, rest, std)
	}
	return sh.runExternal(ctx, text, std, isCall)
}

// commandToken splits the program token off a command: it runs to the
// first space, tab, `,`, `;`, `=` or `/` outside quotes (so `ipconfig/all`
// runs ipconfig with "/all", and an unquoted `C:/x/y.exe` is the command
// `C:`).
func commandToken(text string) (tok, rest string) {
	inQuotes := false
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c == '"' {
			inQuotes = !inQuotes
			continue
		}
		if !inQuotes && (isDelim(c) || c == '/') {
			return text[:i], text[i:]
		}
	}
	return text, ""
}

func notRecognized(std stdio, tok string) {
	fmt.Fprintf(std.err, "'%s' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", tok)
}

// runExternal resolves and runs a program or batch file.
func (sh *shell) runExternal(ctx context.Context, text string, std stdio, isCall bool) (int32, control) {
	tok, rest := commandToken(text)
	name := strings.ReplaceAll(tok, `"`, "")
	if strings.ContainsAny(name, `\/:`) && sh.denied(resolvePath(sh.env.cwd, name)) {
		// A program or batch file on a share the logon may not reach:
		// CreateProcess fails with ERROR_ACCESS_DENIED before anything
		// is known about the file.
		fmt.Fprint(std.err, msgAccessDenied)
		sh.env.errorLevel = 1
		return 1, control{}
	}
	target, ok := sh.resolve(name)
	if !ok {
		notRecognized(std, tok)
		sh.env.errorLevel = ExitNotRecognized
		return ExitNotRecognized, control{}
	}
	if target.batch {
		frame, err := sh.newBatchFrame(target.path, tok, rest)
		if err != nil {
			fmt.Fprint(std.err, "The system cannot find the file specified.\r\n")
			sh.env.errorLevel = 1
			return 1, control{}
		}
		if sh.batch != nil && !isCall {
			// Starting a batch file from a batch file without CALL
			// transfers control: the caller does not resume, and a batch
			// file that restarts itself this way loops rather than
			// recursing.
			return 0, control{kind: ctlChain, frame: frame}
		}
		return sh.runFrame(ctx, frame, std)
	}
	p := &Proc{
		Name:        target.path,
		CommandLine: text,
		Args:        ParseArgs(text),
		Env:         sh.env.Clone(),
		Stdin:       std.in,
		Stdout:      std.out,
		Stderr:      std.err,
	}
	code := int32(target.prog(ctx, p))
	sh.env.errorLevel = code
	return code, control{}
}

type resolved struct {
	path  string
	prog  Program
	batch bool
}

const defaultPathExt = ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC"

// resolve finds a command the way cmd.exe does: a name with a path part is
// looked for only there; a bare name in the current directory and then in
// each PATH directory. In each place a name that has an extension is tried
// as written first, then the name with each PATHEXT extension in order.
func (sh *shell) resolve(name string) (resolved, bool) {
	if name == "" {
		return resolved{}, false
	}
	var dirs []string
	if strings.ContainsAny(name, `\/:`) {
		dirs = []string{""}
	} else {
		dirs = append(dirs, sh.env.cwd)
		if path, ok := sh.env.Get("PATH"); ok {
			for _, d := range strings.Split(path, ";") {
				d = strings.TrimSpace(strings.ReplaceAll(d, `"`, ""))
				if d != "" {
					dirs = append(dirs, d)
				}
			}
		}
	}
	exts := defaultPathExt
	if v, ok := sh.env.Get("PATHEXT"); ok && v != "" {
		exts = v
	}
	base := name
	if k := strings.LastIndexAny(base, `\/:`); k >= 0 {
		base = base[k+1:]
	}
	hasExt := strings.Contains(base, ".")
	for _, d := range dirs {
		var full string
		if d == "" {
			full = resolvePath(sh.env.cwd, name)
		} else {
			full = resolvePath(d, name)
		}
		if hasExt {
			if r, ok := sh.probe(full); ok {
				return r, true
			}
		}
		for _, ext := range strings.Split(exts, ";") {
			if ext == "" {
				continue
			}
			if r, ok := sh.probe(full + strings.ToLower(ext)); ok {
				return r, true
			}
		}
	}
	return resolved{}, false
}

func (sh *shell) probe(path string) (resolved, bool) {
	lower := strings.ToLower(path)
	if strings.HasSuffix(lower, ".bat") || strings.HasSuffix(lower, ".cmd") {
		if sh.fs.Exists(path) {
			return resolved{path: path, batch: true}, true
		}
		return resolved{}, false
	}
	if prog, ok := sh.lookup(path); ok && prog != nil {
		return resolved{path: path, prog: prog}, true
	}
	return resolved{}, false
}
