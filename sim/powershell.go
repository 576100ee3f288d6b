package sim

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
	"github.com/fleetrun/fleetrun/sim/internal/psmodel"
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
	policy  string   // -ExecutionPolicy, the process scope's policy
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
		case name == "ep" || (len(name) >= 2 && strings.HasPrefix("executionpolicy", name)):
			v, ok := next()
			if !ok {
				return inv
			}
			inv.policy = v
		case strings.HasPrefix("inputformat", name) && len(name) >= 2,
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
// payload dispatched; other scripts go to the scenario rules and then to
// the PowerShell model (sim/internal/psmodel).
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
	if !inv.encoded && mode == psCommand && !inv.stdin {
		if text, ok, err := inflateBootstrap(inv.script); ok {
			if err != nil {
				h.writeHost(p.Stderr, "fleetrun sim: "+err.Error()+"\r\n")
				return 1
			}
			h.stats.count(&h.stats.programs, "fleetrun-launcher")
			return h.launcher(ctx, p, text)
		}
	}
	if inv.encoded {
		if first, _, _ := strings.Cut(inv.script, "\n"); strings.TrimSpace(first) == launcherMarker {
			h.stats.count(&h.stats.programs, "fleetrun-launcher")
			return h.launcher(ctx, p, inv.script)
		}
		if code, ok := h.fileScript(ctx, p, inv.script); ok {
			return code
		}
	}
	r := &psRun{h: h, ps: ps, ctx: ctx, stdout: p.Stdout, stderr: p.Stderr, env: p.Env.Clone(), mode: mode,
		clixml: inv.encoded && h.cfg.PowerShellProgress, policy: inv.policy, file: inv.file, args: inv.args,
		wow64: strings.Contains(strings.ToLower(p.Name), `\syswow64\`)}
	r.enc = func(s string) []byte { return encodeConsole(ps.codepage(), s) }
	return r.run(inv.script)
}

// bootstrapHead and bootstrapTail are fleetrun's compressed launcher
// bootstrap as -Command receives it (docs/design.md, "Step runs"),
// character for character, around the deflated launcher text in base64.
const (
	bootstrapHead = `$fleetrunLauncher=(New-Object IO.StreamReader((New-Object IO.Compression.DeflateStream((New-Object IO.MemoryStream(,[Convert]::FromBase64String('`
	bootstrapTail = `'))),[IO.Compression.CompressionMode]::Decompress)),[Text.Encoding]::UTF8)).ReadToEnd();. ([ScriptBlock]::Create($fleetrunLauncher))`
)

// maxInflated bounds the text a compressed bootstrap may inflate to: a
// command line of 8191 characters cannot carry a launcher anywhere near
// it, so more is a fault of the sender, not a launcher.
const maxInflated = 1 << 20

// inflateBootstrap recognises fleetrun's compressed bootstrap in a -Command
// script (ok) and returns the launcher text it runs. On Windows the
// bootstrap runs whatever it inflates; the simulator models only
// fleetrun's launcher there, so anything else is an error saying so.
func inflateBootstrap(script string) (text string, ok bool, err error) {
	z, ok := strings.CutPrefix(strings.TrimSpace(script), bootstrapHead)
	if ok {
		z, ok = strings.CutSuffix(z, bootstrapTail)
	}
	if !ok || !isBase64Text(z) {
		return "", false, nil
	}
	raw, err := base64.StdEncoding.DecodeString(z)
	if err != nil {
		return "", true, fmt.Errorf("compressed launcher: %w", err)
	}
	// .NET's DeflateStream reads raw deflate, as compress/flate: RFC 1951
	// data with no zlib or gzip header (Microsoft's
	// System.IO.Compression.DeflateStream reference, "Remarks"). A line
	// longer than cmd.exe takes never gets here: cmdexe refuses it as
	// Windows does ("The command line is too long.").
	data, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(raw)), maxInflated+1))
	switch {
	case err != nil:
		return "", true, fmt.Errorf("compressed launcher: inflate: %w", err)
	case len(data) > maxInflated:
		return "", true, fmt.Errorf("compressed launcher: inflates to more than %d bytes", maxInflated)
	case !utf8.Valid(data):
		return "", true, errors.New("compressed launcher: the inflated text is not UTF-8")
	}
	text = string(data)
	if first, _, _ := strings.Cut(text, "\n"); strings.TrimSpace(first) != launcherMarker {
		return "", true, errors.New("the compressed bootstrap carries a script that is not fleetrun's launcher; the simulated fleet models it only for the launcher")
	}
	return text, true, nil
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

// payloadStatements returns the literal of every $fleetrunPayload
// statement of a script: a line that starts (after spaces or tabs) with
// $fleetrunPayload, then =, then a single-quoted literal of base64
// characters and white space. It finds exactly what the regular expression
// (?m)^[ \t]*\$fleetrunPayload[ \t]*=[ \t]*'([A-Za-z0-9+/=\s]*)' finds
// (a test holds it to that), by a scan: the launcher text is searched on
// every command a simulated host runs, and the regular expression took a
// fifth of the simulator's CPU on the benchmarks' fleets.
func payloadStatements(script string) []string {
	const name = "$fleetrunPayload"
	var out []string
	for from := 0; ; {
		q := strings.Index(script[from:], name)
		if q < 0 {
			return out
		}
		q += from
		from = q + 1
		p := q
		for p > 0 && (script[p-1] == ' ' || script[p-1] == '\t') {
			p--
		}
		if p > 0 && script[p-1] != '\n' {
			continue // not at the start of a line
		}
		j := skipBlanks(script, q+len(name))
		if j >= len(script) || script[j] != '=' {
			continue
		}
		j = skipBlanks(script, j+1)
		if j >= len(script) || script[j] != '\'' {
			continue
		}
		k := j + 1
		for k < len(script) && isPayloadByte(script[k]) {
			k++
		}
		if k >= len(script) || script[k] != '\'' {
			continue
		}
		out = append(out, script[j+1:k])
		from = k + 1
	}
}

// skipBlanks returns the index of the first byte at or after i that is
// not a space or a tab.
func skipBlanks(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// isPayloadByte reports whether b may appear in a payload literal: base64
// and the white space of \s ([\t\n\f\r ]).
func isPayloadByte(b byte) bool {
	switch b {
	case '\t', '\n', '\f', '\r', ' ':
		return true
	}
	return isBase64Byte(b)
}

// isBase64Byte reports whether b is one of [A-Za-z0-9+/=].
func isBase64Byte(b byte) bool {
	switch {
	case 'A' <= b && b <= 'Z', 'a' <= b && b <= 'z', '0' <= b && b <= '9':
		return true
	}
	return b == '+' || b == '/' || b == '='
}

// isBase64Text reports whether s has only bytes of [A-Za-z0-9+/=].
func isBase64Text(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isBase64Byte(s[i]) {
			return false
		}
	}
	return true
}

// decodePayload decodes the payload of one of fleetrun's scripts (what,
// for messages) into doc: the JSON in base64 of its single
// $fleetrunPayload statement, or of stdin when that literal is empty.
// Unknown fields are errors.
func decodePayload(what, script string, stdin io.Reader, doc any) error {
	m := payloadStatements(script)
	if len(m) != 1 {
		return fmt.Errorf("%s has %d $fleetrunPayload statements, expected 1", what, len(m))
	}
	text := m[0]
	if strings.TrimSpace(text) == "" {
		data, err := io.ReadAll(io.LimitReader(stdin, maxPayload))
		if err != nil {
			return fmt.Errorf("read payload from stdin: %w", err)
		}
		text = string(data)
	}
	return decodePayloadText(text, doc)
}

// decodePayloadText decodes a payload's base64 text (white space ignored)
// and its JSON into doc; unknown fields are errors.
func decodePayloadText(text string, doc any) error {
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
	if err != nil {
		return fmt.Errorf("decode payload: %w", err)
	}
	return decodeStrictJSON(raw, doc)
}

// decodeStrictJSON decodes one JSON document into doc; unknown fields are
// errors.
func decodeStrictJSON(raw []byte, doc any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(doc); err != nil {
		return fmt.Errorf("decode payload JSON: %w", err)
	}
	return nil
}

// maxPayload bounds a payload read from stdin.
const maxPayload = 64 << 20

// parseLauncher extracts the payload of fleetrun's launcher script. stdin
// supplies the payload when the script's literal is empty.
func parseLauncher(script string, stdin io.Reader) (*launcherPayload, error) {
	var raw json.RawMessage
	if err := decodePayload("launcher", script, stdin, &raw); err != nil {
		return nil, err
	}
	return parsePayloadJSON(raw)
}

// parsePayloadJSON checks a launcher payload's JSON. Each kind has its own
// fields, so the kind is read first and the document then decoded
// strictly as that kind.
func parsePayloadJSON(raw []byte) (*launcherPayload, error) {
	var head struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("decode payload JSON: %w", err)
	}
	var pl launcherPayload
	if err := decodeStrictJSON(raw, &pl); err != nil {
		return nil, err
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
// with the exact command line, a script payload runs as a script, a run
// payload runs its steps one after another (steprun.go).
func (h *Host) launcher(ctx context.Context, p *cmdexe.Proc, script string) uint32 {
	pl, err := parseLauncher(script, p.Stdin)
	if err != nil {
		h.writeHost(p.Stderr, "fleetrun launcher: "+err.Error()+"\r\n")
		return 1
	}
	return h.launch(ctx, p, pl)
}

// launch runs one argv or script payload as the launcher p does: with p's
// environment, stdin, stdout and stderr. A step run's argv steps come
// here too, so a step behaves in a run exactly as alone.
func (h *Host) launch(ctx context.Context, p *cmdexe.Proc, pl *launcherPayload) uint32 {
	ps := procFrom(ctx)
	env := p.Env.Clone()
	for k, v := range pl.Env {
		env.Set(k, v)
	}
	if pl.Workdir != "" {
		if !h.fsFor(ps).IsDir(pl.Workdir) {
			// The launcher enters the folder with Set-Location -LiteralPath
			// -EA Stop before anything runs: a missing one is PowerShell's
			// ItemNotFound, "Cannot find path '{0}' because it does not
			// exist." (SessionStateStrings.PathNotFound, the message the
			// PowerShell model gives Set-Location too), which the
			// launcher's catch writes to stderr before it exits 1.
			h.writeHost(p.Stderr, "Cannot find path '"+pl.Workdir+"' because it does not exist.\r\n")
			return 1
		}
		env.SetCwd(pl.Workdir)
	}
	if pl.Kind == "script" {
		first, _, _ := strings.Cut(pl.Script, "\n")
		switch strings.TrimSpace(first) {
		case taskMarker:
			// fleetrun's task script, which the launcher runs as a script.
			h.stats.count(&h.stats.programs, "fleetrun-task")
			return h.fleetrunTask(ctx, p, pl.Script)
		case stepRunMarker:
			// fleetrun's step-run script: its own payload is the run.
			h.stats.count(&h.stats.programs, "fleetrun-steprun")
			run, err := parseStepRunScript(pl.Script)
			if err != nil {
				h.writeHost(p.Stderr, "fleetrun launcher: "+err.Error()+"\r\n")
				return 1
			}
			h.stats.add(&h.stats.stepRuns, 1)
			return h.stepRun(ctx, p, run)
		}
		// The launcher's powershell.exe carries -ExecutionPolicy Bypass.
		var policy string
		if len(p.Args) > 1 {
			policy = parsePSArgs(p.Args[1:]).policy
		}
		r := &psRun{h: h, ps: ps, ctx: ctx, stdout: p.Stdout, stderr: p.Stderr, env: env, mode: psLauncher,
			policy: policy, wow64: strings.Contains(strings.ToLower(p.Name), `\syswow64\`)}
		// The launcher writes everything the script outputs through
		// [Console]::Out and [Console]::Error, whose encoding is
		// Console.OutputEncoding: the console's output code page
		// (GetConsoleOutputCP; learn.microsoft.com/dotnet/api/system.console.outputencoding).
		// In a WinRS shell that is the code page the client asked for
		// (the WINRS_CODEPAGE option of MS-WSMV's Create Shell, which winrs.exe -cp
		// sets; fleetrun asks for 65001; docs/winrm-reference.md),
		// so the step's text arrives as UTF-8 even on a Japanese host.
		r.enc = func(s string) []byte { return encodeConsole(ps.codepage(), s) }
		return r.run(pl.Script)
	}
	prog, path, ok := h.resolveProgram(pl.File, env)
	if !ok {
		if lower := strings.ToLower(pl.File); (strings.HasSuffix(lower, ".bat") || strings.HasSuffix(lower, ".cmd")) && h.fsFor(ps).Exists(pl.File) {
			// CreateProcess hands batch files to cmd.exe.
			return cmdexe.Run(ctx, pl.CommandLine, env, h.fsFor(ps), h.lookup, p.Stdin, p.Stdout, p.Stderr)
		}
		// The launcher calls [Diagnostics.Process]::Start($frI): one
		// argument, and PowerShell's MethodInvocationException names the
		// count ("Exception calling "{0}" with "{1}" argument(s): "{2}"",
		// System.Management.Automation resource ExtendedTypeSystem).
		h.writeHost(p.Stderr, "Exception calling \"Start\" with \"1\" argument(s): \"The system cannot find the file specified\"\r\n")
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
	// policy is -ExecutionPolicy; file and args are -File's.
	policy string
	file   string
	args   []string
	// wow64 is the 32-bit PowerShell.
	wow64 bool

	// records are the stream records waiting to be serialised as CLIXML.
	records []clixmlRecord
}

// clixmlRecord is one line of an error, warning or verbose record.
type clixmlRecord struct{ stream, text string }

func (r *psRun) out(s string) { rawWrite(r.stdout, r.enc(s)) }

func (r *psRun) errOut(s string) { rawWrite(r.stderr, r.enc(s)) }

// run answers the script: the preflight script from the host's state,
// the scenario rules, then the PowerShell model, which refuses loudly
// what it does not model.
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
	h.stats.count(&h.stats.programs, "script-interpreted")
	host := &psHost{h: h, ps: r.ps, env: r.env, enc: r.enc, wow64: r.wow64, policy: r.policy}
	// PowerShell reads the output it captures from a program with
	// Console.OutputEncoding, the console's output code page: it starts
	// the program with StandardOutputEncoding and StandardErrorEncoding
	// set to it (PowerShell/PowerShell#10789 quotes the code;
	// learn.microsoft.com/dotnet/api/system.console.outputencoding). So
	// under the launcher's UTF-8 console a legacy program's CP932 bytes,
	// once captured (assigned, piped, formatted), come out as U+FFFD, as
	// on Windows; a program whose output goes straight to the console
	// keeps its bytes. Files without a byte-order mark are another
	// matter: under the launcher Get-Content reads them in the host's code
	// page.
	host.dec = consoleDecoder(r.ps.codepage())
	host.fileDec = host.dec
	mode := psmodel.ModeCommand
	switch r.mode {
	case psFile:
		mode = psmodel.ModeFile
	case psLauncher:
		mode = psmodel.ModeLauncher
		host.fileDec = h.decodeHost
	}
	opts := psmodel.Options{Mode: mode, Stdout: psWriter{r.stdout}, Stderr: psWriter{r.stderr}, ScriptName: r.file, Args: r.args}
	if r.clixml {
		opts.Serialize = func(stream, line string) {
			if stream != "Error" {
				line += "\r\n"
			}
			r.records = append(r.records, clixmlRecord{stream, line})
		}
	}
	code := psmodel.Run(r.ctx, host, script, opts)
	return r.finish(code, false)
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
	// A rule stands for what a script printed. Under fleetrun's launcher
	// every line goes through the console's encoding (see launcher);
	// a bare powershell.exe run is answered as the host's programs write
	// (an independent client such as pywinrm asks for code page 437 and
	// sees a Japanese host's CP932).
	enc := r.h.encodeHost
	if r.mode == psLauncher {
		enc = r.enc
	}
	if rule.Stdout != "" {
		rawWrite(r.stdout, enc(rule.Stdout))
	}
	if rule.Stderr != "" {
		rawWrite(r.stderr, enc(rule.Stderr))
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
		for _, rec := range r.records {
			b.WriteString(`<S S="` + rec.stream + `">`)
			b.WriteString(clixmlEscape(rec.text))
			b.WriteString(`</S>`)
		}
		b.WriteString("</Objs>")
		r.errOut(b.String())
		r.records = nil
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
		for _, l := range lines {
			r.records = append(r.records, clixmlRecord{"Error", l})
		}
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
