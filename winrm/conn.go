package winrm

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// httpConn is a session's one keep-alive HTTP/1.1 connection, used for one
// request at a time by the goroutine that sends it. net/http writes the
// request and reads the response (Request.Write, http.ReadResponse); only
// dialing, reuse and cancellation are done here. http.Transport runs two
// goroutines with buffers of their own per connection and hands every
// request between them: with 1,000 hosts in flight their stacks were a
// fifth of the controller's memory, and the hand-offs a good part of its
// CPU.
//
// It behaves as the http.Transport it replaces did for WinRM's POSTs: it
// dials lazily, keeps the connection unless the server says
// "Connection: close", checks before reusing an idle connection that the
// server has not closed it (http.Transport's reader notices that while the
// connection idles) and dials anew if it has, never sends a POST twice,
// and gives the connection up when a request's context ends.
type httpConn struct {
	addr           string // host:port
	tlsConfig      *tls.Config
	connectTimeout time.Duration
	dialer         net.Dialer

	mu  sync.Mutex // guards the fields below against close from another goroutine
	c   net.Conn
	br  *bufio.Reader
	tls *tls.ConnectionState
}

// requestBufs hold requests while they are written: a request goes to the
// connection in one write (a Command with the launcher is tens of
// kilobytes, which a 4 KB bufio.Writer sent in ten system calls).
var requestBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledRequest is the largest buffer put back in requestBufs.
const maxPooledRequest = 256 << 10

// newHTTPConn prepares the connection to addr (host:port), over TLS when
// tlsConfig is not nil; without a ServerName the certificate is checked
// against addr's host, as http.Transport does.
func newHTTPConn(addr string, tlsConfig *tls.Config, connectTimeout time.Duration) *httpConn {
	if tlsConfig != nil && tlsConfig.ServerName == "" {
		tlsConfig = tlsConfig.Clone()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			tlsConfig.ServerName = host
		}
	}
	return &httpConn{addr: addr, tlsConfig: tlsConfig, connectTimeout: connectTimeout,
		dialer: net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}}
}

// roundTrip sends req and returns the answer: status, headers, the body
// read whole (at most maxResponse+1 bytes) and, on HTTPS, the server's
// certificate. beforeBody runs once the headers are in, before the body
// is read; its error ends the exchange. When ctx ends first, the error is
// ctx's.
func (h *httpConn) roundTrip(ctx context.Context, req *http.Request, beforeBody func(context.Context) error) (*httpReply, error) {
	return h.roundTripWith(ctx, func(b *bytes.Buffer) error { return req.Write(b) }, req, beforeBody)
}

// roundTripWith is roundTrip with the request written by write (into a
// buffer, then sent in one write); req is what http.ReadResponse is told
// the answer is to (its method).
func (h *httpConn) roundTripWith(ctx context.Context, write func(*bytes.Buffer) error, req *http.Request, beforeBody func(context.Context) error) (*httpReply, error) {
	c, br, state, err := h.conn(ctx)
	if err != nil {
		return nil, err
	}
	// The request's context ends a blocked write or read on this
	// connection; the connection is then given up.
	stop := context.AfterFunc(ctx, func() {
		_ = c.SetDeadline(time.Unix(1, 0)) // wakes the blocked call; the connection is dropped below
	})
	fail := func(err error) (*httpReply, error) {
		stop()
		h.drop(c)
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	buf := requestBufs.Get().(*bytes.Buffer)
	buf.Reset()
	werr := write(buf)
	if werr == nil {
		_, werr = c.Write(buf.Bytes())
	}
	if buf.Cap() <= maxPooledRequest {
		requestBufs.Put(buf)
	}
	if werr != nil {
		return fail(tlsRefusal(c, br, state, werr))
	}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fail(tlsRefusal(c, br, state, err))
	}
	if err := beforeBody(ctx); err != nil {
		return fail(err)
	}
	body, err := readBody(resp)
	if err == nil && int64(len(body)) <= maxResponse {
		// Read to its end: closing it frees nothing more. (An oversized
		// or broken body is not drained; its connection is dropped.)
		_ = resp.Body.Close()
	}
	if err != nil {
		return fail(err)
	}
	if !stop() {
		// The context ended while the answer came in: the connection's
		// deadline may be spent, so it cannot be kept.
		h.drop(c)
		return nil, ctx.Err()
	}
	if resp.Close || int64(len(body)) > maxResponse {
		h.drop(c)
	}
	reply := &httpReply{status: resp.StatusCode, header: resp.Header, body: body}
	if state != nil && len(state.PeerCertificates) > 0 {
		reply.peerCert = state.PeerCertificates[0]
	}
	return reply, nil
}

// tlsRefusal looks, after a TLS connection broke under a request, for the
// alert the server sent before closing it. With TLS 1.3 the handshake ends
// before the server has checked the client's certificate; a server that
// refuses the certificate (or its absence) sends an alert and closes, and
// the client's first write or read may meet the closed connection before
// it reads the alert. The alert says what happened; the broken pipe does
// not. It returns err when there is no alert to find.
func tlsRefusal(c net.Conn, br *bufio.Reader, state *tls.ConnectionState, err error) error {
	broken := errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	if state == nil || !broken {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second)) // a bounded look; the connection is dropped after
	var one [1]byte
	if _, rerr := br.Read(one[:]); rerr != nil && isRemoteTLSAlert(rerr) {
		return rerr
	}
	return err
}

// conn returns the open connection, or dials (and for HTTPS shakes hands)
// when there is none or the server closed the idle one.
func (h *httpConn) conn(ctx context.Context) (net.Conn, *bufio.Reader, *tls.ConnectionState, error) {
	h.mu.Lock()
	c, br, state := h.c, h.br, h.tls
	h.mu.Unlock()
	if c != nil {
		if br.Buffered() == 0 && !closedByPeer(c) {
			return c, br, state, nil
		}
		// The server closed the connection, or sent what nobody asked
		// for, while it was idle.
		h.drop(c)
	}
	c, err := h.dialer.DialContext(ctx, "tcp", h.addr)
	if err != nil {
		return nil, nil, nil, err
	}
	if h.tlsConfig != nil {
		tc := tls.Client(c, h.tlsConfig)
		hctx, cancel := context.WithTimeout(ctx, h.connectTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = c.Close() // the handshake failed; its error is the one to report
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				err = tlsHandshakeTimeout{}
			}
			return nil, nil, nil, err
		}
		st := tc.ConnectionState()
		c, state = tc, &st
	}
	br = bufio.NewReader(c)
	h.mu.Lock()
	h.c, h.br, h.tls = c, br, state
	h.mu.Unlock()
	return c, br, state, nil
}

// drop closes c and forgets it if it is still the open connection.
func (h *httpConn) drop(c net.Conn) {
	h.mu.Lock()
	if h.c == c {
		h.c, h.br, h.tls = nil, nil, nil
	}
	h.mu.Unlock()
	_ = c.Close() // the connection is given up; nothing waits for its close
}

// close closes the open connection, if any; the next request dials anew.
func (h *httpConn) close() {
	h.mu.Lock()
	c := h.c
	h.mu.Unlock()
	if c != nil {
		h.drop(c)
	}
}

// tlsHandshakeTimeout is the error of a TLS handshake that did not finish
// within the connect timeout: a timeout, as http.Transport reports it.
type tlsHandshakeTimeout struct{}

func (tlsHandshakeTimeout) Error() string   { return "TLS handshake timeout" }
func (tlsHandshakeTimeout) Timeout() bool   { return true }
func (tlsHandshakeTimeout) Temporary() bool { return true }

var _ net.Error = tlsHandshakeTimeout{}
