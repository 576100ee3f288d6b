package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fleetrun/fleetrun/sim"
)

// FleetSpec is what `fleetrun sim` is asked to serve.
type FleetSpec struct {
	Hosts        int
	Latency      time.Duration // --latency: added to every WS-Man operation
	ProcessStart time.Duration // --process-start: added to every process start
	HTTPS        bool          // --https: Basic over HTTPS instead of NTLM over HTTP
	Scenario     string        // --scenario file; empty for none
	// KerberosKeytabs is --kerberos-keytabs: a folder of <host>.keytab
	// files; those hosts accept Kerberos. Empty for none.
	KerberosKeytabs string
	// ConnectTimeout, when set, is written into the fleet's inventory as
	// its hosts' connect_timeout (see WithConnectTimeout).
	ConnectTimeout time.Duration
}

// Args are the `fleetrun sim` arguments for the spec, writing the inventory
// to inventory.
func (s FleetSpec) Args(inventory string) []string {
	args := []string{"sim", "--hosts", strconv.Itoa(s.Hosts),
		"--latency", s.Latency.String(), "--process-start", s.ProcessStart.String(),
		"--write-inventory", inventory, "--stats", "127.0.0.1:0"}
	if s.HTTPS {
		args = append(args, "--https")
	}
	if s.Scenario != "" {
		args = append(args, "--scenario", s.Scenario)
	}
	if s.KerberosKeytabs != "" {
		args = append(args, "--kerberos-keytabs", s.KerberosKeytabs)
	}
	return args
}

// SimProcess is a running `fleetrun sim`.
type SimProcess struct {
	// Inventory is the inventory file the fleet wrote.
	Inventory string
	// StatsURL is where GET returns the fleet's counters.
	StatsURL string

	cmd     *exec.Cmd
	started time.Time
	stdout  chan struct{} // closed when the stdout reader has finished
	exited  chan struct{} // closed when the process has been waited for
	waitErr error
	client  *http.Client
}

// StartSim starts `bin sim` for spec, writing into dir, and returns once the
// fleet printed its ready line and stats address. Its stderr and later
// stdout lines go to log. ctx bounds only the start; Stop ends the fleet.
func StartSim(ctx context.Context, bin, dir string, spec FleetSpec, log io.Writer) (*SimProcess, error) {
	inv := filepath.Join(dir, "fleet.yaml")
	cmd := exec.Command(bin, spec.Args(inv)...)
	cmd.Stderr = log
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sim: %w", err)
	}
	p := &SimProcess{Inventory: inv, cmd: cmd, started: time.Now(), stdout: make(chan struct{}), exited: make(chan struct{}),
		client: &http.Client{Timeout: time.Minute}}
	ready := make(chan simReady, 1)
	go p.readStdout(out, log, ready)
	go func() {
		<-p.stdout // Wait closes the pipe: read everything first
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	select {
	case r := <-ready:
		if r.err != nil {
			_ = p.Stop() // it never became ready; its exit status adds nothing
			return nil, r.err
		}
		p.StatsURL = r.statsURL
		if spec.ConnectTimeout > 0 {
			if err := setConnectTimeout(inv, spec.ConnectTimeout); err != nil {
				_ = p.Stop() // the inventory is unusable; that error says why
				return nil, err
			}
		}
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("sim exited before it was ready: %w", p.waitErr)
	case <-ctx.Done():
		_ = p.Stop() // the caller gave up; the context error says why
		return nil, fmt.Errorf("sim did not get ready: %w", ctx.Err())
	}
}

// setConnectTimeout rewrites the inventory file with the connect timeout.
func setConnectTimeout(path string, d time.Duration) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("sim inventory: %w", err)
	}
	out, err := WithConnectTimeout(data, d)
	if err != nil {
		return fmt.Errorf("sim inventory %s: %w", path, err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return fmt.Errorf("sim inventory: %w", err)
	}
	return nil
}

// WithConnectTimeout adds connect_timeout to the defaults of an inventory
// `fleetrun sim` wrote (its first "defaults:" line, two-space keys under
// it). The 10,000-host fleet needs it: at forks 2,000 the fleet's process,
// sharing two cores with the controller, answers the first request of
// 2,000 new connections at once, and with other work on the machine some
// took longer than the default 10 s, which fails the host (and the
// benchmark) though nothing is wrong but the machine's load.
func WithConnectTimeout(inventory []byte, d time.Duration) ([]byte, error) {
	const key = "defaults:\n"
	i := bytes.Index(inventory, []byte(key))
	if i < 0 || (i > 0 && inventory[i-1] != '\n') {
		return nil, errors.New("no defaults section to add connect_timeout to")
	}
	at := i + len(key)
	line := fmt.Sprintf("  connect_timeout: %s\n", d)
	return append(append(append([]byte(nil), inventory[:at]...), line...), inventory[at:]...), nil
}

type simReady struct {
	statsURL string
	err      error
}

// readStdout watches the sim's stdout for its ready line and stats
// address, then keeps draining it into log so the fleet never blocks.
func (p *SimProcess) readStdout(r io.Reader, log io.Writer, ready chan<- simReady) {
	defer close(p.stdout)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sent, isReady, stats := false, false, ""
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(log, line)
		if sent {
			continue
		}
		switch ev := ParseSimLine(line); ev.Kind {
		case SimReady:
			isReady = true
		case SimStats:
			stats = ev.Value
		}
		if isReady && stats != "" {
			ready <- simReady{statsURL: stats}
			sent = true
		}
	}
	if !sent {
		err := sc.Err()
		if err == nil {
			err = errors.New("its output ended without a ready line and a stats address")
		}
		ready <- simReady{err: fmt.Errorf("sim: %w", err)}
	}
}

