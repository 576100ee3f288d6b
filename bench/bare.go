package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// The bare client is the benchmark's yardstick for controller CPU: what the
// HTTP exchanges alone cost on this machine, with no HTTP library and no
// work of fleetrun's. It makes as many requests per host, on one
// keep-alive TCP connection per host, as many hosts in flight, against a
// loopback server that answers after the fleet's latency, with NTLM's two
// handshake legs per connection as empty exchanges first when the fleet is
// NTLM over HTTP. Each request is written whole from prepared bytes and
// each answer read by its Content-Length, so its CPU per request is the
// machine's part of fleetrun's (system calls, loopback TCP, connection
// set-up and teardown, the Go runtime's network poller and scheduler) and
// nearly nothing else: on a paravirtualised two-core machine that part is
// far from free. (A net/http client, http.Transport's two goroutines per
// connection and all, cost two to three times as much here; fleetrun does
// not use http.Transport.)

// bareBodyBytes is the size of every request and answer body: about a
// sealed WS-Man request or answer of the small-output workloads.
const bareBodyBytes = 2048

// BareConfig is one bare client run.
type BareConfig struct {
	// URL is the bare server's address (BareServer.URL).
	URL string
	// Hosts is how many connections the client opens, one after another
	// per worker; Forks how many are in flight at once; Requests how many
	// POSTs of bareBodyBytes each connection carries, after Legs POSTs
	// with empty bodies (NTLM's NEGOTIATE and AUTHENTICATE), which the
	// server answers at once and empty.
	Hosts, Forks, Requests, Legs int
}

// BareArgs are the flags of fleetbench's bare client mode for c.
func BareArgs(c BareConfig) []string {
	return []string{"-bare", c.URL, "-hosts", strconv.Itoa(c.Hosts), "-forks", strconv.Itoa(c.Forks), "-requests", strconv.Itoa(c.Requests), "-legs", strconv.Itoa(c.Legs)}
}

// RunBareClient makes, for each of c.Hosts hosts, c.Legs empty POSTs and
// then c.Requests POSTs of bareBodyBytes to c.URL, one after another on a
// TCP connection of the host's own, which is then closed. Any answer but
// 200 with a body as long as the request's is an error; so is an exchange
// that takes longer than a minute.
func RunBareClient(ctx context.Context, c BareConfig) error {
	if c.Hosts < 1 || c.Forks < 1 || c.Requests < 1 || c.Legs < 0 {
		return fmt.Errorf("bare client: hosts, forks and requests must be at least 1 and legs at least 0 (got %d, %d, %d, %d)", c.Hosts, c.Forks, c.Requests, c.Legs)
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("bare client: %q is not an http:// URL", c.URL)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	head := "POST " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nContent-Type: application/octet-stream\r\nContent-Length: "
	req := bareRequests{
		leg:  []byte(head + "0\r\n\r\n"),
		full: append([]byte(head+strconv.Itoa(bareBodyBytes)+"\r\n\r\n"), bytes.Repeat([]byte("x"), bareBodyBytes)...),
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(c.Forks)
	for host := range c.Hosts {
		g.Go(func() error {
			if err := bareHost(ctx, c, u.Host, req); err != nil {
				return fmt.Errorf("bare client: host %d: %w", host, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// bareRequests are the bare client's two requests, written out whole.
type bareRequests struct{ leg, full []byte }

// bareExchangeTimeout bounds one exchange of the bare client.
const bareExchangeTimeout = time.Minute

func bareHost(ctx context.Context, c BareConfig, addr string, req bareRequests) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }() // the run is over for this host; a close error changes nothing
	// The context's end stops a blocked read or write.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	br := bufio.NewReader(conn)
	for i := range c.Legs + c.Requests {
		send, want := req.full, bareBodyBytes
		if i < c.Legs {
			send, want = req.leg, 0
		}
		if err := conn.SetDeadline(time.Now().Add(bareExchangeTimeout)); err != nil {
			return err
		}
		// A context that ended before this exchange's deadline was set
		// had its own deadline overwritten: stop here. (One that ends
		// after this check sets its deadline after this one.)
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := conn.Write(send); err != nil {
			return bareError(ctx, err)
		}
		if err := readBareAnswer(br, want); err != nil {
			return bareError(ctx, err)
		}
	}
	return nil
}

// bareError is ctx's error when it ended (a deadline it set stopped the
// exchange), err otherwise.
func bareError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// readBareAnswer reads one answer from br: a 200 with a body of want
// bytes, which it discards.
func readBareAnswer(br *bufio.Reader, want int) error {
	status, err := br.ReadSlice('\n')
	if err != nil {
		return fmt.Errorf("read the status line: %w", err)
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("answer %q, want HTTP/1.1 200", bytes.TrimSpace(status))
	}
	length := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("read the headers: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(string(name), "Content-Length") {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(value))); err != nil {
				return fmt.Errorf("answer's Content-Length %q: %w", value, err)
			}
		}
	}
	if length != want {
		return fmt.Errorf("answer with Content-Length %d, want %d", length, want)
	}
	if _, err := br.Discard(length); err != nil {
		return fmt.Errorf("read the body: %w", err)
	}
	return nil
}

// BareServer answers every POST of bareBodyBytes, after its latency, with
// as many bytes, and an empty one (a handshake leg) at once and empty; it
// counts the connections, requests and legs it served.
type BareServer struct {
	URL string

	srv         *http.Server
	ln          net.Listener
	done        chan error
	connections atomic.Int64
	requests    atomic.Int64
	legs        atomic.Int64
	badBodies   atomic.Int64
}

// StartBareServer listens on a loopback port and serves until Close.
func StartBareServer(latency time.Duration) (*BareServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bare server: %w", err)
	}
	s := &BareServer{URL: "http://" + ln.Addr().String() + "/", ln: ln, done: make(chan error, 1)}
	answer := bytes.Repeat([]byte("y"), bareBodyBytes)
	s.srv = &http.Server{
		ReadHeaderTimeout: time.Minute,
		IdleTimeout:       2 * time.Minute,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.connections.Add(1)
			}
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 1<<20))
			switch {
			case err == nil && n == 0:
				s.legs.Add(1)
				w.Header().Set("Content-Length", "0")
				return
			case err != nil || n != bareBodyBytes:
				s.badBodies.Add(1)
			}
			s.requests.Add(1)
			t := time.NewTimer(latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
			_, _ = w.Write(answer) // a client gone is its own error
		}),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Counts are the connections, requests and handshake legs served so far,
// and how many requests came with a body of another size than the client
// sends.
func (s *BareServer) Counts() (connections, requests, legs, badBodies int64) {
	return s.connections.Load(), s.requests.Load(), s.legs.Load(), s.badBodies.Load()
}

// Close stops the server, waiting at most a few seconds (and no longer
// than ctx) for requests in flight, then closing what is left.
func (s *BareServer) Close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.srv.Close())
	}
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// BareRun is a measured bare client run.
type BareRun struct {
	Config BareConfig
	Usage
}

