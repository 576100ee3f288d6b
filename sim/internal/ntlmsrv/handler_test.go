package ntlmsrv

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	azntlm "github.com/Azure/go-ntlmssp"
	"github.com/bodgit/ntlmssp"
	ntlmhttp "github.com/bodgit/ntlmssp/http"
	"github.com/google/go-cmp/cmp"
	"github.com/masterzen/winrm"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	testUser      = "Administrator"
	testPassword  = "Sim-Passw0rd!"
	wrongPassword = "Not-The-Passw0rd"
	soapEnvelope  = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>%s</s:Body></s:Envelope>`
)

// echo is the wrapped handler of every test: it answers with a SOAP
// envelope naming the authenticated user, the Content-Type and
// Authorization it saw, and the request body. A body containing "fault"
// is answered with 500, as a WS-Man fault is.
func echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", soapContentType)
	if bytes.Contains(body, []byte("fault")) {
		w.WriteHeader(http.StatusInternalServerError)
	}
	fmt.Fprintf(w, soapEnvelope, echoBody(User(r.Context()), r.Header.Get("Content-Type"), r.Header.Get("Authorization"), string(body)))
}

func echoBody(user, contentType, authorization, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<Echo user=%q type=%q auth=%q>`, user, contentType, authorization)
	if err := xml.EscapeText(&b, []byte(body)); err != nil {
		panic(err)
	}
	b.WriteString(`</Echo>`)
	return b.String()
}

// echoed is what echo answers to body sent by user as SOAP.
func echoed(user, body string) string {
	return fmt.Sprintf(soapEnvelope, echoBody(user, soapContentType, "", body))
}

// host is one simulated host under test. It is served by a plain
// http.Server rather than httptest.Server, whose Close also closes
// http.DefaultTransport's idle connections: masterzen/winrm's encrypted
// transport posts through that shared transport, and parallel tests would
// cut one another's NTLM handshakes.
type host struct {
	URL      string
	tls      bool
	conns    atomic.Int32
	mu       sync.Mutex
	failures []string
}

func (h *host) authFailures() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.failures...)
}

func newPolicy() Policy {
	return Policy{
		Users:        Accounts(map[string]string{testUser: testPassword}),
		Basic:        true,
		Negotiate:    true,
		ComputerName: "WIN-TEST01",
	}
}

// startHost serves Handler(p, echo) on loopback, over TLS when useTLS is
// set, until the test ends.
func startHost(t *testing.T, p Policy, useTLS bool) *host {
	t.Helper()
	h := &host{tls: useTLS}
	p.OnAuthFailure = func(reason string) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.failures = append(h.failures, reason)
	}
	serve(t, h, Handler(p, http.HandlerFunc(echo)), ConnContext)
	return h
}

func serve(t *testing.T, h *host, handler http.Handler, connContext func(context.Context, net.Conn) context.Context) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:     handler,
		ConnContext: connContext,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				h.conns.Add(1)
			}
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	scheme := "http"
	if h.tls {
		scheme = "https"
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{testCert(t).tls}})
	}
	h.URL = scheme + "://" + ln.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Serve returns ErrServerClosed once Close runs below.
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		// Close ends every connection, so clients' reader goroutines end too.
		_ = srv.Close()
		<-done
	})
}

type certificate struct {
	tls tls.Certificate
	pem []byte
}

// testCert is a self-signed certificate for 127.0.0.1, made once.
var testCert = func() func(t *testing.T) certificate {
	var once sync.Once
	var c certificate
	var err error
	return func(t *testing.T) certificate {
		once.Do(func() {
			var key *ecdsa.PrivateKey
			key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return
			}
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(1),
				Subject:      pkix.Name{CommonName: "WIN-TEST01"},
				IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
				NotBefore:    time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
				NotAfter:     time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC),
				KeyUsage:     x509.KeyUsageDigitalSignature,
				ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}
			var der []byte
			der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
			if err != nil {
				return
			}
			c.tls = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
			c.pem = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		})
		if err != nil {
			t.Fatalf("test certificate: %v", err)
		}
		return c
	}
}()

func (h *host) endpoint(t *testing.T) *winrm.Endpoint {
	u, err := url.Parse(h.URL)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	ep := winrm.NewEndpoint(u.Hostname(), port, h.tls, false, nil, nil, nil, 10*time.Second)
	if h.tls {
		ep.CACert = testCert(t).pem
	}
	return ep
}

