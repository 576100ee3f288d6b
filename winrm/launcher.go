package winrm

import (
	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
)

// The launcher itself lives in package launcher, shared with the SSM
// transport; these names keep winrm's API as it was.

// PowerShellExe is the 64-bit Windows PowerShell every step runs under,
// spelled with %SystemRoot% for cmd.exe (which WinRS runs the command line
// through) to expand.
const PowerShellExe = launcher.PowerShellExe

// DefaultMaxCommandLine is the longest WinRS command line Render produces
// before it moves the payload to stdin (see launcher.DefaultMaxCommandLine).
const DefaultMaxCommandLine = launcher.DefaultMaxCommandLine

// launcherMarker is the launcher's first line.
const launcherMarker = launcher.Marker

// powerShellArgs precede the encoded launcher on every command line.
var powerShellArgs = launcher.PowerShellArgs()

// RenderOptions tune Render.
type RenderOptions = launcher.RenderOptions

// Rendered is how a step goes over WinRS.
type Rendered = launcher.Rendered

// LauncherSource returns the commented source of the launcher, for review
// and for syntax checks; what is sent is the same text without comments.
func LauncherSource() string { return launcher.Source() }

// Launcher returns the launcher text exactly as it is sent (before UTF-16
// and base64 encoding) with payloadB64 as its payload literal; an empty
// payloadB64 gives the variant that reads the payload from stdin.
func Launcher(payloadB64 string) string { return launcher.Text(payloadB64) }

// Render turns a step into what is sent to WinRS, without any I/O: the
// launcher command line and, when it would be too long, the payload to send
// on stdin. It fails for a step the launcher cannot carry exactly (see
// launcher.Build).
func Render(cmd transport.Command, opts RenderOptions) (Rendered, error) {
	return launcher.Render(cmd, opts)
}

// remoteCommand is the WinRS command and arguments for a launcher text.
func remoteCommand(text string) []string { return launcher.RemoteCommand(text) }

// commandLength is the length of the line WinRS builds from Command and
// Arguments (joined by spaces).
func commandLength(rc []string) int { return launcher.CommandLength(rc) }
