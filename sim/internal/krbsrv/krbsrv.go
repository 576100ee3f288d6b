// Package krbsrv is the Kerberos side of WinRM HTTP authentication for the
// simulated Windows hosts: the Kerberos scheme and Kerberos through the
// Negotiate scheme (SPNEGO, or a raw krb5 token), verified with the host's
// keytab, the mutual-authentication AP-REP Windows returns, and WinRM
// message encryption with RFC 4121 wrap tokens ([MS-WSMV] 2.2.9.1,
// [MS-KILE] 3.4.5.4).
//
// It sits in front of another handler (the sim's NTLM and Basic handler,
// ntlmsrv) and passes it every request that is not Kerberos; it hands the
// wrapped handler authenticated, plaintext SOAP and seals its answers.
// Ticket issuance is the KDC's job; this package only accepts tickets.
//
// What Windows does where the sources are thin, and what this package chose:
//   - A host with Kerberos enabled offers "WWW-Authenticate: Kerberos" beside
//     Negotiate (the WinRM service's Auth/Kerberos setting, on by default).
//   - The AP-REP carries an acceptor subkey, as Windows' SSPI sends one,
//     and is returned in the 200 (or 401 refusal) answer's WWW-Authenticate
//     header under the scheme the client used.
//   - An unsealed body after a Kerberos logon on plain HTTP with
//     AllowUnencrypted=false: 401, as ntlmsrv answers for NTLM.
//   - Sealed wrap tokens from the server use EC 0 and RRC 28 ([MS-KILE]
//     3.4.5.4.1); incoming tokens are unrotated by RRC+EC (Windows' way)
//     or RRC (RFC 4121's).
package krbsrv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/fleetrun/fleetrun/sim/internal/sealframe"
)

// Policy is one host's Kerberos settings.
type Policy struct {
	// Keytab holds the host's service key (HTTP/<name>@REALM).
	Keytab *keytab.Keytab
	// AllowUnencrypted is the WinRM service setting, as in ntlmsrv: when
	// false, requests on plain HTTP must be sealed.
	AllowUnencrypted bool
	// MaxClockSkew is how far the client's clock may be from the host's;
	// zero means 5 minutes, Windows' default.
	MaxClockSkew time.Duration
	// OnAuthFailure, when not nil, is told why a request was refused with
	// 401 (never a key). It is called from concurrent connections.
	OnAuthFailure func(reason string)
	// Now is the clock of the replay cache; nil means time.Now. (Ticket
	// times are checked by gokrb5 against the system clock.)
	Now func() time.Time
}

type connKey struct{}

type userKey struct{}

// ConnContext must be installed in the http.Server's ConnContext: a
// Kerberos context belongs to a TCP connection, as NTLM's does.
func ConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connState{})
}

// User returns the client principal (user@REALM) Kerberos authenticated
// for a request seen by the wrapped handler, or "".
func User(ctx context.Context) string {
	u, _ := ctx.Value(userKey{}).(string)
	return u
}

type connState struct {
	mu       sync.Mutex
	ctx      *secContext
	protocol string // the sealing protocol of the scheme that set ctx up
}

