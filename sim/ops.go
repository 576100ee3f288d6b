package sim

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// defaultCodepage is the OEM code page a shell gets when the client names
// none: 437 on English Windows, 932 on Japanese Windows.
func (h *Host) defaultCodepage() int {
	if h.cfg.OutputEncoding == "cp932" {
		return 932
	}
	return 437
}

// expireLocked drops shells idle for longer than their IdleTimeout; h.mu
// is held. WinRS does this on a timer; doing it whenever the host is
// touched is indistinguishable to a client.
func (h *Host) expireLocked(now time.Time) {
	for id, s := range h.shells {
		if s.idleTimeout > 0 && now.Sub(s.lastActive) > s.idleTimeout && !s.hasRunningLocked() {
			h.dropShellLocked(id)
		}
	}
}

// hasRunningLocked reports whether a process of s still runs.
func (s *shell) hasRunningLocked() bool {
	for _, c := range s.commands {
		c.mu.Lock()
		running := !c.exited
		c.mu.Unlock()
		if running {
			return true
		}
	}
	return false
}

// dropShellLocked removes a shell and stops its processes; h.mu is held.
func (h *Host) dropShellLocked(id string) {
	s, ok := h.shells[id]
	if !ok {
		return
	}
	for _, c := range s.commands {
		c.cancel()
	}
	delete(h.shells, id)
	h.stats.add(&h.stats.openShells, -1)
	h.fleet.shellClosed()
}

// shellLocked finds a live shell and marks it active; h.mu is held.
func (h *Host) shellLocked(id string) (*shell, *Fault) {
	now := h.clock.Now()
	h.expireLocked(now)
	s, ok := h.shells[id]
	if !ok {
		return nil, faultUnknownShell(id)
	}
	s.lastActive = now
	return s, nil
}

