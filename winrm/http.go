package winrm

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bodgit/ntlmssp"

	"github.com/fleetrun/fleetrun/transport"
)

// maxResponse bounds how much of one response is read into memory; WinRM
// sizes its responses to the client's MaxEnvelopeSize (150 KB here), so
// anything near this is not WinRM.
const maxResponse = 16 << 20

// endpoint is one host's WS-Man endpoint: the URL, a keep-alive HTTP
// connection of its own, and the authentication state. It serves one
// request at a time (the session serialises them).
type endpoint struct {
	host     string // for messages: the target's name or address
	url      string
	conn     *httpConn
	auth     authenticator
	requests atomic.Int64
	// requestGrace is added to a request's OperationTimeout to bound how
	// long the client waits for the answer.
	requestGrace time.Duration
	// bodyHeld says this endpoint holds a place in bodyGate: from an
	// answer's headers until the exchange has used its body.
	bodyHeld bool
	// head is the start of every request (request.go).
	head requestHead
}

// bodyGate bounds how many answers the whole process reads, unseals and
// decodes at once. A Receive answer is up to 150 KB and takes about three
// times that while it is unsealed and decoded; with a thousand hosts
// answering together, holding them all at once would take hundreds of
// megabytes for work the cores can only do a few at a time anyway. An
// answer waiting for its turn stays in the kernel's socket buffers.
var bodyGate = make(chan struct{}, max(4, 2*runtime.GOMAXPROCS(0)))

