package cmdexe

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// localFrame is what SETLOCAL saves for ENDLOCAL (`setlocal /?`): the
// variables, the current directory and the delayed-expansion switch.
type localFrame struct {
	vars    []Var
	cwd     string
	delayed bool
	owner   *batchFrame
}

// splitLines splits a batch file into lines; CRLF and LF both end a line.
func splitLines(data string) []string {
	lines := strings.Split(data, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	return lines
}

// newBatchFrame reads a batch file for running: tok is its name as
// written (%0), argText the rest of the command, split into %1... by
// cmd.exe's own rules.
func (sh *shell) newBatchFrame(path, tok, argText string) (*batchFrame, error) {
	data, err := sh.fs.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read batch file %s: %w", path, err)
	}
	args, rest := splitBatchArgs(argText)
	return &batchFrame{
		path:  path,
		args:  append([]string{tok}, args...),
		rest:  rest,
		lines: splitLines(string(data)),
	}, nil
}

// callLabel runs CALL :label args as a subroutine of the current batch
// file; it returns at the end of the file, GOTO :EOF or EXIT /B.
func (sh *shell) callLabel(ctx context.Context, text string, std stdio) (int32, control) {
	if sh.batch == nil {
		fmt.Fprint(std.err, "Invalid attempt to call batch label outside of batch script.\r\n")
		sh.env.errorLevel = 1
		return 1, control{}
	}
	text = sh.expandPercent(text, sh.batch)
	if tooLong(text) {
		fmt.Fprint(std.err, "The command line is too long.\r\n")
		return 1, control{}
	}
	tok, rest := commandToken(text)
	label := strings.TrimPrefix(tok, ":")
	idx := sh.batch.findLabel(label)
	if idx < 0 {
		fmt.Fprintf(std.err, "The system cannot find the batch label specified - %s\r\n", label)
		sh.env.errorLevel = 1
		return 1, control{}
	}
	args, all := splitBatchArgs(rest)
	frame := &batchFrame{
		path:  sh.batch.path,
		args:  append([]string{tok}, args...),
		rest:  all,
		lines: sh.batch.lines,
		pc:    idx + 1,
	}
	return sh.runFrame(ctx, frame, std)
}

// labelName returns the label a batch line defines, or "".
func labelName(line string) string {
	t := strings.TrimLeft(line, " \t")
	if !strings.HasPrefix(t, ":") {
		return ""
	}
	t = t[1:]
	end := 0
	for end < len(t) && !isDelim(t[end]) && t[end] != ':' && t[end] != '+' {
		end++
	}
	return t[:end]
}

// findLabel searches for :label from the line after the current one to
// the end, then from the top, as GOTO does; it returns the line index or
// -1.
func (b *batchFrame) findLabel(label string) int {
	n := len(b.lines)
	for k := 0; k < n; k++ {
		i := (b.pc + k) % n
		if name := labelName(b.lines[i]); name != "" && strings.EqualFold(name, label) {
			return i
		}
	}
	return -1
}

// endsWithCaret reports whether a batch line ends with an escaping caret
// outside quotes, which joins it to the next line.
func endsWithCaret(line string) bool {
	inQuotes := false
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '"':
			inQuotes = !inQuotes
		case '^':
			if !inQuotes {
				if i == len(line)-1 {
					return true
				}
				i++
			}
		}
	}
	return false
}

// runFrame executes a batch frame line by line: label lines are skipped,
// each line is percent-expanded when read, a line that opens a block pulls
// in following lines until the block closes, and with ECHO ON each command
// line is echoed after the prompt unless it starts with @.
func (sh *shell) runFrame(ctx context.Context, frame *batchFrame, std stdio) (int32, control) {
	if sh.callDepth >= maxCallDepth {
		fmt.Fprint(std.err, "******  B A T C H   R E C U R S I O N  exceeds STACK limits ******\r\n")
		return 1, control{kind: ctlAbort, code: 1}
	}
	saved := sh.batch
	sh.batch = frame
	sh.callDepth++
	defer func() {
		for sh.popLocal(frame) {
		}
		sh.batch = saved
		sh.callDepth--
	}()
	var rc int32
	for frame.pc < len(frame.lines) {
		if ctl, ok := sh.step(ctx, std); !ok {
			return 1, ctl
		}
		raw := frame.lines[frame.pc]
		frame.pc++
		for endsWithCaret(raw) && frame.pc < len(frame.lines) {
			raw = raw[:len(raw)-1] + frame.lines[frame.pc]
			frame.pc++
		}
		if labelName(raw) != "" || strings.HasPrefix(strings.TrimLeft(raw, " \t"), ":") {
			continue
		}
		text := sh.expandPercent(raw, frame)
		n, err := parseLine(text, false)
		for errors.Is(err, errIncomplete) && frame.pc < len(frame.lines) {
			text += "\n" + sh.expandPercent(frame.lines[frame.pc], frame)
			frame.pc++
			n, err = parseLine(text, false)
		}
		if errors.Is(err, errIncomplete) {
			n, err = parseLine(text, true)
		}
		if tooLong(text) {
			fmt.Fprint(std.err, "The command line is too long.\r\n")
			continue
		}
		if err != nil {
			// A line that does not parse ends the batch file.
			var se *syntaxError
			if errors.As(err, &se) {
				fmt.Fprintf(std.err, "%s\r\n", se.msg)
			}
			sh.env.errorLevel = ExitSyntaxError
			return ExitSyntaxError, control{}
		}
		if n == nil {
			continue
		}
		if sh.echo && !strings.HasPrefix(strings.TrimLeft(text, " \t"), "@") {
			// cmd.exe echoes its own rendering of the parsed line; this
			// model echoes the expanded text, which matches for simple
			// commands without redirections.
			shown := strings.TrimRight(strings.TrimLeft(text, " \t"), " \t")
			fmt.Fprintf(std.out, "\r\n%s%s\r\n", sh.prompt(), strings.ReplaceAll(shown, "\n", "\r\n"))
		}
		var ctl control
		rc, ctl = sh.exec(ctx, n, std)
		switch ctl.kind {
		case ctlGoto:
			idx := frame.findLabel(ctl.label)
			if idx < 0 {
				fmt.Fprintf(std.err, "The system cannot find the batch label specified - %s\r\n", ctl.label)
				sh.env.errorLevel = 1
				return 1, control{}
			}
			frame.pc = idx + 1
		case ctlEndBatch:
			return rc, control{}
		case ctlChain:
			for sh.popLocal(frame) {
			}
			frame = ctl.frame
			sh.batch = frame
		case ctlExit, ctlAbort:
			return rc, ctl
		}
	}
	return rc, control{}
}
