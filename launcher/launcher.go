// Package launcher builds what fleetrun runs on a Windows host for a step:
// the fixed PowerShell launcher with the step as a data payload (see
// docs/design.md, "The launcher contract"), the powershell.exe command line
// that carries it, and the shim an AWS Systems Manager command runs it
// through. It is pure: no I/O, the same text for every transport.
//
// It leaves Windows quoting rules to winquote and sending the text to a host
// to the transports (winrm, ssm).
package launcher

import (
	"bytes"
	"compress/flate"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/winquote"
)

// launcherSource is the commented launcher; see launcher.ps1.
//
//go:embed launcher.ps1
var launcherSource string

// Marker is the launcher's first line, which the simulator (and a person
// reading a process list) recognises it by.
const Marker = "# fleetrun-launcher v1"

// payloadStatement is the one statement of the launcher that carries the
// step; its literal is filled in per step.
const payloadStatement = "$fleetrunPayload = ''"

// PowerShellExe is the 64-bit Windows PowerShell every step runs under,
// spelled with %SystemRoot% for cmd.exe (which WinRS runs the command line
// through) to expand. From a 32-bit process System32 would be redirected,
// but WinRS starts shells as native 64-bit processes.
const PowerShellExe = `%SystemRoot%\System32\WindowsPowerShell\v1.0\powershell.exe`

// powerShellArgs precede the encoded launcher on every command line.
var powerShellArgs = []string{"-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand"}

// PowerShellArgs returns the arguments that precede the encoded launcher on
// every command line, -EncodedCommand last (a new slice each call).
func PowerShellArgs() []string { return append([]string(nil), powerShellArgs...) }

// DefaultMaxCommandLine is the longest WinRS command line (Command and
// Arguments joined by spaces) Render produces before it moves the payload
// to stdin. cmd.exe, which WinRS runs every command line through, accepts
// 8191 characters; the margin covers the expansion of %SystemRoot% (to
// C:\Windows, shorter) and cmd.exe's own "/c" prefix.
const DefaultMaxCommandLine = 8100

// launcherWire is the launcher as sent: launcherSource without comment
// lines, blank lines and indentation, the marker line kept first.
var launcherWire = wireForm(launcherSource)