// holdBody takes a place in bodyGate for the endpoint's current answer,
// waiting at most until ctx ends.
func (ep *endpoint) holdBody(ctx context.Context) error {
	if ep.bodyHeld {
		return nil
	}
	select {
	case bodyGate <- struct{}{}:
		ep.bodyHeld = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// releaseBody gives the endpoint's place in bodyGate back, once the body
// of its last answer has been used.
func (ep *endpoint) releaseBody() {
	if ep.bodyHeld {
		ep.bodyHeld = false
		<-bodyGate
	}
}

// authenticator performs one authenticated HTTP exchange.
type authenticator interface {
	// name is the mechanism as the inventory spells it.
	name() string
	// exchange sends body and returns the response status, headers and
	// body (unsealed when the mechanism seals).
	exchange(ctx context.Context, ep *endpoint, body []byte) (*httpReply, error)
	// encrypted reports whether messages are sealed.
	encrypted() bool
	// close releases what the mechanism holds (Kerberos tickets).
	close()
}

type httpReply struct {
	status int
	header http.Header
	body   []byte
	// peerCert is the server's certificate on HTTPS, for channel bindings.
	peerCert *x509.Certificate
}

// do sends one HTTP POST to the endpoint and reads the whole answer,
// holding a place in bodyGate from the answer's headers on: the caller
// calls releaseBody once it has used the body (the next do on the endpoint
// releases it too).
func (ep *endpoint) do(ctx context.Context, body []byte, header http.Header) (*httpReply, error) {
	return ep.doWith(ctx, header, len(body), func(b *bytes.Buffer) { b.Write(body) })
}

// doWith is do with the body (n bytes) written by writeBody straight into
// the request, so that a body made of parts (a sealed message's framing)
// is not first put together in a buffer of its own.
func (ep *endpoint) doWith(ctx context.Context, header http.Header, n int, writeBody func(*bytes.Buffer)) (*httpReply, error) {
	ep.releaseBody()
	head, err := ep.head.get(ep.url)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	reply, err := ep.conn.roundTripWith(ctx, requestWriter(head, header, n, writeBody), postRequest, ep.holdBody)
	if err != nil {
		return nil, err
	}
	if len(reply.body) > maxResponse {
		return nil, fmt.Errorf("response larger than %d bytes", maxResponse)
	}
	return reply, nil
}

// readBody reads a response body to its end, keeping at most
// maxResponse+1 bytes, as io.ReadAll over a LimitReader does, but into a
// buffer sized from Content-Length when the server sent one: a Receive is
// up to 150 KB, which io.ReadAll would grow into from 512 bytes.
func readBody(resp *http.Response) ([]byte, error) {
	r := io.LimitReader(resp.Body, maxResponse+1)
	if resp.ContentLength < 0 || resp.ContentLength > maxResponse {
		return io.ReadAll(r)
	}
	// One byte more than announced, so the read that meets EOF has room.
	b := make([]byte, 0, resp.ContentLength+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// post sends one WS-Man message and returns its parsed response. Faults,
// HTTP errors and network errors come back as *transport.Error; op names
// the operation for messages. The request is bounded by ctx and by its
// operation timeout plus the endpoint's grace period.
func (ep *endpoint) post(ctx context.Context, op string, body []byte, opTimeout time.Duration) (*response, error) {
	rctx, cancel := context.WithTimeout(ctx, opTimeout+ep.requestGrace)
	defer cancel()
	defer ep.releaseBody() // the response is parsed: the body is used
	ep.requests.Add(1)
	reply, err := ep.auth.exchange(rctx, ep, body)
	if err != nil {
		if ctx.Err() == nil && rctx.Err() != nil {
			return nil, &transport.Error{Class: transport.ClassTimeout, Transient: true, Err: err,
				Message: fmt.Sprintf("%s on %s got no answer within %s", op, ep.host, opTimeout+ep.requestGrace)}
		}
		return nil, classifyNetError(ctx, ep.host, err)
	}
	switch reply.status {
	case http.StatusUnauthorized:
		return nil, authError(ep.host, ep.auth.name(), ep.userForMessages(), offeredSchemes(reply.header.Values("WWW-Authenticate")))
	case http.StatusRequestEntityTooLarge:
		return nil, &transport.Error{Class: transport.ClassWSManFault,
			Message: fmt.Sprintf("%s on %s: the request (%d bytes) is larger than the host's MaxEnvelopeSizekb", op, ep.host, len(body)),
			Hint:    `raise the limit in an elevated prompt on the host: winrm set winrm/config @{MaxEnvelopeSizekb="500"}`}
	}
	resp, perr := parseResponse(reply.body)
	if perr == nil && resp.Fault != nil {
		return nil, faultError(ep.host, op, resp.Fault)
	}
	if reply.status != http.StatusOK {
		snippet := strings.TrimSpace(string(reply.body))
		if len(snippet) > 200 {
			snippet = snippet[:200] + "..."
		}
		return nil, &transport.Error{Class: transport.ClassProtocol, Transient: reply.status >= 500,
			Message: fmt.Sprintf("%s on %s: HTTP status %d with no WS-Management fault: %s", op, ep.host, reply.status, snippet),
			Hint:    "the WinRM service failed, or something between (a proxy, a load balancer) answered for it; check the host's WinRM service and event log"}
	}
	if perr != nil {
		return nil, &transport.Error{Class: transport.ClassProtocol, Err: perr,
			Message: fmt.Sprintf("%s on %s: unreadable response: %v", op, ep.host, perr)}
	}
	return resp, nil
}

// userForMessages is the user name for error messages, set by the
// authenticator (never the password).
func (ep *endpoint) userForMessages() string {
	if u, ok := ep.auth.(interface{ user() string }); ok {
		return u.user()
	}
	return ""
}

// basicAuth sends the credentials with every request.
type basicAuth struct {
	username, password string
	header             string // "Basic " + base64(user:password), made once
}

func (a *basicAuth) name() string    { return "basic" }
func (a *basicAuth) user() string    { return a.username }
func (a *basicAuth) encrypted() bool { return false }
func (a *basicAuth) close()          {}
func (a *basicAuth) exchange(ctx context.Context, ep *endpoint, body []byte) (*httpReply, error) {
	if a.header == "" {
		a.header = "Basic " + base64.StdEncoding.EncodeToString([]byte(a.username+":"+a.password))
	}
	return ep.do(ctx, body, http.Header{"Authorization": {a.header}})
}

// certAuth authenticates with the TLS client certificate; WinRM wants this
// Authorization value to pick the mapping ([MS-WSMV] 2.2.9.2).
type certAuth struct{}

func (certAuth) name() string    { return "certificate" }
func (certAuth) encrypted() bool { return false }
func (certAuth) close()          {}
func (certAuth) exchange(ctx context.Context, ep *endpoint, body []byte) (*httpReply, error) {
	h := http.Header{}
	h.Set("Authorization", "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual")
	return ep.do(ctx, body, h)
}

// ntlmAuth authenticates each TCP connection with NTLMv2 through the
// Negotiate scheme and then sends messages on it: sealed over HTTP
// ([MS-WSMV] message encryption), plain over HTTPS. Because the context
// belongs to the connection, the transport keeps a single connection
// (MaxConnsPerHost 1); when the server no longer knows the context (a new
// connection, answered 400 or 401) it authenticates again once.
type ntlmAuth struct {
	username, domain, password string
	seal                       bool
	// authenticated says a handshake completed on the current connection.
	authenticated bool
	// session seals messages for the connection's context when seal is
	// set: an ntlmSession, or bodgit's own session when the handshake fell
	// back to bodgit's client for what ntlmClient and ntlmSession do not
	// implement; nil when the server agreed to no message protection.
	session sealer
}

func (a *ntlmAuth) name() string    { return "ntlm" }
func (a *ntlmAuth) user() string    { return a.username }
func (a *ntlmAuth) encrypted() bool { return a.seal }
func (a *ntlmAuth) close()          {}

func (a *ntlmAuth) exchange(ctx context.Context, ep *endpoint, body []byte) (*httpReply, error) {
	for attempt := 0; ; attempt++ {
		if !a.authenticated {
			reply, err := a.handshake(ctx, ep)
			if err != nil || reply != nil {
				return reply, err // reply: the server refused the credentials
			}
		}
		reply, err := a.send(ctx, ep, body)
		if err != nil {
			// The connection is gone, and with it the context.
			a.authenticated = false
			return nil, err
		}
		if (reply.status == http.StatusBadRequest || reply.status == http.StatusUnauthorized) && attempt == 0 {
			// A new connection without a context: authenticate it.
			a.authenticated = false
			continue
		}
		return reply, nil
	}
}

// send sends one message on the authenticated connection.
func (a *ntlmAuth) send(ctx context.Context, ep *endpoint, body []byte) (*httpReply, error) {
	if !a.seal {
		return ep.do(ctx, body, nil)
	}
	if a.session == nil {
		return nil, errors.New("ntlm: the server did not agree to message encryption")
	}
	reply, broken, err := sendSealed(ctx, ep, body, "ntlm", a.session, ntlmSignatureSize)
	if broken {
		a.authenticated = false
	}
	return reply, err
}

// ntlmSessionFor is the sealer for the context bodgit's client c
// completed with the AUTHENTICATE message authenticate (bodgitAnswer): an
// ntlmSession derived from it and the credentials c was given, or, when
// the handshake negotiated something ntlmSession does not implement (no
// extended session security), bodgit's own session; nil when there is
// none.
func (a *ntlmAuth) ntlmSessionFor(c *ntlmssp.Client, authenticate []byte) (sealer, error) {
	// The same user, password and domain as ntlmssp.NewClient got in
	// handshake, the domain trimmed as ntlmssp.SetDomain trims it.
	s, err := ntlmSessionFromAuthenticate(authenticate, a.username, a.password, strings.TrimSpace(a.domain))
	if errors.Is(err, errNTLMNotSupported) {
		if bs := c.SecuritySession(); bs != nil {
			return ntlmSealer{bs}, nil
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ntlm: derive the session keys from our AUTHENTICATE message: %w; report this as a bug, or use HTTPS (the message is then not sealed)", err)
	}
	return s, nil
}

// ntlmSealer is bodgit/ntlmssp's security session as a sealer (its Wrap
// returns the sealed bytes first).
type ntlmSealer struct{ s *ntlmssp.SecuritySession }

func (n ntlmSealer) wrap(msg []byte) (sig, sealed []byte, err error) {
	sealed, sig, err = n.s.Wrap(msg)
	return sig, sealed, err
}

func (n ntlmSealer) unwrap(sig, sealed []byte) ([]byte, error) { return n.s.Unwrap(sealed, sig) }

// handshake runs NEGOTIATE / CHALLENGE / AUTHENTICATE on the connection
// the next request will use, with empty bodies. It returns a reply only
// when the server refused (a 401 to AUTHENTICATE, or no Negotiate offered);
// then the caller reports that reply.
func (a *ntlmAuth) handshake(ctx context.Context, ep *endpoint) (*httpReply, error) {
	c := newNTLMClient(a.username, a.password, a.domain)
	negotiate, err := c.negotiateMessage()
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Authorization", "Negotiate "+base64.StdEncoding.EncodeToString(negotiate))
	reply, err := ep.do(ctx, nil, h)
	if err != nil {
		return nil, err
	}
	challenge, ok := negotiateToken(reply.header.Values("WWW-Authenticate"))
	if reply.status != http.StatusUnauthorized || !ok || len(challenge) == 0 {
		if reply.status == http.StatusUnauthorized {
			return reply, nil
		}
		return nil, &transport.Error{Class: transport.ClassProtocol, Transient: reply.status >= 500,
			Message: fmt.Sprintf("%s answered NTLM's NEGOTIATE with HTTP %d and no challenge", ep.host, reply.status),
			Hint:    "the WinRM service failed, or something between (a proxy, a load balancer) answered for it; check the host's WinRM service and event log"}
	}
	var bindings *ntlmChannelBindings
	if reply.peerCert != nil {
		bindings = channelBindings(reply.peerCert)
	}
	authenticate, session, err := a.answerChallenge(c, challenge, bindings)
	if err != nil {
		return nil, err
	}
	h.Set("Authorization", "Negotiate "+base64.StdEncoding.EncodeToString(authenticate))
	reply, err = ep.do(ctx, nil, h)
	if err != nil {
		return nil, err
	}
	if reply.status != http.StatusOK {
		if reply.status == http.StatusUnauthorized {
			return reply, nil
		}
		return nil, fmt.Errorf("ntlm: the server answered AUTHENTICATE with HTTP %d", reply.status)
	}
	a.authenticated, a.session = true, session
	return nil, nil
}

// answerChallenge builds the AUTHENTICATE message for the server's
// CHALLENGE with c, whose NEGOTIATE message was sent, and the sealer for
// the context when messages are sealed. When the CHALLENGE negotiates
// what ntlmClient does not implement, bodgit's client answers instead
// (bodgitAnswer).
func (a *ntlmAuth) answerChallenge(c *ntlmClient, challenge []byte, bindings *ntlmChannelBindings) ([]byte, sealer, error) {
	res, err := c.authenticate(challenge, bindings)
	if errors.Is(err, errNTLMNotSupported) {
		return a.bodgitAnswer(c.negotiate, challenge, bindings)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("ntlm: answer the host's CHALLENGE: %w; check that the target is a WinRM service and nothing between rewrites its answers", err)
	}
	if !a.seal || res.flags&ntlmFlagSeal == 0 {
		// ntlmClient does not answer a server that signs without sealing,
		// so without SEAL there is no message protection at all.
		return res.message, nil, nil
	}
	s, err := newNTLMSession(res.flags, res.exportedKey[:], true)
	if err != nil {
		return nil, nil, fmt.Errorf("ntlm: make the session keys: %w; report this as a bug, or use HTTPS (the message is then not sealed)", err)
	}
	return res.message, s, nil
}

// bodgitAnswer answers challenge with bodgit/ntlmssp's client, as every
// handshake did before ntlmClient, for what ntlmClient does not implement
// (no Unicode, no extended session security, signing without sealing,
// anonymous). The NEGOTIATE message the server saw was ntlmClient's,
// negotiate; bodgit builds the same bytes, which its MIC covers, and this
// is checked.
func (a *ntlmAuth) bodgitAnswer(negotiate, challenge []byte, bindings *ntlmChannelBindings) ([]byte, sealer, error) {
	c, err := ntlmssp.NewClient(ntlmssp.SetUserInfo(a.username, a.password), ntlmssp.SetDomain(a.domain), ntlmssp.SetVersion(ntlmssp.DefaultVersion()))
	if err != nil {
		return nil, nil, fmt.Errorf("ntlm: %w", err)
	}
	theirs, err := c.Authenticate(nil, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("ntlm: build NEGOTIATE: %w", err)
	}
	if !bytes.Equal(theirs, negotiate) {
		return nil, nil, errors.New("ntlm: bodgit/ntlmssp's NEGOTIATE message differs from the one sent, so its AUTHENTICATE could not be checked by the host; report this as a bug, or use Kerberos")
	}
	var cb *ntlmssp.ChannelBindings
	if bindings != nil {
		cb = bindings.bodgit()
	}
	authenticate, err := c.Authenticate(challenge, cb)
	if err != nil {
		return nil, nil, fmt.Errorf("ntlm: answer CHALLENGE: %w", err)
	}
	if !a.seal {
		return authenticate, nil, nil
	}
	session, err := a.ntlmSessionFor(c, authenticate)
	if err != nil {
		return nil, nil, err
	}
	return authenticate, session, nil
}

// negotiateToken finds the token of a "Negotiate <base64>" challenge.
func negotiateToken(values []string) ([]byte, bool) {
	for _, v := range values {
		scheme, token, found := strings.Cut(strings.TrimSpace(v), " ")
		if !strings.EqualFold(scheme, "Negotiate") || !found {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(token))
		return b, err == nil
	}
	return nil, false
}

// channelBindings are the RFC 5929 tls-server-end-point bindings of the
// server's certificate, which Windows checks under CbtHardeningLevel
// Strict: the certificate hashed with its signature's hash, SHA-256 for MD5
// and SHA-1.
func channelBindings(cert *x509.Certificate) *ntlmChannelBindings {
	h := crypto.SHA256
	switch cert.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h = crypto.SHA384
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h = crypto.SHA512
	}
	var sum []byte
	if h == crypto.SHA256 {
		s := sha256.Sum256(cert.Raw)
		sum = s[:]
	} else {
		hh := h.New()
		hh.Write(cert.Raw)
		sum = hh.Sum(nil)
	}
	return &ntlmChannelBindings{applicationData: append([]byte("tls-server-end-point:"), sum...)}
}

// bodgit is b as bodgit/ntlmssp's ChannelBindings.
func (b *ntlmChannelBindings) bodgit() *ntlmssp.ChannelBindings {
	return &ntlmssp.ChannelBindings{
		InitiatorAddrtype: b.initiatorAddrType, InitiatorAddress: b.initiatorAddress,
		AcceptorAddrtype: b.acceptorAddrType, AcceptorAddress: b.acceptorAddress,
		ApplicationData: b.applicationData,
	}
}

// splitUser separates DOMAIN\user and user@domain.
func splitUser(u string) (user, domain string) {
	if d, name, ok := strings.Cut(u, `\`); ok {
		return name, d
	}
	if name, d, ok := strings.Cut(u, "@"); ok {
		return name, d
	}
	return u, ""
}
