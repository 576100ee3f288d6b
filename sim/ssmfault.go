package sim

import (
	"fmt"
	"net/http"
	"time"
)

// Lost answers of the simulated SSM endpoint. A real endpoint can carry a
// call out and still fail to tell the client: the connection breaks, a
// front end answers 500, or the answer comes after the client stopped
// waiting. For SendCommand that is the dangerous case, since the command
// exists and runs although the client saw an error. FleetOptions.SSMFaults
// makes the endpoint lose answers that way, so that tests can check what a
// client does next.

// SSMFaultAnswer says how a faulty call's answer is lost.
type SSMFaultAnswer string

// The ways an answer is lost.
const (
	// SSMDropConnection closes the connection without an answer (the
	// client reads EOF or a reset).
	SSMDropConnection SSMFaultAnswer = "drop"
	// SSMInternalError answers HTTP 500 with the InternalServerError the
	// SSM API documents.
	SSMInternalError SSMFaultAnswer = "500"
	// SSMLateAnswer holds the answer until the client has given up on it
	// (closed the connection, as an HTTP client does when its timeout
	// fires) and only then writes it; with SSMFault.Delay, at most that
	// long.
	SSMLateAnswer SSMFaultAnswer = "late"
)

// SSMFault makes the fleet's SSM endpoint lose the answers of calls of one
// action. Faults are checked in order; the first that applies to a call
// takes it.
type SSMFault struct {
	// Action is the API action whose calls it takes ("SendCommand").
	Action string
	// Answer is how the answer is lost.
	Answer SSMFaultAnswer
	// NotCarriedOut makes the call fail before it is carried out (nothing
	// is created), as a request that never reached the service would; only
	// with SSMDropConnection and SSMInternalError. By default the call is
	// carried out (a SendCommand's command is created and runs) and only
	// its answer is lost.
	NotCarriedOut bool
	// Times is how many calls it takes, the first ones to come; zero
	// means every call.
	Times int
	// Delay, for SSMLateAnswer, bounds how long the answer is held; zero
	// holds it until the client has gone.
	Delay time.Duration
}

// check reports what is wrong with a fault.
func (f SSMFault) check() error {
	if !ssmActions[f.Action] {
		return fmt.Errorf("ssm fault: the simulated endpoint has no action %q", f.Action)
	}
	switch f.Answer {
	case SSMDropConnection, SSMInternalError:
	case SSMLateAnswer:
		if f.NotCarriedOut {
			return fmt.Errorf("ssm fault on %s: a late answer is the answer of a call that was carried out; NotCarriedOut goes with %q or %q", f.Action, SSMDropConnection, SSMInternalError)
		}
	default:
		return fmt.Errorf("ssm fault on %s: answer %q is none of %q, %q, %q", f.Action, f.Answer, SSMDropConnection, SSMInternalError, SSMLateAnswer)
	}
	if f.Times < 0 || f.Delay < 0 {
		return fmt.Errorf("ssm fault on %s: negative Times or Delay", f.Action)
	}
	return nil
}

// ssmActions are the actions the endpoint implements.
var ssmActions = map[string]bool{
	"SendCommand": true, "ListCommands": true, "ListCommandInvocations": true, "GetCommandInvocation": true,
	"CancelCommand": true, "DescribeInstanceInformation": true,
}

// ssmFaultState is a configured fault and how many calls it has taken.
type ssmFaultState struct {
	SSMFault
	taken int
}

// takeFault returns the fault that takes this call of action, if any,
// and counts it. s.mu is held.
func (s *ssmServer) takeFaultLocked(action string) *SSMFault {
	for _, f := range s.faults {
		if f.Action != action || (f.Times > 0 && f.taken >= f.Times) {
			continue
		}
		f.taken++
		s.faulted[action]++
		return &f.SSMFault
	}
	return nil
}

// loseAnswer fails a call as fault says; answer, unless nil, writes the
// answer of a call that was carried out (a late answer writes it, to a
// client that has gone).
func (s *ssmServer) loseAnswer(w http.ResponseWriter, r *http.Request, fault *SSMFault, answer func()) {
	switch fault.Answer {
	case SSMDropConnection:
		dropConnection()
	case SSMInternalError:
		writeAPIError(w, &apiError{status: http.StatusInternalServerError, typ: "InternalServerError",
			msg: "simulated: the endpoint failed to answer " + r.Header.Get("X-Amz-Target")})
	case SSMLateAnswer:
		var late <-chan time.Time
		if fault.Delay > 0 {
			late = s.f.clock.After(fault.Delay)
		}
		select {
		case <-r.Context().Done():
		case <-late:
		}
		if answer != nil {
			answer()
		}
	}
}