func (h *host) wsmanURL() string { return h.URL + "/wsman" }

// client is an HTTP client of its own, so that tests can tell connections
// apart; its idle connections are closed at cleanup.
func (h *host) client(t *testing.T) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(testCert(t).pem)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// transports builds the masterzen/winrm transports the tests use.
var transports = map[string]func(t *testing.T) winrm.Transporter{
	"encrypted ntlm": func(t *testing.T) winrm.Transporter {
		enc, err := winrm.NewEncryption("ntlm")
		if err != nil {
			t.Fatalf("winrm.NewEncryption: %v", err)
		}
		// Encryption posts through http.DefaultTransport, shared by the
		// parallel tests, so its idle connections are not closed here (that
		// would cut other tests' handshakes); each host's Close ends them.
		return enc
	},
	"plain ntlm": func(*testing.T) winrm.Transporter { return &winrm.ClientNTLM{} },
	"basic":      func(*testing.T) winrm.Transporter { return winrm.NewClientWithDial(nil) },
}

// masterzenPost sends one real WS-Man request (a shell Create) through a
// masterzen/winrm transport and returns what the transport's Post returns,
// with the message it sent.
func masterzenPost(t *testing.T, h *host, c *winrm.Client, tr winrm.Transporter) (string, string, error) {
	t.Helper()
	msg := winrm.NewOpenShellRequest(h.wsmanURL(), winrm.DefaultParameters)
	defer msg.Free()
	sent := msg.String()
	got, err := tr.Post(c, msg)
	return got, sent, err
}

func masterzenClient(t *testing.T, h *host, user, password string, tr winrm.Transporter) *winrm.Client {
	t.Helper()
	params := winrm.NewParameters("PT60S", "en-US", 153600)
	params.TransportDecorator = func() winrm.Transporter { return tr }
	c, err := winrm.NewClientWithParameters(h.endpoint(t), user, password, params)
	if err != nil {
		t.Fatalf("winrm.NewClientWithParameters: %v", err)
	}
	return c
}

