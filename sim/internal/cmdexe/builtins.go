package cmdexe

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// builtinFunc runs an internal command; args is the text after the
// command name (including the separator that ended the name).
type builtinFunc func(sh *shell, ctx context.Context, args string, std stdio) (int32, control)

var builtins map[string]builtinFunc

func init() {
	builtins = map[string]builtinFunc{
		"echo":     (*shell).biEcho,
		"set":      (*shell).biSet,
		"cd":       (*shell).biCd,
		"chdir":    (*shell).biCd,
		"exit":     (*shell).biExit,
		"rem":      func(*shell, context.Context, string, stdio) (int32, control) { return 0, control{} },
		"type":     (*shell).biType,
		"ver":      (*shell).biVer,
		"call":     (*shell).biCall,
		"goto":     (*shell).biGoto,
		"setlocal": (*shell).biSetlocal,
		"endlocal": (*shell).biEndlocal,
		"shift":    (*shell).biShift,
		"pushd":    (*shell).biPushd,
		"popd":     (*shell).biPopd,
		"path":     (*shell).biPath,
		"prompt":   (*shell).biPrompt,
		"pause":    (*shell).biPause,
		"title":    noop,
		"cls":      noop,
		"color":    noop,
		"verify":   noop,
		"break":    noop,
		"dir":      (*shell).biDir,
	}
}

func noop(*shell, context.Context, string, stdio) (int32, control) { return 0, control{} }

// findBuiltin recognises an internal command at the start of text: its
// name, case-insensitive, followed by the end, a delimiter or "/"; ECHO may
// also be followed by one of .(:\[]+ (ss64.com "ECHO."), CD by . or \.
func findBuiltin(text string) (builtinFunc, string, bool) {
	k := 0
	for k < len(text) && isLetter(text[k]) {
		k++
	}
	name := strings.ToLower(text[:k])
	b, ok := builtins[name]
	if !ok {
		return nil, "", false
	}
	rest := text[k:]
	if rest == "" {
		return b, rest, true
	}
	c := rest[0]
	switch {
	case isDelim(c) || c == '/':
		return b, rest, true
	case name == "echo" && strings.IndexByte(".(:\\[]+", c) >= 0:
		return b, rest, true
	case (name == "cd" || name == "chdir") && (c == '.' || c == '\\'):
		return b, rest, true
	}
	return nil, "", false
}

func syntaxIncorrect(sh *shell, std stdio) (int32, control) {
	fmt.Fprint(std.err, "The syntax of the command is incorrect.\r\n")
	sh.env.errorLevel = 1
	return 1, control{}
}

// trimArgs drops the separator and surrounding blanks from a built-in's
// argument text.
func trimArgs(args string) string {
	return strings.TrimRight(strings.TrimLeft(args, " \t,;="), " \t")
}

// biEcho is ECHO: it drops the one character that ended the word ECHO and
// prints the rest exactly, trailing spaces included, with CRLF. With only
// blanks after a space it reports the echo state; "on"/"off" set it.
func (sh *shell) biEcho(_ context.Context, args string, std stdio) (int32, control) {
	if args == "" || (isSpace(args[0]) && strings.TrimLeft(args, " \t") == "") {
		state := "on"
		if !sh.echo {
			state = "off"
		}
		fmt.Fprintf(std.out, "ECHO is %s.\r\n", state)
		return 0, control{}
	}
	body := args[1:]
	if isSpace(args[0]) {
		switch strings.ToLower(strings.Trim(body, " \t")) {
		case "on":
			sh.echo = true
			return 0, control{}
		case "off":
			sh.echo = false
			return 0, control{}
		}
	}
	// Like cmd.exe, built-ins ignore write errors (a closed pipe).
	fmt.Fprint(std.out, body, "\r\n")
	return 0, control{}
}

// biSet is SET (`set /?`): list, list by prefix, assign, delete, SET "N=V",
// SET /P and SET /A.
func (sh *shell) biSet(_ context.Context, args string, std stdio) (int32, control) {
	a := strings.TrimLeft(args, " \t")
	if a == "" {
		sh.listVars(std, "")
		return 0, control{}
	}
	if len(a) >= 2 && a[0] == '/' {
		switch a[1] | 0x20 {
		case 'a':
			return sh.setArith(a[2:], std)
		case 'p':
			return sh.setPrompt(a[2:], std)
		}
	}
	a = unquoteAssign(a)
	name, value, hasEq := strings.Cut(a, "=")
	if !hasEq {
		prefix := strings.TrimRight(a, " \t")
		if !sh.listVars(std, prefix) {
			fmt.Fprintf(std.err, "Environment variable %s not defined\r\n", prefix)
			sh.env.errorLevel = 1
			return 1, control{}
		}
		return 0, control{}
	}
	if name == "" {
		return syntaxIncorrect(sh, std)
	}
	if value == "" {
		sh.env.Unset(name)
		return 0, control{}
	}
	sh.env.Set(name, value)
	return 0, control{}
}

