package launcher

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/fleetrun/fleetrun/transport"
)

// The three ways a step's program turns out not to exist on the host, in
// Windows' own words (English-language Windows; cmd.exe's exit code 9009
// is the same in every language):
var (
	// startNotFoundRE is the launcher's Process.Start failing for an argv
	// step: .NET's Win32Exception for ERROR_FILE_NOT_FOUND (2) or
	// ERROR_PATH_NOT_FOUND (3), which PowerShell wraps as a
	// MethodInvocationException ("Exception calling "Start" with "1"
	// argument(s): ..."). CreateProcess searches the PATH (and appends
	// .exe) for a bare name before it fails this way.
	startNotFoundRE = regexp.MustCompile(`Exception calling "Start" with "\d+" argument\(s\): "The system cannot find the (file|path) specified`)
	// cmdNotRecognizedRE is cmd.exe's message for a first word that is no
	// internal command and no program on the PATH; cmd.exe then sets
	// ERRORLEVEL 9009.
	cmdNotRecognizedRE = regexp.MustCompile(`'(.*)' is not recognized as an internal or external command`)
	// psNotRecognizedRE is PowerShell's CommandNotFoundException.
	psNotRecognizedRE = regexp.MustCompile(`The term '([^']*)' is not recognized as the name of a cmdlet, function, script file, or operable program`)
)

// cmdNotFoundCode is cmd.exe's ERRORLEVEL for a command it cannot find
// (MSG_DIR_BAD_COMMAND_OR_FILE).
const cmdNotFoundCode = 9009

// NotFound explains a failed step whose program does not exist on the host,
// with class not_found and a hint naming the program: an argv step whose
// file the launcher's Process.Start could not find, a cmd step that cmd.exe
// ended with 9009 ("is not recognized as an internal or external
// command"), a command PowerShell does not know (CommandNotFoundException).
// It returns nil for any other failure. The step keeps its exit code: the
// caller records res.ExitCode beside the error.
func NotFound(cmd transport.Command, res transport.Result) *transport.Error {
	switch {
	case cmd.Kind == transport.KindArgv && len(cmd.Argv) > 0 && startNotFoundRE.MatchString(res.Stderr):
		prog := cmd.Argv[0]
		return &transport.Error{
			Class:   transport.ClassNotFound,
			Message: fmt.Sprintf("exit code %d: the program %q was not found on the host (Process.Start: the system cannot find the file specified)", res.ExitCode, prog),
			Hint:    notFoundHint(prog),
		}
	case cmd.Kind == transport.KindCmd && res.ExitCode == cmdNotFoundCode:
		prog := ""
		if m := cmdNotRecognizedRE.FindStringSubmatch(res.Stderr); m != nil {
			prog = strings.Trim(m[1], `"`) // cmd.exe quotes the word as the line quoted it
		}
		if prog == "" {
			// A localized cmd.exe says it in its own words; the code is
			// the same.
			prog = firstWord(cmd.Line)
		}
		return &transport.Error{
			Class:   transport.ClassNotFound,
			Message: fmt.Sprintf("exit code %d: cmd.exe found no command or program named %q on the host", res.ExitCode, prog),
			Hint:    notFoundHint(prog),
		}
	}
	if m := psNotRecognizedRE.FindStringSubmatch(res.Stderr); m != nil {
		return &transport.Error{
			Class:   transport.ClassNotFound,
			Message: fmt.Sprintf("exit code %d: PowerShell found no command named %q on the host", res.ExitCode, m[1]),
			Hint:    notFoundHint(m[1]) + "; for a cmdlet, that the module providing it is installed (Get-Module -ListAvailable)",
		}
	}
	return nil
}

// notFoundHint says what to check for a program that was not found.
func notFoundHint(prog string) string {
	if strings.ContainsAny(prog, `\/:`) {
		return fmt.Sprintf("check that %s exists on the host (the path and its spelling) and that the package providing it is installed there", prog)
	}
	return fmt.Sprintf("check the spelling of %s, that the package providing it is installed on the host, and that its folder is on the PATH "+
		"of the account the step runs as (or give its full path)", prog)
}

// firstWord is the first word of a cmd.exe line, quotes removed.
func firstWord(line string) string {
	line = strings.TrimLeft(line, " \t@")
	if strings.HasPrefix(line, `"`) {
		if end := strings.IndexByte(line[1:], '"'); end >= 0 {
			return line[1 : 1+end]
		}
		return line[1:]
	}
	if i := strings.IndexAny(line, " \t&|<>()"); i >= 0 {
		return line[:i]
	}
	return line
}
