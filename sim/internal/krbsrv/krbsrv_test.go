package krbsrv

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/fleetrun/fleetrun/internal/kdctest"
	"github.com/fleetrun/fleetrun/sim/internal/sealframe"
)

const soapReq = `<s:Envelope>request</s:Envelope>`

// fleet is one simulated host's Kerberos front on a real HTTP server,
// with a fake NTLM handler behind it.
type fleet struct {
	srv      *httptest.Server
	mu       sync.Mutex
	seen     []string // "user body" per request next served
	failures []string
	others   int
}

func newFleet(t *testing.T, k *kdctest.KDC, host string, allowUnencrypted bool) *fleet {
	t.Helper()
	f := &fleet{}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.seen = append(f.seen, User(r.Context())+" "+string(b))
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
		_, _ = w.Write([]byte("<answer>" + string(b) + "</answer>"))
	})
	// The fake stands for ntlmsrv: it offers Negotiate to everyone.
	other := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.others++
		f.mu.Unlock()
		w.Header()["WWW-Authenticate"] = []string{"Negotiate"}
		w.WriteHeader(http.StatusUnauthorized)
	})
	h := Handler(Policy{
		Keytab:           loadKeytab(t, k.Keytab(t, host)),
		AllowUnencrypted: allowUnencrypted,
		OnAuthFailure: func(reason string) {
			f.mu.Lock()
			f.failures = append(f.failures, reason)
			f.mu.Unlock()
		},
	}, next, other)
	f.srv = httptest.NewUnstartedServer(h)
	f.srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context { return ConnContext(ctx, c) }
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

// answer is a response read in full.
type answer struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

func (f *fleet) post(t *testing.T, c *http.Client, auth, contentType string, body []byte) *answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/wsman", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// Read the answer at once: the next request needs the connection.
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	return &answer{StatusCode: resp.StatusCode, Header: resp.Header, Body: b}
}

// oneConn is an HTTP client that keeps a single keep-alive connection, as
// WinRM clients do: the Kerberos context belongs to it.
func oneConn() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
}

func seal(t *testing.T, in *initiator, protocol string, msg []byte, ec int, windows bool) []byte {
	t.Helper()
	header, data := in.wrap(t, msg, ec, windows)
	return appendEncrypted(nil, protocol, soapContentType, len(msg), header, data)
}

func TestKerberosLogonAndSealedExchange(t *testing.T) {
	t.Parallel()
	k := kdctest.Start(t, kdctest.Options{Hosts: []string{"sim-0001"}})
	cl := loginOperator(t, k)
	tests := []struct {
		name, scheme, protocol string
		spnego                 bool
		ec                     int
		windowsRotation        bool
	}{
		{name: "the Kerberos scheme seals with HTTP-Kerberos-session-encrypted", scheme: "Kerberos", protocol: protocolKerberos},
		{name: "Negotiate with a raw krb5 token seals as pywinrm does", scheme: "Negotiate", protocol: protocolSPNEGO},
		{name: "Negotiate with SPNEGO around the krb5 token", scheme: "Negotiate", protocol: protocolSPNEGO, spnego: true},
		{name: "a filler rotated the Windows way (RRC+EC)", scheme: "Kerberos", protocol: protocolKerberos, ec: 7, windowsRotation: true},
		{name: "a filler rotated the RFC 4121 way (RRC)", scheme: "Kerberos", protocol: protocolKerberos, ec: 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t, k, "sim-0001", false)
			c := oneConn()
			in, tok := newInitiator(t, cl, "HTTP/sim-0001", gssMutual|gssSequence|0x10|0x20)
			if tc.spnego {
				tok = spnegoInit(t, tok)
			}
			resp := f.post(t, c, tc.scheme+" "+b64(tok), "", nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("logon: status %d, want 200", resp.StatusCode)
			}
			scheme, answer, _ := strings.Cut(resp.Header.Get("WWW-Authenticate"), " ")
			if scheme != tc.scheme {
				t.Fatalf("answer scheme %q, want %q", scheme, tc.scheme)
			}
			raw, err := base64.StdEncoding.DecodeString(answer)
			if err != nil {
				t.Fatal(err)
			}
			if tc.spnego != (raw[0] == 0xa1) {
				t.Errorf("answer starts with %#x; SPNEGO in, SPNEGO out", raw[0])
			}
			if err := in.finish(raw); err != nil {
				t.Fatalf("AP-REP: %v", err)
			}
			if !in.acceptor {
				t.Error("AP-REP carries no acceptor subkey; Windows sends one")
			}
			for i, msg := range []string{soapReq, strings.Repeat("x", 70000)} {
				resp := f.post(t, c, "", `multipart/encrypted;protocol="`+tc.protocol+`";boundary="Encrypted Boundary"`,
					seal(t, in, tc.protocol, []byte(msg), tc.ec, tc.windowsRotation))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("sealed request %d: status %d", i, resp.StatusCode)
				}
				if got, want := resp.Header.Get("Content-Type"), sealframe.ContentType(tc.protocol); got != want {
					t.Errorf("answer Content-Type %q, want %q", got, want)
				}
				parts, err := parseEncrypted(resp.Body, tc.protocol, boundary)
				if err != nil {
					t.Fatal(err)
				}
				if len(parts) != 1 || len(parts[0].header) != 60 {
					t.Fatalf("answer has %d parts, header %d bytes; want 1 part with the 60-byte header of EC 0, RRC 28", len(parts), len(parts[0].header))
				}
				plain, err := in.unwrap(parts[0].header, parts[0].data)
				if err != nil {
					t.Fatalf("answer %d: %v", i, err)
				}
				if want := "<answer>" + msg + "</answer>"; string(plain) != want {
					t.Errorf("answer %d = %.60q, want %.60q", i, plain, want)
				}
			}
			want := []string{"operator@FLEETRUN.TEST " + soapReq, "operator@FLEETRUN.TEST " + strings.Repeat("x", 70000)}
			if diff := cmp.Diff(want, f.seen); diff != "" {
				t.Errorf("served requests (-want +got):\n%.300s", diff)
			}
			if len(f.failures) != 0 {
				t.Errorf("auth failures %q, want none", f.failures)
			}
		})
	}
}