// wireForm strips what PowerShell does not need from the launcher source.
// It relies on the source keeping comments on lines of their own and having
// no here-strings, whose lines must not be touched; launcher_test.go checks
// that the result still parses and keeps exactly one payload statement.
func wireForm(src string) string {
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	var b strings.Builder
	b.WriteString(lines[0])
	b.WriteByte('\n')
	for _, l := range lines[1:] {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// Source returns the commented source of the launcher, for review and for
// syntax checks; what is sent is the same text without comments.
func Source() string { return launcherSource }

// Text returns the launcher text exactly as it is sent (before UTF-16 and
// base64 encoding) with payloadB64 as its payload literal; an empty
// payloadB64 gives the variant that reads the payload from stdin.
func Text(payloadB64 string) string {
	return strings.Replace(launcherWire, payloadStatement, "$fleetrunPayload = '"+payloadB64+"'", 1)
}

// argvPayload and scriptPayload are the launcher's JSON documents; field
// order and names are the contract in docs/design.md.
type argvPayload struct {
	V           int               `json:"v"`
	Kind        string            `json:"kind"`
	File        string            `json:"file"`
	CommandLine string            `json:"command_line"`
	Env         map[string]string `json:"env"`
	Workdir     string            `json:"workdir"`
}

type scriptPayload struct {
	V       int               `json:"v"`
	Kind    string            `json:"kind"`
	Script  string            `json:"script"`
	Env     map[string]string `json:"env"`
	Workdir string            `json:"workdir"`
}

// RenderOptions tune Render.
type RenderOptions struct {
	// MaxCommandLine is the longest command line to send; a longer one
	// makes the payload travel on stdin. Zero means DefaultMaxCommandLine.
	MaxCommandLine int
	// ForceStdin sends the payload on stdin whatever its size.
	ForceStdin bool
}

// Rendered is how a step goes over WinRS.
type Rendered struct {
	// RemoteCommand is exactly what goes into WinRS's Command element
	// (the first string) and its Arguments elements (the rest), in order.
	RemoteCommand []string
	// CommandLine is, for argv and cmd steps, the full Windows command line
	// the program receives, program included, as Process.Start builds it.
	CommandLine string
	// Stdin says the payload is sent on stdin rather than on the command
	// line (the launcher's literal is then empty). For a copy (RenderCopy)
	// it says the file's bytes follow on stdin, and Payload is empty.
	Stdin bool

	// payload is the base64 payload text, sent on stdin when Stdin is set.
	payload string
}

// Payload returns the base64 text that travels on stdin when r.Stdin is
// set (and inside the launcher otherwise).
func (r Rendered) Payload() string { return r.payload }

// Payload is a step as the launcher carries it.
type Payload struct {
	// B64 is the base64 of the payload's UTF-8 JSON document, the text of
	// the launcher's payload literal.
	B64 string
	// CommandLine is, for argv and cmd steps, the full Windows command line
	// the program receives, program included, as Process.Start builds it;
	// empty for powershell steps.
	CommandLine string
}

// Build turns a step into the launcher's payload, without any I/O. It fails
// for a step the launcher cannot carry exactly: an argv step whose program
// is a batch file (the error wraps winquote.ErrBatchFile), an argument with
// a NUL or invalid UTF-8, a cmd line longer than cmd.exe accepts or
// spanning several lines, text that is not valid UTF-8, or a malformed
// environment variable name.
func Build(cmd transport.Command) (Payload, error) {
	if err := checkEnv(cmd.Env, cmd.Workdir); err != nil {
		return Payload{}, err
	}
	env := cmd.Env
	if env == nil {
		env = map[string]string{}
	}
	var doc any
	var commandLine string
	switch cmd.Kind {
	case transport.KindArgv:
		if len(cmd.Argv) == 0 {
			return Payload{}, errors.New("command step has an empty argv")
		}
		// CommandLine judges the program (winquote.CheckArgvProgram,
		// batch files included) as it builds the line.
		line, err := winquote.CommandLine(cmd.Argv[0], cmd.Argv[1:])
		if err != nil {
			return Payload{}, fmt.Errorf("command step: %w", err)
		}
		commandLine = line
		doc = argvPayload{V: 1, Kind: "argv", File: cmd.Argv[0], CommandLine: line, Env: env, Workdir: cmd.Workdir}
	case transport.KindCmd:
		line, err := cmdCommandLine(cmd.Line)
		if err != nil {
			return Payload{}, err
		}
		commandLine = line
		doc = argvPayload{V: 1, Kind: "argv", File: "cmd.exe", CommandLine: line, Env: env, Workdir: cmd.Workdir}
	case transport.KindPowerShell:
		if !utf8.ValidString(cmd.Script) {
			return Payload{}, errors.New("powershell step: script is not valid UTF-8")
		}
		if strings.IndexByte(cmd.Script, 0) >= 0 {
			return Payload{}, errors.New("powershell step: script contains a NUL character")
		}
		doc = scriptPayload{V: 1, Kind: "script", Script: cmd.Script, Env: env, Workdir: cmd.Workdir}
	default:
		return Payload{}, fmt.Errorf("step kind %q cannot run as a command", cmd.Kind)
	}
	b64, err := encodePayload(doc)
	if err != nil {
		return Payload{}, err
	}
	return Payload{B64: b64, CommandLine: commandLine}, nil
}

// Render turns a step into what is sent to WinRS, without any I/O: the
// launcher command line and, when it would be too long, the payload to send
// on stdin. It fails when Build does.
func Render(cmd transport.Command, opts RenderOptions) (Rendered, error) {
	p, err := Build(cmd)
	if err != nil {
		return Rendered{}, err
	}
	return renderPayload(p.B64, p.CommandLine, opts, false), nil
}

// renderPayload is the launcher command line carrying payload when it
// fits; else, when compressed allows it, the compressed form
// (CompressedCommand) when that fits; else the stdin variant (or that at
// once when opts asks for it).
func renderPayload(payload, commandLine string, opts RenderOptions, compressed bool) Rendered {
	limit := opts.MaxCommandLine
	if limit <= 0 {
		limit = DefaultMaxCommandLine
	}
	r := Rendered{CommandLine: commandLine, payload: payload}
	if !opts.ForceStdin {
		r.RemoteCommand = RemoteCommand(Text(payload))
		if CommandLength(r.RemoteCommand) <= limit {
			return r
		}
		if compressed {
			if r.RemoteCommand = CompressedCommand(Text(payload)); CommandLength(r.RemoteCommand) <= limit {
				return r
			}
		}
	}
	r.Stdin = true
	r.RemoteCommand = RemoteCommand(Text(""))
	return r
}

// RemoteCommand is the powershell.exe command line that runs a launcher
// text: the program, then PowerShellArgs, then the UTF-16 base64 of the
// text.
func RemoteCommand(launcher string) []string {
	rc := make([]string, 0, 2+len(powerShellArgs))
	rc = append(rc, PowerShellExe)
	rc = append(rc, powerShellArgs...)
	return append(rc, winquote.EncodeCommand(launcher))
}

// The compressed form of a launcher text too long for -EncodedCommand (whose
// UTF-16 base64 takes 2.67 characters per character of text): the text,
// deflated (RFC 1951) and base64'd, inside a fixed bootstrap run by
// -Command. The bootstrap keeps the text in $fleetrunLauncher, from which
// the step-run script derives the launcher its PowerShell steps run, and
// dot-sources it, so that the launcher runs in the scope -EncodedCommand
// would give it and its exit ends powershell.exe with its code. It uses
// only what PowerShell 2.0 and .NET 2.0 have (New-Object, DeflateStream).
// docs/design.md ("Step runs") fixes the text; the simulator matches it.
const (
	compressedHead = `"$fleetrunLauncher=(New-Object IO.StreamReader((New-Object IO.Compression.DeflateStream((New-Object IO.MemoryStream(,[Convert]::FromBase64String('`
	compressedTail = `'))),[IO.Compression.CompressionMode]::Decompress)),[Text.Encoding]::UTF8)).ReadToEnd();. ([ScriptBlock]::Create($fleetrunLauncher))"`
)

// compressedArgs precede the compressed bootstrap.
var compressedArgs = []string{"-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-Command"}

// CompressedCommand is the powershell.exe command line that runs a
// launcher text in its compressed form: the program, the arguments of
// RemoteCommand with -Command for -EncodedCommand, and the bootstrap
// carrying the deflated text, in double quotes for cmd.exe.
func CompressedCommand(launcher string) []string {
	var b bytes.Buffer
	// flate.NewWriter fails only for an invalid level, and writing to a
	// bytes.Buffer does not fail.
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	_, _ = w.Write([]byte(launcher))
	_ = w.Close()
	rc := make([]string, 0, 2+len(compressedArgs))
	rc = append(rc, PowerShellExe)
	rc = append(rc, compressedArgs...)
	return append(rc, compressedHead+base64.StdEncoding.EncodeToString(b.Bytes())+compressedTail)
}

// CommandLength is the length of the line WinRS builds from Command and
// Arguments (joined by spaces); all of it is ASCII here.
func CommandLength(rc []string) int {
	n := len(rc) - 1
	for _, s := range rc {
		n += len(s)
	}
	return n
}

// encodePayload is base64 of the payload's JSON, with <, > and & left as
// they are (Go escapes them for HTML by default, which only costs room).
func encodePayload(doc any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return "", fmt.Errorf("encode launcher payload: %w", err)
	}
	return base64.StdEncoding.EncodeToString(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// maxCmdLine is cmd.exe's limit on the line it parses, in UTF-16 units.
const maxCmdLine = 8191

// cmdCommandLine builds the command line of a cmd step:
// "cmd.exe" /d /s /c "<line>". /d skips AutoRun commands from the
// registry; /s makes cmd.exe strip exactly the outer quotes, so the line
// reaches its parser as written whatever quotes it holds.
func cmdCommandLine(line string) (string, error) {
	// A trailing line break (YAML block scalars end with one) is not part
	// of the command.
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.TrimSpace(line) == "":
		return "", errors.New("cmd step: the line is empty")
	case !utf8.ValidString(line):
		return "", errors.New("cmd step: the line is not valid UTF-8")
	case strings.ContainsAny(line, "\x00"):
		return "", errors.New("cmd step: the line contains a NUL character")
	case strings.ContainsAny(line, "\r\n"):
		return "", errors.New("cmd step: the line spans several lines, but cmd.exe /c runs only the first; " +
			"join commands with & or &&, or use a powershell step")
	}
	full := `"cmd.exe" /d /s /c "` + line + `"`
	if n := len(utf16.Encode([]rune(full))); n > maxCmdLine {
		return "", fmt.Errorf("cmd step: the command line is %d characters long; cmd.exe accepts at most %d", n, maxCmdLine)
	}
	return full, nil
}

// checkEnv validates environment variable names and the working directory.
func checkEnv(env map[string]string, workdir string) error {
	for k, v := range env {
		switch {
		case k == "":
			return errors.New("env: empty variable name")
		case strings.ContainsAny(k, "=\x00"):
			return fmt.Errorf("env: variable name %q contains = or NUL", k)
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			return fmt.Errorf("env: variable %q is not valid UTF-8", k)
		case strings.IndexByte(v, 0) >= 0:
			return fmt.Errorf("env: value of %q contains a NUL character", k)
		}
	}
	if strings.IndexByte(workdir, 0) >= 0 || !utf8.ValidString(workdir) {
		return fmt.Errorf("workdir %q is not a valid Windows path", workdir)
	}
	return nil
}
