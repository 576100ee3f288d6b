// Package ntlmsrv is the server side of WinRM HTTP authentication for the
// simulated Windows hosts: Basic, NTLMv2 through the Negotiate scheme
// (verified against the host's password), and WinRM message encryption
// (multipart/encrypted with application/HTTP-SPNEGO-session-encrypted,
// [MS-WSMV] 2.2.9.1), answering as Windows' WinRM service does.
//
// It hands the wrapped handler authenticated, plaintext SOAP and seals what
// that handler writes; it knows nothing about WS-Man itself, and leaves
// Kerberos, CredSSP, SPNEGO-wrapped tokens, certificate authentication and
// channel-binding checks to others (none are implemented).
//
// What Windows does where the sources are thin, and what this package chose:
//   - Basic over plain HTTP with AllowUnencrypted=false: 401, what clients
//     report against a default-configured host (masterzen/winrm#75). Whether
//     Windows still lists Basic in WWW-Authenticate then is unverified; this
//     package does not offer it there.
//   - An unsealed SOAP body after a successful NTLM handshake on plain HTTP
//     with AllowUnencrypted=false: 401, as captured against Windows with a
//     non-sealing Go client (hashicorp/packer#6205, masterzen/winrm#140).
//     Some reports show 500 instead (Kerberos, pywinrm#129); unverified.
//   - An encrypted message on a connection without an NTLM context: 400
//     (a comment in Ansible's winrm connection plugin, _winrm_exec).
//   - An anonymous empty POST on a connection NTLM already authenticated:
//     401 Negotiate again, so that masterzen/winrm, which authenticates
//     every request afresh on its keep-alive socket, can (unverified).
//   - NTLMv1 and anonymous NTLM logons are refused; LmCompatibilityLevel 5.
//   - An account with the right password that the service's access check
//     refuses (Policy.Authorize; WinRM's RootSDDL against a UAC-filtered
//     token, KB 951016): the same 401 as a wrong password, which is what
//     clients report (pywinrm#188, "the specified credentials were rejected
//     by the server"). For NTLM it answers the AUTHENTICATE message, as the
//     check needs the logon's token; Basic is refused at once.
package ntlmsrv

import (
	"context"
	"crypto/subtle"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fleetrun/fleetrun/sim/internal/sealframe"
)

// Policy is one host's authentication settings.
type Policy struct {
	// Users returns the password of a local account. It is called with the
	// bare account name: a "DOMAIN\" prefix or "@domain" suffix the client
	// sent is removed first, and the name keeps the client's letter case,
	// so Users should compare names case-insensitively, as Windows does
	// (Accounts does). A nil Users knows nobody.
	Users func(user string) (password string, ok bool)

	// Authorize, when not nil, is the service's own access check, made
	// after the logon itself succeeded (the password was right): WinRM
	// checks the logon's token against its RootSDDL, so an account whose
	// token lacks Administrators and Remote Management Users is turned away
	// although its password is correct. It is called with the bare account
	// name, as Users is, and returns nil to let the account in or the
	// reason it is refused. A refused account gets the same answer as a
	// wrong password: 401 with the offered schemes and no body, for Basic
	// at once and for NTLM in answer to the AUTHENTICATE message (the
	// connection keeps no context); OnAuthFailure is told the reason.
	// Authorize is called from concurrent connections.
	Authorize func(user string) error

	// Basic offers Basic authentication (WWW-Authenticate: Basic realm="WSMAN").
	Basic bool

	// Negotiate offers NTLM through the Negotiate scheme
	// (WWW-Authenticate: Negotiate), with message encryption.
	Negotiate bool

	// AllowUnencrypted is Windows' WinRM service setting of that name. When
	// false, a request on a plain-HTTP connection must be sealed: Basic is
	// neither offered nor accepted there, and an unsealed body after NTLM
	// authentication is refused with 401. It is ignored on HTTPS
	// connections, where everything is allowed.
	AllowUnencrypted bool

	// OnAuthFailure, when not nil, is called once for every request refused
	// with 401 because of the credentials or this policy (not for the
	// ordinary 401 that asks an anonymous client to authenticate, nor for
	// the NTLM challenge leg). The reason names the user and the cause,
	// never the password. masterzen/winrm's encrypted transport retries a
	// refused logon once with plain NTLM, so one failed call of that client
	// is usually reported twice, as Windows would log two failed logons.
	// Users and OnAuthFailure are called from concurrent connections.
	OnAuthFailure func(reason string)

	// ComputerName is the host's NetBIOS name, sent in the NTLM challenge.
	// Empty means "WIN-SIM".
	ComputerName string

	// Now is the clock for the NTLM challenge timestamp. Nil means time.Now.
	Now func() time.Time

	// Rand is the source of NTLM server challenges. Nil means crypto/rand.
	Rand io.Reader
}