// unquoteAssign handles SET "NAME=value" trailing-text: the text between
// the first and the last quote is the assignment.
func unquoteAssign(a string) string {
	if !strings.HasPrefix(a, `"`) {
		return a
	}
	if last := strings.LastIndexByte(a, '"'); last > 0 {
		return a[1:last]
	}
	return a[1:]
}

// listVars prints the variables whose names start with prefix
// (case-insensitive) and reports whether there were any. Names starting
// with "=" (cmd.exe's per-drive directories) are never listed.
func (sh *shell) listVars(std stdio, prefix string) bool {
	found := false
	for _, v := range sh.env.vars {
		if strings.HasPrefix(v.Name, "=") {
			continue
		}
		if len(v.Name) >= len(prefix) && strings.EqualFold(v.Name[:len(prefix)], prefix) {
			fmt.Fprintf(std.out, "%s=%s\r\n", v.Name, v.Value)
			found = true
		}
	}
	return found
}

// setPrompt is SET /P NAME=prompt: it prints the prompt without a newline
// and reads one line from stdin; an empty answer leaves the variable
// unchanged and sets errorlevel 1.
func (sh *shell) setPrompt(args string, std stdio) (int32, control) {
	a := unquoteAssign(strings.TrimLeft(args, " \t"))
	name, prompt, hasEq := strings.Cut(a, "=")
	if !hasEq || name == "" {
		return syntaxIncorrect(sh, std)
	}
	fmt.Fprint(std.out, prompt)
	line := readLine(std.in)
	if line == "" {
		sh.env.errorLevel = 1
		return 1, control{}
	}
	sh.env.Set(name, line)
	return 0, control{}
}

// readLine reads one line byte by byte, so that input after it stays in
// the reader for whoever reads next, and strips the line end.
func readLine(r io.Reader) string {
	var b strings.Builder
	var buf [1]byte
	for {
		n, err := r.Read(buf[:])
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			break
		}
	}
	return strings.TrimSuffix(b.String(), "\r")
}

// biCd is CD/CHDIR: without arguments it prints the current directory;
// otherwise it changes to a directory the FS says exists (/D accepted).
func (sh *shell) biCd(_ context.Context, args string, std stdio) (int32, control) {
	a := trimArgs(args)
	if len(a) >= 2 && a[0] == '/' && a[1]|0x20 == 'd' && (len(a) == 2 || isSpace(a[2])) {
		a = strings.TrimLeft(a[2:], " \t")
	}
	if a == "" {
		fmt.Fprintf(std.out, "%s\r\n", sh.env.cwd)
		return 0, control{}
	}
	return sh.chdir(strings.ReplaceAll(a, `"`, ""), std)
}

func (sh *shell) chdir(dir string, std stdio) (int32, control) {
	p := resolvePath(sh.env.cwd, dir)
	if !isRoot(p) && !sh.fs.Exists(p) {
		fmt.Fprint(std.err, "The system cannot find the path specified.\r\n")
		sh.env.errorLevel = 1
		return 1, control{}
	}
	sh.env.cwd = p
	return 0, control{}
}

// exitNumber parses EXIT's argument: decimal only, digits up to the first
// other character, wrapping modulo 2^32 into a signed 32-bit errorlevel.
// `exit /b 2147483648` leaves -2147483648 and `exit /b -2147483649` leaves
// 2147483647 (observed, stackoverflow.com/q/17388312; dbenham, "Rules for
// how CMD.EXE parses numbers", dostips.com t=3758: "EXIT [/B] n accepts
// only decimal numbers"). So `exit 3221225477` ends cmd.exe with the DWORD
// 3221225477 (0xC0000005) and `exit -1` with 4294967295.
func exitNumber(s string) int32 {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var v uint32
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		v = v*10 + uint32(s[i]-'0')
	}
	if neg {
		v = -v
	}
	return int32(v)
}