func (h *Host) create(r *http.Request, req *Request) (result, *Fault) {
	spec := req.Shell
	if spec == nil {
		return result{}, faultSchema()
	}
	user := authUser(r.Context())
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.clock.Now()
	h.expireLocked(now)
	idle := h.quotas.IdleTimeout
	if spec.IdleTimeOut != "" {
		d, err := ParseDuration(spec.IdleTimeOut)
		if err != nil {
			// An integer where an xs:duration belongs (pywinrm#377).
			return result{}, faultSchema()
		}
		idle = d
	}
	open := 0
	for _, s := range h.shells {
		if strings.EqualFold(s.owner, user) {
			open++
		}
	}
	if open >= h.quotas.MaxShellsPerUser {
		return result{}, faultMaxShells(h.quotas.MaxShellsPerUser)
	}
	codepage := h.defaultCodepage()
	if v := req.Option("WINRS_CODEPAGE"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			codepage = n
		}
	}
	workdir := spec.WorkingDirectory
	s := &shell{
		id:          newMessageID(),
		owner:       user,
		clientIP:    hostOnly(r.RemoteAddr),
		env:         spec.Environment,
		workdir:     workdir,
		idleTimeout: idle,
		codepage:    codepage,
		memoryMB:    h.quotas.MaxMemoryPerShellMB,
		lastActive:  now,
		commands:    map[string]*command{},
	}
	h.shells[s.id] = s
	h.stats.add(&h.stats.shellsOpened, 1)
	h.stats.gauge(&h.stats.openShells, &h.stats.peakShells, 1)
	h.fleet.shellOpened()
	info := &shellInfo{
		ID: s.id, Owner: user, ClientIP: s.clientIP, Environment: spec.Environment,
		WorkingDirectory: workdir, IdleTimeout: idle,
		InputStreams: orDefault(spec.InputStreams, "stdin"), OutputStreams: orDefault(spec.OutputStreams, "stdout stderr"),
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return result{body: createResponse(req.MessageID, newMessageID(), scheme+"://"+r.Host+"/wsman", info)}, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (h *Host) deleteShell(req *Request) (result, *Fault) {
	id := req.Selector("ShellId")
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, f := h.shellLocked(id); f != nil {
		return result{}, f
	}
	h.dropShellLocked(id)
	h.stats.add(&h.stats.deletes, 1)
	return result{body: deleteResponse(req.MessageID, newMessageID())}, nil
}

func (h *Host) command(req *Request) (result, *Fault) {
	cl := req.CommandLine
	if cl == nil {
		return result{}, faultSchema()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s, f := h.shellLocked(req.Selector("ShellId"))
	if f != nil {
		return result{}, f
	}
	ops := 0
	for _, other := range h.shells {
		if strings.EqualFold(other.owner, s.owner) {
			ops += other.ops
		}
	}
	if ops >= h.quotas.MaxConcurrentOperationsPerUser {
		return result{}, faultMaxOperations(h.quotas.MaxConcurrentOperationsPerUser)
	}
	skipCmd := strings.EqualFold(req.Option("WINRS_SKIP_CMD_SHELL"), "true")
	run, f := h.prepare(s, cl, skipCmd)
	if f != nil {
		return result{}, f
	}
	id := cl.CommandID
	if id == "" {
		id = newMessageID()
	}
	if _, dup := s.commands[id]; dup {
		return result{}, faultInvalidParameter()
	}
	ctx, cancel := context.WithCancel(h.ctx)
	c := newCommand(id, cancel)
	ps := &procState{host: h, cmd: c, logon: logonNetwork, user: s.owner, memoryMB: s.memoryMB, console: newConsole(s.codepage), tree: ctx}
	ctx = context.WithValue(ctx, procKey{}, ps)
	start := h.cfg.ProcessStart + h.cfg.Faults.SlowStart
	if !h.goProcLocked(func() {
		defer cancel()
		code := uint32(0xC000013A) // STATUS_CONTROL_C_EXIT: stopped before it ran
		if ps.sleep(ctx, start) == nil {
			code = run(ctx, &stdinReader{ctx: ctx, c: c}, &streamWriter{ctx: ctx, c: c, stream: "stdout"}, &streamWriter{ctx: ctx, c: c, stream: "stderr"})
		}
		c.exit(code)
	}) {
		cancel()
		return result{}, faultUnknownShell(s.id)
	}
	s.ops++
	s.commands[id] = c
	h.stats.add(&h.stats.commands, 1)
	return result{body: commandResponse(req.MessageID, newMessageID(), id)}, nil
}

func (h *Host) lookupCommand(req *Request, id string) (*shell, *command, *Fault) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, f := h.shellLocked(req.Selector("ShellId"))
	if f != nil {
		return nil, nil, f
	}
	c, ok := s.commands[id]
	if !ok {
		return s, nil, faultUnknownCommand()
	}
	return s, c, nil
}

func (h *Host) send(r *http.Request, req *Request) (result, *Fault) {
	if req.Send == nil {
		return result{}, faultSchema()
	}
	_, c, f := h.lookupCommand(req, req.Send.CommandID)
	if f != nil {
		return result{}, f
	}
	n := int64(len(req.Send.Data))
	h.mu.Lock()
	reset := h.resetSendAt > 0 && h.sendTotal+n >= h.resetSendAt
	if reset {
		h.resetSendAt = 0
	} else {
		h.sendTotal += n
	}
	h.mu.Unlock()
	if reset {
		// The connection drops while this Send arrives: its bytes never
		// reach the process.
		h.stats.count(&h.stats.requests, "reset_after_send_bytes")
		resetRequestConn(r)
		return result{abandon: true}, nil
	}
	h.stats.add(&h.stats.sendBytes, n)
	c.send(req.Send.Data, req.Send.End)
	if c.stdinBacklog() >= maxStdinBacklog {
		// The answer waits (at most the operation's timeout) until the
		// process has read some, so the simulator holds a bounded amount
		// of a large transfer per host. This is the simulator's own
		// bound: how long Windows takes to answer a Send to a process
		// that does not read its stdin is not known here, and a client
		// must not rely on either.
		timeout := req.OperationTimeout
		if timeout <= 0 {
			timeout = 60 * time.Second
		}
		t := h.clock.NewTimer(timeout)
		c.waitStdinRoom(r.Context(), t.Chan())
		t.Stop()
	}
	return result{body: sendResponse(req.MessageID, newMessageID())}, nil
}

// ResetAfterSendBytes makes the host drop the TCP connection (a reset)
// of the Send that would bring the stdin bytes it has received through
// Send, counted from now, to n or more; that Send's bytes are lost. It
// happens once; n <= 0 cancels it.
func (h *Host) ResetAfterSendBytes(n int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sendTotal = 0
	h.resetSendAt = max(n, 0)
}

func (h *Host) receive(ctx context.Context, r *http.Request, req *Request) (result, *Fault) {
	if req.Receive == nil || req.Receive.CommandID == "" {
		h.mu.Lock()
		_, f := h.shellLocked(req.Selector("ShellId"))
		h.mu.Unlock()
		if f != nil {
			return result{}, f
		}
		return result{}, faultInvalidParameter()
	}
	_, c, f := h.lookupCommand(req, req.Receive.CommandID)
	if f != nil {
		return result{}, f
	}
	h.mu.Lock()
	h.receiveCount++
	n := h.receiveCount
	h.mu.Unlock()
	if h.cfg.Faults.ResetMidReceive.active(n) {
		h.stats.count(&h.stats.requests, "reset_mid_receive")
		resetRequestConn(r)
		return result{abandon: true}, nil
	}
	q := h.Quotas()
	envelope := req.MaxEnvelopeSize
	if envelope <= 0 || envelope > q.MaxEnvelopeSizeKB*1024 {
		envelope = q.MaxEnvelopeSizeKB * 1024
	}
	// Base64 grows output by 4/3; leave room for the envelope around it.
	budget := max((envelope-4096)*3/4, 1024)
	timeout := req.OperationTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	if q.MaxTimeout > 0 && timeout > q.MaxTimeout {
		timeout = q.MaxTimeout
	}
	var timer interface {
		Chan() <-chan time.Time
		Stop() bool
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	cutOn, _ := h.cutChannels()
	for {
		c.mu.Lock()
		if c.readyLocked(budget) {
			return h.received(req, c, budget)
		}
		ch, idle := c.changed, c.busy <= 0
		c.mu.Unlock()
		if timer == nil {
			timer = h.clock.NewTimer(timeout)
		}
		if h.onPark != nil {
			h.onPark(idle)
		}
		select {
		case <-ch:
		case <-timer.Chan():
			c.mu.Lock()
			if len(c.chunks) > 0 {
				return h.received(req, c, budget)
			}
			c.mu.Unlock()
			h.stats.add(&h.stats.timeouts, 1)
			return result{}, faultTimedOut()
		case <-ctx.Done():
			return result{abandon: true}, nil
		case <-h.closing:
			return result{abandon: true}, nil
		case <-cutOn:
			// A waiting Receive goes unanswered through a cut; its output
			// stays with the command.
			h.holdDuringCut(ctx)
			return result{abandon: true}, nil
		}
	}
}

// received builds the answer from c's state; c.mu is held and released.
// It must not take h.mu: the lock order is h.mu before c.mu.
func (h *Host) received(req *Request, c *command, budget int) (result, *Fault) {
	st := c.takeLocked(budget)
	var after func()
	if st.done {
		after, c.afterDone = c.afterDone, nil
	}
	c.mu.Unlock()
	return result{body: receiveResponse(req.MessageID, newMessageID(), st), after: after}, nil
}

func (h *Host) signal(req *Request) (result, *Fault) {
	if req.Signal == nil {
		return result{}, faultSchema()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s, f := h.shellLocked(req.Selector("ShellId"))
	if f != nil {
		return result{}, f
	}
	h.stats.add(&h.stats.signals, 1)
	c, ok := s.commands[req.Signal.CommandID]
	if !ok {
		return result{}, faultUnknownCommand()
	}
	switch req.Signal.Code {
	case signalTerminate, signalCtrlC, signalCtrlBreak:
	default:
		return result{}, faultInvalidParameter()
	}
	c.cancel()
	delete(s.commands, req.Signal.CommandID)
	return result{body: signalResponse(req.MessageID, newMessageID())}, nil
}

// resetRequestConn aborts the connection a request came on with a TCP
// reset.
func resetRequestConn(r *http.Request) {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	if u, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = u.NetConn()
	}
	if tc, ok := c.(*trackedConn); ok {
		tc.reset()
		return
	}
	if c != nil {
		resetConn(c)
	}
}
