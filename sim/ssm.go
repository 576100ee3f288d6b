package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The simulated AWS Systems Manager endpoint: one loopback HTTP server per
// fleet that speaks the SSM JSON protocol (POST /, X-Amz-Target:
// AmazonSSM.<Action>, application/x-amz-json-1.1) for the actions a Run
// Command client needs, and a small S3 (s3.go: path-style PutObject,
// HeadObject and GetObject) where the agent's output uploads land and
// clients put the files hosts download. Every fleet host is a
// managed instance with a deterministic instance id; commands run through
// the host model as the SSM agent runs them (see ssmagent.go).

// Limits and texts of Run Command, as AWS documents them.
const (
	ssmMaxInstancesPerCall = 50
	ssmDocument            = "AWS-RunPowerShellScript"
	ssmPluginName          = "aws:runPowerShellScript"
	// ssmMaxStdout and ssmMaxStderr are how much output GetCommandInvocation
	// returns inline; ssmMaxPluginOutput is the combined Output of a
	// command plugin in ListCommandInvocations (Details=true).
	ssmMaxStdout       = 24000
	ssmMaxStderr       = 8000
	ssmMaxPluginOutput = 2500
	ssmTruncatedSuffix = "--output truncated--"
	// ssmErrTitle separates stdout from stderr in a plugin's Output.
	ssmErrTitle = "\n----------ERROR-------\n"
	// ssmDefaultExecutionTimeout and ssmMaxExecutionTimeout are
	// AWS-RunPowerShellScript's executionTimeout parameter (seconds).
	ssmDefaultExecutionTimeout = 3600
	ssmMaxExecutionTimeout     = 172800
	// ssmDefaultDeliveryTimeout is SendCommand's TimeoutSeconds default.
	ssmDefaultDeliveryTimeout = 3600
	// ssmMaxComment is the longest Comment SendCommand takes.
	ssmMaxComment = 100
	// ssmMaxCommandFilters is how many filters ListCommands takes.
	ssmMaxCommandFilters = 5
)

// SSMStats counts the simulated SSM endpoint's API calls.
type SSMStats struct {
	// Endpoint is the base URL clients use.
	Endpoint string `json:"endpoint"`
	// Calls counts requests by action (SendCommand, ListCommands,
	// ListCommandInvocations, GetCommandInvocation, CancelCommand,
	// DescribeInstanceInformation, S3.PutObject, S3.HeadObject,
	// S3.GetObject), throttled ones included.
	Calls map[string]int64 `json:"calls"`
	// Throttled counts requests answered with ThrottlingException.
	Throttled map[string]int64 `json:"throttled"`
	// Faulted counts requests whose answer an SSMFault lost, by action.
	Faulted map[string]int64 `json:"faulted,omitempty"`
	// Invocations counts command invocations created (one per instance
	// and command); InstanceInvocations counts them by instance id.
	Invocations         int64            `json:"invocations"`
	InstanceInvocations map[string]int64 `json:"instance_invocations,omitempty"`
	// S3 counts what the simulated S3 beside the endpoint served (its
	// requests are also in Calls, as S3.PutObject, S3.HeadObject and
	// S3.GetObject).
	S3 S3Stats `json:"s3"`
}

// ssmServer is a fleet's SSM endpoint.
type ssmServer struct {
	f        *Fleet
	region   string
	delivery time.Duration
	// beforeReply is FleetOptions.SSMBeforeReply.
	beforeReply func(ctx context.Context, action string)
	ln          net.Listener
	srv         *http.Server
	served      chan struct{}
	url         string

	mu       sync.Mutex
	hosts    map[string]*Host // instance id → host
	ids      map[*Host]string
	commands map[string]*ssmCommand
	order    []string // command ids, oldest first
	// objects are the simulated S3's, by bucket/key; s3MaxObject, when
	// not zero, replaces the constant of the same name (tests).
	objects     map[string]*s3Object
	s3MaxObject int64
	s3stats     S3Stats
	// rebootTokens are the tokens fleetrun's reboot script left on
	// instances (instance/token), as the registry would keep them.
	rebootTokens map[string]bool
	calls        map[string]int64
	throttled    map[string]int64
	faulted      map[string]int64
	invocations  int64
	instanceInvs map[string]int64
	faults       []*ssmFaultState
	seq          int64
	bucket       tokenBucket
}

