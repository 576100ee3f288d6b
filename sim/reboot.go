package sim

import (
	"time"
)

// zeroDelayFallback is how long a restart with no delay waits for the
// answer that reports shutdown.exe's exit to be collected before it comes
// anyway.
const zeroDelayFallback = 5 * time.Second

// scheduleReboot arranges for the host to restart after delay, as
// shutdown /r /t delay does. A zero delay restarts right after the
// response that reports the command's exit status, so the client sees
// shutdown.exe succeed before the host drops off; Windows restarts whether
// or not anyone reads that answer, so when none collects it (the client is
// gone, or the program ran outside WinRS, in a task) the restart comes a
// moment later all the same. It returns false when a shutdown is already
// pending.
func (h *Host) scheduleReboot(c *command, delay time.Duration) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shutdown != nil || h.pendingNow {
		return false
	}
	if h.closed {
		return false
	}
	if delay <= 0 {
		h.pendingNow = true
		if c != nil {
			c.mu.Lock()
			c.afterDone = h.rebootNow
			c.mu.Unlock()
		}
		h.procs.Add(1)
		h.pendingTimer = h.clock.AfterFunc(zeroDelayFallback, func() {
			defer h.procs.Done()
			h.rebootNow()
		})
		return true
	}
	h.procs.Add(1)
	h.shutdown = h.clock.AfterFunc(delay, func() {
		defer h.procs.Done()
		h.rebootNow()
	})
	return true
}

// Results of shutdown /a.
const (
	abortDone       = 0
	abortNothing    = 1116 // ERROR_NO_SHUTDOWN_IN_PROGRESS
	abortInProgress = 1115 // ERROR_SHUTDOWN_IN_PROGRESS: a restart without delay cannot be aborted
)

// abortShutdown cancels a pending restart (shutdown /a) and says how it
// went: a restart with a delay is cancelled, one without (shutdown /t 0) is
// already in progress and cannot be.
func (h *Host) abortShutdown() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pendingNow {
		return abortInProgress
	}
	if h.shutdown == nil {
		return abortNothing
	}
	if h.shutdown.Stop() {
		h.procs.Done()
	}
	h.shutdown = nil
	return abortDone
}

// rebootNow takes the host offline: connections are closed and new ones
// refused, every shell is lost. After the scenario's reboot duration it
// listens again with a new boot time, unless the never_returns fault keeps
// it down for good.
func (h *Host) rebootNow() {
	h.mu.Lock()
	if h.closed || h.offline {
		h.mu.Unlock()
		return
	}
	h.offline = true
	h.onlineCh = make(chan struct{})
	h.shutdown = nil
	h.pendingNow = false
	if h.pendingTimer != nil && h.pendingTimer.Stop() {
		h.procs.Done()
	}
	h.pendingTimer = nil
	for id := range h.shells {
		h.dropShellLocked(id)
	}
	h.stopTasksLocked()
	h.stats.add(&h.stats.reboots, 1)
	// Down first, then the timer that brings it back: were the listener
	// closed after a short restart had already ended, the host would stay
	// down for good.
	offErr := h.ln.goOffline()
	note := "never coming back (never_returns fault)"
	if !h.cfg.Faults.NeverReturns {
		d := h.cfg.RebootDuration
		note = "offline for " + d.String()
		h.procs.Add(1)
		h.rebootTimer = h.clock.AfterFunc(d, func() {
			defer h.procs.Done()
			h.comeBack()
		})
	}
	h.mu.Unlock()
	h.notifyChange()
	h.logf("simulated host %s: restarting, %s", h.cfg.Name, note)
	if offErr != nil {
		h.logf("simulated host %s: %v", h.cfg.Name, offErr)
	}
}

// comeBack ends a reboot.
func (h *Host) comeBack() {
	if err := h.ln.goOnline(); err != nil {
		h.logf("simulated host %s: %v", h.cfg.Name, err)
	}
	h.mu.Lock()
	h.offline = false
	h.rebootTimer = nil
	h.bootTime = h.clock.Now()
	h.machine.restarted()
	close(h.onlineCh)
	h.mu.Unlock()
	h.logf("simulated host %s: back online", h.cfg.Name)
}
