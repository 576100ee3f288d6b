package sim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
)

// Markers of fleetrun's launcher and preflight scripts (docs/design.md).
const (
	launcherMarker  = "# fleetrun-launcher v1"
	preflightMarker = "# fleetrun-preflight v1"
)

// psInvocation is what powershell.exe's command line asks for.
type psInvocation struct {
	script  string
	encoded bool // -EncodedCommand
	stdin   bool // -Command - or a lone -: the script arrives on stdin
	file    string
	args    []string // -File arguments
	err     string   // a command-line error PowerShell reports
}

// parsePSArgs reads powershell.exe's parameters. Names match by prefix,
// case-insensitively, as PowerShell's console host matches them.
func parsePSArgs(args []string) psInvocation {
	var inv psInvocation
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-" {
			inv.stdin = true
			return inv
		}
		if !strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "/") {
			inv.script = strings.Join(args[i:], " ")
			return inv
		}
		name := strings.ToLower(strings.TrimLeft(a, "-/"))
		next := func() (string, bool) {
			if i+1 >= len(args) {
				inv.err = fmt.Sprintf("Missing argument for parameter %s.", a)
				return "", false
			}
			i++
			return args[i], true
		}
		switch {
		case name == "e" || name == "ec" || (len(name) >= 2 && strings.HasPrefix("encodedcommand", name) && name != "e"):
			v, ok := next()
			if !ok {
				return inv
			}
			text, err := decodeUTF16Base64(v)
			if err != nil {
				inv.err = "Cannot process the command because the value specified with -EncodedCommand is not properly encoded. The value must be Base64 encoded."
				return inv
			}
			inv.script, inv.encoded = text, true
			return inv
		case name == "ep" || (len(name) >= 2 && strings.HasPrefix("executionpolicy", name)),
			strings.HasPrefix("inputformat", name) && len(name) >= 2,
			strings.HasPrefix("outputformat", name) && len(name) >= 1 && name[0] == 'o',
			strings.HasPrefix("windowstyle", name) && len(name) >= 1,
			strings.HasPrefix("version", name) && len(name) >= 1,
			strings.HasPrefix("configurationname", name) && len(name) >= 3,
			strings.HasPrefix("psconsolefile", name) && len(name) >= 3:
			if _, ok := next(); !ok {
				return inv
			}
		case strings.HasPrefix("command", name) && len(name) >= 1:
			if i+1 < len(args) && args[i+1] == "-" {
				inv.stdin = true
				return inv
			}
			inv.script = strings.Join(args[i+1:], " ")
			return inv
		case strings.HasPrefix("file", name) && len(name) >= 1:
			v, ok := next()
			if !ok {
				return inv
			}
			inv.file, inv.args = v, args[i+1:]
			return inv
		case strings.HasPrefix("nologo", name) && len(name) >= 3,
			strings.HasPrefix("noprofile", name) && len(name) >= 3,
			strings.HasPrefix("noninteractive", name) && len(name) >= 4,
			strings.HasPrefix("noexit", name) && len(name) >= 3,
			name == "sta", name == "mta":
		default:
			inv.err = fmt.Sprintf("-%s : The term '-%s' is not recognized as the name of a cmdlet, function, script file, or operable program.", name, name)
			return inv
		}
	}
	return inv
}

// decodeUTF16Base64 decodes an -EncodedCommand value.
func decodeUTF16Base64(s string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("decode -EncodedCommand: %w", err)
	}
	if len(raw)%2 != 0 {
		return "", errors.New("decode -EncodedCommand: odd number of bytes for UTF-16")
	}
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	return string(utf16.Decode(u)), nil
}