// ssmCommand is one SendCommand.
type ssmCommand struct {
	id              string
	comment         string
	params          map[string][]string
	script          string
	executionTime   time.Duration
	deliveryTimeout time.Duration
	bucket, prefix  string
	requested       time.Time
	instances       []string
	invs            map[string]*ssmInvocation
}

// ssmInvocation is one instance's part of a command. Its fields are
// guarded by the server's mutex.
type ssmInvocation struct {
	instance string
	host     *Host
	status   string // Pending, InProgress, Success, Failed, TimedOut, Cancelled, Cancelling
	details  string // StatusDetails
	code     int32
	stdout   []byte
	stderr   []byte
	started  time.Time
	finished time.Time
	cancel   func()
	// cancelled says CancelCommand asked for it.
	cancelled bool
}

func (inv *ssmInvocation) terminal() bool {
	switch inv.status {
	case "Success", "Failed", "TimedOut", "Cancelled":
		return true
	}
	return false
}

// instanceID is the deterministic instance id of the fleet's i-th host.
func instanceID(i int) string { return fmt.Sprintf("i-05e%014x", i+1) }

// startSSM starts the fleet's SSM endpoint on loopback.
func startSSM(f *Fleet, opts FleetOptions) (*ssmServer, error) {
	for _, fault := range opts.SSMFaults {
		if err := fault.check(); err != nil {
			return nil, err
		}
	}
	listen := opts.SSMListen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("ssm endpoint address %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("ssm endpoint address %q: the simulated endpoint listens on 127.0.0.0/8 only", listen)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("ssm endpoint: %w", err)
	}
	region := opts.SSMRegion
	if region == "" {
		region = DefaultSSMRegion
	}
	s := &ssmServer{
		f: f, region: region, delivery: opts.SSMDelivery, beforeReply: opts.SSMBeforeReply, ln: ln, served: make(chan struct{}),
		url:   "http://" + ln.Addr().String(),
		hosts: map[string]*Host{}, ids: map[*Host]string{}, commands: map[string]*ssmCommand{},
		objects: map[string]*s3Object{}, rebootTokens: map[string]bool{}, calls: map[string]int64{}, throttled: map[string]int64{},
		faulted: map[string]int64{}, instanceInvs: map[string]int64{},
		bucket: tokenBucket{rate: opts.SSMRate, now: f.clock.Now},
	}
	for _, fault := range opts.SSMFaults {
		s.faults = append(s.faults, &ssmFaultState{SSMFault: fault})
	}
	for i, h := range f.hosts {
		id := instanceID(i)
		s.hosts[id] = h
		s.ids[h] = id
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: time.Minute, ErrorLog: log.New(io.Discard, "", 0)}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln) // returns once closed
	}()
	return s, nil
}

