package sim

import (
	"time"

	"github.com/fleetrun/fleetrun/sim/internal/wsman"
)

// Names from the request parser, kept short for the response writers.
const (
	nsSOAP            = wsman.NSSOAP
	nsAddr            = wsman.NSAddressing
	nsTransfer        = wsman.NSTransfer
	nsEventing        = wsman.NSEventing
	nsEnum            = wsman.NSEnumeration
	nsWSMan           = wsman.NSWSMan
	nsMSWSMan         = wsman.NSMSWSMan
	nsShell           = wsman.NSShell
	nsFault           = wsman.NSFault
	nsConfig          = wsman.NSConfig
	nsCIM             = wsman.NSCIM
	nsXSI             = wsman.NSXSI
	anonymousAddress  = wsman.AnonymousAddress
	actionFault       = wsman.ActionFault
	actionAddrFault   = wsman.ActionAddressingFault
	resourceWMIPrefix = wsman.ResourceWMIPrefix
	signalTerminate   = wsman.SignalTerminate
	signalCtrlC       = wsman.SignalCtrlC
	signalCtrlBreak   = wsman.SignalCtrlBreak
	stateRunning      = wsman.StateRunning
	stateDone         = wsman.StateDone
)

// Exported names of the protocol, for callers of package sim.
const (
	ActionCreate     = wsman.ActionCreate
	ActionDelete     = wsman.ActionDelete
	ActionGet        = wsman.ActionGet
	ActionCommand    = wsman.ActionCommand
	ActionSend       = wsman.ActionSend
	ActionReceive    = wsman.ActionReceive
	ActionSignal     = wsman.ActionSignal
	ResourceShellCmd = wsman.ResourceShellCmd
	ResourceConfig   = wsman.ResourceConfig
	ResourceWinrs    = wsman.ResourceWinrs
	ResourceWin32OS  = wsman.ResourceWin32OS
)

// Request is a parsed WS-Management request (see wsman.Request).
type Request = wsman.Request

// ParseRequest parses a WS-Management request envelope.
func ParseRequest(data []byte) (*Request, error) { return wsman.ParseRequest(data) }

// ParseDuration parses an xs:duration such as PT60S.
func ParseDuration(s string) (time.Duration, error) { return wsman.ParseDuration(s) }

func formatSeconds(d time.Duration) string { return wsman.FormatSeconds(d) }

// EnvVar is one variable of a shell's environment.
type EnvVar = wsman.EnvVar

// CommandLine is the body of a Command request.
type CommandLine = wsman.CommandLine