// powershell is powershell.exe: fleetrun's launcher is recognised and its
// payload dispatched; other scripts go to the scenario rules and then to a
// small interpreter.
func (h *Host) powershell(ctx context.Context, p *cmdexe.Proc) uint32 {
	inv := parsePSArgs(p.Args[1:])
	ps := procFrom(ctx)
	if inv.err != "" {
		rawWrite(p.Stderr, encodeConsole(ps.codepage(), inv.err+"\r\n"))
		return 0xFFFD0000 // PowerShell's exit status for a bad command line (-196608)
	}
	if inv.stdin {
		data, err := io.ReadAll(p.Stdin)
		if err != nil {
			return 0xC000013A
		}
		inv.script = string(data)
	}
	mode := psCommand
	if inv.file != "" {
		data, err := h.fsFor(ps).ReadFile(inv.file)
		if err != nil {
			msg := fmt.Sprintf("The argument '%s' to the -File parameter does not exist. Provide the path to an existing '.ps1' file as an argument to the -File parameter.\r\n", inv.file)
			rawWrite(p.Stderr, encodeConsole(ps.codepage(), msg))
			return 0xFFFD0000
		}
		inv.script = string(data)
		mode = psFile
	}
	if inv.encoded {
		if first, _, _ := strings.Cut(inv.script, "\n"); strings.TrimSpace(first) == launcherMarker {
			h.stats.count(&h.stats.programs, "fleetrun-launcher")
			return h.launcher(ctx, p, inv.script)
		}
	}
	r := &psRun{h: h, ps: ps, ctx: ctx, stdout: p.Stdout, stderr: p.Stderr, env: p.Env.Clone(), mode: mode,
		clixml: inv.encoded && h.cfg.PowerShellProgress}
	r.enc = func(s string) []byte { return encodeConsole(ps.codepage(), s) }
	return r.run(inv.script)
}

// psVersion is the host's PowerShell version.
func (h *Host) psVersion() string {
	if h.cfg.Preflight.PSVersion != "" {
		return h.cfg.Preflight.PSVersion
	}
	return h.cfg.Profile.PSVersion
}

// launcherPayload is fleetrun's launcher payload (docs/design.md).
type launcherPayload struct {
	V           int               `json:"v"`
	Kind        string            `json:"kind"`
	File        string            `json:"file"`
	CommandLine string            `json:"command_line"`
	Script      string            `json:"script"`
	Env         map[string]string `json:"env"`
	Workdir     string            `json:"workdir"`
}

var payloadRE = regexp.MustCompile(`(?m)^[ \t]*\$fleetrunPayload[ \t]*=[ \t]*'([A-Za-z0-9+/=\s]*)'`)

// parseLauncher extracts the payload of fleetrun's launcher script. stdin
// supplies the payload when the script's literal is empty.
func parseLauncher(script string, stdin io.Reader) (*launcherPayload, error) {
	m := payloadRE.FindAllStringSubmatch(script, -1)
	if len(m) != 1 {
		return nil, fmt.Errorf("launcher has %d $fleetrunPayload statements, expected 1", len(m))
	}
	text := m[0][1]
	if strings.TrimSpace(text) == "" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read payload from stdin: %w", err)
		}
		text = string(data)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
	if err != nil {
		return nil, fmt.Errorf("decode payload: %w", err)
	}
	var pl launcherPayload
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pl); err != nil {
		return nil, fmt.Errorf("decode payload JSON: %w", err)
	}
	if pl.V != 1 {
		return nil, fmt.Errorf("payload version %d, expected 1", pl.V)
	}
	switch pl.Kind {
	case "argv":
		if pl.File == "" || pl.CommandLine == "" {
			return nil, errors.New("argv payload without file or command_line")
		}
	case "script":
	default:
		return nil, fmt.Errorf("payload kind %q, expected argv or script", pl.Kind)
	}
	return &pl, nil
}

