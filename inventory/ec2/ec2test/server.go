// Package ec2test is a fake EC2 (and STS) endpoint for tests: an
// httptest server on loopback that answers the EC2 Query API's
// DescribeInstances and GetPasswordData, and STS's AssumeRole, in AWS's XML
// response shapes, so the real AWS SDK client can be pointed at it (with
// AWS_ENDPOINT_URL_EC2 or a section's endpoint key).
//
// It filters as EC2 does (Filter.N.Name/Value.M with wildcards, InstanceId.N,
// MaxResults, NextToken; the region is the one the request is signed for),
// so tests prove which filters a client sent. It checks no signature; it
// does read the access key id and region from the Authorization header.
// Throttling and access-denied answers can be injected, and GetPasswordData
// calls held unanswered and counted (how many at once, at most). Instances are
// whatever the test gives; tests must give 127.x addresses, since whatever
// reads the listing may connect to them.
package ec2test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Instance is one simulated EC2 instance.
type Instance struct {
	ID           string `json:"id"`
	Region       string `json:"region"`
	Zone         string `json:"availability_zone,omitempty"` // default Region + "a"
	InstanceType string `json:"instance_type,omitempty"`     // default t3.medium
	// State is the instance-state-name; default running.
	State string `json:"state,omitempty"`
	// Platform is "windows" or "" (Linux: EC2 leaves the field out).
	Platform        string    `json:"platform,omitempty"`
	PlatformDetails string    `json:"platform_details,omitempty"` // default "Windows" or "Linux/UNIX"
	PrivateIP       string    `json:"private_ip,omitempty"`
	PublicIP        string    `json:"public_ip,omitempty"`
	PrivateDNS      string    `json:"private_dns,omitempty"`
	PublicDNS       string    `json:"public_dns,omitempty"`
	IPv6            string    `json:"ipv6,omitempty"`
	KeyName         string    `json:"key_name,omitempty"`
	VPCID           string    `json:"vpc_id,omitempty"`
	LaunchTime      time.Time `json:"launch_time,omitzero"`
	Tags            []Tag     `json:"tags,omitempty"`
	// PasswordData is what GetPasswordData returns: base64 of the password
	// encrypted with RSA PKCS #1 v1.5 for the launch key; empty means not
	// available yet.
	PasswordData string `json:"password_data,omitempty"`
}

// Tag is one EC2 tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ReadInstances decodes a JSON list of instances (the Instance field tags),
// for fixtures kept in files.
func ReadInstances(r io.Reader) ([]Instance, error) {
	var out []Instance
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("ec2test: reading instances: %w", err)
	}
	return out, nil
}

// Request is one request the server received.
type Request struct {
	// Service and Region come from the request's signing scope.
	Service, Region string
	// AccessKeyID signed the request.
	AccessKeyID string
	// Action is the Query API action (DescribeInstances, ...).
	Action string
	// Form is the decoded request body.
	Form map[string][]string
	// Status is the HTTP status answered.
	Status int
	// Invocation and Attempt come from the SDK's amz-sdk-invocation-id and
	// amz-sdk-request headers: every attempt of one API call carries the
	// same invocation id, numbered from 1.
	Invocation string
	Attempt    int
}

// Credentials are what AssumeRole hands out.
type Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

// Server is a running fake endpoint. Its methods are safe for concurrent
// use.
type Server struct {
	// URL is the base URL to use as the endpoint (http://127.0.0.1:PORT).
	URL string

	srv *httptest.Server

	mu        sync.Mutex
	instances []Instance
	requests  []Request
	throttle  int
	denied    map[string]bool // "Action" or "Action/region"
	roleCreds Credentials
	seq       int

	// GetPasswordData calls in progress, their peak, and the hold.
	pwMu      sync.Mutex
	pwNow     int
	pwPeak    int
	pwHold    chan struct{} // nil: answer at once; else wait until closed
	pwChanged chan struct{} // closed and replaced on every change of pwNow
	hold      *hold         // DescribeInstances requests wait while set
}

// hold keeps DescribeInstances requests waiting until released.
type hold struct {
	held    chan struct{}
	release chan struct{}
}

