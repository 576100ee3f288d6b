package winrm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/transport"
)

// A Delete the host does not answer in time is sent once more, on a new
// connection, so that a host too busy for the first one does not keep the
// shell until its idle timeout; and a Delete that keeps getting no answer
// is given up after the second try. Both ways a shell ends: Close, and a
// run cancelled while its command runs (abandonShell).
func TestAnUnansweredDeleteIsSentOnceMore(t *testing.T) {
	t.Parallel()
	// A held Delete costs the test this long; an answered one must come
	// within it even on a loaded machine.
	const cleanupBound = 2 * time.Second
	type testCase struct {
		name          string
		cancelled     bool  // end the shell by cancelling a running command, not by Close
		stall         int64 // Deletes the host leaves unanswered
		wantDeletes   int64 // Deletes that reach the host
		wantOpen      int64
		wantCloseFail bool
	}
	var cases []testCase
	for _, cancelled := range []bool{false, true} {
		way := "Close: "
		if cancelled {
			way = "a cancelled run: "
		}
		cases = append(cases,
			testCase{way + "the second Delete is answered", cancelled, 1, 1, 0, false},
			testCase{way + "neither is", cancelled, 2, 0, 1, !cancelled})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sc, err := sim.ParseScenario("plain.yaml", []byte("defaults:\n  allow_unencrypted: true\n"))
			if err != nil {
				t.Fatal(err)
			}
			f, h := fleetFor(t, mode{name: "basic", auth: "basic"}, sc)
			backend, err := url.Parse("http://" + h.Address() + ":" + strconv.Itoa(h.Port()))
			if err != nil {
				t.Fatal(err)
			}
			var stalled atomic.Int64
			rp := httputil.NewSingleHostReverseProxy(backend)
			proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, err := io.ReadAll(r.Body)
				if err != nil {
					return
				}
				if strings.Contains(string(body), "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete") && stalled.Add(1) <= tc.stall {
					// Hold the request until the client gives up on it.
					<-r.Context().Done()
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
				rp.ServeHTTP(w, r)
			}))
			t.Cleanup(proxy.Close)
			pu, err := url.Parse(proxy.URL)
			if err != nil {
				t.Fatal(err)
			}
			port, err := strconv.Atoi(pu.Port())
			if err != nil {
				t.Fatal(err)
			}
			target := transport.Target{Name: h.Name(), Address: pu.Hostname(), Port: port, Auth: "basic", AllowUnencrypted: true,
				User: f.User(), Password: f.Password()}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			s, err := Open(ctx, target, Options{CleanupTimeout: cleanupBound})
			if err != nil {
				t.Fatal(err)
			}
			run(t, s, transport.Command{Kind: transport.KindCmd, Line: "echo hi"})
			before := h.Stats()
			if tc.cancelled {
				rctx, rcancel := context.WithCancel(ctx)
				defer rcancel()
				stop := writerFunc(func(p []byte) (int, error) {
					rcancel()
					return len(p), nil
				})
				_, err = s.Run(rctx, transport.Command{Kind: transport.KindCmd, Line: `echo started& C:\tools\sleep.exe 600`, Stdout: stop})
				var te *transport.Error
				if !errors.As(err, &te) || te.Class != transport.ClassInterrupted {
					t.Fatalf("Run error = %v, want class interrupted", err)
				}
			}
			err = s.Close(ctx)
			if gotFail := err != nil; gotFail != tc.wantCloseFail {
				t.Errorf("Close = %v, want an error: %v", err, tc.wantCloseFail)
			}
			after := h.Stats()
			if got := after.Requests["Delete"] - before.Requests["Delete"]; got != tc.wantDeletes {
				t.Errorf("%d Deletes reached the host, want %d", got, tc.wantDeletes)
			}
			if got := after.OpenShells; got != tc.wantOpen {
				t.Errorf("%d shells open on the host at the end, want %d", got, tc.wantOpen)
			}
			if got := stalled.Load(); got != 2 {
				t.Errorf("the proxy saw %d Deletes, want 2 (one more after the unanswered one, never a third)", got)
			}
		})
	}
}
