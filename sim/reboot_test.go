package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"
)

func TestAHostThatNeverReturnsStaysOfflineAfterShutdown(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := plainFleet(t, "reboot_duration: 1m", "host_settings:\n  sim-0001: {faults: {never_returns: true}}\n", FleetOptions{Hosts: 2, Clock: clock})
	stuck, healthy := f.Hosts()[0], f.Hosts()[1]
	if !stuck.Config().Faults.NeverReturns || healthy.Config().Faults.NeverReturns {
		t.Fatalf("never_returns applied to %v / %v, want the first host only", stuck.Config().Faults.NeverReturns, healthy.Config().Faults.NeverReturns)
	}
	before := stuck.BootTime()
	// Until it restarts, the host is like any other.
	c := mzClient(t, f, stuck, basicHTTP, "PT60S")
	if out, _, code := runMZ(t, c, "hostname"); out != "sim-0001\r\n" || code != 0 {
		t.Fatalf("before the restart: %q exit %d", out, code)
	}
	if _, _, code := runMZ(t, c, "shutdown /r /t 0"); code != 0 {
		t.Fatalf("shutdown exited %d", code)
	}
	clock.Advance(time.Hour)
	addr := net.JoinHostPort(stuck.Address(), fmt.Sprint(stuck.Port()))
	if conn, err := net.Dial("tcp", addr); err == nil {
		_ = conn.Close() // the assertion has failed already
		t.Fatal("the host accepts connections an hour after its restart")
	}
	if stuck.Online() {
		t.Error("the host reports online")
	}
	if got := stuck.BootTime(); !got.Equal(before) {
		t.Errorf("boot time changed to %v without the host coming back", got)
	}
	if st := stuck.Stats(); st.Reboots != 1 {
		t.Errorf("reboots = %d, want 1", st.Reboots)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := stuck.WaitOnline(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitOnline = %v, want the context's error", err)
	}
	// The fault is the host's own: its neighbour restarts and returns.
	hc := mzClient(t, f, healthy, basicHTTP, "PT60S")
	if _, _, code := runMZ(t, hc, "shutdown /r /t 0"); code != 0 {
		t.Fatalf("shutdown on the healthy host exited %d", code)
	}
	// The restart begins when the host has taken the shutdown's answer
	// back, which may come after runMZ returns: wait for the host to go
	// down before moving the clock to its return, or the minute passes
	// before the restart's timer exists.
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := healthy.WaitFor(wctx, func() bool { return !healthy.Online() }); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if err := healthy.WaitOnline(wctx); err != nil {
		t.Fatal(err)
	}
}

func TestScenarioNeverReturnsMustBeABoolean(t *testing.T) {
	t.Parallel()
	if _, err := ParseScenario("s.yaml", []byte("defaults: {faults: {never_returns: 3m}}\n")); err == nil {
		t.Error("never_returns: 3m was accepted")
	}
	sc, err := ParseScenario("s.yaml", []byte("groups:\n  - {name: stuck, count: 1, faults: {never_returns: true}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if nr := sc.Groups[0].Faults.NeverReturns; nr == nil || !*nr {
		t.Errorf("group fault never_returns = %v, want true", nr)
	}
}

// A restart shorter than it takes to drop the connections must still end
// with the host listening: coming back may never overtake going down.
func TestAQuickRestartAlwaysComesBack(t *testing.T) {
	t.Parallel()
	f := plainFleet(t, "reboot_duration: 1ns", "", FleetOptions{})
	h := f.Hosts()[0]
	c := mzClient(t, f, h, basicHTTP, "PT60S")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const restarts = 40
	for i := 1; i <= restarts; i++ {
		if _, _, code := runMZ(t, c, "shutdown /r /t 0"); code != 0 {
			t.Fatalf("restart %d: shutdown exited %d", i, code)
		}
		// The restart begins once the answer has gone out.
		for h.Stats().Reboots < int64(i) {
			if ctx.Err() != nil {
				t.Fatalf("restart %d never began", i)
			}
			runtime.Gosched()
		}
		if err := h.WaitOnline(ctx); err != nil {
			t.Fatal(err)
		}
		if out, _, code := runMZ(t, c, "hostname"); out != "sim-0001\r\n" || code != 0 {
			t.Fatalf("after restart %d: %q exit %d", i, out, code)
		}
	}
}