// close stops the endpoint and waits for its handlers; the commands'
// processes belong to their hosts, which stop them.
func (s *ssmServer) close() error {
	err := s.srv.Close()
	<-s.served
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// DefaultSSMRegion is the region of a simulated SSM endpoint unless
// FleetOptions.SSMRegion names another.
const DefaultSSMRegion = "us-east-1"

// SSMEndpoint returns the base URL of the fleet's SSM (and S3) endpoint,
// or "" when the fleet was started without SSM.
func (f *Fleet) SSMEndpoint() string {
	if f.ssm == nil {
		return ""
	}
	return f.ssm.url
}

// SSMRegion returns the region the fleet's instances are in ("" without
// SSM).
func (f *Fleet) SSMRegion() string {
	if f.ssm == nil {
		return ""
	}
	return f.ssm.region
}

// InstanceID returns the host's EC2 instance id ("" without SSM).
func (f *Fleet) InstanceID(h *Host) string {
	if f.ssm == nil {
		return ""
	}
	return f.ssm.ids[h]
}

// SSMStats returns the SSM endpoint's counters (nil without SSM).
func (f *Fleet) SSMStats() *SSMStats {
	s := f.ssm
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return &SSMStats{Endpoint: s.url, Calls: maps.Clone(s.calls), Throttled: maps.Clone(s.throttled), Faulted: maps.Clone(s.faulted),
		Invocations: s.invocations, InstanceInvocations: maps.Clone(s.instanceInvs), S3: s.s3stats}
}

// tokenBucket limits requests per second; a zero rate is unlimited.
type tokenBucket struct {
	rate   float64
	now    func() time.Time
	tokens float64
	last   time.Time
}

// take reports whether a request may pass now; the caller holds the lock.
func (b *tokenBucket) take() bool {
	if b.rate <= 0 {
		return true
	}
	burst := max(b.rate, 1)
	now := b.now()
	if b.last.IsZero() {
		b.tokens = burst
	} else {
		b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// apiError is an error answer of the JSON protocol.
type apiError struct {
	status int
	typ    string
	msg    string
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func badRequest(typ, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: typ, msg: fmt.Sprintf(format, args...)}
}

func (s *ssmServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodPut {
		s.serveS3(w, r)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	action, ok := strings.CutPrefix(target, "AmazonSSM.")
	if r.Method != http.MethodPost || !ok {
		writeAPIError(w, &apiError{status: http.StatusBadRequest, typ: "UnknownOperationException", msg: "unknown operation " + target})
		return
	}
	s.mu.Lock()
	s.calls[action]++
	allowed := s.bucket.take()
	var fault *SSMFault
	if !allowed {
		s.throttled[action]++
	} else {
		fault = s.takeFaultLocked(action)
	}
	s.mu.Unlock()
	if !allowed {
		writeAPIError(w, badRequest("ThrottlingException", "Rate exceeded"))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return // the client is gone
	}
	if fault != nil && fault.NotCarriedOut {
		s.loseAnswer(w, r, fault, nil)
		return
	}
	var out any
	var aerr *apiError
	switch action {
	case "SendCommand":
		// The commands outlive this request: they belong to their hosts.
		out, aerr = s.sendCommand(body) //nolint:contextcheck // see above
	case "ListCommands":
		out, aerr = s.listCommands(body)
	case "ListCommandInvocations":
		out, aerr = s.listCommandInvocations(body)
	case "GetCommandInvocation":
		out, aerr = s.getCommandInvocation(body)
	case "CancelCommand":
		out, aerr = s.cancelCommand(body)
	case "DescribeInstanceInformation":
		out, aerr = s.describeInstanceInformation(body)
	default:
		aerr = &apiError{status: http.StatusBadRequest, typ: "UnknownOperationException", msg: "the simulated endpoint does not implement " + action}
	}
	if s.beforeReply != nil {
		s.beforeReply(r.Context(), action)
	}
	answer := func() {
		if aerr != nil {
			writeAPIError(w, aerr)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(out) // a failed write is the client's disconnect
	}
	if fault != nil {
		s.loseAnswer(w, r, fault, answer)
		return
	}
	answer()
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.typ)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.typ, "message": e.msg}) // the client's problem now
}

// decode reads a request body strictly enough to catch a client that
// spells a field wrong.
func decode(body []byte, v any) *apiError {
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("SerializationException", "%v", err)
	}
	return nil
}

// epoch is a timestamp as the JSON protocol writes it: seconds since 1970.
func epoch(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64))
}

