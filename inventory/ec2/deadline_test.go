package ec2_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/inventory/ec2"
)

// blackHole listens on loopback, accepts every connection and never
// answers, as a firewall that drops packets after the handshake or a hung
// proxy does. The test's cleanup closes the listener and the connections
// and waits for its goroutine.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by the cleanup
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close() // ends the accept loop
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close() // nothing was written
		}
	})
	return "http://" + ln.Addr().String()
}

func TestABlackHoledEndpointFailsWithinTheCallTimeout(t *testing.T) {
	t.Parallel()
	url := blackHole(t)
	spec := parseSpec(t, "ec2:\n  regions: [eu-west-1]\n  endpoint: "+url+"\n  call_timeout: 1s\n")
	opts := options(t, startFake(t, nil)) // the section's endpoint wins over the fake's
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := ec2.Discover(ctx, spec, opts)
	took := time.Since(start)
	if err == nil {
		t.Fatal("discovery against a black-holed endpoint succeeded")
	}
	want := "ec2 section at inv.yaml:2:3: region eu-west-1: DescribeInstances: no answer within the call_timeout of 1s (is the endpoint reachable? raise call_timeout in the ec2 section if AWS is only slow): "
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q\nwant it to start with %q", err, want)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v is not context.DeadlineExceeded", err)
	}
	if ctx.Err() != nil || took > 10*time.Second {
		t.Errorf("discovery took %s; the call timeout is 1s", took)
	}
}

func TestAHeldGetPasswordDataFailsWithinTheCallTimeout(t *testing.T) {
	t.Parallel()
	key := launchKey(t)
	srv := startFake(t, passwordFleet(t, encryptPassword(t, key, "secret")))
	release := srv.HoldPasswordData()
	defer release()
	spec := parseSpec(t, "ec2:\n  regions: [eu-west-1]\n  call_timeout: 1s\n  password_key_file: "+writeKey(t, key, 0o600)+"\n")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := ec2.Discover(ctx, spec, options(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Hosts[0].PasswordFunc(ctx)
	want := "instance i-0e000000000000001: ec2 section at inv.yaml:2:3: region eu-west-1: GetPasswordData: no answer within the call_timeout of 1s"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %v\nwant it to start with %q", err, want)
	}
	if ctx.Err() != nil {
		t.Errorf("the password call outlived its call timeout")
	}
	// The fake saw the client give up: no call is left in progress.
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := srv.WaitPasswordDataCalls(wctx, func(now int) bool { return now == 0 }); err != nil {
		t.Error(err)
	}
}
