package sim

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// testClock is a fake clock that knows its pending deadlines, so a test can
// jump straight to the next thing that would happen.
type testClock struct {
	*clockwork.FakeClock
	mu      sync.Mutex
	pending map[*trackedTimer]time.Time
}

func newTestClock() *testClock {
	return &testClock{
		FakeClock: clockwork.NewFakeClockAt(time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)),
		pending:   map[*trackedTimer]time.Time{},
	}
}

type trackedTimer struct {
	clockwork.Timer
	c *testClock
}

func (t *trackedTimer) Stop() bool {
	t.c.mu.Lock()
	delete(t.c.pending, t)
	t.c.mu.Unlock()
	return t.Timer.Stop()
}

func (c *testClock) track(t clockwork.Timer, d time.Duration) clockwork.Timer {
	tt := &trackedTimer{Timer: t, c: c}
	c.mu.Lock()
	c.pending[tt] = c.Now().Add(d)
	c.mu.Unlock()
	return tt
}

func (c *testClock) NewTimer(d time.Duration) clockwork.Timer {
	return c.track(c.FakeClock.NewTimer(d), d)
}

func (c *testClock) AfterFunc(d time.Duration, f func()) clockwork.Timer {
	return c.track(c.FakeClock.AfterFunc(d, f), d)
}

// advanceToNext moves the clock to the earliest pending deadline; false
// when nothing is pending.
func (c *testClock) advanceToNext() bool {
	now := c.Now()
	c.mu.Lock()
	var next time.Time
	for _, d := range c.pending {
		if d.After(now) && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	c.mu.Unlock()
	if next.IsZero() {
		return false
	}
	c.Advance(next.Sub(now))
	return true
}

// parkDriver moves a test clock forward whenever a Receive waits while its
// process waits too: nothing else can happen until a timer fires. It stops
// when the test ends.
func parkDriver(t *testing.T, clock *testClock) func(idle bool) {
	t.Helper()
	events := make(chan struct{}, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-events:
				clock.advanceToNext()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return func(idle bool) {
		if !idle {
			return
		}
		select {
		case events <- struct{}{}:
		default:
		}
	}
}
