package runner_test

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/fleetrun/fleetrun/transport"
)

// fakeFleet is a transport.Dialer whose hosts behave as scripted. It counts
// concurrent sessions so tests can check the pool bound.
type fakeFleet struct {
	mu        sync.Mutex
	behave    func(host string, step transport.Command, attempt int) (transport.Result, error)
	dialErr   map[string]error
	open      int
	peak      int
	runs      map[string]int // host → Run calls
	closed    map[string]int
	order     []string // "start host" / "end host" events, in order
	blockers  map[string]chan struct{}
	reboots   []string
	neverBack map[string]bool
}

func newFakeFleet(behave func(host string, cmd transport.Command, attempt int) (transport.Result, error)) *fakeFleet {
	return &fakeFleet{behave: behave, dialErr: map[string]error{}, runs: map[string]int{}, closed: map[string]int{}, blockers: map[string]chan struct{}{}, neverBack: map[string]bool{}}
}

func (f *fakeFleet) Dial(ctx context.Context, t transport.Target) (transport.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.dialErr[t.Name]; err != nil {
		return nil, err
	}
	f.open++
	f.peak = max(f.peak, f.open)
	f.order = append(f.order, "start "+t.Name)
	return &fakeSession{fleet: f, host: t.Name}, nil
}

// openClosed returns the sessions open now and those closed so far.
func (f *fakeFleet) openClosed() (open, closed int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.closed {
		closed += n
	}
	return f.open, closed
}

func (f *fakeFleet) stats() (peak int, runs map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := map[string]int{}
	for k, v := range f.runs {
		r[k] = v
	}
	return f.peak, r
}

type fakeSession struct {
	fleet  *fakeFleet
	host   string
	closed bool
}

func (s *fakeSession) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	s.fleet.mu.Lock()
	s.fleet.runs[s.host]++
	attempt := s.fleet.runs[s.host]
	s.fleet.mu.Unlock()
	if cmd.Stdout != nil {
		fmt.Fprintf(cmd.Stdout, "out of %s\n", s.host)
	}
	return s.fleet.behave(s.host, cmd, attempt)
}

func (s *fakeSession) Close(ctx context.Context) error {
	s.fleet.mu.Lock()
	defer s.fleet.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.fleet.open--
		s.fleet.closed[s.host]++
		s.fleet.order = append(s.fleet.order, "end "+s.host)
	}
	return nil
}

// exitWith returns a behaviour giving each host the exit code code(host).
func exitWith(code func(host string) uint32) func(string, transport.Command, int) (transport.Result, error) {
	return func(host string, _ transport.Command, _ int) (transport.Result, error) {
		return transport.Result{ExitCode: code(host), Stdout: "hello from " + host}, nil
	}
}

// failHosts fails the hosts whose names have one of the given prefixes.
func failHosts(prefixes ...string) func(string) uint32 {
	return func(h string) uint32 {
		for _, p := range prefixes {
			if strings.HasPrefix(h, p) {
				return 1
			}
		}
		return 0
	}
}

// Reboot implements transport.Rebooter: it counts reboots per host, and
// hangs until the context ends for hosts listed in neverBack.
func (s *fakeSession) Reboot(ctx context.Context, opts transport.RebootOptions) error {
	s.fleet.mu.Lock()
	s.fleet.reboots = append(s.fleet.reboots, fmt.Sprintf("%s initiated=%v test=%q", s.host, opts.AlreadyInitiated, opts.TestCommand))
	hang := s.fleet.neverBack[s.host]
	s.fleet.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}
