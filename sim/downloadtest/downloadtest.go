// Package downloadtest serves files over loopback HTTP and HTTPS for tests
// of download steps against the simulated fleet: given bytes at given
// paths, the certificate to add to the fleet's trusted pool, counters of
// requests and bytes, and injectable failures (503 answers, connections
// dropped in the middle of a body). It also acts as a plain HTTP proxy for
// http:// URLs naming any host, serving its own files by path.
package downloadtest

import (
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"
)

// Server is a loopback file server.
type Server struct {
	srv *httptest.Server

	mu    sync.Mutex
	files map[string][]byte
	stats Stats
	// fail503 answers the next requests 503; drops cut the next bodies.
	fail503 int
	drops   int
	dropAt  int64
}

// Stats are a server's counters.
type Stats struct {
	// Requests counts every request; Proxied those that came as a proxy
	// request (an absolute URL); Tunnels the CONNECT requests answered; Failed503 and Dropped those answered
	// with an injected failure; NotFound those for no file.
	Requests  int64
	Proxied   int64
	Tunnels   int64
	Failed503 int64
	Dropped   int64
	NotFound  int64
	// Bytes counts the body bytes written, Complete the bodies written
	// whole.
	Bytes    int64
	Complete int64
	// ByPath counts requests per path.
	ByPath map[string]int64
}

// NewHTTP starts a plain HTTP server on 127.0.0.1 serving files (path →
// content, paths starting with "/").
func NewHTTP(files map[string][]byte) *Server { return start(files, false) }

// NewHTTPS starts an HTTPS server on 127.0.0.1 whose certificate
// (Certificate, CertPool) is valid for 127.0.0.1.
func NewHTTPS(files map[string][]byte) *Server { return start(files, true) }

func start(files map[string][]byte, tls bool) *Server {
	s := &Server{files: map[string][]byte{}, stats: Stats{ByPath: map[string]int64{}}}
	for p, b := range files {
		s.files[p] = b
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	// Every exchange is bounded, so Close (which waits for the handlers)
	// is too.
	s.srv.Config.ReadHeaderTimeout = handlerTimeout
	s.srv.Config.WriteTimeout = handlerTimeout
	// Failed handshakes (a client that does not trust the certificate)
	// are part of the tests, not news.
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tls {
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	return s
}

// URL returns the URL of path on the server.
func (s *Server) URL(path string) string { return s.srv.URL + path }

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.srv.Listener.Addr().String() }

// Certificate is the HTTPS server's certificate (nil for HTTP).
func (s *Server) Certificate() *x509.Certificate { return s.srv.Certificate() }

// CertPool is a pool holding the HTTPS server's certificate, to trust it.
func (s *Server) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	if c := s.srv.Certificate(); c != nil {
		p.AddCert(c)
	}
	return p
}

// Put adds or replaces a file.
func (s *Server) Put(path string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = data
}

// Fail503 answers the next n requests with 503 Service Unavailable.
func (s *Server) Fail503(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail503 = n
}

// DropMidBody makes the next n requests for a file get the full
// Content-Length header but only the first after bytes of the body, then
// the connection is closed.
func (s *Server) DropMidBody(n int, after int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drops, s.dropAt = n, after
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByPath = make(map[string]int64, len(s.stats.ByPath))
	for k, v := range s.stats.ByPath {
		st.ByPath[k] = v
	}
	return st
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		s.tunnel(w, r)
		return
	}
	s.mu.Lock()
	s.stats.Requests++
	if r.URL.IsAbs() {
		s.stats.Proxied++
	}
	s.stats.ByPath[r.URL.Path]++
	data, ok := s.files[r.URL.Path]
	fail := s.fail503 > 0
	if fail {
		s.fail503--
		s.stats.Failed503++
	}
	drop, dropAt := false, int64(0)
	if !fail && ok && s.drops > 0 {
		s.drops--
		s.stats.Dropped++
		drop, dropAt = true, min(s.dropAt, int64(len(data)))
	}
	if !fail && !ok {
		s.stats.NotFound++
	}
	s.mu.Unlock()
	switch {
	case fail:
		http.Error(w, "simulated failure: service unavailable", http.StatusServiceUnavailable)
		return
	case !ok:
		http.NotFound(w, r)
		return
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	if r.Method == http.MethodHead {
		return
	}
	if drop {
		s.writeThenDrop(w, data[:dropAt])
		return
	}
	n, err := w.Write(data)
	s.mu.Lock()
	s.stats.Bytes += int64(n)
	if err == nil {
		s.stats.Complete++
	}
	s.mu.Unlock()
}

// writeThenDrop writes part of a body and drops the connection.
func (s *Server) writeThenDrop(w http.ResponseWriter, part []byte) {
	n, _ := w.Write(part) // the drop follows either way
	s.mu.Lock()
	s.stats.Bytes += int64(n)
	s.mu.Unlock()
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush() // the part goes out before the connection is dropped
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		return // net/http closes a connection whose body fell short of its Content-Length
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	// Closed (not reset), so the client reads the part and then meets
	// the end of the connection, whatever its timing.
	_ = conn.Close() // dropping is the point
}

// handlerTimeout bounds reading a request's header and writing its
// answer.
const handlerTimeout = 30 * time.Second

// Close stops the server: connections are closed at once and the
// handlers waited for (each is bounded by handlerTimeout).
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// tunnel answers CONNECT to a loopback address: 200, then bytes copied
// both ways until either side closes (each copy bounded by
// handlerTimeout of silence).
func (s *Server) tunnel(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	ip := net.ParseIP(host)
	if err != nil || ip == nil || !ip.IsLoopback() {
		http.Error(w, "downloadtest tunnels to loopback addresses only", http.StatusForbidden)
		return
	}
	d := net.Dialer{Timeout: handlerTimeout}
	target, err := d.DialContext(r.Context(), "tcp", r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer func() { _ = target.Close() }() // the tunnel is over either way
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot tunnel over this connection", http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	s.stats.Requests++
	s.stats.Tunnels++
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	client, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer func() { _ = client.Close() }() // the tunnel is over either way
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(target, io.MultiReader(buf.Reader, deadlineReader{client})) // ends with either side
		_ = target.Close()
	}()
	_, _ = io.Copy(client, deadlineReader{target}) // ends with either side
	_ = client.Close()
	<-done
}

// deadlineReader reads a connection, each read bounded by handlerTimeout.
type deadlineReader struct{ c net.Conn }

func (d deadlineReader) Read(p []byte) (int, error) {
	_ = d.c.SetReadDeadline(time.Now().Add(handlerTimeout)) // a closed connection fails the read anyway
	return d.c.Read(p)
}
