// Package preflight checks a fleet before a rollout: can each host be
// reached, does its TLS certificate hold, which authentication it offers and
// whether ours works, its WinRM quotas, its operating system, its
// PowerShell (version, bitness, both execution policies), free disk,
// whether the login is a full administrator's and whether the Task
// Scheduler runs —
// and gives every host a verdict against the playbook's requirements, with
// the fix for each failed one.
//
// It talks to hosts through the winrm package; turning results into reports
// is left to the caller.
package preflight

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/winrm"
)

// Requirements are what a host must offer to pass: a playbook's
// `requires:` (zero values require nothing).
type Requirements = playbook.Requires

// Status is a check's outcome.
type Status string

// Check outcomes. A warning does not fail the host.
const (
	Pass    Status = "pass"
	Fail    Status = "fail"
	Warn    Status = "warn"
	Skipped Status = "skipped"
)

// Check names, in the order they run.
const (
	CheckReach      = "reachability"
	CheckTLS        = "tls"
	CheckAuth       = "authentication"
	CheckLimits     = "winrm limits"
	CheckOS         = "operating system"
	CheckPowerShell = "powershell"
	// CheckAdmin: the session's token is a full administrator's.
	CheckAdmin = "admin token"
	// CheckTaskScheduler: the Task Scheduler service runs (steps run as
	// SYSTEM need it).
	CheckTaskScheduler = "task scheduler"
	CheckVerdict       = "requirements"
)

// Check is one check's result on one host.
type Check struct {
	Name     string
	Status   Status
	Detail   string // what was found, in words
	Class    transport.Class
	Fix      string // what to do, when the check failed
	Started  time.Time
	Finished time.Time
}

// Facts are what the checks learned about a host.
type Facts struct {
	AuthOffered  []string
	Encrypted    bool
	Config       *winrm.Config
	ConfigSource string // "ws-transfer" or "winrm get"
	OS           *winrm.OSInfo
	PowerShell   *PSFacts
}

// HostResult is one host's checks and verdict.
type HostResult struct {
	Host   *inventory.Host
	Checks []Check
	Facts  Facts
	// Changes lists what --fix-memory-cap changed on the host.
	Changes []string
}

// Passed reports whether no check failed.
func (r *HostResult) Passed() bool {
	for _, c := range r.Checks {
		if c.Status == Fail {
			return false
		}
	}
	return true
}

// FirstFailure returns the first failed check, or nil.
func (r *HostResult) FirstFailure() *Check {
	for i := range r.Checks {
		if r.Checks[i].Status == Fail {
			return &r.Checks[i]
		}
	}
	return nil
}

