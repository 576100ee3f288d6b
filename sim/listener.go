package sim

import (
	"errors"
	"net"
	"sync"
	"syscall"
)

// hostListener is the listening socket of one host. It can go offline
// (stop listening so connections are refused, and reset every open
// connection) and come back on the same address, while the http.Server
// that accepts from it keeps running; the port stays the host's
// throughout (see portSocket). It also injects the connection-level
// failures: resets right after accept (flaky) and connections that are
// accepted and never answered (hang).
type hostListener struct {
	addr string // host:port, fixed at the bind

	mu     sync.Mutex
	sock   *portSocket
	ln     net.Listener // accepts while online; nil until the first time
	online bool
	// gen counts the times the host went offline: an Accept that fails
	// across one is the stop's doing, not an error.
	gen     int64
	wake    chan struct{} // closed when the host goes on or offline, or the listener closes
	closed  bool
	conns   map[*trackedConn]struct{}
	hung    []net.Conn
	accepts int64

	flaky int
	hang  Times
	// onAccept counts connections for the stats.
	onAccept func()
}

// newHostListener binds addr and, with online true, listens on it. With
// online false the port is only bound (refused hosts): the address is the
// host's but refuses.
//
// A port the fleet picked (addr's port is 0) can still be lost between
// the bind and the first listen: another process's socket may bind it in
// that instant (both sockets share it under SO_REUSEADDR until one of them
// listens), and then the second to listen fails with "address already in
// use" — two fleets started side by side, by two test runs on one machine,
// met it. The host then takes another port, up to maxPortTries times.
func newHostListener(addr string, online bool, flaky int, hang Times) (*hostListener, error) {
	_, port, err := net.SplitHostPort(addr)
	picked := err == nil && port == "0"
	for try := 1; ; try++ {
		sock, err := bindPort(addr)
		if err != nil {
			return nil, err
		}
		l := &hostListener{
			addr:  sock.addr,
			sock:  sock,
			wake:  make(chan struct{}),
			conns: map[*trackedConn]struct{}{},
			flaky: flaky,
			hang:  hang,
		}
		if !online {
			return l, nil
		}
		if afterBind != nil {
			afterBind(sock)
		}
		ln, err := sock.listen()
		if err == nil {
			l.ln, l.online = ln, true
			return l, nil
		}
		err = errors.Join(err, sock.close())
		if !picked || !errors.Is(err, syscall.EADDRINUSE) || try == maxPortTries {
			return nil, err
		}
	}
}

// maxPortTries is how many ports a host with a picked port tries before
// its listen error is the fleet's.
const maxPortTries = 8

// afterBind, when set (by tests), runs between a host's bind and its first
// listen.
var afterBind func(*portSocket)

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
		ln, online, gen, wake := l.ln, l.online, l.gen, l.wake
		l.mu.Unlock()
		if !online {
			<-wake
			continue
		}
		c, err := ln.Accept()
		if err != nil {
			l.mu.Lock()
			switched := l.closed || l.gen != gen
			l.mu.Unlock()
			if switched || errors.Is(err, net.ErrClosed) {
				continue // went offline, or closing: the loop decides
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
		if l.closed || !l.online {
			// Accepted just before the host went down. (One accepted
			// before a restart and handed over after it is the
			// restarted host's: the kernel reset every connection still
			// queued when the host went down, so it can only be one
			// dequeued in that instant.)
			l.mu.Unlock()
			resetConn(c)
			continue
		}
		l.accepts++
		n := l.accepts
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

// Close stops accepting for good, closes every connection and releases
// the port.
func (l *hostListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	l.dropConnsLocked()
	err := l.sock.close()
	close(l.wake)
	return err
}

// goOffline makes the host unreachable: every open connection is reset and
// new ones are refused, the port still the host's.
func (l *hostListener) goOffline() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || !l.online {
		return nil
	}
	// The response to the shutdown command was sent before this runs;
	// resetting rather than closing leaves no TIME_WAIT on the port.
	l.dropConnsLocked()
	l.online = false
	l.gen++
	err := l.sock.stop()
	close(l.wake)
	l.wake = make(chan struct{})
	return err
}

// goOnline listens on the host's address again.
func (l *hostListener) goOnline() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.online {
		return nil
	}
	ln, err := l.sock.listen()
	if err != nil {
		return err
	}
	l.ln, l.online = ln, true
	close(l.wake)
	l.wake = make(chan struct{})
	return nil
}

// dropConnsLocked resets every connection; l.mu is held.
func (l *hostListener) dropConnsLocked() {
	for c := range l.conns {
		resetConn(c.Conn)
	}
	clear(l.conns)
	for _, c := range l.hung {
		resetConn(c)
	}
	l.hung = nil
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
