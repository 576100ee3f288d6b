package ntlmsrv

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/fleetrun/fleetrun/sim/internal/sealframe"
)

// connState is one TCP connection's NTLM state. HTTP/1.1 serves a
// connection's requests one after another; the mutex only makes that
// assumption safe to break.
type connState struct {
	mu      sync.Mutex
	pending *pendingChallenge // CHALLENGE sent, AUTHENTICATE awaited
	user    string            // non-empty once NTLM authenticated the connection
	sess    *session          // nil when neither signing nor sealing was negotiated
}

type pendingChallenge struct {
	neg  negotiateMessage
	chal challengeMessage
	raw  []byte
}

// authenticated returns the user NTLM authenticated on this connection.
func (cs *connState) authenticated() (string, bool) {
	if cs == nil {
		return "", false
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.user, cs.user != ""
}

// resetLocked forgets the connection's context; cs.mu must be held.
func (cs *connState) resetLocked() {
	cs.pending, cs.user, cs.sess = nil, "", nil
}

// ntlm handles one leg of the NTLM handshake carried by the Negotiate (or
// NTLM) scheme with raw NTLMSSP tokens, as masterzen/winrm (bodgit/ntlmssp),
// Azure/go-ntlmssp and requests_ntlm send them.
func (h *handler) ntlm(w http.ResponseWriter, r *http.Request, cs *connState, scheme, token string, plaintextOK bool, boundary string, sealed bool) {
	if !h.p.Negotiate {
		h.refuse(w, r, plaintextOK, "negotiate authentication is disabled")
		return
	}
	if cs == nil {
		http.Error(w, "ntlmsrv: ConnContext is not installed on the http.Server", http.StatusInternalServerError)
		return
	}
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		h.refuse(w, r, plaintextOK, "negotiate token is not base64")
		return
	}
	if len(raw) > 0 && (raw[0] == 0x60 || raw[0] == 0xa1) {
		// An ASN.1 GSS-API/SPNEGO token: Kerberos, or NTLM wrapped in
		// SPNEGO. Only raw NTLMSSP is implemented.
		h.refuse(w, r, plaintextOK, "negotiate token is SPNEGO or Kerberos; only raw NTLMSSP is supported")
		return
	}
	t, err := messageType(raw)
	if err != nil {
		h.refuse(w, r, plaintextOK, err.Error())
		return
	}
	switch t {
	case typeNegotiate:
		h.negotiate(w, r, cs, scheme, raw, plaintextOK)
	case typeAuthenticate:
		h.authenticate(w, r, cs, raw, plaintextOK, boundary, sealed)
	default:
		h.refuse(w, r, plaintextOK, fmt.Sprintf("unexpected ntlm message type %d from client", t))
	}
}

// negotiate answers a NEGOTIATE_MESSAGE with a CHALLENGE_MESSAGE, starting
// a new context on the connection.
func (h *handler) negotiate(w http.ResponseWriter, r *http.Request, cs *connState, scheme string, raw []byte, plaintextOK bool) {
	neg, err := parseNegotiate(raw)
	if err != nil {
		cs.mu.Lock()
		cs.resetLocked()
		cs.mu.Unlock()
		h.refuse(w, r, plaintextOK, err.Error())
		return
	}
	chal := challengeMessage{
		flags:      challengeFlags(neg.flags),
		targetName: strings.ToUpper(h.p.ComputerName),
		targetInfo: serverTargetInfo(h.p.ComputerName, h.p.Now()),
		version:    windowsVersion,
	}
	if err := h.readRandom(chal.serverChallenge[:]); err != nil {
		http.Error(w, "ntlmsrv: "+err.Error(), http.StatusInternalServerError)
		return
	}
	chalRaw := chal.marshal()
	cs.mu.Lock()
	cs.resetLocked()
	cs.pending = &pendingChallenge{neg: neg, chal: chal, raw: chalRaw}
	cs.mu.Unlock()
	sealframe.Drain(r)
	w.Header()["WWW-Authenticate"] = []string{scheme + " " + base64.StdEncoding.EncodeToString(chalRaw)}
	w.WriteHeader(http.StatusUnauthorized)
}

func (h *handler) readRandom(b []byte) error {
	if h.p.Rand == nil {
		_, err := rand.Read(b)
		return err
	}
	if _, err := io.ReadFull(h.p.Rand, b); err != nil {
		return fmt.Errorf("server challenge: %w", err)
	}
	return nil
}

