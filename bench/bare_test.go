package bench

import (
	"context"
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
