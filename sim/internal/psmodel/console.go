package psmodel

import (
	"io"
	"strconv"
	"strings"
)

// console is where the script's output ends: PowerShell's Out-Default
// and the console host (or, in launcher mode, the launcher's loop that
// writes every record itself). Everything goes through it, in order.
type console struct {
	in      *interp
	stdout  io.Writer
	stderr  io.Writer
	pending []any // objects waiting to be formatted together
	written int
	limit   int
	// limitHit is set once the output limit was reached.
	limitHit bool
}

// write encodes s as the process writes text and counts it.
func (c *console) write(w io.Writer, s string) error {
	if c.limitHit {
		return nil
	}
	c.written += len(s)
	if c.written > c.limit {
		c.limitHit = true
		return c.in.limitError("more than " + strconv.Itoa(c.limit) + " bytes of output")
	}
	_, _ = w.Write(c.in.host.Encode(s)) // the command's pipes never fail; a closed one drops output as Windows does
	return nil
}

// object is Out-Default for one pipeline object.
func (c *console) object(v any) error {
	if v == nil {
		return nil
	}
	if r, ok := v.(*ErrorRecord); ok {
		return c.errorRecord(r)
	}
	if f, ok := v.(*formatted); ok {
		if err := c.flush(); err != nil {
			return err
		}
		return c.write(c.stdout, f.text)
	}
	if !needsView(v) {
		if err := c.flush(); err != nil {
			return err
		}
		return c.write(c.stdout, toStr(v)+"\r\n")
	}
	if len(c.pending) > 0 && shapeOf(c.pending[0]) != shapeOf(v) {
		if err := c.flush(); err != nil {
			return err
		}
	}
	if len(c.pending) >= 10000 {
		if err := c.flush(); err != nil {
			return err
		}
	}
	c.pending = append(c.pending, v)
	return nil
}

// flush formats the waiting objects.
func (c *console) flush() error {
	if len(c.pending) == 0 {
		return nil
	}
	items := c.pending
	c.pending = nil
	return c.write(c.stdout, formatDefault(items))
}

// raw makes way for a program writing to the console itself.
func (c *console) raw() error { return c.flush() }

// errorRecord writes an error record as the mode shows it.
func (c *console) errorRecord(r *ErrorRecord) error {
	if err := c.flush(); err != nil {
		return err
	}
	opts := c.in.opts
	if opts.Mode == ModeLauncher {
		// frE in launcher/launcher.ps1: the record's text, and for
		// anything but a native program's stderr line, "`n" and its
		// position message; [Console]::Error.WriteLine ends it.
		t := r.Message()
		if r.native {
			return c.write(c.stderr, t+"\r\n")
		}
		if r.HasInvocation || r.Position != "" {
			t += "\n" + r.Position
		}
		return c.write(c.stderr, t+"\r\n")
	}
	lines := r.View()
	if opts.Serialize != nil {
		for _, l := range lines {
			opts.Serialize("Error", l)
		}
		return nil
	}
	return c.write(c.stderr, strings.Join(lines, ""))
}

// stream writes a warning, verbose or debug record ("WARNING: text").
func (c *console) stream(kind, text string) error {
	if err := c.flush(); err != nil {
		return err
	}
	if c.in.opts.Serialize != nil && c.in.opts.Mode != ModeLauncher {
		c.in.opts.Serialize(strings.ToLower(kind), text)
		return nil
	}
	return c.write(c.stdout, kind+": "+text+"\r\n")
}

// host is Write-Host.
func (c *console) host(text string, newline bool) error {
	if err := c.flush(); err != nil {
		return err
	}
	if c.in.opts.Mode == ModeLauncher && c.in.psMajor() >= 5 {
		// Write-Host writes an information record from PowerShell 5 on;
		// the launcher merges it into its output (*>&1) and writes it
		// with [Console]::Out.WriteLine, whatever -NoNewline said.
		return c.write(c.stdout, text+"\r\n")
	}
	if newline {
		// The console host under WinRS ends Write-Host's lines with LF
		// alone (test_winrs_operation_timeout.yml,
		// test_winrs_unicode.yml).
		text += "\n"
	}
	return c.write(c.stdout, text)
}

// parseError reports a script that does not parse.
func (c *console) parseError(pe *ParseError) {
	in := c.in
	if pe.NotModelled {
		rec := in.notModelledRecord(pe.Msg, pe.Extent, pe.src)
		in.writeRecord(rec)
		return
	}
	pos := pe.src.PositionMessage(pe.Extent)
	if in.opts.Mode == ModeLauncher {
		// [ScriptBlock]::Create in the launcher throws; its catch writes
		// the exception's message (the position, then the parser's
		// message).
		msg := "Exception calling \"Create\" with \"1\" argument(s): \"" + pos + "\r\n" + pe.Msg + "\""
		_ = c.write(c.stderr, msg+"\r\n")
		return
	}
	rec := newRecord("System.Management.Automation.ParseException", pe.Msg, "ParserError", pe.ID)
	rec.Reason = "ParentContainsErrorRecordException"
	rec.Position = pos
	rec.parse = true
	_ = c.errorRecord(rec)
}