// SimLineKind says what a line of `fleetrun sim` output announces.
type SimLineKind int

// The lines StartSim waits for.
const (
	SimOther SimLineKind = iota
	SimReady             // "ready: N hosts"; Value is N
	SimStats             // "simulated fleet: stats at URL"; Value is URL
)

// SimLine is one parsed line of the sim's stdout.
type SimLine struct {
	Kind  SimLineKind
	Value string
}

// ParseSimLine recognises the ready line and the stats line of
// `fleetrun sim` (docs/design.md, "Simulated fleet interfaces").
func ParseSimLine(line string) SimLine {
	line = strings.TrimRight(line, "\r\n")
	if rest, ok := strings.CutPrefix(line, "ready: "); ok {
		if n, ok := strings.CutSuffix(rest, " hosts"); ok {
			if _, err := strconv.Atoi(n); err == nil {
				return SimLine{Kind: SimReady, Value: n}
			}
		}
	}
	if rest, ok := strings.CutPrefix(line, "simulated fleet: stats at "); ok {
		if strings.HasPrefix(rest, "http://") && !strings.ContainsAny(rest, " \t") {
			return SimLine{Kind: SimStats, Value: rest}
		}
	}
	return SimLine{}
}

// Snapshot is the fleet's counters at one moment, with the step-run
// totals read whether or not this package's sim.FleetStats knows them.
type Snapshot struct {
	sim.FleetStats
	// StepRuns and RunSteps are the fleet's totals of step_runs (step runs
	// started) and run_steps (steps started inside them); a fleet that
	// does not count them reads 0.
	StepRuns, RunSteps int64
}

// statsDoc is a /stats answer read in one pass: the fleet's counters, its
// totals kept raw to be read twice (as sim.HostStats and for the step-run
// counters). With 10,000 hosts the answer is about 10 MB.
type statsDoc struct {
	sim.FleetStats
	Totals json.RawMessage `json:"totals"`
}

// stepRunTotals are the fields of the totals Snapshot reads on its own.
type stepRunTotals struct {
	StepRuns int64 `json:"step_runs"`
	RunSteps int64 `json:"run_steps"`
}

// DecodeSnapshot reads a /stats answer.
func DecodeSnapshot(data []byte) (*Snapshot, error) {
	var doc statsDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("sim stats: %w", err)
	}
	s := &Snapshot{FleetStats: doc.FleetStats}
	if len(doc.Totals) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(doc.Totals, &s.Totals); err != nil {
		return nil, fmt.Errorf("sim stats: totals: %w", err)
	}
	var runs stepRunTotals
	if err := json.Unmarshal(doc.Totals, &runs); err != nil {
		return nil, fmt.Errorf("sim stats: totals: %w", err)
	}
	s.StepRuns, s.RunSteps = runs.StepRuns, runs.RunSteps
	return s, nil
}

// Stats fetches the fleet's counters.
func (p *SimProcess) Stats(ctx context.Context) (*Snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.StatsURL, nil)
	if err != nil {
		return nil, fmt.Errorf("sim stats: %w", err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sim stats: %w", err)
	}
	defer func() { _ = resp.Body.Close() }() // read whole or failed; the answer is what matters
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sim stats: HTTP status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("sim stats: %w", err)
	}
	return DecodeSnapshot(data)
}

// CPU is the CPU time the sim has used so far (user + system), read from
// /proc; it is what lets a run tell the fleet's CPU from the controller's.
func (p *SimProcess) CPU() (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("sim cpu: %w", err)
	}
	return ParseProcStat(data)
}

// userHZ is the unit of /proc/PID/stat times: USER_HZ, 100 on every Linux
// architecture Go supports.
const userHZ = 100

// ParseProcStat reads utime + stime from a /proc/PID/stat line. The
// command name (field 2) may hold spaces and parentheses, so fields are
// counted after its last ')'.
func ParseProcStat(data []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, errors.New("proc stat: no command name")
	}
	// After ")": state(3) ppid(4) ... utime(14) stime(15).
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks uint64
	for _, s := range f[11:13] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc stat: bad cpu time %q", s)
		}
		if n > maxTicks-ticks {
			return 0, fmt.Errorf("proc stat: cpu time %q out of range", s)
		}
		ticks += n
	}
	return ticksDuration(ticks), nil
}

// maxTicks is the most USER_HZ ticks a time.Duration holds.
const maxTicks = uint64(math.MaxInt64 / int64(time.Second/userHZ))

// ticksDuration converts USER_HZ ticks to a duration, the largest one for
// more ticks than a duration holds (multiplying first would overflow into
// a negative duration).
func ticksDuration(ticks uint64) time.Duration {
	return time.Duration(min(ticks, maxTicks)) * (time.Second / userHZ)
}

// Stop ends the fleet with SIGINT (as Ctrl-C would) and waits for it;
// after a minute it is killed. A non-zero exit status is not an error:
// the fleet's work was measured before.
func (p *SimProcess) Stop() error {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGINT) // it may be exiting already
		select {
		case <-p.exited:
		case <-time.After(time.Minute):
			_ = p.cmd.Process.Kill() // it ignored SIGINT; Wait reports how it ended
			<-p.exited
		}
	}
	var exitErr *exec.ExitError
	if p.waitErr != nil && !errors.As(p.waitErr, &exitErr) {
		return fmt.Errorf("sim: %w", p.waitErr)
	}
	return nil
}