func TestUnauthenticatedRequestIsChallenged(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(*Policy)
		tls    bool
		want   []string
	}{
		{"http offers only Negotiate while unencrypted traffic is refused", nil, false, []string{"Negotiate"}},
		{"http offers Negotiate and Basic when unencrypted traffic is allowed", func(p *Policy) { p.AllowUnencrypted = true }, false, []string{"Negotiate", `Basic realm="WSMAN"`}},
		{"https offers Negotiate and Basic", nil, true, []string{"Negotiate", `Basic realm="WSMAN"`}},
		{"https with Basic disabled offers Negotiate", func(p *Policy) { p.Basic = false }, true, []string{"Negotiate"}},
		{"https with Negotiate disabled offers Basic", func(p *Policy) { p.Negotiate = false }, true, []string{`Basic realm="WSMAN"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPolicy()
			if tt.modify != nil {
				tt.modify(&p)
			}
			h := startHost(t, p, tt.tls)
			resp, err := h.client(t).Post(h.wsmanURL(), soapContentType, strings.NewReader("<s:Envelope/>"))
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", resp.StatusCode)
			}
			if diff := cmp.Diff(tt.want, resp.Header.Values("WWW-Authenticate")); diff != "" {
				t.Errorf("WWW-Authenticate mismatch (-want +got):\n%s", diff)
			}
			if got := resp.Header.Get("Server"); got != serverHeader {
				t.Errorf("Server %q, want %q", got, serverHeader)
			}
			if len(body) != 0 || resp.ContentLength != 0 {
				t.Errorf("body %q (Content-Length %d), want empty", body, resp.ContentLength)
			}
			if f := h.authFailures(); len(f) != 0 {
				t.Errorf("an anonymous request reported auth failures: %q", f)
			}
		})
	}
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatalf("closing response: %v", err)
	}
	return b
}

// TestMasterzenEncryptedPostsShareOneConnection runs masterzen/winrm's
// encrypted transport unchanged: every Post makes a new NTLM client, probes
// with an empty POST, authenticates in three legs and sends the sealed
// request on the same socket.
func TestMasterzenEncryptedPostsShareOneConnection(t *testing.T) {
	t.Parallel()
	h := startHost(t, newPolicy(), false)
	for _, user := range []string{testUser, "administrator", `WIN-TEST01\Administrator`, "Administrator@WIN-TEST01"} {
		tr := transports["encrypted ntlm"](t)
		c := masterzenClient(t, h, user, testPassword, tr)
		for i := range 3 {
			got, sent, err := masterzenPost(t, h, c, tr)
			if err != nil {
				t.Fatalf("user %q, post %d: %v (conns %d, failures %q)", user, i, err, h.conns.Load(), h.authFailures())
			}
			if diff := cmp.Diff(echoed(accountName(user), sent), got); diff != "" {
				t.Errorf("user %q, post %d: response mismatch (-want +got):\n%s", user, i, diff)
			}
		}
	}
	if n := h.conns.Load(); n != 1 {
		t.Errorf("server saw %d connections, want every post on 1", n)
	}
	if f := h.authFailures(); len(f) != 0 {
		t.Errorf("auth failures reported: %q", f)
	}
}

// TestMasterzenTransportsFollowPolicy runs each masterzen/winrm transport
// against the policies it must pass or fail, and checks that a refusal is
// an HTTP 401 the client reports, and is reported to OnAuthFailure without
// the password.
func TestMasterzenTransportsFollowPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		transport string
		modify    func(*Policy)
		tls       bool
		user      string
		password  string
		wantErr   string // empty: the post must succeed
	}{
		{name: "encrypted ntlm over http", transport: "encrypted ntlm"},
		{name: "encrypted ntlm over http with unencrypted traffic allowed", transport: "encrypted ntlm", modify: allowUnencrypted},
		{name: "encrypted ntlm with a wrong password", transport: "encrypted ntlm", password: wrongPassword, wantErr: "401"},
		{name: "encrypted ntlm with an unknown user", transport: "encrypted ntlm", user: "mallory", wantErr: "401"},
		{name: "plain ntlm over http with unencrypted traffic allowed", transport: "plain ntlm", modify: allowUnencrypted},
		{name: "plain ntlm over http refused while unencrypted traffic is refused", transport: "plain ntlm", wantErr: "http response error: 401"},
		{name: "plain ntlm over https", transport: "plain ntlm", tls: true},
		{name: "plain ntlm with a wrong password", transport: "plain ntlm", modify: allowUnencrypted, password: wrongPassword, wantErr: "http response error: 401"},
		{name: "basic over http with unencrypted traffic allowed", transport: "basic", modify: allowUnencrypted},
		{name: "basic over http refused while unencrypted traffic is refused", transport: "basic", wantErr: "http response error: 401"},
		{name: "basic over https", transport: "basic", tls: true},
		{name: "basic over https with a domain-qualified name", transport: "basic", tls: true, user: `WIN-TEST01\administrator`},
		{name: "basic over https with a wrong password", transport: "basic", tls: true, password: wrongPassword, wantErr: "http response error: 401"},
		{name: "basic over https refused when disabled", transport: "basic", tls: true, modify: func(p *Policy) { p.Basic = false }, wantErr: "http response error: 401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPolicy()
			if tt.modify != nil {
				tt.modify(&p)
			}
			user, password := orDefault(tt.user, testUser), orDefault(tt.password, testPassword)
			h := startHost(t, p, tt.tls)
			tr := transports[tt.transport](t)
			got, sent, err := masterzenPost(t, h, masterzenClient(t, h, user, password, tr), tr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("post error = %v, want one containing %q", err, tt.wantErr)
				}
				failures := h.authFailures()
				if len(failures) == 0 {
					t.Error("OnAuthFailure was not called")
				}
				for _, f := range failures {
					if strings.Contains(f, password) {
						t.Errorf("failure reason %q contains the password", f)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("post: %v", err)
			}
			if diff := cmp.Diff(echoed(accountName(user), sent), got); diff != "" {
				t.Errorf("response mismatch (-want +got):\n%s", diff)
			}
			if f := h.authFailures(); len(f) != 0 {
				t.Errorf("auth failures reported: %q", f)
			}
		})
	}
}

func allowUnencrypted(p *Policy) { p.AllowUnencrypted = true }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ntlmClient authenticates a fresh bodgit/ntlmssp client on c's connection
// with two empty POSTs, checking each leg's answer.
func ntlmClient(t *testing.T, c *http.Client, url, user, password string) *ntlmssp.Client {
	t.Helper()
	nc, err := ntlmssp.NewClient(ntlmssp.SetUserInfo(user, password), ntlmssp.SetVersion(ntlmssp.DefaultVersion()))
	if err != nil {
		t.Fatal(err)
	}
	negotiate, err := nc.Authenticate(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp := post(t, c, url, "Negotiate "+base64.StdEncoding.EncodeToString(negotiate), soapContentType, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("NEGOTIATE leg answered %d, want 401", resp.StatusCode)
	}
	challenges := resp.Header.Values("WWW-Authenticate")
	if len(challenges) != 1 || !strings.HasPrefix(challenges[0], "Negotiate ") {
		t.Fatalf("NEGOTIATE leg WWW-Authenticate %q, want one Negotiate <challenge>", challenges)
	}
	challenge, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(challenges[0], "Negotiate "))
	if err != nil {
		t.Fatal(err)
	}
	authenticate, err := nc.Authenticate(challenge, nil)
	if err != nil {
		t.Fatalf("client rejected the challenge: %v", err)
	}
	resp = post(t, c, url, "Negotiate "+base64.StdEncoding.EncodeToString(authenticate), soapContentType, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("AUTHENTICATE leg answered %d, want 200", resp.StatusCode)
	}
	return nc
}

// response is a fully read HTTP response.
type response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

func post(t *testing.T, c *http.Client, url, authorization, contentType string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, readAll(t, resp)}
}

// seal seals plaintext with the client's context and frames it as
// masterzen/winrm and pywinrm do (their byte-for-byte concatenation).
func seal(t *testing.T, nc *ntlmssp.Client, plaintext string) (body []byte, contentType string) {
	t.Helper()
	sealed, sig, err := nc.SecuritySession().Wrap([]byte(plaintext))
	if err != nil {
		t.Fatal(err)
	}
	body = fmt.Appendf(nil, "--Encrypted Boundary\r\n"+
		"\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n"+
		"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=%d\r\n"+
		"--Encrypted Boundary\r\n"+
		"\tContent-Type: application/octet-stream\r\n", len(plaintext))
	body = binary.LittleEndian.AppendUint32(body, uint32(len(sig)))
	body = append(append(body, sig...), sealed...)
	body = append(body, "--Encrypted Boundary--\r\n"...)
	return body, `multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"`
}

// unseal checks the framing of a sealed response exactly as
// masterzen/winrm and pywinrm split it, and unseals it.
func unseal(t *testing.T, nc *ntlmssp.Client, resp response) string {
	t.Helper()
	if got := resp.Header.Get("Content-Type"); got != encryptedContentType {
		t.Fatalf("response Content-Type %q, want %q", got, encryptedContentType)
	}
	const dash = "--Encrypted Boundary\r\n"
	parts := bytes.Split(resp.Body, []byte(dash))
	if len(parts) != 3 || len(parts[0]) != 0 {
		t.Fatalf("response body does not split into two parts on %q: %q", dash, resp.Body)
	}
	header, payload := string(parts[1]), parts[2]
	_, length, ok := strings.Cut(header, "Length=")
	if !ok || !strings.HasPrefix(header, "\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=") {
		t.Fatalf("response header part %q", header)
	}
	payload, ok = bytes.CutPrefix(payload, []byte("\tContent-Type: application/octet-stream\r\n"))
	if !ok {
		t.Fatalf("response data part %q", payload)
	}
	payload, ok = bytes.CutSuffix(payload, []byte("--Encrypted Boundary--\r\n"))
	if !ok {
		t.Fatalf("response does not end with the closing boundary: %q", payload)
	}
	sigLen := binary.LittleEndian.Uint32(payload)
	plain, err := nc.SecuritySession().Unwrap(payload[4+sigLen:], payload[4:4+sigLen])
	if err != nil {
		t.Fatalf("unwrap: %v", err)
	}
	if want := strings.TrimSpace(length); want != fmt.Sprint(len(plain)) {
		t.Errorf("Length=%s but the plaintext has %d bytes", want, len(plain))
	}
	return string(plain)
}

// TestSealedMessagesOnOneContext authenticates once and sends several
// sealed messages on the connection, as pywinrm does: sequence numbers and
// RC4 states run on in both directions, and a fault keeps its status code
// inside the sealed framing.
func TestSealedMessagesOnOneContext(t *testing.T) {
	t.Parallel()
	h := startHost(t, newPolicy(), false)
	c := h.client(t)
	nc := ntlmClient(t, c, h.wsmanURL(), testUser, testPassword)
	for i, tc := range []struct {
		body       string
		wantStatus int
	}{
		{"<s:Envelope>first</s:Envelope>", http.StatusOK},
		{"<s:Envelope>a fault</s:Envelope>", http.StatusInternalServerError},
		{strings.Repeat("<s:Envelope>third, longer than a buffer</s:Envelope>", 500), http.StatusOK},
	} {
		body, ct := seal(t, nc, tc.body)
		resp := post(t, c, h.wsmanURL(), "", ct, body)
		if resp.StatusCode != tc.wantStatus {
			t.Errorf("message %d: status %d, want %d", i, resp.StatusCode, tc.wantStatus)
		}
		if got := unseal(t, nc, resp); got != echoed(testUser, tc.body) {
			t.Errorf("message %d: unsealed %q, want %q", i, got, echoed(testUser, tc.body))
		}
	}
	if n := h.conns.Load(); n != 1 {
		t.Errorf("server saw %d connections, want 1", n)
	}
}

// TestBodgitEncryptingClient runs bodgit/ntlmssp/http with encryption on,
// a third independent framing (mime/multipart rewritten to WinRM's form,
// with Length counting the whole data part). Its rewriting reads the parts
// line by line and loses CR LF inside the binary data, so a sealed message
// whose random bytes hold CR LF is damaged on the client's side (only
// short messages are tried; the sealed-message tests above cover long
// ones). A run that met that defect — seen on the wire — proves nothing
// about the server and is tried again with a new security context; any
// other failure is the server's.
func TestBodgitEncryptingClient(t *testing.T) {
	t.Parallel()
	wire := &wireRecorder{}
	h := &host{}
	serve(t, h, wire.wrap(Handler(newPolicy(), http.HandlerFunc(echo))), ConnContext)
	const attempts = 5
	for attempt := 1; ; attempt++ {
		problem, clientDefect := bodgitExchange(t, h, wire)
		switch {
		case problem == "":
			return
		case !clientDefect:
			t.Fatal(problem)
		case attempt == attempts:
			t.Fatalf("%d attempts met bodgit's CR LF defect; the last: %s", attempts, problem)
		}
		t.Logf("attempt %d met bodgit's CR LF defect (%s); again with a new context", attempt, problem)
	}
}

// bodgitExchange sets up a sealed context with bodgit's client and sends
// three messages. It returns what went wrong, if anything, and whether a
// message on the wire shows bodgit's CR LF defect.
func bodgitExchange(t *testing.T, h *host, wire *wireRecorder) (problem string, clientDefect bool) {
	t.Helper()
	nc, err := ntlmssp.NewClient(ntlmssp.SetUserInfo(testUser, testPassword), ntlmssp.SetVersion(ntlmssp.DefaultVersion()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ntlmhttp.NewClient(h.client(t), nc, ntlmhttp.Encryption(true))
	if err != nil {
		t.Fatal(err)
	}
	// The empty POST that sets up the context, as pywinrm sends it.
	resp, err := c.Post(h.wsmanURL(), soapContentType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("setup status %d, want 200", resp.StatusCode)
	}
	readAll(t, resp)
	for i := range 3 {
		body := fmt.Sprintf("<s:Envelope>message %d</s:Envelope>", i)
		// bodgit's wrap replaces the body but not req.ContentLength, so the
		// body is given as a reader net/http cannot size (sent chunked).
		resp, err := c.Post(h.wsmanURL(), soapContentType, io.MultiReader(strings.NewReader(body)))
		if err != nil {
			return fmt.Sprintf("message %d: %v", i, err), wire.sawDefect()
		}
		if got := string(readAll(t, resp)); got != echoed(testUser, body) {
			return fmt.Sprintf("message %d: got %q, want %q", i, got, echoed(testUser, body)), wire.sawDefect()
		}
	}
	return "", false
}

// wireRecorder keeps the last request and response bodies the server
// read and wrote.
type wireRecorder struct {
	mu        sync.Mutex
	req, resp []byte
}

func (w *wireRecorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var req bytes.Buffer
		r.Body = io.NopCloser(io.TeeReader(r.Body, &req))
		rec := &teeWriter{ResponseWriter: rw}
		next.ServeHTTP(rec, r)
		w.mu.Lock()
		w.req, w.resp = req.Bytes(), rec.body.Bytes()
		w.mu.Unlock()
	})
}

// teeWriter keeps a copy of the body written through it.
type teeWriter struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (t *teeWriter) Write(p []byte) (int, error) {
	t.body.Write(p)
	return t.ResponseWriter.Write(p)
}

// sawDefect reports whether the last request went out with its sealed data
// shorter than its Length says (bodgit dropped CR LF from it), or the last
// response's sealed data holds CR LF (bodgit's reading would drop it).
func (w *wireRecorder) sawDefect() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if data, length, ok := sealedPart(w.req); ok && len(data) != 4+16+length {
		return true
	}
	data, _, ok := sealedPart(w.resp)
	return ok && bytes.Contains(data, []byte("\r\n"))
}

// sealedPart finds, in a WinRM-encrypted multipart body, the binary part
// (signature length, signature, sealed message) and the Length the
// message says it has.
func sealedPart(body []byte) (data []byte, length int, ok bool) {
	_, rest, ok := bytes.Cut(body, []byte("Length="))
	if !ok {
		return nil, 0, false
	}
	digits, _, _ := bytes.Cut(rest, []byte("\r\n"))
	length, err := strconv.Atoi(string(bytes.TrimSpace(digits)))
	if err != nil {
		return nil, 0, false
	}
	_, rest, ok = bytes.Cut(rest, []byte("application/octet-stream\r\n"))
	if !ok {
		return nil, 0, false
	}
	data, _, ok = bytes.Cut(rest, []byte("--Encrypted Boundary--"))
	return data, length, ok
}

func TestRequestsWithoutAUsableContext(t *testing.T) {
	t.Parallel()
	h := startHost(t, newPolicy(), false)

	t.Run("a sealed message on a connection without context is answered 400", func(t *testing.T) {
		t.Parallel()
		nc := ntlmClient(t, h.client(t), h.wsmanURL(), testUser, testPassword)
		body, ct := seal(t, nc, "<s:Envelope/>")
		if resp := post(t, h.client(t), h.wsmanURL(), "", ct, body); resp.StatusCode != http.StatusBadRequest || len(resp.Body) != 0 {
			t.Errorf("status %d body %q, want 400 and empty", resp.StatusCode, resp.Body)
		}
	})

	t.Run("a replayed message is answered 400 and drops the context", func(t *testing.T) {
		t.Parallel()
		c := h.client(t)
		nc := ntlmClient(t, c, h.wsmanURL(), testUser, testPassword)
		body, ct := seal(t, nc, "<s:Envelope/>")
		if resp := post(t, c, h.wsmanURL(), "", ct, body); resp.StatusCode != http.StatusOK {
			t.Fatalf("first sending: status %d, want 200", resp.StatusCode)
		}
		if resp := post(t, c, h.wsmanURL(), "", ct, body); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("replay: status %d, want 400", resp.StatusCode)
		}
		body, ct = seal(t, nc, "<s:Envelope>next</s:Envelope>")
		if resp := post(t, c, h.wsmanURL(), "", ct, body); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("after the replay: status %d, want 400", resp.StatusCode)
		}
	})

	t.Run("garbage in the encrypted framing is answered 400", func(t *testing.T) {
		t.Parallel()
		c := h.client(t)
		ntlmClient(t, c, h.wsmanURL(), testUser, testPassword)
		resp := post(t, c, h.wsmanURL(), "", encryptedContentType, []byte("--Encrypted Boundary\r\nnonsense"))
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d, want 400", resp.StatusCode)
		}
	})

	t.Run("an empty probe on an authenticated connection is challenged again", func(t *testing.T) {
		t.Parallel()
		c := h.client(t)
		ntlmClient(t, c, h.wsmanURL(), testUser, testPassword)
		resp := post(t, c, h.wsmanURL(), "", soapContentType, nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", resp.StatusCode)
		}
		if diff := cmp.Diff([]string{"Negotiate"}, resp.Header.Values("WWW-Authenticate")); diff != "" {
			t.Errorf("WWW-Authenticate mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("an unsealed body on an authenticated http connection is refused", func(t *testing.T) {
		t.Parallel()
		c := h.client(t)
		ntlmClient(t, c, h.wsmanURL(), testUser, testPassword)
		if resp := post(t, c, h.wsmanURL(), "", soapContentType, []byte("<s:Envelope/>")); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", resp.StatusCode)
		}
	})

	t.Run("an authenticate message without a challenge is refused", func(t *testing.T) {
		t.Parallel()
		resp := post(t, h.client(t), h.wsmanURL(), "Negotiate "+base64.StdEncoding.EncodeToString(specAuthenticate(t).marshal()), soapContentType, nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", resp.StatusCode)
		}
	})

	t.Run("an SPNEGO token is refused", func(t *testing.T) {
		t.Parallel()
		resp := post(t, h.client(t), h.wsmanURL(), "Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnag", soapContentType, nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", resp.StatusCode)
		}
	})
}