// Accounts returns a Policy.Users function for a fixed table of local
// accounts (name to password), matching names case-insensitively.
func Accounts(accounts map[string]string) func(user string) (string, bool) {
	folded := make(map[string]string, len(accounts))
	for name, password := range accounts {
		folded[strings.ToLower(name)] = password
	}
	return func(user string) (string, bool) {
		p, ok := folded[strings.ToLower(user)]
		return p, ok
	}
}

type connKey struct{}

type userKey struct{}

// ConnContext must be installed as http.Server.ConnContext (or called from
// the server's own ConnContext function): NTLM authenticates a TCP
// connection, not a request, so the handler keeps each connection's NTLM
// context in the connection's context. Without it Handler answers NTLM
// attempts with 500; Basic still works.
func ConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connState{})
}

// User returns the authenticated account name (as Policy.Users received
// it) for a request seen by the handler Handler wraps, or "" for any other
// context.
func User(ctx context.Context) string {
	u, _ := ctx.Value(userKey{}).(string)
	return u
}

// Handler wraps next with WinRM authentication. next sees only
// authenticated requests, without their Authorization header, with a
// plaintext body (a sealed request's Content-Type becomes its original one,
// application/soap+xml;charset=UTF-8), and writes a plaintext response.
//
// When the request was sealed, Handler buffers next's response and seals it
// into the encrypted framing, keeping next's status code (a 500 fault stays
// a 500 with an encrypted body, as on Windows); an empty response body is
// passed through unsealed. Responses to unsealed requests pass through
// unchanged. Every response carries Server: Microsoft-HTTPAPI/2.0 unless
// next sets its own.
//
// Answers Handler gives itself, all with empty bodies:
//   - 401 with one WWW-Authenticate header per offered scheme to a request
//     without credentials, to a request with an empty body on a connection
//     NTLM already authenticated (clients probe this way before every
//     handshake), to refused credentials, and to an account that logged
//     on but Policy.Authorize turned away;
//   - 401 with WWW-Authenticate: Negotiate <challenge> to an NTLM NEGOTIATE
//     message; each NEGOTIATE discards the connection's previous context;
//   - 200 to a successful NTLM AUTHENTICATE leg with an empty body;
//   - 400 to a sealed request on a connection without an NTLM context, or
//     one whose framing, signature or sequence number is wrong (the
//     connection's context is then dropped);
//   - 413 to a sealed request larger than 64 MiB.
func Handler(p Policy, next http.Handler) http.Handler {
	if p.ComputerName == "" {
		p.ComputerName = "WIN-SIM"
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return &handler{p: p, next: next}
}

const serverHeader = "Microsoft-HTTPAPI/2.0"

type handler struct {
	p    Policy
	next http.Handler
}

func (h *handler) lookup(user string) (string, bool) {
	if h.p.Users == nil {
		return "", false
	}
	return h.p.Users(accountName(user))
}

// accountName strips a "DOMAIN\" prefix or "@domain" suffix.
func accountName(user string) string {
	if i := strings.LastIndexByte(user, '\\'); i >= 0 {
		user = user[i+1:]
	}
	if i := strings.IndexByte(user, '@'); i >= 0 {
		user = user[:i]
	}
	return user
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Server", serverHeader)
	cs, _ := r.Context().Value(connKey{}).(*connState)
	// Windows' AllowUnencrypted only concerns plain HTTP.
	plaintextOK := r.TLS != nil || h.p.AllowUnencrypted
	scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	token = strings.TrimSpace(token)
	boundary, sealed := encryptedBoundaryOf(r.Header.Get("Content-Type"))

	switch {
	case strings.EqualFold(scheme, "Basic"):
		h.basic(w, r, token, plaintextOK)
	case strings.EqualFold(scheme, "Negotiate"), strings.EqualFold(scheme, "NTLM"):
		h.ntlm(w, r, cs, scheme, token, plaintextOK, boundary, sealed)
	case scheme != "":
		h.refuse(w, r, plaintextOK, "unsupported authorization scheme "+quote(scheme))
	case sealed:
		h.sealed(w, r, cs, boundary)
	default:
		user, ok := cs.authenticated()
		if !ok || r.ContentLength == 0 {
			// masterzen/winrm's encryption path sends this empty probe
			// before every handshake, also on a connection it already
			// authenticated; it must see a fresh 401 Negotiate.
			h.challenge(w, r, plaintextOK)
			return
		}
		if !plaintextOK {
			h.refuse(w, r, plaintextOK, "unencrypted message from "+quote(user)+" refused over http: AllowUnencrypted is false")
			return
		}
		h.serve(w, r, user)
	}
}

// challenge answers 401 offering the enabled schemes, as separate headers.
func (h *handler) challenge(w http.ResponseWriter, r *http.Request, plaintextOK bool) {
	sealframe.Drain(r)
	var offers []string
	if h.p.Negotiate {
		offers = append(offers, "Negotiate")
	}
	// Windows does not offer Basic where it would refuse it.
	if h.p.Basic && plaintextOK {
		offers = append(offers, `Basic realm="WSMAN"`)
	}
	if len(offers) > 0 {
		// The exact spelling Windows uses; Go would canonicalise the key.
		w.Header()["WWW-Authenticate"] = offers
	}
	w.WriteHeader(http.StatusUnauthorized)
}

// refuse reports an authentication failure and answers 401.
func (h *handler) refuse(w http.ResponseWriter, r *http.Request, plaintextOK bool, reason string) {
	if h.p.OnAuthFailure != nil {
		h.p.OnAuthFailure(reason)
	}
	h.challenge(w, r, plaintextOK)
}

func (h *handler) basic(w http.ResponseWriter, r *http.Request, token string, plaintextOK bool) {
	if !h.p.Basic {
		h.refuse(w, r, plaintextOK, "basic authentication is disabled")
		return
	}
	if !plaintextOK {
		h.refuse(w, r, plaintextOK, "basic authentication refused over http: AllowUnencrypted is false")
		return
	}
	user, password, ok := decodeBasic(token)
	if !ok {
		h.refuse(w, r, plaintextOK, "malformed basic credentials")
		return
	}
	want, ok := h.lookup(user)
	if !ok {
		h.refuse(w, r, plaintextOK, "basic logon of "+quote(user)+" failed: "+errUnknownUser.Error())
		return
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(password)) != 1 {
		h.refuse(w, r, plaintextOK, "basic logon of "+quote(user)+" failed: "+errWrongPassword.Error())
		return
	}
	if err := h.authorize(user); err != nil {
		h.refuse(w, r, plaintextOK, "basic logon of "+quote(user)+" succeeded but access is denied: "+err.Error())
		return
	}
	h.serve(w, r, accountName(user))
}

// authorize runs the policy's access check for an account that logged on.
func (h *handler) authorize(user string) error {
	if h.p.Authorize == nil {
		return nil
	}
	return h.p.Authorize(accountName(user))
}

// serve passes a plaintext request to next as user.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, user string) {
	r2 := r.Clone(context.WithValue(r.Context(), userKey{}, user))
	r2.Header.Del("Authorization")
	h.next.ServeHTTP(w, r2)
}

// quote quotes a client-supplied string for a failure reason.
func quote(s string) string {
	return strconv.Quote(sealframe.Truncate(s))
}