// launcher runs a fleetrun launcher: an argv payload starts its program
// with the exact command line, a script payload runs as a script.
func (h *Host) launcher(ctx context.Context, p *cmdexe.Proc, script string) uint32 {
	ps := procFrom(ctx)
	pl, err := parseLauncher(script, p.Stdin)
	if err != nil {
		h.writeHost(p.Stderr, "fleetrun launcher: "+err.Error()+"\r\n")
		return 1
	}
	env := p.Env.Clone()
	for k, v := range pl.Env {
		env.Set(k, v)
	}
	if pl.Workdir != "" {
		env.SetCwd(pl.Workdir)
	}
	if pl.Kind == "script" {
		if first, _, _ := strings.Cut(pl.Script, "\n"); strings.TrimSpace(first) == taskMarker {
			// fleetrun's task script, which the launcher runs as a script.
			h.stats.count(&h.stats.programs, "fleetrun-task")
			return h.fleetrunTask(ctx, p, pl.Script)
		}
		r := &psRun{h: h, ps: ps, ctx: ctx, stdout: p.Stdout, stderr: p.Stderr, env: env, mode: psLauncher}
		r.enc = h.encodeHost
		return r.run(pl.Script)
	}
	prog, path, ok := h.resolveProgram(pl.File, env)
	if !ok {
		if lower := strings.ToLower(pl.File); (strings.HasSuffix(lower, ".bat") || strings.HasSuffix(lower, ".cmd")) && h.fsFor(ps).Exists(pl.File) {
			// CreateProcess hands batch files to cmd.exe.
			return cmdexe.Run(ctx, pl.CommandLine, env, h.fsFor(ps), h.lookup, p.Stdin, p.Stdout, p.Stderr)
		}
		h.writeHost(p.Stderr, "Exception calling \"Start\" with \"0\" argument(s): \"The system cannot find the file specified\"\r\n")
		return 1
	}
	return prog(ctx, &cmdexe.Proc{
		Name: path, CommandLine: pl.CommandLine, Args: cmdexe.ParseArgs(pl.CommandLine),
		Env: env, Stdin: p.Stdin, Stdout: p.Stdout, Stderr: p.Stderr,
	})
}

// psMode selects PowerShell's exit-code rules.
type psMode int

const (
	// psCommand: -Command / -EncodedCommand: exit N gives N, otherwise 1
	// when the last statement failed or a terminating error occurred.
	psCommand psMode = iota
	// psFile: -File: exit N gives N, a terminating error 1, else 0.
	psFile
	// psLauncher: fleetrun's wrapper: exit N gives N, else a failing last
	// native command's code, a terminating error 1, else 0.
	psLauncher
)

// psRun is one script being answered.
type psRun struct {
	h      *Host
	ps     *procState
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	env    *cmdexe.Env
	mode   psMode
	clixml bool // errors (and progress) go to stderr as CLIXML
	enc    func(string) []byte

	vars       map[string]string
	lastExit   int64
	lastOK     bool
	lastNative bool
	errRecords []string
}

func (r *psRun) out(s string) { rawWrite(r.stdout, r.enc(s)) }

func (r *psRun) errOut(s string) { rawWrite(r.stderr, r.enc(s)) }

// run answers the script: the preflight rule, scenario rules, the
// interpreter, else success with no output.
func (r *psRun) run(script string) uint32 {
	h := r.h
	if strings.Contains(script, preflightMarker) {
		h.stats.count(&h.stats.programs, "fleetrun-preflight")
		r.out(h.preflightJSON() + "\r\n")
		return 0
	}
	for i := range h.cfg.Rules {
		rule := &h.cfg.Rules[i]
		if rule.match(script) {
			h.stats.count(&h.stats.programs, "script-rule")
			return r.answer(rule)
		}
	}
	stmts, ok := parseTrivialScript(script)
	if !ok {
		h.stats.count(&h.stats.programs, "script-default")
		return r.finish(0, false)
	}
	h.stats.count(&h.stats.programs, "script-interpreted")
	return r.interpret(stmts)
}

