package sim

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// runRound runs one command on every host of the fleet, workers hosts at
// a time, each with its own masterzen client, and checks every answer.
func runRound(t testing.TB, f *Fleet, mode clientMode, workers int) time.Duration {
	t.Helper()
	start := time.Now()
	hosts := make(chan *Host)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range hosts {
				c := mzClient(t, f, h, mode, "PT60S")
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				out, errOut, code, err := c.RunCmdWithContext(ctx, "hostname")
				cancel()
				if err != nil || out != h.Name()+"\r\n" || errOut != "" || code != 0 {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s: %q %q %d %v", h.Name(), out, errOut, code, err))
					mu.Unlock()
				}
			}
		}()
	}
	for _, h := range f.Hosts() {
		hosts <- h
	}
	close(hosts)
	wg.Wait()
	reportFailures(t, failures)
	st := f.Stats()
	if st.Totals.Commands != int64(len(f.Hosts())) || st.Totals.Deletes != int64(len(f.Hosts())) || st.OpenShells != 0 {
		t.Errorf("after the round: %d commands, %d deletes, %d shells open; want %d, %d, 0",
			st.Totals.Commands, st.Totals.Deletes, st.OpenShells, len(f.Hosts()), len(f.Hosts()))
	}
	if st.PeakShells > int64(workers) {
		t.Errorf("fleet peak of open shells %d exceeds the %d workers", st.PeakShells, workers)
	}
	return time.Since(start)
}

// TestFleetOfHundredsAnswersARound is the make-test-sized fleet: a few
// hundred hosts, NTLM with message encryption, under the race detector.
func TestFleetOfHundredsAnswersARound(t *testing.T) {
	t.Parallel()
	n := 200
	if testing.Short() {
		n = 50
	}
	f := startFleet(t, FleetOptions{Hosts: n})
	d := runRound(t, f, ntlmSealed, 25)
	t.Logf("%d hosts answered a round over NTLM with message encryption in %v", n, d)
}

// reportFailures reports the first ten of a round's failures and counts
// the rest.
func reportFailures(t testing.TB, failures []string) {
	t.Helper()
	for i, msg := range failures {
		if i == 10 {
			t.Errorf("... and %d more", len(failures)-10)
			break
		}
		t.Error(msg)
	}
}
