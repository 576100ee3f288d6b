package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// stopper is the process's one owner of stop requests, for every command.
// The first request (SIGINT, SIGTERM or SIGHUP) asks for a graceful stop:
// no new work starts (hosts, checks, discovery), work that changes hosts
// finishes and settles, reports are written. A second SIGINT or SIGTERM
// cancels running steps on their hosts. SIGHUP never escalates: one hang-up
// of a terminal may deliver it twice (from the kernel and from the shell),
// and a dropped SSH session must not cancel steps half-way.
type stopper struct {
	log io.Writer

	stopping   chan struct{} // closed by the first request
	soft, hard context.Context
	cancelSoft context.CancelFunc // ends soft
	cancel     context.CancelFunc // ends hard (and soft)

	mu       sync.Mutex
	requests int
	signal   string // the first request's signal
}

// newStopper returns a stopper whose contexts derive from ctx; it logs
// each request's effect to log (stderr).
func newStopper(ctx context.Context, log io.Writer) *stopper {
	s := &stopper{log: log, stopping: make(chan struct{})}
	s.hard, s.cancel = context.WithCancel(ctx)
	s.soft, s.cancelSoft = context.WithCancel(s.hard)
	return s
}

// Stopping is closed by the first stop request.
func (s *stopper) Stopping() <-chan struct{} { return s.stopping }

// Requested reports whether a stop was requested.
func (s *stopper) Requested() bool { return isClosedChan(s.stopping) }

// Soft ends at the first stop request: for work that only reads (EC2
// discovery, starting a simulated fleet) and may be abandoned.
func (s *stopper) Soft() context.Context { return s.soft }

// Hard ends at the second stop request: for work that changes hosts.
func (s *stopper) Hard() context.Context { return s.hard }

// request records one stop request delivered by sig.
func (s *stopper) request(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := signalName(sig)
	if s.requests == 0 {
		s.requests, s.signal = 1, name
		close(s.stopping)
		s.cancelSoft()
		// Said once the stop is in effect: tests wait for this line.
		fmt.Fprintf(s.log, "fleetrun: interrupted (%s): no new work starts; running steps finish and reports are written (press Ctrl-C again to cancel running steps)\n", name)
		return
	}
	if sig == syscall.SIGHUP || s.requests > 1 {
		return
	}
	s.requests++
	s.cancel()
	fmt.Fprintf(s.log, "fleetrun: interrupted again (%s): cancelling running steps on their hosts\n", name)
}

// release ends the stopper's contexts once the command returned.
func (s *stopper) release() {
	s.cancelSoft()
	s.cancel()
}

// interrupted is the error of a command stopped before it had results:
// exit status 3 with what was stopped.
func (s *stopper) interrupted(what string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &exitError{code: exitAborted, err: fmt.Errorf("interrupted (%s) during %s", s.signal, what)}
}

func signalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return sig.String()
}

func isClosedChan(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// stopSignals are the signals that stop a command.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// watchSignals makes s the owner of the stop signals, and ignores SIGPIPE
// so that a closed stdout or stderr fails writes (EPIPE, tolerated by
// lostOutput) instead of killing the process part-way through a rollout.
// The returned function stops watching and waits for the watcher.
func watchSignals(s *stopper) func() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, stopSignals...)
	signal.Ignore(syscall.SIGPIPE)
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case sig := <-sigs:
				s.request(sig)
			case <-quit:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(quit)
		<-finished
	}
}

// lostOutput is stdout or stderr that may lose its reader (a pipe into
// head, a terminal whose SSH session dropped). Once a write fails with
// EPIPE or EIO the output is dropped: later writes are discarded and
// succeed, so the command goes on and still writes its reports and journal.
type lostOutput struct {
	w    io.Writer
	mu   sync.Mutex
	lost bool
}

func (o *lostOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.lost {
		return len(p), nil
	}
	n, err := o.w.Write(p)
	if err != nil && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.EIO)) {
		o.lost = true
		return len(p), nil
	}
	return n, err
}