// CPUPerRequest is the bare client's CPU time per request, its handshake
// legs' included (as fleetrun's CPU per WS-Man request includes NTLM's).
func (b BareRun) CPUPerRequest() time.Duration {
	return perRequest(b.CPU(), int64(b.Config.Hosts*b.Config.Requests))
}

// SystemPerRequest is the bare client's system time per request.
func (b BareRun) SystemPerRequest() time.Duration {
	return perRequest(b.System, int64(b.Config.Hosts*b.Config.Requests))
}

// measureBare runs the bare client (program with BareArgs, a child of its
// own so that its rusage is its alone) against a bare server with the
// fleet's latency, and checks that the server saw a connection per host
// and every request and leg.
func measureBare(ctx context.Context, program string, c BareConfig, latency time.Duration, env []string) (BareRun, error) {
	srv, err := StartBareServer(latency)
	if err != nil {
		return BareRun{}, err
	}
	c.URL = srv.URL
	cmd := exec.Command(program, BareArgs(c)...)
	var stderr bytes.Buffer
	cmd.Env, cmd.Stdout, cmd.Stderr = env, io.Discard, &stderr
	u, err := Measure(ctx, cmd)
	err = errors.Join(err, srv.Close(context.WithoutCancel(ctx)))
	if err != nil {
		return BareRun{}, err
	}
	if u.ExitCode != 0 {
		return BareRun{}, fmt.Errorf("bare client exited %d: %s", u.ExitCode, bytes.TrimSpace(stderr.Bytes()))
	}
	conns, reqs, legs, bad := srv.Counts()
	if conns != int64(c.Hosts) || reqs != int64(c.Hosts*c.Requests) || legs != int64(c.Hosts*c.Legs) || bad != 0 {
		return BareRun{}, fmt.Errorf("bare server saw %d connections, %d requests and %d handshake legs (%d with a wrong body), want %d, %d and %d",
			conns, reqs, legs, bad, c.Hosts, c.Hosts*c.Requests, c.Hosts*c.Legs)
	}
	return BareRun{Config: c, Usage: u}, nil
}
