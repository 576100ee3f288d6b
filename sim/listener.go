package sim

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
)

// hostListener is the listening socket of one host. It can go offline
// (closing the socket so connections are refused, and resetting every open
// connection) and come back on the same address, while the http.Server
// that accepts from it keeps running. It also injects the connection-level
// failures: resets right after accept (flaky) and connections that are
// accepted and never answered (hang).
type hostListener struct {
	addr string // host:port, fixed after the first bind

	mu   sync.Mutex
	ln   net.Listener // nil while offline
	hold *portHold    // keeps the port while offline
	// rejecting resets every accepted connection: offline, where the port
	// could not be held without its socket (see goOffline).
	rejecting bool
	wake      chan struct{} // closed when ln changes or the listener closes
	closed    bool
	conns     map[*trackedConn]struct{}
	hung      []net.Conn
	accepts   int64

	flaky int
	hang  Times
	// onAccept counts connections for the stats.
	onAccept func()
}

// listen binds addr. With online false the port is only reserved and
// released again (refused hosts), so the address is known but refuses.
func newHostListener(addr string, online bool, flaky int, hang Times) (*hostListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	l := &hostListener{
		addr:  ln.Addr().String(),
		wake:  make(chan struct{}),
		conns: map[*trackedConn]struct{}{},
		flaky: flaky,
		hang:  hang,
	}
	if online {
		l.ln = ln
		return l, nil
	}
	if err := ln.Close(); err != nil {
		return nil, fmt.Errorf("release %s: %w", addr, err)
	}
	if l.hold, err = holdPort(l.addr); err != nil {
		return nil, err
	}
	return l, nil
}

// Addr returns the host's address, online or not.
func (l *hostListener) Addr() net.Addr {
	a, err := net.ResolveTCPAddr("tcp", l.addr)
	if err != nil {
		return &net.TCPAddr{}
	}
	return a
}

// Accept waits for the next connection, across offline periods.
func (l *hostListener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, net.ErrClosed
		}
		ln, wake := l.ln, l.wake
		l.mu.Unlock()
		if ln == nil {
			<-wake
			continue
		}
		c, err := ln.Accept()
		if err != nil {
			l.mu.Lock()
			switched := l.closed || l.ln != ln
			l.mu.Unlock()
			if switched || errors.Is(err, net.ErrClosed) {
				continue // offline, or closing: the loop decides
			}
			return nil, err
		}
		if tc, ok := c.(*net.TCPConn); ok {
			// Fleets hold thousands of idle sockets; keep-alive probes
			// from each would only cost CPU.
			_ = tc.SetKeepAlive(false) // best effort: a socket option
		}
		if l.onAccept != nil {
			l.onAccept()
		}
		l.mu.Lock()
		if l.rejecting {
			l.mu.Unlock()
			resetConn(c)
			continue
		}
		l.accepts++
		n := l.accepts
		if l.closed || l.ln != ln {
			l.mu.Unlock()
			resetConn(c)
			continue
		}
		if n <= int64(l.flaky) {
			l.mu.Unlock()
			resetConn(c)
			continue
		}
		if l.hang.active(n - int64(l.flaky)) {
			l.hung = append(l.hung, c)
			l.mu.Unlock()
			continue
		}
		tc := &trackedConn{Conn: c, l: l}
		l.conns[tc] = struct{}{}
		l.mu.Unlock()
		return tc, nil
	}
}

// Close stops accepting for good and closes every connection.
func (l *hostListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	err := l.dropLocked()
	if herr := l.hold.release(); err == nil {
		err = herr
	}
	l.hold = nil
	close(l.wake)
	l.mu.Unlock()
	return err
}

// goOffline makes the host unreachable and resets every open connection.
// New connections are refused: the listening socket is closed and the port
// kept by a hold, so no other listener can take it while the host is down.
// Where the hold cannot be bound (connections closed earlier linger in
// TIME_WAIT on the port), the socket is opened again at once and every
// connection it accepts is reset until the host is back: the client sees a
// reset instead of a refusal, but the port is never given away.
func (l *hostListener) goOffline() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	// The response to the shutdown command was sent before this runs;
	// resetting rather than closing leaves no TIME_WAIT on the port.
	for c := range l.conns {
		resetConn(c.Conn)
	}
	clear(l.conns)
	for _, c := range l.hung {
		resetConn(c)
	}
	l.hung = nil
	var err error
	if l.ln != nil && l.hold == nil {
		err = l.ln.Close()
		l.ln = nil
		hold, herr := holdPort(l.addr)
		switch {
		case herr == nil:
			l.hold = hold
		case errors.Is(herr, syscall.EADDRINUSE):
			ln, lerr := net.Listen("tcp", l.addr)
			if lerr != nil {
				return fmt.Errorf("keep %s while offline: %w", l.addr, lerr)
			}
			l.ln, l.rejecting = ln, true
		default:
			if err == nil {
				err = herr
			}
		}
	}
	close(l.wake)
	l.wake = make(chan struct{})
	return err
}

// goOnline listens on the host's address again.
func (l *hostListener) goOnline() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	if l.rejecting {
		l.rejecting = false
		return nil
	}
	if l.ln != nil {
		return nil
	}
	if err := l.hold.release(); err != nil {
		return fmt.Errorf("release %s: %w", l.addr, err)
	}
	l.hold = nil
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return fmt.Errorf("listen again on %s: %w", l.addr, err)
	}
	l.ln = ln
	close(l.wake)
	l.wake = make(chan struct{})
	return nil
}

// dropLocked closes the socket and all connections; l.mu is held.
func (l *hostListener) dropLocked() error {
	var err error
	if l.ln != nil {
		err = l.ln.Close()
		l.ln = nil
	}
	for c := range l.conns {
		resetConn(c.Conn)
	}
	clear(l.conns)
	for _, c := range l.hung {
		resetConn(c)
	}
	l.hung = nil
	return err
}

func (l *hostListener) forget(c *trackedConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// trackedConn is a connection the listener can reset when the host goes
// offline.
type trackedConn struct {
	net.Conn
	l    *hostListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.l.forget(c) })
	return c.Conn.Close()
}

// reset aborts the connection with a TCP RST.
func (c *trackedConn) reset() {
	c.once.Do(func() { c.l.forget(c) })
	resetConn(c.Conn)
}

// resetConn closes c so that the peer sees a reset rather than an orderly
// end of stream.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // best effort: without it the close is orderly
	}
	_ = c.Close() // the peer learns of it; nothing to do with an error here
}