// NewServer starts a server on 127.0.0.1 listing instances (copied).
func NewServer(instances []Instance) *Server {
	s := &Server{
		instances: slices.Clone(instances),
		denied:    map[string]bool{},
		pwChanged: make(chan struct{}),
		roleCreds: Credentials{
			AccessKeyID:     "ASIAFAKEASSUMEDROLE1",
			SecretAccessKey: "fake-assumed-secret",
			SessionToken:    "fake-session-token",
		},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server and waits for its requests to finish.
func (s *Server) Close() { s.srv.Close() }

// Requests returns every request received so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Calls returns one request per API call received so far (its last
// attempt), in the order the calls started. The SDK retries a call after
// errors, including transport errors on a request the server did answer:
// smithy-go closes a request's body as soon as the response headers
// arrive, and when net/http's writer is still checking the body for extra
// bytes it drops the connection, so a call to a fast server is sometimes
// sent twice. Tests about what a client asked for count calls, not
// requests.
func (s *Server) Calls() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	at := map[string]int{}
	for _, r := range s.requests {
		if i, ok := at[r.Invocation]; ok && r.Invocation != "" {
			out[i] = r
			continue
		}
		at[r.Invocation] = len(out)
		out = append(out, r)
	}
	return out
}

// Throttle makes the next n requests (of any action) fail as EC2 fails
// when throttling: HTTP 503 with the error code RequestLimitExceeded.
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = n
}

// Deny makes action fail with HTTP 403: UnauthorizedOperation for EC2
// actions, AccessDenied for STS's AssumeRole. An empty region denies it in
// every region.
func (s *Server) Deny(action, region string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if region == "" {
		s.denied[action] = true
	} else {
		s.denied[action+"/"+region] = true
	}
}

// SetRoleCredentials sets the credentials AssumeRole returns.
func (s *Server) SetRoleCredentials(c Credentials) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roleCreds = c
}

// HoldPasswordData makes GetPasswordData calls wait, unanswered, until
// release is called or their client gives up (closes the connection, as
// the SDK does when the call's context ends). Calls count as in progress
// while held.
func (s *Server) HoldPasswordData() (release func()) {
	s.pwMu.Lock()
	defer s.pwMu.Unlock()
	hold := make(chan struct{})
	s.pwHold = hold
	var once sync.Once
	return func() {
		once.Do(func() {
			s.pwMu.Lock()
			defer s.pwMu.Unlock()
			close(hold)
			if s.pwHold == hold {
				s.pwHold = nil
			}
		})
	}
}

// HoldDescribeInstances makes DescribeInstances requests wait,
// unanswered, until release is called (or their client gives up and closes
// the connection), so a test can act while discovery is under way. held
// receives once for every request that starts waiting (up to 64 not yet
// received). Call release before Close.
func (s *Server) HoldDescribeInstances() (held <-chan struct{}, release func()) {
	h := &hold{held: make(chan struct{}, 64), release: make(chan struct{})}
	s.mu.Lock()
	s.hold = h
	s.mu.Unlock()
	var once sync.Once
	return h.held, func() {
		once.Do(func() {
			s.mu.Lock()
			s.hold = nil
			s.mu.Unlock()
			close(h.release)
		})
	}
}

// PasswordDataCalls returns how many GetPasswordData calls are in progress
// now and the most that ever were at once.
func (s *Server) PasswordDataCalls() (now, peak int) {
	s.pwMu.Lock()
	defer s.pwMu.Unlock()
	return s.pwNow, s.pwPeak
}

// WaitPasswordDataCalls waits until cond holds for the number of
// GetPasswordData calls in progress, or ctx ends.
func (s *Server) WaitPasswordDataCalls(ctx context.Context, cond func(now int) bool) error {
	for {
		s.pwMu.Lock()
		now, changed := s.pwNow, s.pwChanged
		s.pwMu.Unlock()
		if cond(now) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("ec2test: %d GetPasswordData calls in progress: %w", now, ctx.Err())
		}
	}
}

func (s *Server) enterPasswordData() <-chan struct{} {
	s.pwMu.Lock()
	defer s.pwMu.Unlock()
	s.pwNow++
	s.pwPeak = max(s.pwPeak, s.pwNow)
	s.notifyPasswordData()
	if s.pwHold == nil {
		return closedChan
	}
	return s.pwHold
}

func (s *Server) leavePasswordData() {
	s.pwMu.Lock()
	defer s.pwMu.Unlock()
	s.pwNow--
	s.notifyPasswordData()
}

