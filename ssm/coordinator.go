package ssm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	"golang.org/x/text/encoding"

	"github.com/fleetrun/fleetrun/transport"
)

// coordinator is the shared engine of one region's sessions: it groups the
// commands sessions hand it into SendCommand batches, watches each command
// until every host it waits for has finished, and cancels commands whose
// sessions gave up. Every goroutine it starts is counted in wg and ends
// when its work is done or the coordinator closes.
type coordinator struct {
	opts   Options
	region string
	api    *ssm.Client
	s3     *s3.Client
	xfer   *transfers
	sem    chan struct{} // bounds API calls in flight
	stats  *counters
	// run is unique to the coordinator (12 hex digits): commands' Comments
	// carry it, and token ("fleetrun-" + run) names reboot scripts.
	run, token string
	// sendOptions are SendCommand's client options (its retry rule and
	// answer timeout), answerOptions ListCommands' (the answer timeout).
	sendOptions, answerOptions func(*ssm.Options)

	ctx    context.Context // ends at close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	sent    int64 // commands given a Comment
	batches map[batchKey]*batch
	cancels map[string]*cancelBatch // by command id

	// Managed instances, listed once (listing is closed when done).
	listing chan struct{}
	listErr error
	info    map[string]*types.InstanceInformation // nil value: looked up, not managed
}

func newCoordinator(opts Options, region string, api *ssm.Client, s3c *s3.Client, stats *counters) *coordinator {
	ctx, cancel := context.WithCancel(context.Background())
	run := newRunID()
	retryer := sendRetryer(&opts)
	timeout := answerTimeout(opts.AnswerTimeout)
	return &coordinator{
		opts: opts, region: region, api: api, s3: s3c, xfer: newTransfers(s3c, stats.add), stats: stats, run: run, token: "fleetrun-" + run,
		sendOptions: func(o *ssm.Options) {
			o.Retryer = retryer
			o.APIOptions = append(o.APIOptions, timeout)
		},
		answerOptions: func(o *ssm.Options) { o.APIOptions = append(o.APIOptions, timeout) },
		sem:           make(chan struct{}, opts.Concurrency), ctx: ctx, cancel: cancel,
		batches: map[batchKey]*batch{}, cancels: map[string]*cancelBatch{},
		info: map[string]*types.InstanceInformation{},
	}
}

// batchKey says which steps can share a SendCommand.
type batchKey struct {
	name     string // the step's, for the Comment
	text     string
	document string
	bucket   string
	prefix   string
	timeout  int // executionTimeout, seconds
}

// batch is a SendCommand being gathered.
type batch struct {
	key     batchKey
	waiters []*waiter
	timer   *time.Timer
}

// waiterState is where a host's step is in the coordinator.
type waiterState int

const (
	queued    waiterState = iota // in a batch, not sent
	sending                      // its SendCommand is in flight
	sent                         // part of a command that is watched
	finishing                    // its invocation ended; output being read
	abandoned                    // its session gave up
)

// waiter is one host's step waiting for its outcome.
type waiter struct {
	instance string
	name     string
	enc      encoding.Encoding // the host's code page
	stepEnc  encoding.Encoding // the step's own encoding; nil means auto
	done     chan outcome      // buffered; receives exactly one outcome

	// Guarded by the coordinator's mu.
	state waiterState
	batch *batch
	// stopped, for a step abandoned while its SendCommand was in flight,
	// is closed once its cancellation was sent (or nothing had started).
	stopped chan struct{}
	cmd     *command
}

// outcome is how a step ended: a result or an error.
type outcome struct {
	res transport.Result
	err error
	// stdout and stderr are the bytes for the step's writers.
	stdout, stderr []byte
}

// command is a sent SendCommand and the hosts still waiting for it.
type command struct {
	id      string
	key     batchKey
	waiters map[string]*waiter // guarded by the coordinator's mu
}

// cancelBatch gathers the instances of one command to cancel.
type cancelBatch struct {
	instances []string
	done      chan struct{}   // closed once CancelCommand returned
	notify    []chan struct{} // closed with done
	timer     *time.Timer
}

