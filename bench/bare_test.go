package bench

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The bare client makes exactly its handshake legs and requests, one
// connection per host, and the server counts them.
func TestBareClientMakesOneConnectionPerHostAndEveryRequest(t *testing.T) {
	t.Parallel()
	srv, err := StartBareServer(time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = RunBareClient(ctx, BareConfig{URL: srv.URL, Hosts: 20, Forks: 5, Requests: 3, Legs: 2})
	if cerr := srv.Close(ctx); cerr != nil {
		t.Error(cerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	conns, reqs, legs, bad := srv.Counts()
	if conns != 20 || reqs != 60 || legs != 40 || bad != 0 {
		t.Fatalf("server saw %d connections, %d requests, %d legs, %d bad bodies; want 20, 60, 40, 0", conns, reqs, legs, bad)
	}
}

func TestBareClientRefusesAnEmptyRun(t *testing.T) {
	t.Parallel()
	err := RunBareClient(context.Background(), BareConfig{URL: "http://127.0.0.1:1/", Hosts: 10, Forks: 0, Requests: 5, Legs: 2})
	want := "bare client: hosts, forks and requests must be at least 1 and legs at least 0 (got 10, 0, 5, 2)"
	if err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
}

func TestBareRunPerRequest(t *testing.T) {
	t.Parallel()
	b := BareRun{Config: BareConfig{Hosts: 1000, Requests: 5}, Usage: Usage{User: 300 * time.Millisecond, System: 200 * time.Millisecond}}
	if got, want := b.CPUPerRequest(), 100*time.Microsecond; got != want {
		t.Errorf("CPU per request %v, want %v", got, want)
	}
	if got, want := b.SystemPerRequest(), 40*time.Microsecond; got != want {
		t.Errorf("system per request %v, want %v", got, want)
	}
}

func TestReadBareAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, answer string
		want         int
		err          string // "" for none
	}{
		{name: "a 200 with the body", answer: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-type: x\r\n\r\nabcNEXT", want: 3},
		{name: "an empty 200", answer: "HTTP/1.1 200 OK\r\ncontent-length:0\r\n\r\n", want: 0},
		{name: "another status", answer: "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", err: `answer "HTTP/1.1 401 Unauthorized", want HTTP/1.1 200`},
		{name: "no length", answer: "HTTP/1.1 200 OK\r\n\r\n", want: 3, err: "answer with Content-Length -1, want 3"},
		{name: "another length", answer: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab", want: 3, err: "answer with Content-Length 2, want 3"},
		{name: "a bad length", answer: "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", want: 3, err: `answer's Content-Length " x": strconv.Atoi: parsing "x": invalid syntax`},
		{name: "a short body", answer: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab", want: 3, err: "read the body: EOF"},
		{name: "cut in the headers", answer: "HTTP/1.1 200 OK\r\nContent-Len", want: 3, err: "read the headers: EOF"},
		{name: "nothing", answer: "", err: "read the status line: EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			br := bufio.NewReader(strings.NewReader(tt.answer))
			err := readBareAnswer(br, tt.want)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("err %v, want none", err)
				}
				if rest, _ := io.ReadAll(br); strings.HasSuffix(tt.answer, "NEXT") && string(rest) != "NEXT" {
					t.Fatalf("left %q unread, want \"NEXT\"", rest)
				}
				return
			}
			if err == nil || err.Error() != tt.err {
				t.Fatalf("err %v, want %q", err, tt.err)
			}
		})
	}
}

// A run whose context ends while the server holds an answer stops with
// the context's error instead of waiting out the exchange.
func TestBareClientStopsWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return // the client never came; its error fails the test
		}
		defer func() { _ = c.Close() }() // the test server is done with it
		if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
			cancel() // the request is in: end the run while its answer is held
		}
		_, _ = io.Copy(io.Discard, c) // until the client closes its end
	}()
	ran := make(chan error, 1)
	go func() {
		ran <- RunBareClient(ctx, BareConfig{URL: "http://" + ln.Addr().String() + "/", Hosts: 1, Forks: 1, Requests: 1})
	}()
	// The exchange's own bound is a minute: stopping within half of it
	// can only be the context's doing.
	select {
	case err = <-ran:
	case <-time.After(bareExchangeTimeout / 2):
		t.Fatal("the bare client did not stop when its context ended")
	}
	_ = ln.Close() // no second connection is expected; a close error changes nothing
	<-served
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

func TestBareClientRefusesAURLItCannotUse(t *testing.T) {
	t.Parallel()
	err := RunBareClient(context.Background(), BareConfig{URL: "https://127.0.0.1:1/", Hosts: 1, Forks: 1, Requests: 1})
	want := `bare client: "https://127.0.0.1:1/" is not an http:// URL`
	if err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
}