// Options configure Run.
type Options struct {
	// Forks bounds how many hosts are checked at once (default 50).
	Forks int
	// Target resolves a host's connection settings and password.
	Target func(ctx context.Context, h *inventory.Host) (transport.Target, error)
	// Requirements are the thresholds of the verdict.
	Requirements Requirements
	// NeedTaskScheduler says the rollout runs steps as SYSTEM (run_as:
	// system), which go through the Task Scheduler: a host whose Schedule
	// service does not run then fails the task scheduler check; otherwise
	// that check only warns. See NeedsTaskScheduler.
	NeedTaskScheduler bool
	// FixMemoryCap, when > 0, raises MaxMemoryPerShellMB to this value on
	// hosts whose finite cap is lower (never lowering one), then checks the
	// host again.
	FixMemoryCap int
	// WinRM tunes the sessions the checks open on WinRM hosts.
	WinRM winrm.Options
	// Dialer reaches the hosts whose inventory transport is not WinRM
	// (SSM), through that transport: their checks run as commands over it
	// and open no WinRM connection. nil fails such hosts' reachability.
	Dialer transport.Dialer
	// ConnectTimeout bounds DNS and TCP connect when the host sets none
	// (default 10s); HostTimeout bounds all checks of one host (default 2m).
	ConnectTimeout time.Duration
	HostTimeout    time.Duration
	// Done, when set, is called as each host finishes (one call at a time).
	Done func(*HostResult)
	// Stop, when closed, stops starting checks of further hosts: hosts
	// being checked finish their checks, the others are not checked (see
	// NotChecked). Cancelling ctx cancels running checks too.
	Stop <-chan struct{}
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// NotChecked is the detail of the failed reachability check of a host
// whose checks never started because the run was stopped.
const NotChecked = "not checked: interrupted"

// Run checks every host, at most Forks at once, and returns the results in
// host order. It returns early only when ctx ends or Stop is closed; hosts
// not checked by then carry a failed reachability check saying so (class
// interrupted, detail NotChecked).
func Run(ctx context.Context, hosts []*inventory.Host, opts Options) []*HostResult {
	if opts.Forks <= 0 {
		opts.Forks = 50
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.HostTimeout <= 0 {
		opts.HostTimeout = 2 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FixMemoryCap > opts.Requirements.MemoryPerShellMB {
		opts.Requirements.MemoryPerShellMB = opts.FixMemoryCap
	}
	results := make([]*HostResult, len(hosts))
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, opts.Forks)
	for i, h := range hosts {
		if !takeSlot(ctx, opts.Stop, slots) {
			results[i] = &HostResult{Host: h, Checks: []Check{{Name: CheckReach, Status: Fail, Class: transport.ClassInterrupted, Detail: NotChecked}}}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			c := &checker{opts: opts, host: h, res: &HostResult{Host: h}}
			c.run(ctx)
			results[i] = c.res
			if opts.Done != nil {
				mu.Lock()
				opts.Done(c.res)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return results
}

// takeSlot waits for one of the Forks slots; false when ctx ends or stop
// is closed first (stopping wins over a free slot).
func takeSlot(ctx context.Context, stop <-chan struct{}, slots chan struct{}) bool {
	if ctx.Err() != nil || closed(stop) {
		return false
	}
	select {
	case slots <- struct{}{}:
		return true
	case <-stop:
		return false
	case <-ctx.Done():
		return false
	}
}

func closed(c <-chan struct{}) bool {
	if c == nil {
		return false
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// checker runs the checks of one host.
type checker struct {
	opts Options
	host *inventory.Host
	res  *HostResult
}

func (c *checker) add(ch Check) {
	c.res.Checks = append(c.res.Checks, ch)
}

// step runs f as the named check, timing it.
func (c *checker) step(name string, f func() Check) Check {
	start := c.opts.Now()
	ch := f()
	ch.Name, ch.Started, ch.Finished = name, start, c.opts.Now()
	c.add(ch)
	return ch
}

// skipFrom marks the remaining checks skipped after a failure that makes
// them impossible.
func (c *checker) skipFrom(names []string, why string) {
	for _, n := range names {
		now := c.opts.Now()
		c.add(Check{Name: n, Status: Skipped, Detail: why, Started: now, Finished: now})
	}
}

func (c *checker) run(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.HostTimeout)
	defer cancel()
	h := c.host
	rest := []string{CheckTLS, CheckAuth, CheckLimits, CheckOS, CheckPowerShell, CheckAdmin, CheckTaskScheduler, CheckVerdict}
	if h.Unusable != "" {
		c.step(CheckReach, func() Check { return Check{Status: Fail, Class: transport.ClassDNS, Detail: h.Unusable} })
		c.skipFrom(rest, "host not reachable")
		return
	}
	if c.viaAgent() {
		c.runViaAgent(ctx, rest)
		return
	}
	timeout := h.ConnectTimeout
	if timeout <= 0 {
		timeout = c.opts.ConnectTimeout
	}
	var conn net.Conn
	reached := c.step(CheckReach, func() Check {
		var detail string
		var err *transport.Error
		conn, detail, err = reach(ctx, h.Address, h.Port, timeout)
		if err != nil {
			return Check{Status: Fail, Class: err.Class, Detail: err.Message, Fix: err.Hint}
		}
		return Check{Status: Pass, Detail: detail}
	})
	if reached.Status == Fail {
		c.skipFrom(rest, "host not reachable")
		return
	}
	tlsCheck := c.step(CheckTLS, func() Check {
		if !h.HTTPS {
			return Check{Status: Skipped, Detail: "plain HTTP (NTLM message encryption protects the traffic)"}
		}
		detail, err := checkTLS(ctx, conn, h.Address, h.CAFile, h.InsecureSkipVerify)
		if err != nil {
			return Check{Status: Fail, Class: transport.ClassTLS, Detail: err.Error(), Fix: "fix the listener's certificate, or the inventory's address or ca_file"}
		}
		return Check{Status: Pass, Detail: detail}
	})
	_ = conn.Close() // a probe connection; the session opens its own
	if tlsCheck.Status == Fail {
		c.skipFrom(rest[1:], "TLS failed")
		return
	}
	sess := c.authenticate(ctx)
	if sess == nil {
		c.skipFrom(rest[2:], "authentication failed")
		return
	}
	defer func() { c.closeSession(ctx, sess) }()
	c.limits(ctx, sess)
	c.osCheck(ctx, sess)
	c.powershell(ctx, sess)
	c.adminToken()
	c.taskScheduler()
	if c.opts.FixMemoryCap > 0 {
		if fixed := c.fixMemoryCap(ctx, sess); fixed != nil {
			c.closeSession(ctx, sess)
			sess = fixed
		}
	}
	c.verdict()
}

func (c *checker) closeSession(ctx context.Context, s transport.Session) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = s.Close(cctx) // checks are done; a failed close leaves a shell to the host's idle timeout
}

// NeedsTaskScheduler reports whether a playbook runs any step as SYSTEM
// (run_as: system), which over WinRM is a one-shot scheduled task.
func NeedsTaskScheduler(pb *playbook.Playbook) bool {
	if pb == nil {
		return false
	}
	for _, st := range pb.Steps {
		if st.RunAs == playbook.RunAsSystem {
			return true
		}
	}
	return false
}
