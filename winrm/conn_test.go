package winrm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawServer answers HTTP/1.1 requests on a loopback listener with its own
// code, so tests can close connections where a real server would not. For
// every connection it calls serve with the connection and a reader; serve
// returns when it is done with the connection, which is then closed.
type rawServer struct {
	ln      net.Listener
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   int
	posts   int
	serveFn func(s *rawServer, c net.Conn, br *bufio.Reader)
}

func startRawServer(t *testing.T, serve func(s *rawServer, c net.Conn, br *bufio.Reader)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, serveFn: serve}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() { _ = c.Close() }() // the test server is done with it
				s.serveFn(s, c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.wg.Wait()
	})
	return s
}

// readRequest reads one request with its body and counts it.
func (s *rawServer) readRequest(br *bufio.Reader) bool {
	req, err := http.ReadRequest(br)
	if err != nil {
		return false
	}
	if _, err := io.Copy(io.Discard, req.Body); err != nil {
		return false
	}
	s.mu.Lock()
	s.posts++
	s.mu.Unlock()
	return true
}

func (s *rawServer) counts() (conns, posts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns, s.posts
}

func post(t *testing.T, h *httpConn, ctx context.Context, body string) (*httpReply, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+h.addr+"/wsman", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return h.roundTrip(ctx, req, func(context.Context) error { return nil })
}

const okAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

func TestHTTPConnKeepsTheConnectionAlive(t *testing.T) {
	t.Parallel()
	srv := startRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		for s.readRequest(br) {
			_, _ = io.WriteString(c, okAnswer)
		}
	})
	h := newHTTPConn(srv.ln.Addr().String(), nil, time.Second)
	defer h.close()
	for i := range 3 {
		reply, err := post(t, h, context.Background(), "x")
		if err != nil || reply.status != 200 || string(reply.body) != "ok" {
			t.Fatalf("request %d: %+v %v", i, reply, err)
		}
	}
	if conns, posts := srv.counts(); conns != 1 || posts != 3 {
		t.Errorf("server saw %d connections and %d requests, want 1 and 3", conns, posts)
	}
}

func TestHTTPConnDialsAgainWhenTheServerClosedTheIdleConnection(t *testing.T) {
	t.Parallel()
	answered := make(chan struct{}, 10)
	srv := startRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		// One answer per connection, then close without saying so.
		if s.readRequest(br) {
			_, _ = io.WriteString(c, okAnswer)
		}
		answered <- struct{}{}
	})
	h := newHTTPConn(srv.ln.Addr().String(), nil, time.Second)
	defer h.close()
	for i := range 3 {
		if _, err := post(t, h, context.Background(), "request"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		<-answered // the server has closed its end
	}
	if conns, posts := srv.counts(); conns != 3 || posts != 3 {
		t.Errorf("server saw %d connections and %d requests, want 3 and 3 (no request sent twice)", conns, posts)
	}
}

func TestHTTPConnHonoursConnectionClose(t *testing.T) {
	t.Parallel()
	srv := startRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		for s.readRequest(br) {
			_, _ = io.WriteString(c, "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
		}
	})
	h := newHTTPConn(srv.ln.Addr().String(), nil, time.Second)
	defer h.close()
	for range 2 {
		reply, err := post(t, h, context.Background(), "x")
		if err != nil || reply.status != 401 {
			t.Fatalf("got %+v, %v", reply, err)
		}
	}
	if conns, _ := srv.counts(); conns != 2 {
		t.Errorf("server saw %d connections, want 2 (a new one after Connection: close)", conns)
	}
}

func TestHTTPConnReportsALostAnswerWithoutSendingAgain(t *testing.T) {
	t.Parallel()
	srv := startRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		s.readRequest(br) // and close without answering
	})
	h := newHTTPConn(srv.ln.Addr().String(), nil, time.Second)
	defer h.close()
	_, err := post(t, h, context.Background(), "x")
	if err == nil {
		t.Fatal("no error for a connection closed before the answer")
	}
	if got := classifyNetError(context.Background(), "h", err); !got.Transient {
		t.Errorf("classified as %v, want a transient error", got)
	}
	if _, posts := srv.counts(); posts != 1 {
		t.Errorf("the request was sent %d times, want 1", posts)
	}
}

func TestHTTPConnGivesUpWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	received := make(chan struct{})
	release := make(chan struct{})
	srv := startRawServer(t, func(s *rawServer, c net.Conn, br *bufio.Reader) {
		if s.readRequest(br) {
			if _, posts := s.counts(); posts == 1 {
				close(received)
				<-release // never answer the first request in time
				return
			}
			_, _ = io.WriteString(c, okAnswer)
		}
	})
	defer close(release)
	h := newHTTPConn(srv.ln.Addr().String(), nil, time.Second)
	defer h.close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := post(t, h, ctx, "slow")
		errc <- err
	}()
	<-received
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	// The connection was given up: the next request dials anew.
	if _, err := post(t, h, context.Background(), "next"); err != nil {
		t.Fatalf("next request: %v", err)
	}
	if conns, _ := srv.counts(); conns != 2 {
		t.Errorf("server saw %d connections, want 2", conns)
	}
}

func TestHTTPConnDialErrorsAreClassifiedAsBefore(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	h := newHTTPConn(addr, nil, time.Second)
	_, err = post(t, h, context.Background(), "x")
	if got := classifyNetError(context.Background(), "h", err); got.Class != "refused" {
		t.Errorf("class %s (%v), want refused", got.Class, err)
	}
}

func TestCAPoolsAreParsedOncePerContent(t *testing.T) {
	t.Parallel()
	ca, _ := newCert(t, nil, nil, "pool test CA", true)
	var pemA bytes.Buffer
	if err := pem.Encode(&pemA, &pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}); err != nil {
		t.Fatal(err)
	}
	a1, a2 := caPool(pemA.Bytes()), caPool(bytes.Clone(pemA.Bytes()))
	if a1 == nil || a1 != a2 {
		t.Errorf("the same CA content gave pools %p and %p, want one shared pool", a1, a2)
	}
	other, _ := newCert(t, nil, nil, "another CA", true)
	var pemB bytes.Buffer
	if err := pem.Encode(&pemB, &pem.Block{Type: "CERTIFICATE", Bytes: other.Raw}); err != nil {
		t.Fatal(err)
	}
	if b := caPool(pemB.Bytes()); b == nil || b == a1 {
		t.Errorf("another CA gave pool %p (first %p), want a pool of its own", b, a1)
	}
	if p := caPool([]byte("not a certificate")); p != nil {
		t.Errorf("a file without certificates gave a pool")
	}
}