func (s *Server) notifyPasswordData() {
	close(s.pwChanged)
	s.pwChanged = make(chan struct{})
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// wait holds a DescribeInstances request while a hold is set; false when
// the client went away meanwhile.
func (s *Server) wait(r *http.Request, action string) bool {
	s.mu.Lock()
	h := s.hold
	s.mu.Unlock()
	if h == nil || action != "DescribeInstances" {
		return true
	}
	select {
	case h.held <- struct{}{}:
	default:
	}
	select {
	case <-h.release:
		return true
	case <-r.Context().Done():
		return false
	}
}

var credentialRE = regexp.MustCompile(`Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	req := Request{Invocation: r.Header.Get("Amz-Sdk-Invocation-Id"), Attempt: attempt(r.Header.Get("Amz-Sdk-Request"))}
	if m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		req.AccessKeyID, req.Region, req.Service = m[1], m[2], m[3]
	}
	if err := r.ParseForm(); err != nil {
		s.answer(w, &req, ec2Error(http.StatusBadRequest, "MalformedQueryString", err.Error()))
		return
	}
	req.Form = r.PostForm
	req.Action = r.PostForm.Get("Action")
	if req.Action == "GetPasswordData" {
		hold := s.enterPasswordData()
		defer s.leavePasswordData()
		select {
		case <-hold:
		case <-r.Context().Done():
			return // the client gave up on the held call
		}
	}
	if !s.wait(r, req.Action) {
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	switch {
	case r.Method != http.MethodPost:
		s.answer(w, &req, ec2Error(http.StatusBadRequest, "InvalidHttpRequest", "the Query API takes POST requests here"))
	case req.AccessKeyID == "":
		s.answer(w, &req, ec2Error(http.StatusUnauthorized, "AuthFailure", "AWS was not able to validate the provided access credentials"))
	case s.throttle > 0:
		s.throttle--
		s.answer(w, &req, ec2Error(http.StatusServiceUnavailable, "RequestLimitExceeded", "Request limit exceeded."))
	case s.denied[req.Action] || s.denied[req.Action+"/"+req.Region]:
		if req.Service == "sts" {
			s.answer(w, &req, stsError(http.StatusForbidden, "AccessDenied",
				fmt.Sprintf("User: arn:aws:iam::123456789012:user/test is not authorized to perform: sts:AssumeRole on resource: %s", req.Form["RoleArn"])))
			return
		}
		s.answer(w, &req, ec2Error(http.StatusForbidden, "UnauthorizedOperation", "You are not authorized to perform this operation."))
	case req.Service == "sts" && req.Action == "AssumeRole":
		s.answer(w, &req, s.assumeRole(&req))
	case req.Service == "ec2" && req.Action == "DescribeInstances":
		s.answer(w, &req, s.describeInstances(&req))
	case req.Service == "ec2" && req.Action == "GetPasswordData":
		s.answer(w, &req, s.getPasswordData(&req))
	default:
		s.answer(w, &req, ec2Error(http.StatusBadRequest, "InvalidAction", fmt.Sprintf("The action %s is not valid for this web service.", req.Action)))
	}
}

// attempt reads N from the SDK's "attempt=N; max=M" header; 0 when absent.
func attempt(h string) int {
	for part := range strings.SplitSeq(h, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "attempt="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// reply is a status and an XML document.
type reply struct {
	status int
	body   any
}

func (s *Server) answer(w http.ResponseWriter, req *Request, rep reply) {
	req.Status = rep.status
	s.requests = append(s.requests, *req)
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, xml.Header) // a client that hung up gets nothing either way
	_ = xml.NewEncoder(w).Encode(rep.body)
}

func (s *Server) requestID() string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", s.seq)
}

// ec2Error is EC2's error document:
// <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>.
func ec2Error(status int, code, msg string) reply {
	type errXML struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	type responseXML struct {
		XMLName   xml.Name `xml:"Response"`
		Errors    []errXML `xml:"Errors>Error"`
		RequestID string   `xml:"RequestID"`
	}
	return reply{status, responseXML{Errors: []errXML{{code, msg}}, RequestID: "00000000-0000-4000-8000-000000000000"}}
}

// stsError is STS's (awsQuery) error document.
func stsError(status int, code, msg string) reply {
	type errXML struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	type responseXML struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		Xmlns     string   `xml:"xmlns,attr"`
		Error     errXML   `xml:"Error"`
		RequestID string   `xml:"RequestId"`
	}
	return reply{status, responseXML{Xmlns: stsNS, Error: errXML{"Sender", code, msg}, RequestID: "00000000-0000-4000-8000-000000000000"}}
}

const (
	ec2NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
	stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"
)

func (s *Server) assumeRole(req *Request) reply {
	type credsXML struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	}
	type userXML struct {
		Arn           string `xml:"Arn"`
		AssumedRoleID string `xml:"AssumedRoleId"`
	}
	type resultXML struct {
		Credentials     credsXML `xml:"Credentials"`
		AssumedRoleUser userXML  `xml:"AssumedRoleUser"`
	}
	type responseXML struct {
		XMLName   xml.Name  `xml:"AssumeRoleResponse"`
		Xmlns     string    `xml:"xmlns,attr"`
		Result    resultXML `xml:"AssumeRoleResult"`
		RequestID string    `xml:"ResponseMetadata>RequestId"`
	}
	role := first(req.Form["RoleArn"])
	session := first(req.Form["RoleSessionName"])
	if role == "" || session == "" {
		return stsError(http.StatusBadRequest, "ValidationError", "RoleArn and RoleSessionName are required")
	}
	c := s.roleCreds
	return reply{http.StatusOK, responseXML{
		Xmlns: stsNS,
		Result: resultXML{
			Credentials: credsXML{c.AccessKeyID, c.SecretAccessKey, c.SessionToken,
				time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)},
			AssumedRoleUser: userXML{Arn: role + "/" + session, AssumedRoleID: "AROAFAKEROLEID:" + session},
		},
		RequestID: s.requestID(),
	}}
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func (s *Server) getPasswordData(req *Request) reply {
	type responseXML struct {
		XMLName      xml.Name `xml:"GetPasswordDataResponse"`
		Xmlns        string   `xml:"xmlns,attr"`
		RequestID    string   `xml:"requestId"`
		InstanceID   string   `xml:"instanceId"`
		Timestamp    string   `xml:"timestamp"`
		PasswordData string   `xml:"passwordData"`
	}
	id := first(req.Form["InstanceId"])
	for i := range s.instances {
		inst := &s.instances[i]
		if inst.ID == id && inst.Region == req.Region {
			return reply{http.StatusOK, responseXML{Xmlns: ec2NS, RequestID: s.requestID(), InstanceID: id,
				Timestamp: inst.LaunchTime.UTC().Format("2006-01-02T15:04:05.000Z"), PasswordData: inst.PasswordData}}
		}
	}
	return ec2Error(http.StatusBadRequest, "InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", id))
}

// indexed collects Query API list parameters: prefix.N (and, with a sub
// key, prefix.N.sub.M) in index order.
func indexed(form map[string][]string, prefix string) map[int]map[string][]string {
	out := map[int]map[string][]string{}
	for k, v := range form {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		num, sub, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(num)
		if err != nil {
			continue
		}
		if out[n] == nil {
			out[n] = map[string][]string{}
		}
		out[n][sub] = append(out[n][sub], first(v))
	}
	return out
}

type filter struct {
	name   string
	values []*regexp.Regexp
}

// parseFilters reads Filter.N.Name and Filter.N.Value.M.
func parseFilters(form map[string][]string) ([]filter, error) {
	raw := indexed(form, "Filter")
	nums := make([]int, 0, len(raw))
	for n := range raw {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	var out []filter
	for _, n := range nums {
		f := filter{name: first(raw[n][""])}
		if names := raw[n]["Name"]; len(names) > 0 {
			f.name = names[0]
		}
		// Values arrive as Value.M: collect them in M order.
		vals := indexed(form, fmt.Sprintf("Filter.%d.Value", n))
		ms := make([]int, 0, len(vals))
		for m := range vals {
			ms = append(ms, m)
		}
		sort.Ints(ms)
		for _, m := range ms {
			f.values = append(f.values, wildcard(first(vals[m][""])))
		}
		if f.name == "" {
			return nil, fmt.Errorf("filter %d has no name", n)
		}
		out = append(out, f)
	}
	return out, nil
}

// wildcard compiles an EC2 filter value: * is any run of characters, ? one
// character, and a backslash makes the next character literal.
func wildcard(v string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	rs := []rune(v)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case r == '\\' && i+1 < len(rs):
			i++
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		case r == '*':
			b.WriteString("(?s:.*)")
		case r == '?':
			b.WriteString("(?s:.)")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// attribute returns an instance's values for a filter name; ok is false for
// names this fake does not know (EC2 answers InvalidParameterValue).
func attribute(inst *Instance, name string) (vals []string, ok bool) {
	one := func(v string) []string {
		if v == "" {
			return nil // an absent attribute matches nothing, not even *
		}
		return []string{v}
	}
	if key, isTag := strings.CutPrefix(name, "tag:"); isTag {
		for _, t := range inst.Tags {
			if t.Key == key {
				return []string{t.Value}, true
			}
		}
		return nil, true
	}
	switch name {
	case "instance-state-name":
		return one(inst.state()), true
	case "platform":
		return one(inst.Platform), true
	case "platform-details":
		return one(inst.platformDetails()), true
	case "instance-id":
		return one(inst.ID), true
	case "instance-type":
		return one(inst.instanceType()), true
	case "availability-zone":
		return one(inst.zone()), true
	case "private-ip-address":
		return one(inst.PrivateIP), true
	case "ip-address":
		return one(inst.PublicIP), true
	case "private-dns-name":
		return one(inst.PrivateDNS), true
	case "dns-name":
		return one(inst.PublicDNS), true
	case "key-name":
		return one(inst.KeyName), true
	case "vpc-id":
		return one(inst.VPCID), true
	case "tag-key", "tag-value":
		for _, t := range inst.Tags {
			if name == "tag-key" {
				vals = append(vals, t.Key)
			} else {
				vals = append(vals, t.Value)
			}
		}
		return vals, true
	}
	return nil, false
}

func (f *filter) match(inst *Instance) bool {
	vals, _ := attribute(inst, f.name)
	for _, v := range vals {
		for _, re := range f.values {
			if re.MatchString(v) {
				return true
			}
		}
	}
	return false
}

func (s *Server) describeInstances(req *Request) reply {
	filters, err := parseFilters(req.Form)
	if err != nil {
		return ec2Error(http.StatusBadRequest, "InvalidParameterValue", err.Error())
	}
	probe := Instance{}
	for _, f := range filters {
		if _, known := attribute(&probe, f.name); !known {
			return ec2Error(http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("The filter '%s' is invalid", f.name))
		}
	}
	var ids []string
	rawIDs := indexed(req.Form, "InstanceId")
	nums := make([]int, 0, len(rawIDs))
	for n := range rawIDs {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	for _, n := range nums {
		ids = append(ids, first(rawIDs[n][""]))
	}
	pageSize := 0
	if v := first(req.Form["MaxResults"]); v != "" {
		if len(ids) > 0 {
			return ec2Error(http.StatusBadRequest, "InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 5 || n > 1000 {
			return ec2Error(http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("Value ( %s ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", v))
		}
		pageSize = n
	}
	var inRegion []*Instance
	for i := range s.instances {
		if s.instances[i].Region == req.Region {
			inRegion = append(inRegion, &s.instances[i])
		}
	}
	if len(ids) > 0 {
		var missing []string
		for _, id := range ids {
			if !slices.ContainsFunc(inRegion, func(inst *Instance) bool { return inst.ID == id }) {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			return ec2Error(http.StatusBadRequest, "InvalidInstanceID.NotFound", fmt.Sprintf("The instance IDs '%s' do not exist", strings.Join(missing, ", ")))
		}
	}
	var matched []*Instance
	for _, inst := range inRegion {
		if len(ids) > 0 && !slices.Contains(ids, inst.ID) {
			continue
		}
		ok := true
		for i := range filters {
			if !filters[i].match(inst) {
				ok = false
				break
			}
		}
		if ok {
			matched = append(matched, inst)
		}
	}
	start := 0
	if tok := first(req.Form["NextToken"]); tok != "" {
		n, err := decodeToken(tok)
		if err != nil || n > len(matched) {
			return ec2Error(http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf("Invalid value '%s' for nextToken", tok))
		}
		start = n
	}
	end := len(matched)
	if pageSize > 0 && start+pageSize < end {
		end = start + pageSize
	}
	resp := describeResponse{Xmlns: ec2NS, RequestID: s.requestID()}
	for _, inst := range matched[start:end] {
		resp.Reservations.Items = append(resp.Reservations.Items, reservationOf(inst))
	}
	if end < len(matched) {
		resp.NextToken = encodeToken(end)
	}
	return reply{http.StatusOK, resp}
}

func encodeToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("fake-ec2-page:" + strconv.Itoa(offset)))
}

func decodeToken(tok string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, err
	}
	n, ok := strings.CutPrefix(string(b), "fake-ec2-page:")
	if !ok {
		return 0, fmt.Errorf("not a token of this server")
	}
	return strconv.Atoi(n)
}

func (inst *Instance) state() string {
	if inst.State == "" {
		return "running"
	}
	return inst.State
}

func (inst *Instance) zone() string {
	if inst.Zone == "" {
		return inst.Region + "a"
	}
	return inst.Zone
}

func (inst *Instance) instanceType() string {
	if inst.InstanceType == "" {
		return "t3.medium"
	}
	return inst.InstanceType
}

func (inst *Instance) platformDetails() string {
	switch {
	case inst.PlatformDetails != "":
		return inst.PlatformDetails
	case inst.Platform == "windows":
		return "Windows"
	}
	return "Linux/UNIX"
}

var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}