// biExit is EXIT [/B] [code] (`exit /?`). Without /B it ends cmd.exe with
// code, or with the current errorlevel when code is omitted
// (pg-fl.jp doscmd "Exit"). With /B inside a batch file it ends the batch
// file or CALLed label, setting the errorlevel if a code is given; outside
// a batch file it ends cmd.exe.
func (sh *shell) biExit(_ context.Context, args string, std stdio) (int32, control) {
	fields := strings.Fields(strings.TrimLeft(args, " \t,;="))
	b := false
	if len(fields) > 0 && strings.EqualFold(fields[0], "/b") {
		b = true
		fields = fields[1:]
	}
	code := sh.env.errorLevel
	if len(fields) > 0 {
		code = exitNumber(fields[0])
	}
	if b {
		sh.env.errorLevel = code
		if sh.batch != nil {
			return code, control{kind: ctlEndBatch}
		}
	}
	return code, control{kind: ctlExit, code: code}
}

// biType is TYPE file: it copies the file's bytes to stdout.
func (sh *shell) biType(_ context.Context, args string, std stdio) (int32, control) {
	a := trimArgs(args)
	if a == "" {
		return syntaxIncorrect(sh, std)
	}
	name := strings.ReplaceAll(a, `"`, "")
	if isNulDevice(name) {
		return 0, control{}
	}
	data, err := sh.fs.ReadFile(resolvePath(sh.env.cwd, name))
	if err != nil {
		if accessDenied(err) {
			fmt.Fprint(std.err, msgAccessDenied)
		} else {
			fmt.Fprint(std.err, "The system cannot find the file specified.\r\n")
		}
		sh.env.errorLevel = 1
		return 1, control{}
	}
	_, _ = std.out.Write(data) // ignored, as cmd.exe ignores a closed pipe
	return 0, control{}
}

// biVer is VER: a blank line, then the version line.
func (sh *shell) biVer(_ context.Context, _ string, std stdio) (int32, control) {
	fmt.Fprintf(std.out, "\r\n%s\r\n", sh.env.version())
	return 0, control{}
}

// biGoto is GOTO label / GOTO :EOF.
func (sh *shell) biGoto(_ context.Context, args string, std stdio) (int32, control) {
	a := trimArgs(args)
	tok, _ := commandToken(a)
	if tok == "" || tok == ":" {
		fmt.Fprint(std.err, "No batch label specified to GOTO command.\r\n")
		sh.env.errorLevel = 1
		return 1, control{}
	}
	if strings.EqualFold(tok, ":eof") {
		return 0, control{kind: ctlEndBatch}
	}
	label := strings.TrimPrefix(tok, ":")
	if sh.batch == nil {
		fmt.Fprintf(std.err, "The system cannot find the batch label specified - %s\r\n", label)
		sh.env.errorLevel = 1
		return 1, control{}
	}
	return 0, control{kind: ctlGoto, label: label}
}

// biCall is CALL: CALL :label args runs a subroutine of the current batch
// file; otherwise the command text is percent-expanded a second time and
// run, and a batch file it names returns here when it ends.
func (sh *shell) biCall(ctx context.Context, args string, std stdio) (int32, control) {
	a := strings.TrimLeft(args, " \t,;=")
	if a == "" {
		return 0, control{}
	}
	if a[0] == ':' {
		return sh.callLabel(ctx, a, std)
	}
	a = sh.expandPercent(a, sh.batch)
	if tooLong(a) {
		fmt.Fprint(std.err, "The command line is too long.\r\n")
		return 1, control{}
	}
	return sh.dispatch(ctx, a, std, true)
}

// biSetlocal is SETLOCAL [ENABLEDELAYEDEXPANSION|DISABLEDELAYEDEXPANSION|
// ENABLEEXTENSIONS|DISABLEEXTENSIONS]; outside a batch file it does nothing.
func (sh *shell) biSetlocal(_ context.Context, args string, std stdio) (int32, control) {
	if sh.batch == nil {
		return 0, control{}
	}
	sh.locals = append(sh.locals, localFrame{
		vars: sh.env.Vars(), cwd: sh.env.cwd, delayed: sh.delayed, owner: sh.batch,
	})
	for _, f := range strings.Fields(strings.ReplaceAll(args, `"`, "")) {
		switch strings.ToLower(f) {
		case "enabledelayedexpansion":
			sh.delayed = true
		case "disabledelayedexpansion":
			sh.delayed = false
		case "enableextensions", "disableextensions":
		default:
			return syntaxIncorrect(sh, std)
		}
	}
	sh.env.errorLevel = 0
	return 0, control{}
}

