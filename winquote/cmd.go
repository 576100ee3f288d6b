package winquote

import (
	"errors"
	"strconv"
	"strings"
)

// cmdSpecial are the characters cmd.exe gives a meaning on a command line:
// redirection and pipes, command separators and grouping, its escape
// character, and variable expansion (% always, ! with delayed expansion).
const cmdSpecial = "^&|<>()%!"

// CmdQuote returns s written as one argument for a cmd.exe command line
// typed at the prompt or passed to cmd /c, such that the program started by
// that line gets s back from the C runtime. It is meant for commands shown
// to people (hints, fix commands); fleetrun never sends arguments through
// cmd.exe.
//
// It first quotes s with [QuoteArg]. When the result contains none of
// cmd.exe's metacharacters ^ & | < > ( ) % ! and an even number of double
// quotes, cmd.exe passes it through untouched and it is returned as is, so
// simple words and paths with spaces stay readable. Otherwise every
// metacharacter and every double quote is prefixed with cmd.exe's escape
// character ^, which cmd.exe removes; escaping the quotes as well keeps
// cmd.exe out of its quoted state, where ^ would be literal.
//
// Limits: it assumes delayed expansion is off (the default), where ^! is a
// plain !; an escaped %NAME% stays literal unless a variable whose name
// ends in ^ exists. It does not work inside batch files, which need %% for
// a literal %. CR, LF and NUL cannot be passed through cmd.exe at all: the
// result is not usable for strings containing them.
func CmdQuote(s string) string {
	q := QuoteArg(s)
	if !strings.ContainsAny(q, cmdSpecial) && strings.Count(q, `"`)%2 == 0 {
		return q
	}
	var b strings.Builder
	b.Grow(2 * len(q))
	for i := 0; i < len(q); i++ {
		if q[i] == '"' || strings.IndexByte(cmdSpecial, q[i]) >= 0 {
			b.WriteByte('^')
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// WinrmSetMemoryCapCommands returns the command that sets a host's WinRM
// per-shell memory cap (winrm/config/winrs MaxMemoryPerShellMB) to mb
// megabytes, as typed at an elevated cmd.exe prompt and as typed in
// PowerShell, where the @{...} argument must be single-quoted or PowerShell
// parses it as a hashtable. For mb = 1024:
//
//	winrm set winrm/config/winrs @{MaxMemoryPerShellMB="1024"}
//	winrm set winrm/config/winrs '@{MaxMemoryPerShellMB="1024"}'
//
// An mb of 0 removes the cap. The value is written in decimal as given;
// callers should not pass a negative one, which WinRM rejects.
func WinrmSetMemoryCapCommands(mb int) (cmdLine, psLine string) {
	const prefix = "winrm set winrm/config/winrs "
	// winrm is winrm.cmd running winrm.vbs; Windows Script Host strips the
	// quotes around the value, and the form below is the one Microsoft
	// documents, so it is written literally rather than through CmdQuote.
	arg := `@{MaxMemoryPerShellMB="` + strconv.Itoa(mb) + `"}`
	return prefix + arg, prefix + PSSingleQuote(arg)
}

// ErrCmdUnquotable is returned by [CmdArg] for text cmd.exe cannot carry:
// a line break ends the command line, and a NUL ends the string.
var ErrCmdUnquotable = errors.New("cmd.exe cannot carry a line break or NUL in a command line")

// CmdArg returns s written as one argument of a program started from a
// cmd.exe command line (cmd /c, delayed expansion off, as fleetrun's cmd:
// steps run), such that cmd.exe acts on nothing in it and the program gets
// s back from the C runtime. It is what a cmd: step's cmdquote template
// function writes, so, unlike [CmdQuote], it must hold for hostile text:
//
//   - s is quoted with [QuoteArg] (so the C runtime gives it back as one
//     argument); when that has none of cmd.exe's metacharacters and an even
//     number of double quotes (a path with spaces), it is returned as is:
//     cmd.exe leaves its quoted state where the argument ends.
//   - Otherwise each of & | < > ^ ( ) ! and every double quote is prefixed
//     with ^, which cmd.exe removes. Escaping the quotes keeps cmd.exe out
//     of its quoted state, where ^ would be literal and & would not.
//   - % cannot be escaped on a command line: percent expansion runs before
//     ^ is seen, and a reference to an undefined variable stays as written.
//     So every % is directly followed by a ^ (the escape of the next
//     character, which is ^-escaped anyway or ordinary): any %...% pair
//     then names a variable starting with ^, which is never defined, and
//     the :~ and := modifiers (%PATH:a=&calc%) cannot apply. A trailing %
//     is kept off the end by wrapping the argument in quotes.
//
// The result must stand outside double quotes on the line (inside them ^
// is literal). Text with CR, LF or NUL gives [ErrCmdUnquotable].
func CmdArg(s string) (string, error) {
	if strings.ContainsAny(s, "\r\n\x00") {
		return "", ErrCmdUnquotable
	}
	q := QuoteArg(s)
	if !strings.ContainsAny(q, cmdSpecial) && strings.Count(q, `"`)%2 == 0 {
		return q, nil
	}
	if strings.HasSuffix(q, "%") {
		q = `"` + q + `"` // q has no quote and no space here: still s to the C runtime
	}
	var b strings.Builder
	b.Grow(3 * len(q))
	afterPercent := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c == '"' || (c != '%' && strings.IndexByte(cmdSpecial, c) >= 0) || afterPercent {
			b.WriteByte('^')
		}
		b.WriteByte(c)
		afterPercent = c == '%'
	}
	return b.String(), nil
}