// answer plays a scenario rule.
func (r *psRun) answer(rule *ScriptRule) uint32 {
	if r.ps.sleep(r.ctx, rule.Delay) != nil {
		return 0xC000013A
	}
	if limit := r.ps.memoryMB; rule.MemoryMB > 0 && limit > 0 && rule.MemoryMB > limit {
		r.errorRecord("Exception of type 'System.OutOfMemoryException' was thrown.", "", "OperationStopped: (:) [], OutOfMemoryException", "System.OutOfMemoryException")
		return r.finish(1, true)
	}
	if rule.Stdout != "" {
		rawWrite(r.stdout, r.h.encodeHost(rule.Stdout))
	}
	if rule.Stderr != "" {
		rawWrite(r.stderr, r.h.encodeHost(rule.Stderr))
	}
	return r.finish(rule.ExitCode, true)
}

// finish flushes CLIXML and returns the exit code.
func (r *psRun) finish(code uint32, explicit bool) uint32 {
	_ = explicit
	if r.clixml {
		var b strings.Builder
		b.WriteString("#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">")
		// Windows PowerShell 5.1 reports loading its modules as progress.
		b.WriteString(`<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj>`)
		for _, line := range r.errRecords {
			b.WriteString(`<S S="Error">`)
			b.WriteString(clixmlEscape(line))
			b.WriteString(`</S>`)
		}
		b.WriteString("</Objs>")
		r.errOut(b.String())
		r.errRecords = nil
	}
	return code
}

// clixmlEscape escapes text as PowerShell's serializer does: XML escapes
// plus _xHHHH_ for control characters.
func clixmlEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		default:
			if c < 0x20 {
				fmt.Fprintf(&b, "_x%04X_", c)
			} else {
				b.WriteRune(c)
			}
		}
	}
	return b.String()
}

// errorRecord reports an error the way the mode shows it: plain text for
// the launcher, a formatted record otherwise.
func (r *psRun) errorRecord(msg, stmt, category, fqid string) {
	if r.mode == psLauncher {
		r.errOut(msg + "\r\n")
		return
	}
	lines := []string{msg + "\r\n"}
	if stmt != "" {
		lines = append(lines, "At line:1 char:1\r\n", "+ "+stmt+"\r\n", "+ "+strings.Repeat("~", max(len(stmt), 1))+"\r\n")
	}
	lines = append(lines, "    + CategoryInfo          : "+category+"\r\n", "    + FullyQualifiedErrorId : "+fqid+"\r\n", " \r\n")
	if r.clixml {
		r.errRecords = append(r.errRecords, lines...)
		return
	}
	r.errOut(strings.Join(lines, ""))
}

// preflightJSON answers fleetrun's preflight script from host state
// (preflightfacts.go).
func (h *Host) preflightJSON() string {
	b, _ := json.Marshal(h.preflightFacts()) // a struct of strings, bools and ints always encodes
	return string(b)
}

// psStmt is one statement of a trivial script.
type psStmt struct {
	text  string
	words []psWord
}

// psWord is a token: a bare word or a quoted string (expanded later).
type psWord struct {
	text   string
	quoted byte // 0, '\'' or '"'
}

// parseTrivialScript splits a script into statements the interpreter
// understands; ok is false when any statement is beyond it.
func parseTrivialScript(script string) ([]psStmt, bool) {
	var stmts []psStmt
	for _, raw := range splitStatements(script) {
		text := strings.TrimSpace(raw)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		words, ok := tokenizePS(text)
		if !ok {
			return nil, false
		}
		st := psStmt{text: text, words: words}
		if !knownStatement(st) {
			return nil, false
		}
		stmts = append(stmts, st)
	}
	return stmts, true
}