// closedChan is a channel that is already closed.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// submit hands a step to the coordinator; the waiter's done channel
// receives its outcome.
func (c *coordinator) submit(hc hostConfig, enc, stepEnc encoding.Encoding, step, text string, timeout int) *waiter {
	w := &waiter{instance: hc.instance, name: hc.name, enc: enc, stepEnc: stepEnc, done: make(chan outcome, 1)}
	key := batchKey{name: step, text: text, document: hc.document, bucket: hc.bucket, prefix: hc.prefix, timeout: timeout}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		w.done <- outcome{err: errClosed(hc.name)}
		return w
	}
	b := c.batches[key]
	if b == nil {
		b = &batch{key: key}
		c.batches[key] = b
		b.timer = time.AfterFunc(c.opts.BatchWindow, func() { c.flush(b) })
	}
	w.state, w.batch = queued, b
	b.waiters = append(b.waiters, w)
	if len(b.waiters) >= c.opts.MaxBatch {
		b.timer.Stop()
		c.sendLocked(b)
	}
	return w
}

func errClosed(name string) error {
	return &transport.Error{Class: transport.ClassInterrupted, Message: name + ": the SSM dialer was closed"}
}

// flush sends a batch whose window has passed.
func (c *coordinator) flush(b *batch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.batches[b.key] == b && !c.closed {
		c.sendLocked(b)
	}
}

// sendLocked takes b out of the gathering batches and sends it in a
// goroutine; c.mu is held.
func (c *coordinator) sendLocked(b *batch) {
	if c.batches[b.key] == b {
		delete(c.batches, b.key)
	}
	if len(b.waiters) == 0 {
		return
	}
	for _, w := range b.waiters {
		w.state, w.batch = sending, nil
	}
	c.sent++
	comment := c.comment(b.key.name, c.sent)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.send(b.key, comment, b.waiters)
	}()
}

// send runs one SendCommand (see sendCommand: it is sent once) and starts
// watching the command.
func (c *coordinator) send(key batchKey, comment string, waiters []*waiter) {
	ids := make([]string, len(waiters))
	for i, w := range waiters {
		ids[i] = w.instance
	}
	in := &ssm.SendCommandInput{
		DocumentName: aws.String(key.document),
		InstanceIds:  ids,
		Parameters: map[string][]string{
			"commands":         {key.text},
			"executionTimeout": {strconv.Itoa(key.timeout)},
		},
		TimeoutSeconds: aws.Int32(int32(c.opts.DeliveryTimeout / time.Second)),
		Comment:        aws.String(comment),
	}
	if key.bucket != "" {
		in.OutputS3BucketName = aws.String(key.bucket)
		in.OutputS3Region = aws.String(c.region)
		if key.prefix != "" {
			in.OutputS3KeyPrefix = aws.String(key.prefix)
		}
	}
	id, err := c.sendCommand(in, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return slices.ContainsFunc(waiters, func(w *waiter) bool { return w.state == sending })
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		// The call failed as a whole: nothing started for the steps
		// abandoned meanwhile (or nothing fleetrun can name: see
		// sendError).
		for _, w := range waiters {
			if w.stopped != nil {
				close(w.stopped)
				w.stopped = nil
			}
		}
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "InvalidInstanceId" && len(waiters) > 1 && !c.closed {
			// One instance the batch names is not in a valid state, which
			// fails the whole call: send each host on its own, so only
			// that host fails.
			for _, w := range waiters {
				if w.state == sending {
					c.sendLocked(&batch{key: key, waiters: []*waiter{w}})
				}
			}
			return
		}
		for _, w := range waiters {
			if w.state == sending {
				w.state = abandoned
				w.done <- outcome{err: c.sendError(w.name, err)}
			}
		}
		return
	}
	cmd := &command{id: id, key: key, waiters: map[string]*waiter{}}
	c.stats.add(func(s *Stats) { s.Commands++; s.Invocations += int64(len(waiters)) })
	for _, w := range waiters {
		if w.state == abandoned {
			// Its session gave up while the command was being sent.
			c.cancelLocked(cmd.id, w.instance, w.stopped)
			w.stopped = nil
			continue
		}
		w.state, w.cmd = sent, cmd
		cmd.waiters[w.instance] = w
	}
	if len(cmd.waiters) > 0 && !c.closed {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.watch(cmd)
		}()
	}
}

