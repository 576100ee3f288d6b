//go:build scale

package sim

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/masterzen/winrm"
)

// TestScaleThousandHostsAnswerARound starts 1,000 simulated hosts in one
// process and has each answer a command, over NTLM with message
// encryption and over Basic inside TLS (make test-scale, without -race).
func TestScaleThousandHostsAnswerARound(t *testing.T) {
	for _, mode := range []clientMode{ntlmSealed, basicHTTPS} {
		t.Run(mode.String(), func(t *testing.T) {
			f := startFleet(t, FleetOptions{Hosts: 1000, HTTPS: mode == basicHTTPS, Dir: t.TempDir()})
			d := runRound(t, f, mode, 100)
			t.Logf("1000 hosts answered a round (%s) in %v", mode, d)
		})
	}
}

// TestScaleTenThousandHostsEachOpenAndDeleteAShell starts 10,000
// simulated hosts in one process and has each open a shell and delete it.
// The client sends each request on a connection of its own, closed after
// the answer (so the fleet counts exactly two per host, where Go's pool
// may dial a second connection for a host now and then): the test's side
// holds at most two descriptors per worker, and the process about one per
// host (its listener), as `fleetrun sim` serving a separate controller
// does. Basic over plain HTTP keeps the test about the fleet's size, not
// NTLM's cost (the 1,000-host test above covers sealing).
func TestScaleTenThousandHostsEachOpenAndDeleteAShell(t *testing.T) {
	const hosts, workers = 10000, 100
	sc := mustScenario(t, "defaults:\n  allow_unencrypted: true\n")
	start := time.Now()
	f := startFleet(t, FleetOptions{Hosts: hosts, Scenario: sc, Dir: t.TempDir()})
	t.Logf("%d hosts listening after %v", hosts, time.Since(start))
	if got := len(f.Hosts()); got != hosts {
		t.Fatalf("%d hosts, want %d", got, hosts)
	}
	addrs := map[string]bool{}
	for _, h := range f.Hosts() {
		addrs[fmt.Sprintf("%s:%d", h.Address(), h.Port())] = true
	}
	if len(addrs) != hosts {
		t.Fatalf("%d distinct host addresses, want %d: every host is an endpoint of its own", len(addrs), hosts)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	queue := make(chan *Host)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}
			for h := range queue {
				if err := openAndDeleteShell(ctx, c, f, h); err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s: %v", h.Name(), err))
					mu.Unlock()
				}
			}
		}()
	}
	round := time.Now()
	for _, h := range f.Hosts() {
		queue <- h
	}
	close(queue)
	wg.Wait()
	t.Logf("%d hosts opened and deleted a shell in %v", hosts, time.Since(round))
	reportFailures(t, failures)

	st := f.Stats()
	type counts struct{ Shells, Deletes, Creates, DeleteRequests, Connections, Open, Peak int64 }
	for _, hs := range st.Hosts {
		got := counts{hs.ShellsOpened, hs.Deletes, hs.Requests["Create"], hs.Requests["Delete"], hs.Connections, hs.OpenShells, hs.PeakShells}
		if want := (counts{1, 1, 1, 1, 2, 0, 1}); got != want {
			t.Errorf("%s: %+v, want %+v", hs.Name, got, want)
		}
	}
	tot := st.Totals
	got := counts{tot.ShellsOpened, tot.Deletes, tot.Requests["Create"], tot.Requests["Delete"], tot.Connections, st.OpenShells, 0}
	if want := (counts{hosts, hosts, hosts, hosts, 2 * hosts, 0, 0}); got != want {
		t.Errorf("fleet totals %+v, want %+v", got, want)
	}
	if st.PeakShells > workers {
		t.Errorf("fleet peak of open shells %d exceeds the %d workers", st.PeakShells, workers)
	}
}

// openAndDeleteShell sends a Create and a Delete for the shell it opened,
// with Basic authentication.
func openAndDeleteShell(ctx context.Context, c *http.Client, f *Fleet, h *Host) error {
	open, err := postEnvelope(ctx, c, f, h, winrm.NewOpenShellRequest(h.URL(), nil).String())
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	id, err := winrm.ParseOpenShellResponse(open)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if id == "" {
		return fmt.Errorf("create: no shell id in %.300s", open)
	}
	if _, err := postEnvelope(ctx, c, f, h, winrm.NewDeleteShellRequest(h.URL(), id, nil).String()); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	return nil
}

// postEnvelope posts one envelope and returns the answer of a 200.
func postEnvelope(ctx context.Context, c *http.Client, f *Fleet, h *Host, body string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL(), strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(h.Config().User, f.Password())
	req.Header.Set("Content-Type", soapContentType)
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }() // read whole below
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %.300s", resp.StatusCode, data)
	}
	return string(data), nil
}
