package cmdexe

import (
	"bufio"
	"context"
	"fmt"
	"strings"
)

// cmdOptions are the cmd.exe switches this model honours (`cmd /?`).
type cmdOptions struct {
	mode    byte // 'c', 'k' or 0 (interactive)
	command string
	s       bool // /S: always strip the outer quotes
	quiet   bool // /Q: echo off
	delayed bool // /V:ON
}

// parseCmdSwitches reads cmd.exe's own command line: the program token
// (CRT program-name rule), then switches up to /C or /K, whose remainder,
// with leading blanks removed, is the command. Switches may be run
// together (`/d/s/c`) and /C may touch its command (`/cecho hi`). /D, /A,
// /U, /E, /F and /T are accepted and ignored.
func parseCmdSwitches(cmdline string) cmdOptions {
	var o cmdOptions
	i := 0
	inQuotes := false
	for i < len(cmdline) {
		c := cmdline[i]
		if c == '"' {
			inQuotes = !inQuotes
		} else if !inQuotes && isSpace(c) {
			break
		}
		i++
	}
	for i < len(cmdline) {
		c := cmdline[i]
		if c != '/' {
			i++
			continue
		}
		i++
		if i >= len(cmdline) {
			break
		}
		sw := cmdline[i] | 0x20
		i++
		onOff := func() bool {
			rest := strings.ToLower(cmdline[i:])
			switch {
			case strings.HasPrefix(rest, ":on"):
				i += 3
				return true
			case strings.HasPrefix(rest, ":off"):
				i += 4
				return false
			}
			return true
		}
		switch sw {
		case 'c', 'k':
			o.mode = sw
			o.command = strings.TrimLeft(cmdline[i:], " \t")
			return o
		case 's':
			o.s = true
		case 'q':
			o.quiet = true
		case 'v':
			o.delayed = onOff()
		case 'e', 'f':
			onOff()
		case 't':
			if i+2 < len(cmdline) && cmdline[i] == ':' {
				i += 3
			}
		}
	}
	return o
}

// specialInQuotes are the characters that disqualify `cmd /?` quote rule 1.
const specialInQuotes = "&<>()@^|"

// stripCQuotes applies the quote rules `cmd /?` gives for the text after
// /C or /K. Quotes are kept if there is no /S, there are exactly two of
// them, nothing in &<>()@^| sits between them, there is whitespace between
// them and the text between them names an executable file. Otherwise, if
// the text starts with a quote, that quote and the last quote on the line
// are removed, keeping any text after the last quote.
func (sh *shell) stripCQuotes(s string, slashS bool) string {
	if !slashS && strings.Count(s, `"`) == 2 {
		first := strings.IndexByte(s, '"')
		last := strings.LastIndexByte(s, '"')
		inner := s[first+1 : last]
		if !strings.ContainsAny(inner, specialInQuotes) && strings.ContainsAny(inner, " \t") {
			if _, ok := sh.resolve(inner); ok {
				return s
			}
		}
	}
	if strings.HasPrefix(s, `"`) {
		last := strings.LastIndexByte(s, '"')
		if last > 0 {
			return s[1:last] + s[last+1:]
		}
		return s[1:]
	}
	return s
}

// Cmd returns cmd.exe as a Program, so that `cmd.exe /d /s /c "..."`,
// `cmd /c foo.bat` and nested cmd.exe work: it reads its switches (/C, /K,
// /S, /Q, /D, /V:ON), applies the /C quote rules and runs the command in a
// shell over the process's own environment copy. With /K, or with neither
// /C nor /K, it then reads further command lines from stdin, printing the
// prompt while echo is on, until EOF or EXIT. lookup should resolve
// cmd.exe to a Program made by Cmd too, for nested shells.
func Cmd(fs FS, lookup Lookup) Program {
	return func(ctx context.Context, p *Proc) uint32 {
		o := parseCmdSwitches(p.CommandLine)
		std := stdioOf(p.Stdin, p.Stdout, p.Stderr)
		ctx, sh, err := newShell(ctx, p.Env, fs, lookup)
		if err != nil {
			fmt.Fprintf(std.err, "%s\r\n", err)
			return 1
		}
		sh.cmdline = p.CommandLine
		sh.echo = !o.quiet
		sh.delayed = o.delayed
		if o.mode != 0 {
			ctl := sh.runLine(ctx, sh.stripCQuotes(o.command, o.s), std)
			if o.mode == 'c' || ctl.kind == ctlExit || ctl.kind == ctlAbort {
				return sh.finish(ctl)
			}
		} else {
			fmt.Fprintf(std.out, "%s\r\n(c) Microsoft Corporation. All rights reserved.\r\n", sh.env.version())
		}
		return sh.finish(sh.interactive(ctx, std))
	}
}

// interactive reads command lines from stdin until EOF or EXIT.
func (sh *shell) interactive(ctx context.Context, std stdio) control {
	r := bufio.NewReader(std.in)
	std.in = r
	for {
		if ctl, ok := sh.step(ctx, std); !ok {
			return ctl
		}
		if sh.echo {
			fmt.Fprintf(std.out, "\r\n%s", sh.prompt())
		}
		line, err := r.ReadString('\n')
		if line == "" && err != nil {
			return control{}
		}
		ctl := sh.runLine(ctx, line, std)
		if ctl.kind == ctlExit || ctl.kind == ctlAbort {
			return ctl
		}
		if err != nil {
			return control{}
		}
	}
}