// maxPollFailures is how many polls of a command in a row may fail
// (other than by throttling) before its hosts get the error.
const maxPollFailures = 5

// watch polls a command until no host waits for it: the first poll after
// PollInterval, the next ones sooner when invocations finish and later
// (by half, up to MaxPollInterval) when nothing changed or AWS throttled.
func (c *coordinator) watch(cmd *command) {
	interval := c.opts.PollInterval
	failures := 0
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-c.ctx.Done():
			c.failWaiters(cmd, func(w *waiter) error { return errClosed(w.name) })
			return
		}
		c.mu.Lock()
		left := len(cmd.waiters)
		c.mu.Unlock()
		if left == 0 {
			return
		}
		invs, err := c.listInvocations(cmd.id)
		switch {
		case err != nil && isThrottling(err):
			interval = min(2*interval, c.opts.MaxPollInterval)
		case err != nil:
			failures++
			if failures >= maxPollFailures || c.ctx.Err() != nil {
				c.failWaiters(cmd, func(w *waiter) error { return c.apiError(c.ctx, w.name, "ListCommandInvocations", err) })
				return
			}
			interval = min(2*interval, c.opts.MaxPollInterval)
		default:
			failures = 0
			if c.finished(cmd, invs) > 0 {
				interval = c.opts.PollInterval
			} else {
				interval = min(interval+interval/2, c.opts.MaxPollInterval)
			}
		}
		timer.Reset(interval)
	}
}

// failWaiters ends every host still waiting for cmd with an error.
func (c *coordinator) failWaiters(cmd *command, errFor func(*waiter) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, w := range cmd.waiters {
		delete(cmd.waiters, id)
		w.state = abandoned
		w.done <- outcome{err: errFor(w)}
	}
}

// listInvocations lists every invocation of a command with its plugin
// details, page by page.
func (c *coordinator) listInvocations(commandID string) ([]types.CommandInvocation, error) {
	var all []types.CommandInvocation
	in := &ssm.ListCommandInvocationsInput{CommandId: aws.String(commandID), Details: true, MaxResults: aws.Int32(50)}
	for {
		var out *ssm.ListCommandInvocationsOutput
		err := c.call(c.ctx, "ListCommandInvocations", func(ctx context.Context) (err error) {
			out, err = c.api.ListCommandInvocations(ctx, in)
			return err
		})
		if err != nil {
			return nil, err
		}
		all = append(all, out.CommandInvocations...)
		if aws.ToString(out.NextToken) == "" {
			return all, nil
		}
		in.NextToken = out.NextToken
	}
}

// finished hands every invocation that reached a terminal status to its
// waiter (reading its output in a goroutine of its own) and returns how
// many it found.
func (c *coordinator) finished(cmd *command, invs []types.CommandInvocation) int {
	n := 0
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, inv := range invs {
		if !terminal(inv.Status) {
			continue
		}
		w := cmd.waiters[aws.ToString(inv.InstanceId)]
		if w == nil {
			continue
		}
		delete(cmd.waiters, w.instance)
		w.state = finishing
		n++
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			w.done <- c.outcome(cmd, w, inv)
		}()
	}
	return n
}

// terminal reports whether an invocation status is final.
func terminal(s types.CommandInvocationStatus) bool {
	switch s {
	case types.CommandInvocationStatusSuccess, types.CommandInvocationStatusFailed,
		types.CommandInvocationStatusTimedOut, types.CommandInvocationStatusCancelled:
		return true
	}
	return false
}

// abandon withdraws a step whose session's context ended. It returns a
// channel closed once whatever runs on the host has been asked to stop
// (at once when nothing was sent yet).
func (c *coordinator) abandon(w *waiter) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.add(func(s *Stats) { s.Abandoned++ })
	switch w.state {
	case queued:
		b := w.batch
		b.waiters = slices.DeleteFunc(b.waiters, func(o *waiter) bool { return o == w })
		if len(b.waiters) == 0 && c.batches[b.key] == b {
			b.timer.Stop()
			delete(c.batches, b.key)
		}
	case sending:
		// send asks for the cancellation once the command has an id.
		w.state = abandoned
		w.stopped = make(chan struct{})
		return w.stopped
	case sent:
		delete(w.cmd.waiters, w.instance)
		w.state = abandoned
		return c.cancelLocked(w.cmd.id, w.instance, nil)
	}
	w.state = abandoned
	return closedChan
}

