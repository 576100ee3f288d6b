// Package runner executes a playbook across a fleet: rolling batches, a
// bounded pool of hosts in flight, a failure budget that is never overshot,
// per-step retries and timeouts, and a two-stage stop. It emits events and
// returns a result for every selected host.
//
// It knows nothing about WinRM or SOAP (sessions come from a
// transport.Dialer) and nothing about report formats (sinks receive events).
package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/transport"
)

// Options configure a run. Dialer and Target are required.
type Options struct {
	// Forks overrides the playbook's forks when > 0.
	Forks int
	// Dialer opens a session per host.
	Dialer transport.Dialer
	// Target resolves a host's connection settings, including its password.
	// It is called in the host's own work, just before the host is dialled,
	// with the host's context (so at most forks at once, and cancelling the
	// run cancels it); an error fails that host alone (class auth, unless
	// the error carries a class).
	Target func(ctx context.Context, h *inventory.Host) (transport.Target, error)
	// Extra are the -e variables.
	Extra map[string]string
	// Sinks receive events, in order, one at a time.
	Sinks []Sink
	// Output, when set, receives each step's full raw output.
	Output OutputSink
	// RunTimeout and HostTimeout bound the whole run and each host; zero
	// means no bound beyond the step timeouts.
	RunTimeout  time.Duration
	HostTimeout time.Duration
	// CloseTimeout bounds closing a session after its host finished or was
	// cancelled (default 15s).
	CloseTimeout time.Duration
	// Stop, when closed, stops the run gracefully: no new host starts and
	// running hosts finish their steps (the first Ctrl-C). Cancelling the
	// context passed to Run cancels running steps too (the second Ctrl-C).
	Stop <-chan struct{}
	// Now and After are the clock; nil means the real one.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// MaxRetryDelay caps the exponential retry backoff (default 5m).
	MaxRetryDelay time.Duration
	// Resume, when set, skips what a journal says is done.
	Resume *Resume
	// Skip names hosts the run must not contact (by host name), each with
	// the reason its report gives (pre-flight checks that failed, a run
	// stopped before it started); they are reported skipped, as hosts the
	// inventory marks unusable are. Their targets are not resolved.
	Skip map[string]string
	// MaxCopyFiles and MaxCopyBytes bound one copy source (a folder's
	// file count, a source's total size); zero means DefaultMaxCopyFiles
	// and DefaultMaxCopyBytes.
	MaxCopyFiles int
	MaxCopyBytes int64
	// Sources, when set, are the copy sources already opened for this
	// playbook and these hosts (OpenSources); Run uses them and leaves
	// closing them to the caller.
	Sources *Sources
	// NoStepRuns sends every step alone, even where the host's session
	// could run consecutive steps in one launch (transport.StepRunner).
	NoStepRuns bool
}

// skipReason is why host h is not contacted, or "".
func (o *Options) skipReason(h *inventory.Host) string {
	if h.Unusable != "" {
		return h.Unusable
	}
	return o.Skip[h.Name]
}

// Reasons hosts and steps are skipped, as reports show them.
const (
	ReasonEarlierStepFailed = "an earlier step failed"
	ReasonInterrupted       = "the run was interrupted before this host started"
	ReasonRunTimeout        = "the run's --timeout passed before this host started"
)

type run struct {
	pb     *playbook.Playbook
	opts   Options
	hosts  []*inventory.Host
	steps  [][]*playbook.Expanded
	res    *Result
	budget int
	// sources are the copy steps' files, open for the run; copies are
	// the copy steps' specs per host, indexed like steps.
	sources *sources
	copies  [][]*transport.CopySpec

	emitMu sync.Mutex
	// closing counts sessions of finished hosts still being closed.
	closing sync.WaitGroup
}