func TestWithoutConnContextNTLMFailsLoudlyAndBasicWorks(t *testing.T) {
	t.Parallel()
	h := &host{tls: true}
	serve(t, h, Handler(newPolicy(), http.HandlerFunc(echo)), nil)
	c := h.client(t)

	nc, err := ntlmssp.NewClient(ntlmssp.SetUserInfo(testUser, testPassword))
	if err != nil {
		t.Fatal(err)
	}
	negotiate, err := nc.Authenticate(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp := post(t, c, h.wsmanURL(), "Negotiate "+base64.StdEncoding.EncodeToString(negotiate), soapContentType, nil); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("ntlm without ConnContext: status %d, want 500", resp.StatusCode)
	}

	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(testUser+":"+testPassword))
	resp := post(t, c, h.wsmanURL(), basic, soapContentType, []byte("<s:Envelope/>"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("basic: status %d, want 200", resp.StatusCode)
	}
	if got := string(resp.Body); got != echoed(testUser, "<s:Envelope/>") {
		t.Errorf("basic: got %q", got)
	}
}

// TestLargeBodyDuringHandshakeKeepsTheConnection sends a body larger than
// net/http discards on its own with every leg of a plain NTLM handshake,
// as Azure/go-ntlmssp (masterzen's ClientNTLM) does: the connection, and
// with it the NTLM context, must survive the 401 legs.
func TestLargeBodyDuringHandshakeKeepsTheConnection(t *testing.T) {
	t.Parallel()
	p := newPolicy()
	p.AllowUnencrypted = true
	h := startHost(t, p, false)
	c := h.client(t)
	c.Transport = azntlm.Negotiator{RoundTripper: c.Transport}
	body := "<s:Envelope>" + strings.Repeat("A", 600<<10) + "</s:Envelope>"
	req, err := http.NewRequest(http.MethodPost, h.wsmanURL(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", soapContentType)
	req.SetBasicAuth(testUser, testPassword)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200 (auth failures %q)", resp.StatusCode, h.authFailures())
	}
	if string(got) != echoed(testUser, body) {
		t.Errorf("echo of the large body differs")
	}
	if n := h.conns.Load(); n != 1 {
		t.Errorf("server saw %d connections, want 1", n)
	}
}

// TestConcurrentConnectionsKeepTheirOwnContexts runs several clients at
// once against one host, each authenticating its own connection and
// sending sealed messages on it.
func TestConcurrentConnectionsKeepTheirOwnContexts(t *testing.T) {
	t.Parallel()
	h := startHost(t, newPolicy(), false)
	for i := range 8 {
		t.Run(fmt.Sprintf("client %d", i), func(t *testing.T) {
			t.Parallel()
			c := h.client(t)
			nc := ntlmClient(t, c, h.wsmanURL(), testUser, testPassword)
			for j := range 5 {
				msg := fmt.Sprintf("<s:Envelope>client %d message %d</s:Envelope>", i, j)
				body, ct := seal(t, nc, msg)
				resp := post(t, c, h.wsmanURL(), "", ct, body)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("message %d: status %d", j, resp.StatusCode)
				}
				if got := unseal(t, nc, resp); got != echoed(testUser, msg) {
					t.Errorf("message %d: got %q", j, got)
				}
			}
		})
	}
}