// biEndlocal restores the state saved by this batch file's last SETLOCAL.
func (sh *shell) biEndlocal(context.Context, string, stdio) (int32, control) {
	sh.popLocal(sh.batch)
	return 0, control{}
}

func (sh *shell) popLocal(owner *batchFrame) bool {
	n := len(sh.locals)
	if owner == nil || n == 0 || sh.locals[n-1].owner != owner {
		return false
	}
	l := sh.locals[n-1]
	sh.locals = sh.locals[:n-1]
	sh.env.vars = l.vars
	sh.env.cwd = l.cwd
	sh.delayed = l.delayed
	return true
}

// biShift is SHIFT [/n].
func (sh *shell) biShift(_ context.Context, args string, std stdio) (int32, control) {
	if sh.batch == nil {
		return 0, control{}
	}
	from := 0
	if a := trimArgs(args); len(a) == 2 && a[0] == '/' && a[1] >= '0' && a[1] <= '8' {
		from = int(a[1] - '0')
	} else if a != "" {
		return syntaxIncorrect(sh, std)
	}
	b := sh.batch
	if from < len(b.args) {
		b.args = append(b.args[:from:from], b.args[from+1:]...)
	}
	return 0, control{}
}

func (sh *shell) biPushd(_ context.Context, args string, std stdio) (int32, control) {
	a := strings.ReplaceAll(trimArgs(args), `"`, "")
	if a == "" {
		return 0, control{}
	}
	old := sh.env.cwd
	rc, ctl := sh.chdir(a, std)
	if rc == 0 {
		sh.dirStack = append(sh.dirStack, old)
	}
	return rc, ctl
}

func (sh *shell) biPopd(context.Context, string, stdio) (int32, control) {
	if n := len(sh.dirStack); n > 0 {
		sh.env.cwd = sh.dirStack[n-1]
		sh.dirStack = sh.dirStack[:n-1]
	}
	return 0, control{}
}

// biPath is PATH: print it, or set it (PATH ; clears it).
func (sh *shell) biPath(_ context.Context, args string, std stdio) (int32, control) {
	a := trimArgs(args)
	if a == "" {
		if v, ok := sh.env.Get("PATH"); ok {
			fmt.Fprintf(std.out, "PATH=%s\r\n", v)
		} else {
			fmt.Fprint(std.out, "No Path\r\n")
		}
		return 0, control{}
	}
	if a == ";" {
		sh.env.Unset("PATH")
		return 0, control{}
	}
	sh.env.Set("PATH", a)
	return 0, control{}
}

func (sh *shell) biPrompt(_ context.Context, args string, _ stdio) (int32, control) {
	a := trimArgs(args)
	if a == "" {
		a = "$P$G"
	}
	sh.env.Set("PROMPT", a)
	return 0, control{}
}

// biPause prints its message and waits for one byte of input.
func (sh *shell) biPause(_ context.Context, _ string, std stdio) (int32, control) {
	fmt.Fprint(std.out, "Press any key to continue . . . ")
	var b [1]byte
	_, _ = std.in.Read(b[:]) // any outcome, EOF included, ends the wait
	fmt.Fprint(std.out, "\r\n")
	return 0, control{}
}

// prompt renders PROMPT ($P path, $G >, $L <, $B |, $Q =, $S space,
// $$ $, $_ newline, $N drive).
func (sh *shell) prompt() string {
	p, ok := sh.env.Get("PROMPT")
	if !ok {
		p = "$P$G"
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '$' || i+1 >= len(p) {
			b.WriteByte(p[i])
			continue
		}
		i++
		c := p[i]
		if isLetter(c) {
			c |= 0x20
		}
		switch c {
		case 'p':
			b.WriteString(sh.env.cwd)
		case 'g':
			b.WriteByte('>')
		case 'l':
			b.WriteByte('<')
		case 'b':
			b.WriteByte('|')
		case 'q':
			b.WriteByte('=')
		case 's':
			b.WriteByte(' ')
		case '_':
			b.WriteString("\r\n")
		case 'n':
			b.WriteString(strings.TrimSuffix(pathPrefix(sh.env.cwd), ":"))
		case '$':
			b.WriteByte('$')
		}
	}
	return b.String()
}