// splitStatements splits on newlines and semicolons outside quotes.
func splitStatements(s string) []string {
	var out []string
	var quote rune
	start := 0
	for i, c := range s {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == ';' || c == '\n' || c == '\r':
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// tokenizePS splits a statement into words; quoted strings keep their
// quote kind. Unbalanced quotes are beyond the interpreter.
func tokenizePS(s string) ([]psWord, bool) {
	var words []psWord
	i := 0
	for i < len(s) {
		switch s[i] {
		case ' ', '\t':
			i++
		case '\'':
			var b strings.Builder
			i++
			for {
				if i >= len(s) {
					return nil, false
				}
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			words = append(words, psWord{text: b.String(), quoted: '\''})
		case '"':
			var b strings.Builder
			i++
			for {
				if i >= len(s) {
					return nil, false
				}
				if s[i] == '`' && i+1 < len(s) {
					b.WriteByte(s[i])
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						b.WriteByte('"')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			words = append(words, psWord{text: b.String(), quoted: '"'})
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '\t' {
				j++
			}
			words = append(words, psWord{text: s[i:j]})
			i = j
		}
	}
	return words, true
}

var (
	consoleWriteRE = regexp.MustCompile(`^\[(?i:Console)\]::(?:(?i:Error|Out)\.)?(?i:WriteLine|Write)\((.*)\)$`)
	assignRE       = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_:]*)\s*=\s*(.+)$`)
	cwdRE          = regexp.MustCompile(`^(?i:\(pwd\)\.Path|\(Get-Location\)\.Path|\$pwd\.Path|\$pwd|pwd|Get-Location)$`)
)

// cmdletNames are the cmdlets the interpreter runs.
var cmdletNames = map[string]bool{
	"write-output": true, "echo": true, "write": true, "write-host": true,
	"write-error": true, "start-sleep": true, "sleep": true, "exit": true,
	"throw": true, "set-location": true, "cd": true, "&": true,
}

// knownStatement reports whether the interpreter can run st.
func knownStatement(st psStmt) bool {
	t := st.text
	if consoleWriteRE.MatchString(t) || cwdRE.MatchString(t) {
		return true
	}
	if m := assignRE.FindStringSubmatch(t); m != nil {
		return isSimpleValue(strings.TrimSpace(m[2]))
	}
	w := st.words[0]
	if w.quoted != 0 {
		return len(st.words) == 1
	}
	if strings.HasPrefix(w.text, "$") {
		return len(st.words) == 1 && isSimpleValue(w.text)
	}
	if _, err := strconv.ParseInt(w.text, 10, 64); err == nil {
		return len(st.words) == 1
	}
	name := strings.ToLower(w.text)
	if cmdletNames[name] {
		return true
	}
	return looksNative(name)
}

// looksNative reports whether a command word names a program rather than
// a cmdlet: a path, something with an extension, or a known program name.
func looksNative(name string) bool {
	if strings.ContainsAny(name, `\/`) || strings.HasSuffix(name, ".exe") || strings.HasSuffix(name, ".bat") || strings.HasSuffix(name, ".cmd") {
		return true
	}
	switch name {
	case "cmd", "hostname", "whoami", "winrm", "java", "shutdown", "wusa", "powershell":
		return true
	}
	return false
}

func isSimpleValue(v string) bool {
	if strings.HasPrefix(v, "'") && strings.HasSuffix(v, "'") && len(v) >= 2 {
		return true
	}
	if strings.HasPrefix(v, `"`) && strings.HasSuffix(v, `"`) && len(v) >= 2 {
		return true
	}
	if strings.EqualFold(v, "$true") || strings.EqualFold(v, "$false") || strings.EqualFold(v, "$null") ||
		strings.EqualFold(v, "$LASTEXITCODE") || strings.HasPrefix(strings.ToLower(v), "$env:") {
		return true
	}
	if m := regexp.MustCompile(`^\$[A-Za-z_][A-Za-z0-9_]*$`).MatchString(v); m {
		return true
	}
	_, err := strconv.ParseInt(v, 10, 64)
	return err == nil
}

// value evaluates a simple value or word.
func (r *psRun) value(w psWord) string {
	switch w.quoted {
	case '\'':
		return w.text
	case '"':
		return r.expand(w.text)
	}
	t := w.text
	if strings.HasPrefix(t, "$") {
		return r.variable(t[1:])
	}
	return t
}

// variable reads $name.
func (r *psRun) variable(name string) string {
	lower := strings.ToLower(name)
	switch {
	case lower == "lastexitcode":
		return strconv.FormatInt(r.lastExit, 10)
	case lower == "true":
		return "True"
	case lower == "false":
		return "False"
	case lower == "null":
		return ""
	case lower == "pwd":
		return r.env.Cwd()
	case strings.HasPrefix(lower, "env:"):
		v, _ := r.env.Get(name[4:])
		return v
	}
	return r.vars[lower]
}

var varRefRE = regexp.MustCompile(`\$(?:env:[A-Za-z_][A-Za-z0-9_()]*|[A-Za-z_][A-Za-z0-9_]*)`)

// expand interpolates variables and backtick escapes in a "..." string.
func (r *psRun) expand(s string) string {
	s = varRefRE.ReplaceAllStringFunc(s, func(ref string) string { return r.variable(ref[1:]) })
	if !strings.Contains(s, "`") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '`' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '0':
				b.WriteByte(0)
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// evalExpr evaluates the text of a simple value.
func (r *psRun) evalExpr(text string) string {
	words, ok := tokenizePS(strings.TrimSpace(text))
	if !ok || len(words) == 0 {
		return ""
	}
	return r.value(words[0])
}

// errExit ends the script with a status.
type errExit struct{ code uint32 }

func (e errExit) Error() string { return fmt.Sprintf("exit %d", e.code) }

// errTerminating is a terminating error (throw).
var errTerminating = errors.New("terminating error")

// interpret runs the statements and applies the mode's exit rules.
func (r *psRun) interpret(stmts []psStmt) uint32 {
	r.vars = map[string]string{}
	r.lastOK = true
	for _, st := range stmts {
		err := r.exec(st)
		var ee errExit
		switch {
		case errors.As(err, &ee):
			return r.finish(ee.code, true)
		case errors.Is(err, errTerminating):
			return r.finish(1, true)
		case err != nil:
			return r.finish(0xC000013A, true) // stopped
		}
	}
	switch r.mode {
	case psLauncher:
		if r.lastNative && r.lastExit != 0 {
			return r.finish(uint32(r.lastExit), false)
		}
	case psCommand:
		if !r.lastOK {
			return r.finish(1, false)
		}
	}
	return r.finish(0, false)
}

// exec runs one statement.
func (r *psRun) exec(st psStmt) error {
	r.lastNative = false
	r.lastOK = true
	t := st.text
	if m := consoleWriteRE.FindStringSubmatch(t); m != nil {
		text := r.evalExpr(m[1])
		if strings.Contains(strings.ToLower(t), "writeline") {
			text += "\r\n"
		}
		if strings.Contains(strings.ToLower(t), "::error.") {
			r.errOut(text)
		} else {
			r.out(text)
		}
		return nil
	}
	if cwdRE.MatchString(t) {
		r.out(r.env.Cwd() + "\r\n")
		return nil
	}
	if m := assignRE.FindStringSubmatch(t); m != nil {
		r.vars[strings.ToLower(m[1])] = r.evalExpr(m[2])
		return nil
	}
	w := st.words
	first := w[0]
	if first.quoted != 0 || strings.HasPrefix(first.text, "$") {
		r.out(r.value(first) + "\r\n")
		return nil
	}
	if _, err := strconv.ParseInt(first.text, 10, 64); err == nil {
		r.out(first.text + "\r\n")
		return nil
	}
	args := w[1:]
	switch name := strings.ToLower(first.text); name {
	case "write-output", "echo", "write":
		for _, a := range args {
			r.out(r.value(a) + "\r\n")
		}
	case "write-host":
		var parts []string
		newline := true
		for _, a := range args {
			if a.quoted == 0 && strings.EqualFold(a.text, "-NoNewline") {
				newline = false
				continue
			}
			if a.quoted == 0 && strings.HasPrefix(a.text, "-") {
				continue
			}
			parts = append(parts, r.value(a))
		}
		text := strings.Join(parts, " ")
		if newline {
			// Write-Host under WinRS ends lines with LF alone
			// (test_winrs_operation_timeout.yml).
			text += "\n"
		}
		r.out(text)
	case "write-error":
		var parts []string
		for _, a := range args {
			if a.quoted == 0 && strings.EqualFold(a.text, "-Message") {
				continue
			}
			parts = append(parts, r.value(a))
		}
		msg := strings.Join(parts, " ")
		r.errorRecord(msg, "", "NotSpecified: (:) [Write-Error], WriteErrorException", "Microsoft.PowerShell.Commands.WriteErrorException")
		r.lastOK = false
	case "throw":
		msg := "ScriptHalted"
		if len(args) > 0 {
			msg = r.value(args[0])
		}
		r.errorRecord(msg, t, "OperationStopped: ("+msg+":String) [], RuntimeException", msg)
		return errTerminating
	case "exit":
		code := int64(0)
		if len(args) > 0 {
			v := r.value(args[0])
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return errExit{0}
			}
			code = n
		}
		return errExit{uint32(int32(code))}
	case "start-sleep", "sleep":
		d := time.Duration(0)
		unit := time.Second
		for _, a := range args {
			lower := strings.ToLower(a.text)
			if a.quoted == 0 && strings.HasPrefix(lower, "-") {
				if strings.HasPrefix("-milliseconds", lower) && len(lower) >= 2 {
					unit = time.Millisecond
				}
				continue
			}
			f, err := strconv.ParseFloat(r.value(a), 64)
			if err == nil {
				d = time.Duration(f * float64(unit))
			}
		}
		if err := r.ps.sleep(r.ctx, d); err != nil {
			return err
		}
	case "set-location", "cd":
		if len(args) > 0 {
			r.env.SetCwd(r.value(args[0]))
		}
	case "&":
		if len(args) == 0 {
			return nil
		}
		return r.native(r.value(args[0]), args[1:])
	default:
		return r.native(first.text, args)
	}
	return nil
}

// native runs a program from the script, as PowerShell 5.1 does: the
// arguments are joined with spaces, quoted only when they contain
// whitespace, empty ones dropped. It sets $LASTEXITCODE.
func (r *psRun) native(file string, words []psWord) error {
	parts := []string{quoteIfSpace(file)}
	for _, w := range words {
		v := r.value(w)
		if v == "" {
			continue
		}
		parts = append(parts, quoteIfSpace(v))
	}
	line := strings.Join(parts, " ")
	var code uint32
	prog, path, ok := r.h.resolveProgram(file, r.env)
	switch {
	case ok:
		code = prog(r.ctx, &cmdexe.Proc{Name: path, CommandLine: line, Args: cmdexe.ParseArgs(line),
			Env: r.env.Clone(), Stdin: strings.NewReader(""), Stdout: r.stdout, Stderr: r.stderr})
	case (strings.HasSuffix(strings.ToLower(file), ".bat") || strings.HasSuffix(strings.ToLower(file), ".cmd")) && r.h.fsFor(r.ps).Exists(file):
		code = cmdexe.Run(r.ctx, line, r.env.Clone(), r.h.fsFor(r.ps), r.h.lookup, strings.NewReader(""), r.stdout, r.stderr)
	default:
		msg := file + " : The term '" + file + "' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."
		r.errorRecord(msg, "", "ObjectNotFound: ("+file+":String) [], CommandNotFoundException", "CommandNotFoundException")
		r.lastOK = false
		return nil
	}
	if err := r.ctx.Err(); err != nil {
		return err
	}
	r.lastExit = int64(int32(code))
	r.lastNative = true
	r.lastOK = code == 0
	return nil
}

func quoteIfSpace(s string) string {
	if strings.ContainsAny(s, " \t") {
		return `"` + s + `"`
	}
	return s
}
