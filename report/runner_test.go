package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

// fakeSession writes each step's output in chunks to the writers the
// runner passes (stdout and stderr from two goroutines, as a transport
// copying both streams would) and exits with a code scripted by host.
type fakeSession struct{ host string }

func (s fakeSession) Run(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	var wg sync.WaitGroup
	var out, errb bytes.Buffer
	for i, w := range []struct {
		dst interface{ Write([]byte) (int, error) }
		buf *bytes.Buffer
	}{{cmd.Stdout, &out}, {cmd.Stderr, &errb}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range 20 {
				chunk := fmt.Sprintf("%s %s stream %d chunk %d\r\n", s.host, cmd.Script, i, c)
				w.buf.WriteString(chunk)
				if w.dst != nil {
					if _, err := w.dst.Write([]byte(chunk)); err != nil {
						panic(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	code := uint32(0)
	if strings.HasSuffix(s.host, "7") && cmd.Script == "second" {
		code = 5
	}
	return transport.Result{ExitCode: code, Stdout: out.String(), Stderr: errb.String()}, nil
}

func (fakeSession) Close(context.Context) error { return nil }

// TestSinksWithTheRunner runs the real runner over a fake fleet with every
// sink attached at once, under -race: the logs reassemble to exactly what
// each host wrote, and the JUnit and summary agree with the result.
func TestSinksWithTheRunner(t *testing.T) {
	t.Parallel()
	pb, err := playbook.Parse("pb.yaml", []byte("name: it\nforks: 6\nsteps:\n  - name: one\n    powershell: first\n  - name: two\n    powershell: second\n"))
	if err != nil {
		t.Fatal(err)
	}
	var hosts []*inventory.Host
	for i := range 24 {
		hosts = append(hosts, &inventory.Host{Name: fmt.Sprintf("h-%02d", i), Address: "127.0.0.1", Transport: "winrm"})
	}
	hosts = append(hosts, &inventory.Host{Name: "down", Address: "127.0.0.1"})
	dialer := transport.DialerFunc(func(ctx context.Context, tg transport.Target) (transport.Session, error) {
		if tg.Name == "down" {
			return nil, &transport.Error{Class: transport.ClassRefused, Message: "connection refused", Err: errors.New("refused")}
		}
		return fakeSession{host: tg.Name}, nil
	})
	dir := t.TempDir()
	logs, err := NewLogDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var console bytes.Buffer
	con := NewConsole(&console, ConsoleOptions{})
	res, err := runner.Run(context.Background(), pb, hosts, runner.Options{
		Dialer: dialer,
		Target: func(ctx context.Context, h *inventory.Host) (transport.Target, error) {
			return transport.Target{Name: h.Name}, nil
		},
		Sinks:  []runner.Sink{con, logs},
		Output: logs,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := con.Close(); err != nil {
		t.Fatal(err)
	}
	if err := logs.Close(); err != nil {
		t.Fatal(err)
	}

	for _, h := range res.Hosts {
		data, err := os.ReadFile(filepath.Join(dir, LogFileName(h.Name)))
		if err != nil {
			t.Fatal(err)
		}
		got := reassemble(t, data)
		for _, s := range h.Steps {
			k := attemptKey(s.Index+1, 1)
			if s.Status == runner.StatusSkipped {
				continue
			}
			if got[k] != [2]string{s.Stdout, s.Stderr} {
				t.Errorf("%s %s: log output differs from the result's", h.Name, k)
			}
		}
	}
	var junit bytes.Buffer
	if err := WriteJUnit(&junit, res); err != nil {
		t.Fatal(err)
	}
	doc := parseJUnit(t, junit.Bytes())
	if doc.Tests != "51" || doc.Failures != "2" || doc.Errors != "1" || doc.Skipped != "2" {
		t.Errorf("junit counts tests/failures/errors/skipped = %s/%s/%s/%s, want 51/2/1/2", doc.Tests, doc.Failures, doc.Errors, doc.Skipped)
	}
	var sum bytes.Buffer
	if err := WriteSummary(&sum, res, SummaryOptions{}); err != nil {
		t.Fatal(err)
	}
	if first := strings.SplitN(sum.String(), "\n", 2)[0]; first != "25 hosts: 22 ok, 2 failed, 1 unreachable, 0 skipped" {
		t.Errorf("summary starts %q", first)
	}
	if n := strings.Count(console.String(), ": started (batch 1 of 1)\n"); n != 25 {
		t.Errorf("console printed %d host starts, want 25", n)
	}
}