// authenticate verifies an AUTHENTICATE_MESSAGE against the pending
// challenge and, on success, binds the user and the session keys to the
// connection. The request's own body, if any, is then served.
func (h *handler) authenticate(w http.ResponseWriter, r *http.Request, cs *connState, raw []byte, plaintextOK bool, boundary string, sealed bool) {
	user, err := h.verify(cs, raw)
	if err != nil {
		h.refuse(w, r, plaintextOK, err.Error())
		return
	}
	switch {
	case sealed:
		h.sealed(w, r, cs, boundary)
	case r.ContentLength == 0:
		// The empty POST both encrypting clients use to set up the context.
		sealframe.Drain(r)
		w.WriteHeader(http.StatusOK)
	case !plaintextOK:
		h.refuse(w, r, plaintextOK, "unencrypted message from "+quote(user)+" refused over http: AllowUnencrypted is false")
	default:
		h.serve(w, r, user)
	}
}

func (h *handler) verify(cs *connState, raw []byte) (string, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	pend := cs.pending
	cs.resetLocked()
	am, err := parseAuthenticate(raw)
	if err != nil {
		return "", err
	}
	if pend == nil {
		return "", errors.New("ntlm authenticate message without a challenge on this connection")
	}
	v, err := verifyAuthenticate(pend.neg, pend.chal, pend.raw, am, h.lookup)
	if err != nil {
		return "", fmt.Errorf("ntlm logon of %s failed: %w", quote(qualified(am.domain, am.user)), err)
	}
	// The logon succeeded; the service may still refuse the account. The
	// context was reset above, so a refused account leaves none behind.
	if err := h.authorize(v.user); err != nil {
		return "", fmt.Errorf("ntlm logon of %s succeeded but access is denied: %w", quote(qualified(am.domain, am.user)), err)
	}
	var sess *session
	if v.flags&(flagSign|flagSeal) != 0 {
		if sess, err = newSession(v.flags, v.exportedSessionKey, roleServer); err != nil {
			return "", fmt.Errorf("ntlm logon of %s: %w", quote(v.user), err)
		}
	}
	cs.user, cs.sess = accountName(v.user), sess
	return cs.user, nil
}

func qualified(domain, user string) string {
	if domain == "" {
		return user
	}
	return domain + `\` + user
}

// sealed unseals a request, serves it, and seals the response.
func (h *handler) sealed(w http.ResponseWriter, r *http.Request, cs *connState, boundary string) {
	body, ok := sealframe.ReadBody(w, r)
	if !ok {
		return
	}
	sess, user, plain, contentType, err := h.unseal(cs, body, boundary)
	if err != nil {
		// As Windows answers an encrypted message on a connection that has
		// no NTLM context (and any it cannot decrypt).
		w.WriteHeader(http.StatusBadRequest)
		return
	}

	r2 := r.Clone(context.WithValue(r.Context(), userKey{}, user))
	sealframe.Serve(w, r2, plain, contentType, encryptedProtocol, h.next, func(body []byte) ([]byte, []byte, error) {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		sealed, sig, err := sess.wrap(body)
		return sig[:], sealed, err
	})
}

// unseal parses and unseals a sealed request with the connection's
// context. Any failure drops the context: its RC4 state can no longer be
// trusted to match the client's.
func (h *handler) unseal(cs *connState, body []byte, boundary string) (sess *session, user string, plain []byte, contentType string, err error) {
	if cs == nil {
		return nil, "", nil, "", errors.New("no connection state")
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.sess == nil {
		return nil, "", nil, "", errors.New("no ntlm session on this connection")
	}
	parts, err := parseEncrypted(body, boundary)
	if err != nil {
		cs.resetLocked()
		return nil, "", nil, "", err
	}
	for _, p := range parts {
		m, err := cs.sess.unwrap(p.sealed, p.signature)
		if err != nil {
			cs.resetLocked()
			return nil, "", nil, "", err
		}
		plain = append(plain, m...)
	}
	return cs.sess, cs.user, plain, parts[0].contentType, nil
}

// decodeBasic decodes Basic credentials ("user:password", base64).
func decodeBasic(token string) (user, password string, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}
