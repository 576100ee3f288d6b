package sim

import (
	"context"
	"strings"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
)

// Which simulated programs write which encoding. A pipe carries bytes; a
// Windows program decides how its text becomes bytes, and programs differ:
//
//   - cmd.exe's built-ins (echo, type, dir, set, ver...) convert their text
//     to the console's output code page ("chcp", learn.microsoft.com/
//     windows-server/administration/windows-commands/chcp;
//     SetConsoleOutputCP, learn.microsoft.com/windows/console/
//     setconsoleoutputcp). A WinRS shell's console has the code page the
//     client asked for in the WINRS_CODEPAGE option of its Create Shell
//     request (what winrs.exe -cp sets; masterzen and fleetrun ask for
//     65001), so they write UTF-8 even on a Japanese host. Modelled by
//     consoleWriter (exec.go); chcp (taskprograms.go) changes the console.
//   - Windows PowerShell writes through Console.OutputEncoding, which is
//     the console's output code page (learn.microsoft.com/dotnet/api/
//     system.console.outputencoding): fleetrun's launcher therefore
//     writes UTF-8 in a WinRS shell and in a task (whose batch file runs
//     chcp 65001). Modelled by encodeConsole in the launcher (powershell.go).
//   - Programs that know nothing of consoles write the system's ANSI (or
//     OEM) code page, 932 on Japanese Windows, whatever the console's code
//     page ("Code Pages", learn.microsoft.com/windows/win32/intl/code-pages:
//     "the ANSI code page ... is the default for non-Unicode
//     applications"). Modelled by writeHost (programs.go): hostname,
//     whoami, ipconfig, systeminfo, reg, sc, dism, cscript, shutdown,
//     java, sleep.exe, exitcode.exe, emit.exe, crash.exe, and
//     legacyMessage below.
//   - echoargs.exe writes UTF-8 JSON whatever the host (a test tool).
//
// The host's ANSI code page is its OutputEncoding (Config): 932 for
// "cp932", else the sim writes UTF-8 for it.

// pathLegacyMessage is a legacy console program of the simulated fleet.
const pathLegacyMessage = `C:\tools\legacymsg.exe`

// legacyMessage is C:\tools\legacymsg.exe [TEXT...]: a non-Unicode
// console program, as built with the C runtime's narrow main and printf.
// It prints its arguments joined by spaces, or without arguments the
// system's "operation completed" message in the host's language, in the
// host's ANSI code page (CP932 on a Japanese host) whatever the console's
// code page. The C runtime hands a narrow program its arguments in the
// ANSI code page, so characters that code page lacks arrive (and are
// printed) as '?' (learn.microsoft.com/cpp/c-language/parsing-c-command-line-arguments
// and the "Code Pages" article above); encodeHost does that.
func (h *Host) legacyMessage(_ context.Context, p *cmdexe.Proc) uint32 {
	msg := "The operation completed successfully."
	if h.cfg.OutputEncoding == "cp932" {
		msg = "この操作を正しく終了しました。"
	}
	if len(p.Args) > 1 {
		msg = strings.Join(p.Args[1:], " ")
	}
	h.writeHost(p.Stdout, msg+"\r\n")
	return 0
}