func (s *ssmServer) sendCommand(body []byte) (any, *apiError) {
	var in struct {
		DocumentName       string
		InstanceIds        []string
		Parameters         map[string][]string
		TimeoutSeconds     *int
		Comment            string
		OutputS3BucketName string
		OutputS3KeyPrefix  string
		OutputS3Region     string
		Targets            []json.RawMessage
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if in.DocumentName != ssmDocument {
		return nil, badRequest("InvalidDocument", "the simulated endpoint runs only %s, not %q", ssmDocument, in.DocumentName)
	}
	if len(in.Targets) > 0 {
		return nil, badRequest("ValidationException", "the simulated endpoint takes InstanceIds, not Targets")
	}
	if n := len(in.InstanceIds); n == 0 || n > ssmMaxInstancesPerCall {
		return nil, badRequest("ValidationException", "1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: Member must have length less than or equal to %d and greater than or equal to 1", ssmMaxInstancesPerCall)
	}
	if len(in.Comment) > ssmMaxComment {
		return nil, badRequest("ValidationException", "1 validation error detected: Value at 'comment' failed to satisfy constraint: Member must have length less than or equal to %d", ssmMaxComment)
	}
	commands := in.Parameters["commands"]
	if len(commands) == 0 {
		return nil, badRequest("InvalidParameters", "document %s requires parameter commands", ssmDocument)
	}
	for k := range in.Parameters {
		switch k {
		case "commands", "executionTimeout", "workingDirectory":
		default:
			return nil, badRequest("InvalidParameters", "document %s does not support parameter %s", ssmDocument, k)
		}
	}
	execTimeout := ssmDefaultExecutionTimeout
	if v := in.Parameters["executionTimeout"]; len(v) > 0 {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > ssmMaxExecutionTimeout {
			return nil, badRequest("InvalidParameters", "executionTimeout %q must be a number of seconds from 1 to %d", v[0], ssmMaxExecutionTimeout)
		}
		execTimeout = n
	}
	delivery := ssmDefaultDeliveryTimeout
	if in.TimeoutSeconds != nil {
		if *in.TimeoutSeconds < 30 || *in.TimeoutSeconds > 2592000 {
			return nil, badRequest("ValidationException", "TimeoutSeconds must be from 30 to 2592000")
		}
		delivery = *in.TimeoutSeconds
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var unknown []string
	seen := map[string]bool{}
	for _, id := range in.InstanceIds {
		if _, ok := s.hosts[id]; !ok {
			unknown = append(unknown, id)
		}
		if seen[id] {
			return nil, badRequest("DuplicateInstanceId", "instance %s is listed twice", id)
		}
		seen[id] = true
	}
	if len(unknown) > 0 {
		return nil, badRequest("InvalidInstanceId", "Instances [%s] not in a valid state for account", strings.Join(unknown, ", "))
	}
	s.seq++
	now := s.f.clock.Now()
	c := &ssmCommand{
		id:      fmt.Sprintf("5117e000-0000-4000-8000-%012x", s.seq),
		comment: in.Comment, params: in.Parameters, script: strings.Join(commands, "\n") + "\n",
		executionTime:   time.Duration(execTimeout) * time.Second,
		deliveryTimeout: time.Duration(delivery) * time.Second,
		bucket:          in.OutputS3BucketName, prefix: in.OutputS3KeyPrefix,
		requested: now, instances: slices.Clone(in.InstanceIds), invs: map[string]*ssmInvocation{},
	}
	s.commands[c.id] = c
	s.order = append(s.order, c.id)
	for _, id := range c.instances {
		inv := &ssmInvocation{instance: id, host: s.hosts[id], status: "Pending", details: "Pending"}
		c.invs[id] = inv
		s.invocations++
		s.instanceInvs[id]++
		s.startLocked(c, inv)
	}
	return map[string]any{"Command": s.commandView(c)}, nil
}

// commandView is a Command object of the API; s.mu is held.
func (s *ssmServer) commandView(c *ssmCommand) map[string]any {
	st := c.status()
	v := map[string]any{
		"CommandId": c.id, "DocumentName": ssmDocument, "DocumentVersion": "$DEFAULT",
		"Comment": c.comment, "InstanceIds": c.instances, "Parameters": c.params, "Targets": []any{},
		"RequestedDateTime": epoch(c.requested), "ExpiresAfter": epoch(c.requested.Add(c.deliveryTimeout + c.executionTime)),
		"Status": st.status, "StatusDetails": st.details, "TargetCount": len(c.instances),
		"CompletedCount": st.completed, "ErrorCount": st.errors, "DeliveryTimedOutCount": st.deliveryTimedOut,
		"TimeoutSeconds": int(c.deliveryTimeout / time.Second),
		"MaxConcurrency": "50", "MaxErrors": "0",
	}
	if c.bucket != "" {
		v["OutputS3BucketName"], v["OutputS3KeyPrefix"], v["OutputS3Region"] = c.bucket, c.prefix, s.region
	}
	return v
}

func (s *ssmServer) command(id string) (*ssmCommand, *apiError) {
	c, ok := s.commands[id]
	if !ok {
		return nil, badRequest("InvalidCommandId", "command %q does not exist", id)
	}
	return c, nil
}

// commandStatus is a command's status summed up from its invocations.
type commandStatus struct {
	status, details                     string
	completed, errors, deliveryTimedOut int
}

// status sums up the command's invocations as Run Command does with
// MaxErrors 0: Pending while none has started, InProgress (Cancelling
// after a CancelCommand) until all have ended, then Failed or TimedOut
// when one failed or timed out, Cancelled when one was cancelled, else
// Success. The server's mutex is held.
func (c *ssmCommand) status() commandStatus {
	var st commandStatus
	pending, cancelling, failed, execTimedOut, cancelled := 0, 0, 0, 0, 0
	for _, inv := range c.invs {
		switch inv.status {
		case "Pending":
			pending++
		case "Cancelling":
			cancelling++
		case "Failed":
			failed++
		case "TimedOut":
			if inv.details == "DeliveryTimedOut" {
				st.deliveryTimedOut++
			} else {
				execTimedOut++
			}
		case "Cancelled":
			cancelled++
		}
		if inv.terminal() {
			st.completed++
		}
	}
	st.errors = failed + execTimedOut
	switch {
	case cancelling > 0:
		st.status = "Cancelling"
	case pending == len(c.invs):
		st.status = "Pending"
	case st.completed < len(c.invs):
		st.status = "InProgress"
	case failed > 0:
		st.status = "Failed"
	case execTimedOut > 0:
		st.status, st.details = "TimedOut", "ExecutionTimedOut"
	case st.deliveryTimedOut > 0:
		st.status, st.details = "TimedOut", "DeliveryTimedOut"
	case cancelled > 0:
		st.status = "Cancelled"
	default:
		st.status = "Success"
	}
	if st.details == "" {
		st.details = st.status
	}
	return st
}

// commandFilter is one of ListCommands' filters; the API spells its
// members in lower case.
type commandFilter struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// commandMatcher turns ListCommands' filters into a test that a command
// passes when it matches all of them; the test is called with the
// server's mutex held.
func commandMatcher(filters []commandFilter, instance string) (func(*ssmCommand) bool, *apiError) {
	if filters != nil && (len(filters) == 0 || len(filters) > ssmMaxCommandFilters) {
		return nil, badRequest("ValidationException", "1 validation error detected: Value at 'filters' failed to satisfy constraint: Member must have length less than or equal to %d and greater than or equal to 1", ssmMaxCommandFilters)
	}
	var tests []func(*ssmCommand) bool
	for _, f := range filters {
		switch f.Key {
		case "InvokedAfter", "InvokedBefore":
			t, err := time.Parse(time.RFC3339, f.Value)
			if err != nil {
				return nil, badRequest("InvalidFilterValue", "%s %q is not a timestamp such as 2024-07-07T00:00:00Z", f.Key, f.Value)
			}
			if f.Key == "InvokedAfter" {
				tests = append(tests, func(c *ssmCommand) bool { return !c.requested.Before(t) })
			} else {
				tests = append(tests, func(c *ssmCommand) bool { return !c.requested.After(t) })
			}
		case "DocumentName":
			tests = append(tests, func(*ssmCommand) bool { return f.Value == ssmDocument })
		case "Status":
			switch f.Value {
			case "Pending", "InProgress", "Success", "Cancelled", "Failed", "TimedOut",
				"AccessDenied", "DeliveryTimedOut", "ExecutionTimedOut", "Incomplete", "NoInstancesInTag", "LimitExceeded":
			default:
				return nil, badRequest("InvalidFilterValue", "Status %q is not a command status", f.Value)
			}
			if f.Value == "Pending" && instance != "" {
				return nil, badRequest("InvalidFilter", "a command that is Pending has not reached an instance: Status Pending cannot be combined with InstanceId")
			}
			tests = append(tests, func(c *ssmCommand) bool { st := c.status(); return st.status == f.Value || st.details == f.Value })
		case "ExecutionStage":
			var complete bool
			switch f.Value {
			case "Executing":
			case "Complete":
				complete = true
			default:
				return nil, badRequest("InvalidFilterValue", "ExecutionStage %q is neither Executing nor Complete", f.Value)
			}
			tests = append(tests, func(c *ssmCommand) bool { return (c.status().completed == len(c.invs)) == complete })
		default:
			return nil, badRequest("InvalidFilterKey", "%q is not a filter key of ListCommands", f.Key)
		}
	}
	return func(c *ssmCommand) bool {
		for _, t := range tests {
			if !t(c) {
				return false
			}
		}
		return true
	}, nil
}

func (s *ssmServer) listCommands(body []byte) (any, *apiError) {
	var in struct {
		CommandId  string
		InstanceId string
		Filters    []commandFilter
		MaxResults *int
		NextToken  string
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	limit, e := maxResults(in.MaxResults, 1, 50)
	if e != nil {
		return nil, e
	}
	match, e := commandMatcher(in.Filters, in.InstanceId)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := s.order
	if in.CommandId != "" {
		if _, e := s.command(in.CommandId); e != nil {
			return nil, e
		}
		ids = []string{in.CommandId}
	}
	if in.InstanceId != "" {
		if _, ok := s.hosts[in.InstanceId]; !ok {
			return nil, badRequest("InvalidInstanceId", "instance %s is not a managed instance of this account", in.InstanceId)
		}
	}
	var all []map[string]any
	for _, cid := range ids {
		c := s.commands[cid]
		if in.InstanceId != "" && c.invs[in.InstanceId] == nil {
			continue
		}
		if match(c) {
			all = append(all, s.commandView(c))
		}
	}
	return page("Commands", all, in.NextToken, limit)
}

func (s *ssmServer) listCommandInvocations(body []byte) (any, *apiError) {
	var in struct {
		CommandId  string
		InstanceId string
		Details    bool
		MaxResults *int
		NextToken  string
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	limit, e := maxResults(in.MaxResults, 1, 50)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []map[string]any
	ids := s.order
	if in.CommandId != "" {
		if _, e := s.command(in.CommandId); e != nil {
			return nil, e
		}
		ids = []string{in.CommandId}
	}
	for _, cid := range ids {
		c := s.commands[cid]
		for _, iid := range c.instances {
			if in.InstanceId != "" && iid != in.InstanceId {
				continue
			}
			all = append(all, s.invocationView(c, c.invs[iid], in.Details))
		}
	}
	return page("CommandInvocations", all, in.NextToken, limit)
}

// maxResults checks a request's MaxResults against the action's range;
// without one the page size is hi.
func maxResults(p *int, lo, hi int) (int, *apiError) {
	if p == nil {
		return hi, nil
	}
	if *p < lo || *p > hi {
		return 0, badRequest("ValidationException", "MaxResults must be from %d to %d", lo, hi)
	}
	return *p, nil
}

// page answers a list action with the items from token on, at most limit
// of them under key, and the NextToken of the rest (the index of the next
// item).
func page(key string, items []map[string]any, token string, limit int) (map[string]any, *apiError) {
	start := 0
	if token != "" {
		n, err := strconv.Atoi(token)
		if err != nil || n < 0 || n > len(items) {
			return nil, badRequest("InvalidNextToken", "the token is not valid")
		}
		start = n
	}
	end := min(start+limit, len(items))
	out := map[string]any{key: items[start:end]}
	if end < len(items) {
		out["NextToken"] = strconv.Itoa(end)
	}
	return out, nil
}

// invocationView is a CommandInvocation object; s.mu is held.
func (s *ssmServer) invocationView(c *ssmCommand, inv *ssmInvocation, details bool) map[string]any {
	v := map[string]any{
		"CommandId": c.id, "InstanceId": inv.instance, "InstanceName": "", "Comment": c.comment,
		"DocumentName": ssmDocument, "DocumentVersion": "$DEFAULT",
		"RequestedDateTime": epoch(c.requested), "Status": inv.status, "StatusDetails": inv.details,
	}
	outURL, errURL := s.outputURLs(c, inv)
	v["StandardOutputUrl"], v["StandardErrorUrl"] = outURL, errURL
	if details {
		plugin := map[string]any{
			"Name": ssmPluginName, "Status": pluginStatus(inv.status), "StatusDetails": inv.details,
			"ResponseCode": inv.code, "ResponseStartDateTime": epoch(inv.started), "ResponseFinishDateTime": epoch(inv.finished),
			"Output":            string(pluginOutput(inv.stdout, inv.stderr, ssmMaxPluginOutput)),
			"StandardOutputUrl": outURL, "StandardErrorUrl": errURL,
		}
		if c.bucket != "" {
			plugin["OutputS3BucketName"], plugin["OutputS3KeyPrefix"], plugin["OutputS3Region"] = c.bucket, c.prefix, s.region
		}
		v["CommandPlugins"] = []any{plugin}
	}
	return v
}

// pluginStatus maps an invocation status to its plugin's (a plugin is
// never "Cancelling").
func pluginStatus(st string) string {
	if st == "Cancelling" {
		return "InProgress"
	}
	return st
}

// outputURLs are the S3 URLs of an invocation's output ("" without a
// bucket), in the layout the SSM agent uploads to.
func (s *ssmServer) outputURLs(c *ssmCommand, inv *ssmInvocation) (string, string) {
	if c.bucket == "" {
		return "", ""
	}
	base := "https://s3." + s.region + ".amazonaws.com/" + c.bucket + "/" + s3Key(c, inv.instance, "")
	return base + "stdout", base + "stderr"
}

// s3Key is where the agent uploads an invocation's stream.
func s3Key(c *ssmCommand, instance, stream string) string {
	parts := []string{}
	if p := strings.Trim(c.prefix, "/"); p != "" {
		parts = append(parts, p)
	}
	parts = append(parts, c.id, instance, "awsrunPowerShellScript", "0.awsrunPowerShellScript", stream)
	return strings.Join(parts, "/")
}

func (s *ssmServer) getCommandInvocation(body []byte) (any, *apiError) {
	var in struct {
		CommandId  string
		InstanceId string
		PluginName string
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.commands[in.CommandId]
	var inv *ssmInvocation
	if ok {
		inv = c.invs[in.InstanceId]
	}
	if inv == nil {
		return nil, badRequest("InvocationDoesNotExist", "command %s has no invocation on instance %s", in.CommandId, in.InstanceId)
	}
	if in.PluginName != "" && in.PluginName != ssmPluginName && in.PluginName != "runPowerShellScript" {
		return nil, badRequest("InvalidPluginName", "plugin %q is not part of the command", in.PluginName)
	}
	outURL, errURL := s.outputURLs(c, inv)
	v := map[string]any{
		"CommandId": c.id, "InstanceId": inv.instance, "Comment": c.comment, "DocumentName": ssmDocument,
		"DocumentVersion": "$DEFAULT", "PluginName": ssmPluginName, "ResponseCode": inv.code,
		"Status": inv.status, "StatusDetails": inv.details,
		"StandardOutputContent": string(stringPrefix(inv.stdout, ssmMaxStdout)),
		"StandardErrorContent":  string(stringPrefix(inv.stderr, ssmMaxStderr)),
		"StandardOutputUrl":     outURL, "StandardErrorUrl": errURL,
		"ExecutionStartDateTime": rfc3339(inv.started), "ExecutionEndDateTime": rfc3339(inv.finished),
	}
	if !inv.started.IsZero() && !inv.finished.IsZero() {
		v["ExecutionElapsedTime"] = fmt.Sprintf("PT%.3fS", inv.finished.Sub(inv.started).Seconds())
	}
	return v, nil
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func (s *ssmServer) cancelCommand(body []byte) (any, *apiError) {
	var in struct {
		CommandId   string
		InstanceIds []string
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, e := s.command(in.CommandId)
	if e != nil {
		return nil, e
	}
	targets := in.InstanceIds
	if len(targets) == 0 {
		targets = c.instances
	}
	for _, id := range targets {
		inv := c.invs[id]
		if inv == nil || inv.terminal() || inv.cancelled {
			continue
		}
		inv.cancelled = true
		if inv.status == "InProgress" {
			inv.status, inv.details = "Cancelling", "Cancelling"
		}
		if inv.cancel != nil {
			inv.cancel()
		}
	}
	return map[string]any{}, nil
}

func (s *ssmServer) describeInstanceInformation(body []byte) (any, *apiError) {
	var in struct {
		Filters []struct {
			Key    string
			Values []string
		}
		InstanceInformationFilterList []struct {
			Key      string `json:"key"`
			ValueSet []string
		}
		MaxResults *int
		NextToken  string
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	limit, e := maxResults(in.MaxResults, 5, 50)
	if e != nil {
		return nil, e
	}
	var want map[string]bool
	addIDs := func(key string, values []string) *apiError {
		switch key {
		case "InstanceIds":
			if want == nil {
				want = map[string]bool{}
			}
			for _, v := range values {
				want[v] = true
			}
			return nil
		}
		return badRequest("InvalidFilterKey", "the simulated endpoint filters by InstanceIds only, not %q", key)
	}
	for _, f := range in.Filters {
		if e := addIDs(f.Key, f.Values); e != nil {
			return nil, e
		}
	}
	for _, f := range in.InstanceInformationFilterList {
		if e := addIDs(f.Key, f.ValueSet); e != nil {
			return nil, e
		}
	}
	var list []map[string]any
	now := s.f.clock.Now()
	for i, h := range s.f.hosts {
		id := instanceID(i)
		if want != nil && !want[id] {
			continue
		}
		ping, last := "Online", now
		if !h.Online() {
			// The agent stops pinging when the host goes down; it was last
			// heard of when the fleet started or the host last booted.
			ping, last = "ConnectionLost", h.BootTime()
		}
		list = append(list, map[string]any{
			"InstanceId": id, "PingStatus": ping, "LastPingDateTime": epoch(last),
			"AgentVersion": "3.3.0.0", "IsLatestVersion": true, "PlatformType": "Windows",
			"PlatformName": "Microsoft Windows Server " + h.cfg.Profile.Name, "PlatformVersion": h.cfg.Profile.Version,
			"ResourceType": "EC2Instance", "ComputerName": h.cfg.Name, "IPAddress": h.Address(),
		})
	}
	return page("InstanceInformationList", list, in.NextToken, limit)
}

// stringPrefix truncates output as the SSM agent does: text of max bytes
// or more keeps its first max-len(suffix) bytes and gets the suffix.
func stringPrefix(b []byte, limit int) []byte {
	if len(b) < limit {
		return b
	}
	return append(b[:limit-len(ssmTruncatedSuffix):limit-len(ssmTruncatedSuffix)], ssmTruncatedSuffix...)
}

// Suffixes the agent puts on a plugin Output cut to size.
const (
	ssmTruncateOut = "\n---Output truncated---"
	ssmTruncateErr = "\n---Error truncated----"
)

// pluginOutput is a command plugin's Output: stdout, then the error title
// and stderr, cut to capacity as the SSM agent cuts it.
func pluginOutput(stdout, stderr []byte, capacity int) []byte {
	title := ""
	if len(stderr) > 0 {
		title = ssmErrTitle
	}
	avail := capacity - len(title)
	join := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	switch {
	case len(stdout)+len(stderr) < avail:
		return join(stdout, []byte(title), stderr)
	case len(stdout) > avail/2 && len(stderr) > avail/2:
		n := (avail - len(ssmTruncateErr) - len(ssmTruncateOut)) / 2
		return join(stdout[:n], []byte(ssmTruncateOut), []byte(title), stderr[:n], []byte(ssmTruncateErr))
	case len(stdout) <= avail/2:
		n := avail - len(ssmTruncateErr) - len(stdout)
		return join(stdout, []byte(title), stderr[:n], []byte(ssmTruncateErr))
	}
	n := avail - len(ssmTruncateOut) - len(stderr)
	return join(stdout[:n], []byte(ssmTruncateOut), []byte(title), stderr)
}