func TestKerberosRefusals(t *testing.T) {
	t.Parallel()
	k := kdctest.Start(t, kdctest.Options{Hosts: []string{"sim-0001", "sim-0002"}})
	cl := loginOperator(t, k)
	const sealedType = `multipart/encrypted;protocol="application/HTTP-Kerberos-session-encrypted";boundary="Encrypted Boundary"`
	tests := []struct {
		name       string
		run        func(t *testing.T, f *fleet, c *http.Client) *answer
		wantStatus int
		wantOffers []string
		wantReason string
		wantServed int
	}{
		{
			name: "an anonymous request is the other handler's, with Kerberos added to its offers",
			run: func(t *testing.T, f *fleet, c *http.Client) *answer {
				return f.post(t, c, "", soapContentType, []byte(soapReq))
			},
			wantStatus: 401, wantOffers: []string{"Negotiate", "Kerberos"},
		},
		{
			name: "an unsealed body after a logon over http with AllowUnencrypted false",
			run: func(t *testing.T, f *fleet, c *http.Client) *answer {
				_, tok := newInitiator(t, cl, "HTTP/sim-0001", gssMutual|gssSequence)
				return f.post(t, c, "Kerberos "+b64(tok), soapContentType, []byte(soapReq))
			},
			wantStatus: 401, wantOffers: []string{"Negotiate", "Kerberos"},
			wantReason: `unencrypted message from "operator@FLEETRUN.TEST" refused over http: AllowUnencrypted is false`,
		},
		{
			name: "a ticket for another host",
			run: func(t *testing.T, f *fleet, c *http.Client) *answer {
				_, tok := newInitiator(t, cl, "HTTP/sim-0002", gssMutual)
				return f.post(t, c, "Negotiate "+b64(tok), "", nil)
			},
			wantStatus: 401, wantOffers: []string{"Negotiate", "Kerberos"},
			wantReason: "kerberos logon failed: ticket for HTTP/sim-0002 not accepted",
		},
		{
			name: "an authenticator from a clock ten minutes behind gets KRB_AP_ERR_SKEW back",
			run: func(t *testing.T, f *fleet, c *http.Client) *answer {
				_, tok := newInitiatorAt(t, cl, "HTTP/sim-0001", gssMutual, -10*time.Minute)
				a := f.post(t, c, "Kerberos "+b64(tok), "", nil)
				scheme, token, _ := strings.Cut(a.Header.Get("WWW-Authenticate"), " ")
				raw, _ := base64.StdEncoding.DecodeString(token)
				oid, inner, err := parseInitialToken(raw)
				var kerr messages.KRBError
				if err != nil || scheme != "Kerberos" || !oid.Equal(gssapi.OIDKRB5.OID()) || !bytes.Equal(inner[:2], tokKRBError) || kerr.Unmarshal(inner[2:]) != nil || kerr.ErrorCode != errorcode.KRB_AP_ERR_SKEW {
					t.Errorf("answer %q: no KRB-ERROR with KRB_AP_ERR_SKEW (%v, code %d)", a.Header.Get("WWW-Authenticate"), err, kerr.ErrorCode)
				}
				a.Header.Del("WWW-Authenticate")
				return a
			},
			wantStatus: 401,
			wantReason: "kerberos logon failed: ticket for HTTP/sim-0001 not accepted",
		},
		{
			name: "a replayed authenticator",
			run: func(t *testing.T, f *fleet, c *http.Client) *answer {
				_, tok := newInitiator(t, cl, "HTTP/sim-0001", gssMutual)
				if r := f.post(t, c, "Kerberos "+b64(tok), "", nil); r.StatusCode != 200 {
					t.Fatalf("first logon: %d", r.StatusCode)
				}
				return f.post(t, c, "Kerberos "+b64(tok), "", nil)
			},
			wantStatus: 401, wantOffers: []string{"Negotiate", "Kerberos"},
			wantReason: "kerberos logon failed: authenticator of operator@FLEETRUN.TEST replayed",
		},
		{
			name: "a sealed message without a context",
			run: func(t *testing.T, f *fleet, c *http.Client) *answer {
				in, _ := newInitiator(t, cl, "HTTP/sim-0001", gssMutual)
				return f.post(t, c, "", sealedType, seal(t, in, protocolKerberos, []byte(soapReq), 0, true))
			},
			wantStatus: 400,
		},
		{
			name: "a sealed message whose sequence number was used",
			run: func(t *testing.T, f *fleet, c *http.Client) *answer {
				in, tok := newInitiator(t, cl, "HTTP/sim-0001", gssMutual)
				r := f.post(t, c, "Kerberos "+b64(tok), "", nil)
				_, answer, _ := strings.Cut(r.Header.Get("WWW-Authenticate"), " ")
				raw, _ := base64.StdEncoding.DecodeString(answer)
				if err := in.finish(raw); err != nil {
					t.Fatal(err)
				}
				in.sendSeq++
				return f.post(t, c, "", sealedType, seal(t, in, protocolKerberos, []byte(soapReq), 0, true))
			},
			wantStatus: 400,
			wantReason: "sealed message refused: wrap token sequence number",
		},
		{
			name: "a sealed message with the wrong key",
			run: func(t *testing.T, f *fleet, c *http.Client) *answer {
				in, tok := newInitiator(t, cl, "HTTP/sim-0001", gssMutual)
				r := f.post(t, c, "Kerberos "+b64(tok), "", nil)
				_, answer, _ := strings.Cut(r.Header.Get("WWW-Authenticate"), " ")
				raw, _ := base64.StdEncoding.DecodeString(answer)
				if err := in.finish(raw); err != nil {
					t.Fatal(err)
				}
				et, _ := crypto.GetEtype(in.key.KeyType)
				other, _ := types.GenerateEncryptionKey(et)
				in.key = other
				return f.post(t, c, "", sealedType, seal(t, in, protocolKerberos, []byte(soapReq), 0, true))
			},
			wantStatus: 400,
			wantReason: "sealed message refused: wrap token does not decrypt with the context's key",
		},
		{
			name: "an NTLM token goes to the other handler",
			run: func(t *testing.T, f *fleet, c *http.Client) *answer {
				return f.post(t, c, "Negotiate "+b64([]byte("NTLMSSP\x00\x01\x00\x00\x00")), "", nil)
			},
			wantStatus: 401, wantOffers: []string{"Negotiate", "Kerberos"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t, k, "sim-0001", false)
			resp := tc.run(t, f, oneConn())
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if diff := cmp.Diff(tc.wantOffers, resp.Header["Www-Authenticate"]); diff != "" {
				t.Errorf("offers (-want +got):\n%s", diff)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			var last string
			if len(f.failures) > 0 {
				last = f.failures[len(f.failures)-1]
			}
			if !strings.HasPrefix(last, tc.wantReason) || (tc.wantReason == "") != (len(f.failures) == 0) {
				t.Errorf("failure reasons %q, want one starting %q", f.failures, tc.wantReason)
			}
			if len(f.seen) != tc.wantServed {
				t.Errorf("served %d requests, want %d", len(f.seen), tc.wantServed)
			}
		})
	}
}

func TestKerberosOverHTTPSOrAllowUnencryptedServesPlainBodies(t *testing.T) {
	t.Parallel()
	k := kdctest.Start(t, kdctest.Options{Hosts: []string{"sim-0001"}})
	cl := loginOperator(t, k)
	f := newFleet(t, k, "sim-0001", true)
	c := oneConn()
	_, tok := newInitiator(t, cl, "HTTP/sim-0001", 0)
	resp := f.post(t, c, "Kerberos "+b64(tok), soapContentType, []byte(soapReq))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	if got := resp.Header.Get("WWW-Authenticate"); got != "" {
		t.Errorf("WWW-Authenticate %q without mutual authentication asked, want none", got)
	}
	// The connection stays authenticated for the next body.
	resp = f.post(t, c, "", soapContentType, []byte("second"))
	if resp.StatusCode != 200 {
		t.Fatalf("second: status %d, want 200", resp.StatusCode)
	}
	want := []string{"operator@FLEETRUN.TEST " + soapReq, "operator@FLEETRUN.TEST second"}
	if diff := cmp.Diff(want, f.seen); diff != "" {
		t.Errorf("served (-want +got):\n%s", diff)
	}
}