// cancelLocked adds an instance to the command's pending CancelCommand and
// returns the channel closed once it was sent; notify, unless nil, is
// closed then too. c.mu is held.
func (c *coordinator) cancelLocked(commandID, instance string, notify chan struct{}) <-chan struct{} {
	if c.closed {
		if notify != nil {
			close(notify)
		}
		return closedChan
	}
	cb := c.cancels[commandID]
	if cb == nil {
		cb = &cancelBatch{done: make(chan struct{})}
		c.cancels[commandID] = cb
		// Hosts of one command are usually cancelled together (a run
		// interrupted, a shared step timeout): wait a moment to send one
		// call for them all.
		cb.timer = time.AfterFunc(min(c.opts.BatchWindow, 50*time.Millisecond), func() { c.timedCancel(commandID, cb) })
	}
	cb.instances = append(cb.instances, instance)
	if notify != nil {
		cb.notify = append(cb.notify, notify)
	}
	return cb.done
}

// timedCancel sends a gathered CancelCommand when its window has passed
// (unless close took it over).
func (c *coordinator) timedCancel(commandID string, cb *cancelBatch) {
	c.mu.Lock()
	if c.cancels[commandID] != cb {
		c.mu.Unlock()
		return
	}
	delete(c.cancels, commandID)
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()
	c.sendCancel(commandID, cb)
}

// sendCancel sends a CancelCommand, bounded by CleanupTimeout (it runs
// after the steps' contexts ended, and during close), and closes cb.done.
func (c *coordinator) sendCancel(commandID string, cb *cancelBatch) {
	defer func() {
		close(cb.done)
		for _, n := range cb.notify {
			close(n)
		}
	}()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), c.opts.CleanupTimeout)
	defer cancel()
	for chunk := range slices.Chunk(cb.instances, MaxInstancesPerCommand) {
		// Best effort: the step has already failed with its own error, and
		// a command that cannot be cancelled ends at its executionTimeout.
		_ = c.call(ctx, "CancelCommand", func(ctx context.Context) error {
			_, err := c.api.CancelCommand(ctx, &ssm.CancelCommandInput{CommandId: aws.String(commandID), InstanceIds: chunk})
			return err
		})
	}
}

// call runs one API call within the concurrency bound. A call AWS still
// throttles after the SDK's retries is tried again, after a pause that
// doubles from PollInterval up to MaxPollInterval, until ctx or the
// coordinator ends: throttling says "slower", not "never". (Every attempt
// is counted by the clients' middleware.)
func (c *coordinator) call(ctx context.Context, action string, f func(context.Context) error) error {
	pause := c.opts.PollInterval
	for {
		err := c.callOnce(ctx, f)
		if !isThrottling(err) {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		case <-c.ctx.Done():
			t.Stop()
			return err
		}
		pause = min(2*pause, c.opts.MaxPollInterval)
	}
}

func (c *coordinator) callOnce(ctx context.Context, f func(context.Context) error) error {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.sem }()
	return f(ctx)
}

// isThrottling reports whether AWS asked the caller to slow down.
func isThrottling(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "RateExceeded":
		return true
	}
	return false
}

// instance returns the instance's SSM information, nil when it is not a
// managed instance. The region's managed instances are listed once, on the
// first call, and shared; an instance missing from that listing is looked
// up on its own (it may have registered since).
func (c *coordinator) instance(ctx context.Context, id string) (*types.InstanceInformation, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errors.New("the SSM dialer is closed")
	}
	if c.listing == nil {
		c.listing = make(chan struct{})
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.listAll()
		}()
	}
	ch := c.listing
	c.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	if err := c.listErr; err != nil {
		// Let the next Dial list again.
		c.listing, c.listErr = nil, nil
		c.mu.Unlock()
		return nil, err
	}
	info, known := c.info[id]
	c.mu.Unlock()
	if known {
		return info, nil
	}
	var out *ssm.DescribeInstanceInformationOutput
	err := c.call(ctx, "DescribeInstanceInformation", func(ctx context.Context) (err error) {
		out, err = c.api.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{
			Filters: []types.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: []string{id}}},
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.info[id] = nil
	for i := range out.InstanceInformationList {
		if aws.ToString(out.InstanceInformationList[i].InstanceId) == id {
			c.info[id] = &out.InstanceInformationList[i]
		}
	}
	return c.info[id], nil
}

