package winquote

import (
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
