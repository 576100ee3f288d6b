package psmodel

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
)

// Mode is how powershell.exe was asked to run the script, which decides
// its exit code and how errors are shown.
type Mode int

const (
	// ModeCommand is -Command and -EncodedCommand: exit N gives N, else 1
	// when the last statement failed ($? false) or a terminating error
	// ended the script, else 0.
	ModeCommand Mode = iota
	// ModeFile is -File: exit N gives N, a terminating error 1, else 0.
	ModeFile
	// ModeLauncher is a script step inside fleetrun's launcher
	// (launcher/launcher.ps1): the script runs inside try, so every
	// statement-terminating error ends it with exit 1, errors go to stderr
	// as their message and position; exit N gives N; a failing last
	// native command gives its exit code; else 0.
	ModeLauncher
)

// Options say how to run a script.
type Options struct {
	Mode Mode
	// Stdout and Stderr receive what the process writes, encoded by the
	// host.
	Stdout, Stderr io.Writer
	// Serialize, when set, receives the error, warning and verbose lines
	// the console host would write, instead of Stderr: -EncodedCommand
	// with redirected streams sends them as CLIXML.
	Serialize func(stream, line string)
	// ScriptName is the -File path (shown before Write-Error messages).
	ScriptName string
	// Args are the -File arguments ($args).
	Args []string
	// Limits bound the work; zero fields take the defaults.
	Limits Limits
}

// Limits bound what one script may do in the model, so that no script
// (a fuzzed while(1){} included) runs for ever or grows without end.
type Limits struct {
	// Steps is the number of statements and loop iterations.
	Steps int
	// Depth is the nesting of function and script block calls.
	Depth int
	// OutputBytes is what the script may write itself.
	OutputBytes int
	// ValueChars bounds strings and arrays the script builds.
	ValueChars int
	// Work bounds the bytes of strings and arrays the script builds in
	// all (a string grown in a loop copies itself each time).
	Work int
}

func (l Limits) withDefaults() Limits {
	if l.Steps <= 0 {
		l.Steps = 1_000_000
	}
	if l.Depth <= 0 {
		l.Depth = 100
	}
	if l.OutputBytes <= 0 {
		l.OutputBytes = 16 << 20
	}
	if l.ValueChars <= 0 {
		l.ValueChars = 16 << 20
	}
	if l.Work <= 0 {
		l.Work = 1 << 30
	}
	return l
}

// ExitStopped is the exit code of a process stopped from outside
// (STATUS_CONTROL_C_EXIT).
const ExitStopped = 0xC000013A

// Run runs a script on a host and returns powershell.exe's exit code.
func Run(ctx context.Context, h Host, script string, opts Options) uint32 {
	in := newInterp(ctx, h, opts)
	code := in.run(script)
	if ctx.Err() != nil {
		return ExitStopped
	}
	return code
}

func (in *interp) run(script string) uint32 {
	sb, err := Parse(script)
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) {
			pe = &ParseError{Msg: err.Error(), src: newSource(script)}
		}
		in.con.parseError(pe)
		_ = in.con.flush()
		return 1
	}
	in.src = sb.src
	in.scriptText = script
	in.frames = []*frame{{kind: frameTop, text: script}}
	if in.opts.Mode == ModeLauncher {
		// The launcher sets $global:LASTEXITCODE = 0 and runs the script
		// inside try { } (launcher/launcher.ps1).
		in.global.set("LASTEXITCODE", 0)
		in.tryDepth = 1
	}
	// -File's arguments bind to the script's parameters (-Name value
	// or by position); the rest are $args.
	var cargs []cmdArg
	for _, a := range in.opts.Args {
		if len(a) > 1 && a[0] == '-' && (a[1] >= 'a' && a[1] <= 'z' || a[1] >= 'A' && a[1] <= 'Z') {
			name, value, colon := strings.Cut(a[1:], ":")
			cargs = append(cargs, cmdArg{param: name, value: value, hasValue: colon, colon: colon})
			continue
		}
		cargs = append(cargs, cmdArg{value: a, hasValue: true})
	}
	rest, err := in.bindArgs(sb.Params, cargs, Extent{})
	if err != nil {
		return in.finish(sb, err)
	}
	in.global.set("args", rest)
	out := &pipeOut{emit: in.con.object, console: true}
	err = in.execStmts(sb.Body, out)
	return in.finish(sb, err)
}

// finish writes what is left, reports the error that ended the script
// and applies the mode's exit-code rules.
func (in *interp) finish(sb *ScriptBlock, err error) uint32 {
	var (
		ex   *exitSignal
		pe   *psError
		fe   *fatalError
		flow *flowSignal
	)
	code := uint32(0)
	normal := false
	switch {
	case err == nil:
		normal = true
	case errors.As(err, &ex):
		code = uint32(ex.code)
	case errors.As(err, &fe):
		in.writeRecord(fe.rec)
		code = 1
	case errors.As(err, &pe):
		in.writeRecord(pe.rec)
		code = 1
	case errors.As(err, &flow):
		normal = true
	default:
		// The context ended: the process was stopped.
		_ = in.con.flush()
		return ExitStopped
	}
	if ferr := in.con.flush(); ferr != nil {
		var fe *fatalError
		if errors.As(ferr, &fe) {
			in.con.limitHit = false
			in.writeRecord(fe.rec)
			_ = in.con.flush()
		}
		return 1
	}
	if !normal {
		return code
	}
	switch in.opts.Mode {
	case ModeLauncher:
		// The launcher passes on $LASTEXITCODE when the script's last
		// top-level statement runs a native program; PowerShell 2.0 has
		// no AST to tell, so there the script ends with 0.
		if in.psMajor() >= 3 && in.lastRunsNative(sb) {
			if n, ok := in.global.get("LASTEXITCODE"); ok {
				if i, ok := n.(int); ok {
					return uint32(int32(i))
				}
			}
		}
		return 0
	case ModeCommand:
		if !in.lastOK {
			return 1
		}
	}
	return 0
}

// lastRunsNative reports whether the last top-level statement is a
// pipeline with an element that names a program or computes the command
// (& $x), as fleetrun's launcher decides from the script's AST.
func (in *interp) lastRunsNative(sb *ScriptBlock) bool {
	if len(sb.Body) == 0 {
		return false
	}
	pl, ok := sb.Body[len(sb.Body)-1].(*Pipeline)
	if !ok {
		return false
	}
	for _, el := range pl.Elems {
		c, ok := el.(*Command)
		if !ok {
			continue
		}
		if c.NameExpr != nil {
			return true
		}
		if in.isApplication(c.Name) {
			return true
		}
	}
	return false
}

// isApplication reports whether a command name resolves to a program.
func (in *interp) isApplication(name string) bool {
	lower := strings.ToLower(name)
	if target, ok := aliases[lower]; ok {
		lower = strings.ToLower(target)
	}
	if _, ok := in.findFunction(lower); ok {
		return false
	}
	if _, ok := cmdlets[lower]; ok {
		return false
	}
	if unmodelledCmdlets[lower] {
		return false
	}
	prog, err := in.host.FindProgram(name)
	return err == nil && !prog.Script
}

// psMajor is the major PowerShell version of the host.
func (in *interp) psMajor() int {
	major, _, _ := strings.Cut(in.facts.PSVersion, ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return 5
	}
	return n
}