// Run executes pb on hosts and returns a result for every host, in the
// order given. A non-nil error means the run could not start (bad input:
// templates, targets); failed hosts are results, not errors.
func Run(ctx context.Context, pb *playbook.Playbook, hosts []*inventory.Host, opts Options) (*Result, error) {
	if opts.Dialer == nil || opts.Target == nil {
		return nil, errors.New("runner: Options.Dialer and Options.Target are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	if opts.CloseTimeout <= 0 {
		opts.CloseTimeout = 15 * time.Second
	}
	if opts.MaxRetryDelay <= 0 {
		opts.MaxRetryDelay = 5 * time.Minute
	}
	forks := pb.Forks
	if opts.Forks > 0 {
		forks = opts.Forks
	}
	if forks <= 0 {
		forks = playbook.DefaultForks
	}
	r := &run{pb: pb, opts: opts, hosts: hosts, budget: Budget(pb.MaxFail, len(hosts))}
	if err := pb.Check(hostDatas(hosts), opts.Extra); err != nil {
		return nil, err
	}
	for _, h := range hosts {
		steps, err := pb.Expand(HostData(h), opts.Extra)
		if err != nil {
			return nil, err
		}
		r.steps = append(r.steps, steps)
	}
	// Every copy source is read and hashed before any host starts, once,
	// and stays open until every host is done with it.
	if opts.Sources != nil {
		r.sources = opts.Sources.s
	} else {
		r.sources = newSources(pb, opts.MaxCopyFiles, opts.MaxCopyBytes)
		defer func() { _ = r.sources.Close() }() // read-only files: closing them cannot lose anything
	}
	if err := r.prepareCopies(); err != nil {
		return nil, err
	}
	batches := Batches(len(hosts), pb.Serial)
	r.res = &Result{Playbook: pb.Name, Forks: forks, MaxFail: r.budget, Started: opts.Now(), Concurrency: ConcurrencyOf(forks, batches, r.budget)}
	if len(hosts) > 0 {
		r.res.Batches = batches[len(batches)-1] + 1
	}
	for i, h := range hosts {
		r.res.Hosts = append(r.res.Hosts, &HostResult{Name: h.Name, Address: h.Address, Batch: batches[i], Transport: h.Transport, Simulated: h.Simulated})
	}
	r.emit(Event{Kind: RunStarted, Hosts: len(hosts), Batches: r.res.Batches, Concurrency: r.res.Concurrency, MaxFail: r.budget})

	runCtx := ctx
	if opts.RunTimeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, opts.RunTimeout)
		defer cancel()
	}
	r.schedule(runCtx, ctx, forks, batches)

	r.res.Finished = opts.Now()
	switch {
	case r.res.StopReason != "":
		r.res.Status = StatusAborted
	case r.anyFailed():
		r.res.Status = StatusFailed
	default:
		r.res.Status = StatusOK
	}
	r.emit(Event{Kind: RunFinished, Result: r.res})
	return r.res, nil
}

func (r *run) anyFailed() bool {
	for _, h := range r.res.Hosts {
		if h.Status == StatusFailed || h.Status == StatusUnreachable {
			return true
		}
	}
	return false
}