// listAll lists the region's managed instances, page by page.
func (c *coordinator) listAll() {
	in := &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(50)}
	found := map[string]*types.InstanceInformation{}
	var err error
	for {
		var out *ssm.DescribeInstanceInformationOutput
		err = c.call(c.ctx, "DescribeInstanceInformation", func(ctx context.Context) (err error) {
			out, err = c.api.DescribeInstanceInformation(ctx, in)
			return err
		})
		if err != nil {
			break
		}
		for i := range out.InstanceInformationList {
			found[aws.ToString(out.InstanceInformationList[i].InstanceId)] = &out.InstanceInformationList[i]
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.listErr = err
	} else {
		for id, info := range found {
			c.info[id] = info
		}
	}
	close(c.listing)
}

// close stops the coordinator and waits for its goroutines.
func (c *coordinator) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	for k, b := range c.batches {
		b.timer.Stop()
		for _, w := range b.waiters {
			w.state = abandoned
			w.done <- outcome{err: errClosed(w.name)}
		}
		delete(c.batches, k)
	}
	pending := c.cancels
	c.cancels = map[string]*cancelBatch{}
	c.mu.Unlock()
	// Cancellations already asked for are still sent, under their own
	// deadline, before the coordinator's context ends.
	for id, cb := range pending {
		cb.timer.Stop()
		c.sendCancel(id, cb)
	}
	c.cancel()
	c.wg.Wait()
}

// sendError classifies a failed SendCommand for a host. One whose command
// may exist (its answer lost, the lookup failed) is not transient: the
// runner must not try the step again on its own.
func (c *coordinator) sendError(host string, err error) *transport.Error {
	var u *unresolvedSend
	if !errors.As(err, &u) || c.ctx.Err() != nil {
		return c.apiError(c.ctx, host, "SendCommand", err)
	}
	return &transport.Error{Class: transport.ClassInternal, Err: err,
		Message: fmt.Sprintf("%s: SSM in %s: %v; the step may be running", host, c.region, err),
		Hint:    fmt.Sprintf("look for the command with comment %q in Run Command's history before running the step again; ListCommands needs the IAM permission ssm:ListCommands", u.comment)}
}

// apiError classifies a failed AWS call for a host.
func (c *coordinator) apiError(ctx context.Context, host, op string, err error) *transport.Error {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if errors.Is(err, context.DeadlineExceeded) {
			return &transport.Error{Class: transport.ClassTimeout, Err: err, Message: fmt.Sprintf("%s: %s did not finish in time", host, op)}
		}
		return &transport.Error{Class: transport.ClassInterrupted, Err: err, Message: fmt.Sprintf("%s: %s was interrupted", host, op)}
	}
	msg := fmt.Sprintf("%s: SSM %s in %s failed: %v", host, op, c.region, err)
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException", "InvalidClientTokenId":
			return &transport.Error{Class: transport.ClassAuth, Err: err, Message: msg,
				Hint: fmt.Sprintf("the credentials need the IAM permission ssm:%s (see the README's SSM section), and AWS must accept them", op)}
		case "InvalidInstanceId":
			return &transport.Error{Class: transport.ClassRefused, Err: err, Message: msg,
				Hint: "the instance is not managed by SSM in this region, not running, or its agent is not registered"}
		}
		if isThrottling(err) {
			return &transport.Error{Class: transport.ClassInternal, Transient: true, Err: err, Message: msg,
				Hint: "AWS throttled the SSM API beyond the SDK's retries; lower --forks or ask AWS for a higher rate"}
		}
		return &transport.Error{Class: transport.ClassInternal, Err: err, Message: msg}
	}
	// No answer from the endpoint at all.
	return &transport.Error{Class: transport.ClassConnectTimeout, Transient: true, Err: err, Message: msg,
		Hint: "check that the controller reaches the SSM endpoint (network, proxy, VPC endpoint, or ssm: {endpoint: ...})"}
}

// newRunID makes a random id for a coordinator's commands and reboots.
func newRunID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail (Go 1.24+)
	return hex.EncodeToString(b)
}
