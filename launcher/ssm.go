package launcher

import (
	_ "embed"
	"strconv"
	"strings"

	"github.com/fleetrun/fleetrun/winquote"
)

// ssmSource is the commented SSM shim; see ssm.ps1.
//
//go:embed ssm.ps1
var ssmSource string

// SSMMarker is the first line of the SSM shim.
const SSMMarker = "# fleetrun-ssm v1"

// RebootStandIn is the exit code the SSM shim reports instead of 3010,
// which the SSM agent would take as a request to reboot the instance and
// run the command again (its RebootExitCode). A transport turns it back
// into 3010; a program that itself exits with it is reported as 3010.
const RebootStandIn uint32 = 0x2F1E0BC2

// launcherPlaceholder is the word of ssm.ps1 that stands for the encoded
// launcher.
const launcherPlaceholder = "fleetrunLauncher"

// ssmWire is the shim as sent, with the encoded stdin-variant launcher in
// place and an empty payload literal.
var ssmWire = strings.Replace(wireForm(ssmSource), "-EncodedCommand "+launcherPlaceholder,
	"-EncodedCommand "+winquote.EncodeCommand(Text("")), 1)

// SSMSource returns the commented source of the SSM shim, for review and
// syntax checks.
func SSMSource() string { return ssmSource }

// SSMScript returns the text an AWS-RunPowerShellScript command runs for a
// step: the SSM shim, which starts the launcher exactly as WinRM does
// (powershell.exe with -EncodedCommand, the stdin variant) and writes
// payloadB64 to its stdin. The result is the same for steps with the same
// payload, whatever the host.
func SSMScript(payloadB64 string) string {
	return strings.Replace(ssmWire, payloadStatement, "$fleetrunPayload = '"+payloadB64+"'", 1)
}

// SSMExitCode turns the exit code an SSM command reports for the shim into
// the step's: RebootStandIn becomes 3010, every other code is the step's
// own.
func SSMExitCode(code uint32) uint32 {
	if code == RebootStandIn {
		return 3010
	}
	return code
}

// ssmRebootSource is the commented SSM reboot script; see ssmreboot.ps1.
//
//go:embed ssmreboot.ps1
var ssmRebootSource string

// SSMRebootMarker is the first line of the SSM reboot script.
const SSMRebootMarker = "# fleetrun-ssm-reboot v1"

// ssmRebootWire is the reboot script without comments.
var ssmRebootWire = wireForm(ssmRebootSource)

// SSMRebootSource returns the commented source of the SSM reboot script.
func SSMRebootSource() string { return ssmRebootSource }

// SSMRebootScript returns the script that restarts an instance through the
// SSM agent (exit 3010) and succeeds once the instance is back. token
// names this reboot (letters, digits and hyphens; it is stored in the
// instance's registry between the two runs); delay is the pre-reboot delay
// in whole seconds.
func SSMRebootScript(token string, delay int) string {
	s := strings.Replace(ssmRebootWire, "'fleetrunToken'", "'"+token+"'", 1)
	return strings.Replace(s, "-Seconds fleetrunDelay", "-Seconds "+strconv.Itoa(max(delay, 0)), 1)
}