// schedule starts hosts batch by batch. A host starts only when the pool
// has room (forks) and when, even if it and every host in flight failed, the
// failures would not go past the first failure that exceeds the budget
// (failures + in flight ≤ budget). So with max_fail B the run stops at
// exactly B+1 failed hosts, never more.
func (r *run) schedule(runCtx, parent context.Context, forks int, batches []int) {
	finished := make(chan bool, len(r.hosts)) // true = host failed
	inflight, failures := 0, 0
	stopped := false
	record := func(failed bool) {
		inflight--
		if failed {
			failures++
		}
	}
	hostReason := "" // why hosts that never started are skipped
	stop := func(reason, forHosts string) {
		if stopped {
			return
		}
		stopped = true
		r.res.StopReason, hostReason = reason, forHosts
		r.emit(Event{Kind: Stopping, Reason: reason})
	}
	check := func() {
		switch {
		case r.budget >= 0 && failures > r.budget:
			reason := fmt.Sprintf("failure budget spent: %d host(s) failed, max_fail allows %d", failures, r.budget)
			stop(reason, "not started: "+reason)
		case parent.Err() != nil || isClosed(r.opts.Stop):
			stop("interrupted", ReasonInterrupted)
		case runCtx.Err() != nil:
			stop(fmt.Sprintf("the run's --timeout of %s passed", r.opts.RunTimeout), ReasonRunTimeout)
		}
	}
	// Hosts run on workers that each take host after host: a worker's
	// stack, grown by its first host's connection (TLS or NTLM, HTTP, XML),
	// is kept for the next instead of being grown again on a new goroutine.
	// A worker is started when a host is handed out and none is free, so
	// there are never more than forks (the scheduler hands out a host only
	// when fewer than forks are in flight), nor more than hosts.
	var g errgroup.Group
	work := make(chan int)
	closeWork := sync.OnceFunc(func() { close(work) })
	workers := 0
	start := func(idx int) {
		select {
		case work <- idx:
			return
		default:
		}
		if workers == forks {
			work <- idx // every worker is busy or about to take it
			return
		}
		workers++
		g.Go(func() error {
			for {
				finished <- r.runHost(runCtx, idx)
				var ok bool
				if idx, ok = <-work; !ok {
					if workerExited != nil {
						workerExited()
					}
					return nil
				}
			}
		})
	}
	i := 0
	for i < len(r.hosts) && !stopped {
		batch := batches[i]
		size := 0
		for j := i; j < len(r.hosts) && batches[j] == batch; j++ {
			size++
		}
		r.emit(Event{Kind: BatchStarted, Batch: batch, Hosts: size})
		for ; i < len(r.hosts) && batches[i] == batch; i++ {
			h := r.res.Hosts[i]
			if why := r.opts.skipReason(r.hosts[i]); why != "" {
				r.skipHost(h, why)
				continue
			}
			if _, done := r.opts.Resume.firstStep(h.Name, len(r.steps[i])); done {
				r.doneEarlier(h, i, len(r.steps[i]))
				r.emit(Event{Kind: HostFinished, Host: h, Batch: h.Batch})
				continue
			}
			for {
				check()
				if stopped || (inflight < forks && (r.budget < 0 || failures+inflight <= r.budget)) {
					break
				}
				select {
				case f := <-finished:
					record(f)
				case <-r.opts.Stop:
				case <-runCtx.Done():
				}
			}
			if stopped {
				break
			}
			inflight++
			start(i)
		}
		if i == len(r.hosts) {
			// Every host has been handed out: a worker whose host
			// finishes now exits, its stack freed, instead of holding it
			// until the last host of the run finishes (with every host in
			// flight at once, that was a grown stack per host kept to
			// the end).
			closeWork()
		}
		// A batch starts only when the previous one has finished, its
		// hosts' shells closed.
		for inflight > 0 {
			record(<-finished)
		}
		r.closing.Wait()
		check()
	}
	closeWork()
	_ = g.Wait() // workers return nil; results travel through finished
	r.closing.Wait()
	for ; i < len(r.hosts); i++ {
		if r.res.Hosts[i].Status == "" {
			r.skipHost(r.res.Hosts[i], hostReason)
		}
	}
}

// workerExited, when set (by tests), runs as a worker exits.
var workerExited func()

func isClosed(c <-chan struct{}) bool {
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

func (r *run) skipHost(h *HostResult, reason string) {
	h.Status, h.Reason = StatusSkipped, reason
	for _, e := range r.steps[indexOf(r.res.Hosts, h)] {
		h.Steps = append(h.Steps, &StepResult{Index: e.Step.Index, Name: e.Step.Name, Kind: e.Step.Kind, Status: StatusSkipped, Expected: e.Step.ExpectExit, Reason: reason})
	}
	r.emit(Event{Kind: HostFinished, Host: h, Batch: h.Batch})
}

// doneEarlier reports steps [0, upto) of host i as done by an earlier run.
func (r *run) doneEarlier(h *HostResult, i, upto int) {
	if upto == len(r.steps[i]) {
		h.Status, h.Reason = StatusOK, ReasonDoneEarlier
	}
	for _, e := range r.steps[i][:upto] {
		end := r.opts.Resume.result(h.Name, e.Step.Index)
		status := StatusOK
		if end.Unchanged {
			status = StatusUnchanged
		}
		h.Steps = append(h.Steps, &StepResult{Index: e.Step.Index, Name: e.Step.Name, Kind: e.Step.Kind, Status: status, Expected: e.Step.ExpectExit,
			Reason: ReasonDoneEarlier, ExitCode: end.ExitCode, Outcome: end.Outcome, RunAs: e.Step.RunAs})
	}
}

func indexOf(hs []*HostResult, h *HostResult) int {
	for i, x := range hs {
		if x == h {
			return i
		}
	}
	return -1
}

// emit delivers an event to every sink, one event at a time, with deep
// copies so sinks may keep what they receive.
func (r *run) emit(e Event) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	if e.Time.IsZero() {
		e.Time = r.opts.Now()
	}
	if e.Host != nil {
		e.Host = e.Host.clone()
	}
	if e.Step != nil {
		s := *e.Step
		e.Step = &s
	}
	for _, s := range r.opts.Sinks {
		s.Event(e)
	}
}

func (h *HostResult) clone() *HostResult {
	c := *h
	c.Steps = make([]*StepResult, len(h.Steps))
	for i, s := range h.Steps {
		sc := *s
		c.Steps[i] = &sc
	}
	return &c
}
