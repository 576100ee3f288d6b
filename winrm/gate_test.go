package winrm

import (
	"context"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/transport"
)

// An answer is read only with a place in bodyGate: with every place taken
// a step cannot finish and runs into its deadline, and a session gives back
// every place it took.
//
// Not parallel: it holds the process-wide gate, which parallel tests would
// wait for (Go runs parallel tests only after the sequential ones).
func TestAnswersAreReadOnlyWithAPlaceInTheBodyGate(t *testing.T) {
	f, h := fleetFor(t, ntlmHTTP, nil)
	target := targetFor(f, h, ntlmHTTP)
	// The step's clean-up after its deadline waits for the gate too.
	blocked := open(t, target, Options{CleanupTimeout: 200 * time.Millisecond})
	for range cap(bodyGate) {
		bodyGate <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := blocked.Run(ctx, argv(`C:\tools\echoargs.exe`, "a"))
	if c := transport.Classify(err).Class; c != transport.ClassTimeout {
		t.Errorf("a step with every place taken: %v (class %s), want a timeout", err, c)
	}
	if st := h.Stats(); st.Requests["Command"] != 1 {
		t.Errorf("the host saw %d Command requests, want 1: the request went out, its answer waited", st.Requests["Command"])
	}
	if n := len(bodyGate); n != cap(bodyGate) {
		t.Errorf("%d places taken after the step, want exactly the test's %d", n, cap(bodyGate))
	}
	for range cap(bodyGate) {
		<-bodyGate
	}
	s := open(t, target, Options{})
	res := run(t, s, argv(`C:\tools\echoargs.exe`, "a"))
	if res.ExitCode != 0 {
		t.Errorf("with the gate free: exit %d", res.ExitCode)
	}
	if n := len(bodyGate); n != 0 {
		t.Errorf("%d places still taken after the session's requests, want 0", n)
	}
}