// TestAuthorizeRefusesAnAccountThatLoggedOn: an account whose password is
// right but which the service's access check turns away (WinRM's RootSDDL
// against a UAC-filtered token) gets what a wrong password gets — 401 with
// the offered schemes and no body, after the AUTHENTICATE message for NTLM
// and at once for Basic — and its connection keeps no NTLM context.
func TestAuthorizeRefusesAnAccountThatLoggedOn(t *testing.T) {
	t.Parallel()
	const filtered, filteredPassword = "LocalAdmin", "Filtered-Passw0rd!"
	p := newPolicy()
	p.Users = Accounts(map[string]string{testUser: testPassword, filtered: filteredPassword})
	// The clients below qualify the name (WIN-TEST01\LocalAdmin,
	// LocalAdmin@corp.example): the check refuses only if it gets the bare
	// name, as Users does.
	p.Authorize = func(user string) error {
		if strings.EqualFold(user, filtered) {
			return fmt.Errorf("token filtered")
		}
		return nil
	}

	t.Run("ntlm: 401 to the AUTHENTICATE leg, and no context", func(t *testing.T) {
		t.Parallel()
		h := startHost(t, p, false)
		c := h.client(t)
		nc, err := ntlmssp.NewClient(ntlmssp.SetUserInfo(`WIN-TEST01\`+filtered, filteredPassword), ntlmssp.SetVersion(ntlmssp.DefaultVersion()))
		if err != nil {
			t.Fatal(err)
		}
		negotiate, err := nc.Authenticate(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp := post(t, c, h.wsmanURL(), "Negotiate "+base64.StdEncoding.EncodeToString(negotiate), soapContentType, nil)
		challenge, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(resp.Header.Get("WWW-Authenticate"), "Negotiate "))
		if resp.StatusCode != http.StatusUnauthorized || err != nil {
			t.Fatalf("NEGOTIATE leg: status %d, challenge error %v", resp.StatusCode, err)
		}
		authenticate, err := nc.Authenticate(challenge, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp = post(t, c, h.wsmanURL(), "Negotiate "+base64.StdEncoding.EncodeToString(authenticate), soapContentType, nil)
		if resp.StatusCode != http.StatusUnauthorized || len(resp.Body) != 0 {
			t.Errorf("AUTHENTICATE leg: status %d body %q, want 401 and empty", resp.StatusCode, resp.Body)
		}
		if diff := cmp.Diff([]string{"Negotiate"}, resp.Header.Values("WWW-Authenticate")); diff != "" {
			t.Errorf("WWW-Authenticate mismatch (-want +got):\n%s", diff)
		}
		// The refused logon left no session key on the connection.
		body, ct := seal(t, nc, "<s:Envelope/>")
		if resp := post(t, c, h.wsmanURL(), "", ct, body); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("sealed message after the refusal: status %d, want 400", resp.StatusCode)
		}
		want := []string{`ntlm logon of "WIN-TEST01\\LocalAdmin" succeeded but access is denied: token filtered`}
		if diff := cmp.Diff(want, h.authFailures()); diff != "" {
			t.Errorf("auth failures (-want +got):\n%s", diff)
		}
	})

	t.Run("basic: 401 at once", func(t *testing.T) {
		t.Parallel()
		h := startHost(t, p, true)
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(filtered+"@corp.example:"+filteredPassword))
		resp := post(t, h.client(t), h.wsmanURL(), auth, soapContentType, []byte("<s:Envelope/>"))
		if resp.StatusCode != http.StatusUnauthorized || len(resp.Body) != 0 {
			t.Errorf("status %d body %q, want 401 and empty", resp.StatusCode, resp.Body)
		}
		if diff := cmp.Diff([]string{"Negotiate", `Basic realm="WSMAN"`}, resp.Header.Values("WWW-Authenticate")); diff != "" {
			t.Errorf("WWW-Authenticate mismatch (-want +got):\n%s", diff)
		}
		want := []string{`basic logon of "LocalAdmin@corp.example" succeeded but access is denied: token filtered`}
		if diff := cmp.Diff(want, h.authFailures()); diff != "" {
			t.Errorf("auth failures (-want +got):\n%s", diff)
		}
	})

	t.Run("an account the check lets in is served", func(t *testing.T) {
		t.Parallel()
		h := startHost(t, p, false)
		c := h.client(t)
		nc := ntlmClient(t, c, h.wsmanURL(), testUser, testPassword)
		body, ct := seal(t, nc, "<s:Envelope/>")
		resp := post(t, c, h.wsmanURL(), "", ct, body)
		if got := unseal(t, nc, resp); got != echoed(testUser, "<s:Envelope/>") {
			t.Errorf("answer %q", got)
		}
		if f := h.authFailures(); len(f) != 0 {
			t.Errorf("auth failures reported: %q", f)
		}
	})

	t.Run("a wrong password never reaches the check", func(t *testing.T) {
		t.Parallel()
		var called atomic.Int32
		p := p
		p.Authorize = func(string) error { called.Add(1); return nil }
		h := startHost(t, p, true)
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(filtered+":"+wrongPassword))
		if resp := post(t, h.client(t), h.wsmanURL(), auth, soapContentType, []byte("<s:Envelope/>")); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", resp.StatusCode)
		}
		if n := called.Load(); n != 0 {
			t.Errorf("Authorize was called %d times for a logon that failed", n)
		}
	})
}