func (cs *connState) get() (*secContext, string) {
	if cs == nil {
		return nil, ""
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.ctx, cs.protocol
}

func (cs *connState) reset() {
	cs.mu.Lock()
	cs.ctx, cs.protocol = nil, ""
	cs.mu.Unlock()
}

// Handler serves Kerberos requests and passes the others to other, adding
// "Kerberos" to the schemes other's 401 answers offer. next sees only
// requests Kerberos authenticated, without Authorization, in plaintext.
//
// Answers it gives itself:
//   - 401 offering the schemes, to a ticket it cannot accept (unknown
//     key, clock skew, replay, not for this host) or an unsealed body
//     refused because AllowUnencrypted is false;
//   - 200 with WWW-Authenticate: <scheme> <AP-REP> to a successful logon
//     with an empty body (the context set-up POST of encrypting clients);
//     with a body, next's answer carries the header;
//   - 400 to a sealed request it cannot unseal (the context is dropped).
func Handler(p Policy, next, other http.Handler) http.Handler {
	if p.MaxClockSkew == 0 {
		p.MaxClockSkew = 5 * time.Minute
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return &handler{p: p, next: next, other: other, replays: map[string]time.Time{}}
}

type handler struct {
	p           Policy
	next, other http.Handler

	mu      sync.Mutex
	replays map[string]time.Time // authenticators seen, until they expire
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cs, _ := r.Context().Value(connKey{}).(*connState)
	scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	token = strings.TrimSpace(token)
	protocol, bound, sealed := sealedProtocol(r.Header.Get("Content-Type"))
	switch {
	case strings.EqualFold(scheme, "Kerberos"):
		h.logon(w, r, cs, "Kerberos", token)
		return
	case strings.EqualFold(scheme, "Negotiate") && isGSSToken(token):
		h.logon(w, r, cs, "Negotiate", token)
		return
	case scheme != "":
	case sealed && protocol == protocolKerberos:
		h.sealed(w, r, cs, protocol, bound)
		return
	default:
		if sc, _ := cs.get(); sc != nil {
			if sealed {
				h.sealed(w, r, cs, protocol, bound)
				return
			}
			if r.ContentLength != 0 {
				h.plain(w, r, sc.user)
				return
			}
		}
	}
	// Everything else (NTLM, Basic, anonymous probes) is the other
	// handler's; a new NTLM handshake on the connection ends its Kerberos
	// context.
	if scheme != "" && cs != nil {
		cs.reset()
	}
	h.other.ServeHTTP(&offerKerberos{ResponseWriter: w}, r)
}

// isGSSToken reports whether a Negotiate token is ASN.1 (SPNEGO or a raw
// krb5 token) rather than raw NTLMSSP.
func isGSSToken(token string) bool {
	raw, err := base64.StdEncoding.DecodeString(token)
	return err == nil && len(raw) > 0 && (raw[0] == 0x60 || raw[0] == 0xa1)
}

// wwwAuthenticate is the header's spelling on Windows, which ntlmsrv
// keeps (Go would canonicalise it to Www-Authenticate).
var wwwAuthenticate = "WWW-Authenticate"

// offerKerberos adds "Kerberos" to the bare scheme offers of a 401.
type offerKerberos struct {
	http.ResponseWriter
	wrote bool
}

func (o *offerKerberos) WriteHeader(code int) {
	if !o.wrote && code == http.StatusUnauthorized {
		offers := o.Header()[wwwAuthenticate]
		bare := true
		for _, v := range offers {
			if strings.Contains(strings.TrimSpace(v), " ") && !strings.HasPrefix(v, "Basic ") {
				bare = false
			}
		}
		if bare {
			var out []string
			added := false
			for _, v := range offers {
				out = append(out, v)
				if v == "Negotiate" {
					out, added = append(out, "Kerberos"), true
				}
			}
			if !added {
				out = append([]string{"Kerberos"}, out...)
			}
			o.Header()[wwwAuthenticate] = out
		}
	}
	o.wrote = true
	o.ResponseWriter.WriteHeader(code)
}

func (o *offerKerberos) Write(b []byte) (int, error) {
	if !o.wrote {
		o.WriteHeader(http.StatusOK)
	}
	return o.ResponseWriter.Write(b)
}

// refuse answers 401 with the offered schemes, as the other handler does
// to an anonymous request, and reports reason.
func (h *handler) refuse(w http.ResponseWriter, r *http.Request, reason string) {
	if h.p.OnAuthFailure != nil {
		h.p.OnAuthFailure(reason)
	}
	sealframe.Drain(r)
	anon := r.Clone(r.Context())
	anon.Header.Del("Authorization")
	anon.Header.Del("Content-Type")
	anon.Body = http.NoBody
	anon.ContentLength = 0
	h.other.ServeHTTP(&offerKerberos{ResponseWriter: w}, anon)
}

// refuseWith answers 401 carrying one WWW-Authenticate value, an error
// token, and reports reason.
func (h *handler) refuseWith(w http.ResponseWriter, r *http.Request, offer, reason string) {
	if h.p.OnAuthFailure != nil {
		h.p.OnAuthFailure(reason)
	}
	sealframe.Drain(r)
	w.Header()[wwwAuthenticate] = []string{offer}
	w.Header().Set("Server", "Microsoft-HTTPAPI/2.0")
	w.WriteHeader(http.StatusUnauthorized)
}

func (h *handler) plainOK(r *http.Request) bool {
	return r.TLS != nil || h.p.AllowUnencrypted
}

// logon accepts an AP-REQ, sets up the connection's context and serves the
// request's body, if any.
func (h *handler) logon(w http.ResponseWriter, r *http.Request, cs *connState, scheme, token string) {
	if cs == nil {
		http.Error(w, "krbsrv: ConnContext is not installed on the http.Server", http.StatusInternalServerError)
		return
	}
	cs.reset()
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		h.refuse(w, r, scheme+" token is not base64")
		return
	}
	sc, reply, err := h.accept(raw, scheme)
	var kerr messages.KRBError
	if err != nil && errors.As(err, &kerr) {
		// The acceptor's KRB-ERROR goes back to the client in the answer
		// to this leg, so that it can tell clock skew or an expired
		// ticket from other refusals (RFC 4121 4.1: the acceptor may
		// return a KRB_ERROR token; MS-KILE 3.4.5.x: Windows returns
		// KRB_AP_ERR_SKEW with its time).
		if b, merr := kerr.Marshal(); merr == nil {
			h.refuseWith(w, r, scheme+" "+base64.StdEncoding.EncodeToString(krb5Token(tokKRBError, b)), "kerberos logon failed: "+err.Error())
			return
		}
	}
	if err != nil {
		h.refuse(w, r, "kerberos logon failed: "+err.Error())
		return
	}
	protocol := protocolSPNEGO
	if scheme == "Kerberos" {
		protocol = protocolKerberos
	}
	cs.mu.Lock()
	cs.ctx, cs.protocol = sc, protocol
	cs.mu.Unlock()
	if reply != nil {
		w.Header()[wwwAuthenticate] = []string{scheme + " " + base64.StdEncoding.EncodeToString(reply)}
	}
	p, bound, sealed := sealedProtocol(r.Header.Get("Content-Type"))
	switch {
	case sealed:
		h.sealed(w, r, cs, p, bound)
	case r.ContentLength == 0:
		// The empty POST encrypting clients send to set the context up.
		w.Header().Set("Server", "Microsoft-HTTPAPI/2.0")
		w.WriteHeader(http.StatusOK)
	default:
		h.plain(w, r, sc.user)
	}
}

// plain serves an unsealed body of an authenticated connection.
func (h *handler) plain(w http.ResponseWriter, r *http.Request, user string) {
	if !h.plainOK(r) {
		h.refuse(w, r, "unencrypted message from "+strconv.Quote(user)+" refused over http: AllowUnencrypted is false")
		return
	}
	r2 := r.Clone(context.WithValue(r.Context(), userKey{}, user))
	r2.Header.Del("Authorization")
	h.next.ServeHTTP(w, r2)
}

// accept verifies a Negotiate or Kerberos token holding an AP-REQ and
// returns the context and the answer token (nil when the client asked
// for no mutual authentication).
func (h *handler) accept(raw []byte, scheme string) (*secContext, []byte, error) {
	oid, inner, err := parseInitialToken(raw)
	if err != nil {
		return nil, nil, err
	}
	spnegoInit := false
	var mech asn1.ObjectIdentifier
	switch {
	case oid.Equal(gssapi.OIDSPNEGO.OID()) && scheme == "Negotiate":
		_, nt, err := spnego.UnmarshalNegToken(inner)
		if err != nil {
			return nil, nil, err
		}
		init, ok := nt.(spnego.NegTokenInit)
		if !ok || len(init.MechTypes) == 0 || len(init.MechTokenBytes) == 0 {
			return nil, nil, errors.New("spnego token is no NegTokenInit with a mechanism token")
		}
		mech = init.MechTypes[0]
		if !mech.Equal(gssapi.OIDKRB5.OID()) && !mech.Equal(gssapi.OIDMSLegacyKRB5.OID()) {
			return nil, nil, fmt.Errorf("spnego offers mechanism %s first; only kerberos is implemented", mech)
		}
		spnegoInit = true
		if oid, inner, err = parseInitialToken(init.MechTokenBytes); err != nil {
			return nil, nil, err
		}
		if !oid.Equal(gssapi.OIDKRB5.OID()) && !oid.Equal(gssapi.OIDMSLegacyKRB5.OID()) {
			return nil, nil, fmt.Errorf("spnego mechanism token is for %s, not kerberos", oid)
		}
	case oid.Equal(gssapi.OIDKRB5.OID()):
	default:
		return nil, nil, fmt.Errorf("token is for mechanism %s, not kerberos", oid)
	}
	if len(inner) < 2 || !bytes.Equal(inner[:2], tokAPReq) {
		return nil, nil, errors.New("kerberos token is no AP-REQ")
	}
	var req messages.APReq
	if err := req.Unmarshal(inner[2:]); err != nil {
		return nil, nil, fmt.Errorf("kerberos AP-REQ: %w", err)
	}
	if ok, err := req.Verify(h.p.Keytab, h.p.MaxClockSkew, types.HostAddress{}, nil); err != nil || !ok {
		return nil, nil, fmt.Errorf("ticket for %s not accepted: %w", req.Ticket.SName.PrincipalNameString(), describe(err))
	}
	user := req.Authenticator.CName.PrincipalNameString() + "@" + req.Authenticator.CRealm
	if h.replayed(req.Authenticator) {
		return nil, nil, fmt.Errorf("authenticator of %s replayed", user)
	}
	sc := &secContext{user: user, key: req.Ticket.DecryptedEncPart.Key}
	if req.Authenticator.SubKey.KeyValue != nil {
		sc.key = req.Authenticator.SubKey
	}
	initSeq := uint64(uint32(req.Authenticator.SeqNumber))
	sc.recvSeq = initSeq
	sc.sendSeq = initSeq
	if gssFlags(req.Authenticator)&gssMutual == 0 {
		return sc, nil, nil
	}
	et, err := crypto.GetEtype(sc.key.KeyType)
	if err != nil {
		return nil, nil, fmt.Errorf("subkey: %w", err)
	}
	sub, err := types.GenerateEncryptionKey(et)
	if err != nil {
		return nil, nil, fmt.Errorf("acceptor subkey: %w", err)
	}
	var seqb [4]byte
	if _, err := rand.Read(seqb[:]); err != nil {
		return nil, nil, fmt.Errorf("acceptor sequence number: %w", err)
	}
	sc.sendSeq = uint64(binary.BigEndian.Uint32(seqb[:]) & 0x3fffffff)
	sc.key, sc.acceptorSubkey = sub, true
	rep, err := marshalAPRep(&req, sub, sc.sendSeq)
	if err != nil {
		return nil, nil, err
	}
	reply := krb5Token(tokAPRep, rep)
	if spnegoInit {
		resp := spnego.NegTokenResp{
			NegState:      asn1.Enumerated(spnego.NegStateAcceptCompleted),
			SupportedMech: mech,
			ResponseToken: reply,
		}
		if reply, err = resp.Marshal(); err != nil {
			return nil, nil, fmt.Errorf("spnego answer: %w", err)
		}
	}
	return sc, reply, nil
}

// describe keeps gokrb5's error (its KRBError text names the cause:
// KRB_AP_ERR_SKEW, KRB_AP_ERR_TKT_EXPIRED, a key missing from the keytab).
func describe(err error) error {
	if err == nil {
		return errors.New("verification failed")
	}
	return err
}

// replayed records an authenticator and reports whether it was seen
// before within the clock skew (RFC 4120 3.2.3's replay cache).
func (h *handler) replayed(a types.Authenticator) bool {
	now := h.p.Now()
	key := a.CName.PrincipalNameString() + "@" + a.CRealm + " " + a.CTime.UTC().Format(time.RFC3339) + " " + strconv.Itoa(a.Cusec)
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, until := range h.replays {
		if now.After(until) {
			delete(h.replays, k)
		}
	}
	if _, ok := h.replays[key]; ok {
		return true
	}
	h.replays[key] = now.Add(2 * h.p.MaxClockSkew)
	return false
}

// sealed unseals a request, serves it, and seals the answer.
func (h *handler) sealed(w http.ResponseWriter, r *http.Request, cs *connState, protocol, bound string) {
	body, ok := sealframe.ReadBody(w, r)
	if !ok {
		return
	}
	if cs == nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	cs.mu.Lock()
	sc := cs.ctx
	var plain []byte
	var contentType string
	err := errors.New("no kerberos context on this connection")
	if sc != nil {
		var parts []part
		parts, err = parseEncrypted(body, protocol, bound)
		for i := 0; err == nil && i < len(parts); i++ {
			var m []byte
			m, err = sc.unwrap(parts[i].header, parts[i].data)
			plain = append(plain, m...)
			contentType = parts[0].contentType
		}
		if err != nil {
			cs.ctx, cs.protocol = nil, ""
		}
	}
	cs.mu.Unlock()
	if err != nil {
		// As Windows answers an encrypted message it has no context for,
		// or cannot decrypt (see ntlmsrv).
		// A connection without a context is no failed logon (the client
		// reconnected and will authenticate); a message that does not
		// open is reported.
		if h.p.OnAuthFailure != nil && sc != nil {
			h.p.OnAuthFailure("sealed message refused: " + err.Error())
		}
		w.WriteHeader(http.StatusBadRequest)
		return
	}

	r2 := r.Clone(context.WithValue(r.Context(), userKey{}, sc.user))
	sealframe.Serve(w, r2, plain, contentType, protocol, h.next, func(body []byte) ([]byte, []byte, error) {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		return sc.wrap(body)
	})
}
