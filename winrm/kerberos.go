package winrm

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/sync/singleflight"

	"github.com/fleetrun/fleetrun/transport"
)

// KerberosCredentials are a run's Kerberos logons, shared by every host
// the run reaches: one TGT per principal (got once, from the ticket cache,
// a keytab or a password) and one service ticket per SPN, reused across
// steps and reconnects. It is safe for concurrent use; Close it after the
// run.
type KerberosCredentials struct {
	// CCache is the path of the ticket cache (what KRB5CCNAME names,
	// without "FILE:") used for hosts that have neither a password nor a
	// keytab. Empty means no ticket cache.
	CCache string

	mu      sync.Mutex
	clients map[string]*krbClient
}

// kdcSlots bounds the KDC exchanges in flight across the process: MIT's
// KDC keeps at most 45 TCP connections and closes the oldest beyond that
// (net-server.c), and a domain controller answering a thousand hosts'
// ticket requests at once is no kinder. Tickets are cached, so the bound
// costs a fleet only its first contact.
var kdcSlots = make(chan struct{}, 16)

type krbClient struct {
	once    sync.Once
	noSlot  bool // the logon never ran: its caller's context ended first
	cl      *client.Client
	err     error
	tickets singleflight.Group
}

// Close ends every logon (gokrb5 renews TGTs in the background).
func (k *KerberosCredentials) Close() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, c := range k.clients {
		if c.cl != nil {
			c.cl.Destroy()
		}
		delete(k.clients, key)
	}
}

// krbSource is where a host's Kerberos credentials come from.
type krbSource struct {
	krb5Conf string
	cfg      *config.Config
	user     string // without realm
	realm    string
	password string
	keytab   string
	ccache   string
}

func (s krbSource) key() string {
	switch {
	case s.password != "":
		return "password\x00" + s.krb5Conf + "\x00" + s.user + "@" + s.realm + "\x00" + s.password
	case s.keytab != "":
		return "keytab\x00" + s.krb5Conf + "\x00" + s.user + "@" + s.realm + "\x00" + s.keytab
	default:
		return "ccache\x00" + s.krb5Conf + "\x00" + s.ccache
	}
}

// client returns the logged-on client of src, logging on once; ctx bounds
// the wait for a KDC slot.
func (k *KerberosCredentials) client(ctx context.Context, src krbSource) (*krbClient, error) {
	k.mu.Lock()
	if k.clients == nil {
		k.clients = map[string]*krbClient{}
	}
	c, ok := k.clients[src.key()]
	if !ok {
		c = &krbClient{}
		k.clients[src.key()] = c
	}
	k.mu.Unlock()
	c.once.Do(func() {
		if err := acquireKDC(ctx); err != nil {
			c.err, c.noSlot = err, true
			return
		}
		defer releaseKDC()
		c.cl, c.err = logon(src)
	})
	if c.noSlot {
		// This caller's context ended before anyone logged on: the next
		// caller tries again. A refused logon stays refused for the run,
		// so a wrong password costs one AS exchange, not one per host
		// (and locks no account out).
		k.mu.Lock()
		if k.clients[src.key()] == c {
			delete(k.clients, src.key())
		}
		k.mu.Unlock()
	}
	return c, c.err
}

// logon gets the TGT. gokrb5 talks to the KDC without a context; the
// timeouts of krb5.conf's client bound it.
func logon(src krbSource) (*client.Client, error) {
	switch {
	case src.password != "":
		cl := client.NewWithPassword(src.user, src.realm, src.password, src.cfg, client.DisablePAFXFAST(true))
		if err := cl.Login(); err != nil {
			cl.Destroy()
			return nil, err
		}
		return cl, nil
	case src.keytab != "":
		kt, err := keytab.Load(src.keytab)
		if err != nil {
			return nil, fmt.Errorf("keytab %s: %w", src.keytab, err)
		}
		cl := client.NewWithKeytab(src.user, src.realm, kt, src.cfg, client.DisablePAFXFAST(true))
		if err := cl.Login(); err != nil {
			cl.Destroy()
			return nil, err
		}
		return cl, nil
	case src.ccache != "":
		cc, err := credentials.LoadCCache(src.ccache)
		if err != nil {
			return nil, fmt.Errorf("ticket cache %s: %w", src.ccache, err)
		}
		// A cache holds no key to log on again with: a TGT past its end
		// is the end of the road, said as such (gokrb5 would only say it
		// has no credentials and no valid session).
		realm := cc.DefaultPrincipal.Realm
		if tgt, ok := cc.GetEntry(types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "krbtgt/"+realm)); ok && !time.Now().Before(tgt.EndTime) {
			return nil, fmt.Errorf("ticket cache %s: the TGT of %s@%s expired at %s", src.ccache,
				cc.DefaultPrincipal.PrincipalName.PrincipalNameString(), realm, tgt.EndTime.UTC().Format(time.RFC3339))
		}
		cl, err := client.NewFromCCache(cc, src.cfg, client.DisablePAFXFAST(true))
		if err != nil {
			return nil, fmt.Errorf("ticket cache %s: %w", src.ccache, err)
		}
		return cl, nil
	default:
		return nil, errors.New("no credentials: no password, no keytab and no ticket cache")
	}
}

func acquireKDC(ctx context.Context) error {
	select {
	case kdcSlots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting to reach the KDC: %w", ctx.Err())
	}
}

func releaseKDC() { <-kdcSlots }

// serviceTicket returns the ticket for spn, asking the KDC at most once at
// a time per SPN; gokrb5's cache keeps it until it expires.
func (c *krbClient) serviceTicket(ctx context.Context, spn string) (messages.Ticket, types.EncryptionKey, error) {
	if t, k, ok := c.cl.GetCachedTicket(spn); ok {
		return t, k, nil
	}
	type tk struct {
		t messages.Ticket
		k types.EncryptionKey
	}
	v, err, _ := c.tickets.Do(spn, func() (any, error) {
		if err := acquireKDC(ctx); err != nil {
			return nil, err
		}
		defer releaseKDC()
		t, k, err := c.cl.GetServiceTicket(spn)
		return tk{t, k}, err
	})
	if err != nil {
		return messages.Ticket{}, types.EncryptionKey{}, err
	}
	r := v.(tk)
	return r.t, r.k, nil
}

// krbError classifies a Kerberos failure (class auth) with a hint for the
// causes operators meet: a wrong password, an unknown user, a missing SPN,
// clock skew, an expired ticket.
func krbError(host, what string, err error) *transport.Error {
	text := err.Error()
	e := &transport.Error{Class: transport.ClassAuth, Err: err,
		Message: fmt.Sprintf("%s: kerberos: %s: %v", host, what, err)}
	switch {
	case strings.Contains(text, "KDC_ERR_PREAUTH_FAILED"), strings.Contains(text, "Password incorrect"):
		e.Hint = "the KDC refused the password (or keytab key): check password_env/password_file, or the keytab's key version after a password change"
	case strings.Contains(text, "KDC_ERR_C_PRINCIPAL_UNKNOWN"):
		e.Hint = "the KDC does not know the user: check the user name and the realm (user@REALM)"
	case strings.Contains(text, "KDC_ERR_S_PRINCIPAL_UNKNOWN"):
		e.Hint = "the KDC knows no service principal for this host: register HTTP/<host DNS name> (setspn -S), or set the host's spn to one it has; hosts reached by IP address need spn"
	case strings.Contains(text, "KRB_AP_ERR_SKEW"), strings.Contains(text, "clock skew"):
		e.Hint = "the clocks of this machine, the KDC and the host differ by more than 5 minutes: synchronise them (NTP)"
	case strings.Contains(text, "TKT_EXPIRED"), strings.Contains(text, "expired"),
		// A TGT from a ticket cache that ran out during the run: gokrb5
		// cannot renew it without a password or keytab.
		strings.Contains(text, "no user credentials available and no valid existing session"):
		e.Hint = "the ticket expired: run kinit again (or renew it) before the run"
	case strings.Contains(text, "no credentials"):
		e.Hint = "give the host a password (password_env or password_file), a keytab, or run kinit and set KRB5CCNAME"
	default:
		e.Hint = "check krb5.conf (realm, KDC), the credentials and the SPN (HTTP/<host>)"
	}
	return e
}

// GSS context flags (RFC 2744) asked for in the authenticator checksum.
const (
	gssMutual   = 0x02
	gssSequence = 0x08
	gssConf     = 0x10
	gssInteg    = 0x20
)

// Wrap token flags (RFC 4121 4.2.2).
const (
	wrapSentByAcceptor = 0x01
	wrapSealed         = 0x02
	wrapAcceptorSubkey = 0x04
)

// krbContext is an established Kerberos security context on one
// connection: the key and sequence numbers of RFC 4121 wrap tokens.
type krbContext struct {
	key            types.EncryptionKey
	acceptorSubkey bool
	sendSeq        uint64
	recvSeq        uint64
}

// apReq builds the krb5 mechanism token (RFC 4121 4.1) holding an AP-REQ
// for the ticket, asking for mutual authentication, sequencing and
// confidentiality, and the context it starts.
func apReq(cl *client.Client, tkt messages.Ticket, key types.EncryptionKey, now time.Time) ([]byte, *krbContext, types.Authenticator, error) {
	auth, err := types.NewAuthenticator(cl.Credentials.Domain(), cl.Credentials.CName())
	if err != nil {
		return nil, nil, auth, err
	}
	now = now.UTC()
	auth.CTime, auth.Cusec = now, now.Nanosecond()/1000
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, nil, auth, err
	}
	if err := auth.GenerateSeqNumberAndSubKey(key.KeyType, et.GetKeyByteSize()); err != nil {
		return nil, nil, auth, err
	}
	ck := make([]byte, 24)
	binary.LittleEndian.PutUint32(ck[:4], 16) // no channel bindings
	binary.LittleEndian.PutUint32(ck[20:], gssMutual|gssSequence|gssConf|gssInteg)
	auth.Cksum = types.Checksum{CksumType: 0x8003, Checksum: ck}
	req, err := messages.NewAPReq(tkt, key, auth)
	if err != nil {
		return nil, nil, auth, err
	}
	types.SetFlag(&req.APOptions, 2) // mutual-required
	b, err := req.Marshal()
	if err != nil {
		return nil, nil, auth, err
	}
	oid, err := asn1.Marshal(gssapi.OIDKRB5.OID())
	if err != nil {
		return nil, nil, auth, err
	}
	tok := append(append(oid, 0x01, 0x00), b...)
	ctx := &krbContext{key: auth.SubKey, sendSeq: uint64(auth.SeqNumber), recvSeq: uint64(auth.SeqNumber)}
	return asn1tools.AddASNAppTag(tok, 0), ctx, auth, nil
}

// krbErrorToken reads a krb5 mechanism token holding a KRB-ERROR.
func krbErrorToken(tok []byte) (messages.KRBError, bool) {
	var kerr messages.KRBError
	var oid asn1.ObjectIdentifier
	inner, err := asn1.UnmarshalWithParams(tok, &oid, "application,explicit,tag:0")
	if err != nil || !oid.Equal(gssapi.OIDKRB5.OID()) || len(inner) < 2 || !bytes.Equal(inner[:2], []byte{0x03, 0x00}) {
		return kerr, false
	}
	if kerr.Unmarshal(inner[2:]) != nil {
		return kerr, false
	}
	return kerr, true
}

// finish checks the acceptor's AP-REP (mutual authentication) and takes
// its subkey and first sequence number.
func (c *krbContext) finish(answer []byte, sessionKey types.EncryptionKey, auth types.Authenticator) error {
	var oid asn1.ObjectIdentifier
	inner, err := asn1.UnmarshalWithParams(answer, &oid, "application,explicit,tag:0")
	if err != nil || !oid.Equal(gssapi.OIDKRB5.OID()) || len(inner) < 2 {
		return errors.New("the host's answer is no kerberos token")
	}
	if !bytes.Equal(inner[:2], []byte{0x02, 0x00}) {
		var kerr messages.KRBError
		if bytes.Equal(inner[:2], []byte{0x03, 0x00}) && kerr.Unmarshal(inner[2:]) == nil {
			return kerr
		}
		return fmt.Errorf("the host answered token %x, not an AP-REP", inner[:2])
	}
	var rep messages.APRep
	if err := rep.Unmarshal(inner[2:]); err != nil {
		return err
	}
	plain, err := crypto.DecryptEncPart(rep.EncPart, sessionKey, keyusage.AP_REP_ENCPART)
	if err != nil {
		return fmt.Errorf("AP-REP does not decrypt with the session key (not the host the ticket is for?): %w", err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		return err
	}
	if !part.CTime.Equal(auth.CTime.Truncate(time.Second)) || part.Cusec != auth.Cusec {
		return errors.New("AP-REP does not echo the authenticator's time")
	}
	if part.Subkey.KeyValue != nil {
		c.key, c.acceptorSubkey = part.Subkey, true
	}
	c.recvSeq = uint64(part.SequenceNumber)
	return nil
}

// wrapRRC is the rotation Windows uses for sealed tokens ([MS-KILE]
// 3.4.5.4.1): the checksum and the encrypted header copy travel before the
// data, in the part WinRM calls the signature.
const wrapRRC = 28

// wrap seals msg as the initiator (key usage 24) and returns the WinRM
// "signature" (token header and the rotated bytes before the data) and
// the sealed data, as long as msg. AES-CTS needs no filler, so EC is 0.
func (c *krbContext) wrap(msg []byte) (sig, data []byte, err error) {
	h := make([]byte, 16)
	h[0], h[1], h[2], h[3] = 0x05, 0x04, wrapSealed, 0xff
	if c.acceptorSubkey {
		h[2] |= wrapAcceptorSubkey
	}
	binary.BigEndian.PutUint64(h[8:], c.sendSeq)
	et, err := crypto.GetEtype(c.key.KeyType)
	if err != nil {
		return nil, nil, err
	}
	plain := make([]byte, 0, len(msg)+16)
	_, ct, err := et.EncryptMessage(c.key.KeyValue, append(append(plain, msg...), h...), keyusage.GSSAPI_INITIATOR_SEAL)
	if err != nil {
		return nil, nil, err
	}
	c.sendSeq++
	binary.BigEndian.PutUint16(h[6:], wrapRRC)
	n := len(ct)
	rot := make([]byte, 0, n)
	rot = append(append(rot, ct[n-wrapRRC:]...), ct[:n-wrapRRC]...)
	split := n - len(msg)
	return append(h, rot[:split]...), rot[split:], nil
}

// unwrap opens a sealed token from the acceptor (key usage 22), checking
// its flags, header copy and sequence number.
func (c *krbContext) unwrap(sig, data []byte) ([]byte, error) {
	tok := make([]byte, 0, len(sig)+len(data))
	tok = append(append(tok, sig...), data...)
	if len(tok) < 16+16+16+12 || tok[0] != 0x05 || tok[1] != 0x04 || tok[3] != 0xff {
		return nil, errors.New("the host's sealed message is no rfc 4121 wrap token")
	}
	h := tok[:16]
	if h[2]&wrapSentByAcceptor == 0 || h[2]&wrapSealed == 0 || (h[2]&wrapAcceptorSubkey != 0) != c.acceptorSubkey {
		return nil, fmt.Errorf("the host's wrap token has flags %#x", h[2])
	}
	ec := int(binary.BigEndian.Uint16(h[4:6]))
	rrc := int(binary.BigEndian.Uint16(h[6:8]))
	body := tok[16:]
	r := (rrc + ec) % len(body) // Windows rotates by RRC+EC
	plain, err := crypto.DecryptMessage(append(append([]byte(nil), body[r:]...), body[:r]...), c.key, keyusage.GSSAPI_ACCEPTOR_SEAL)
	if err != nil {
		return nil, fmt.Errorf("the host's sealed message does not decrypt: %w", err)
	}
	if len(plain) < ec+16 {
		return nil, errors.New("the host's sealed message is shorter than its header copy")
	}
	inner := plain[len(plain)-16:]
	want := append([]byte(nil), h...)
	want[6], want[7] = 0, 0
	if subtle.ConstantTimeCompare(inner, want) != 1 {
		return nil, errors.New("the host's wrap token header does not match its encrypted copy")
	}
	if seq := binary.BigEndian.Uint64(h[8:]); seq != c.recvSeq {
		return nil, fmt.Errorf("the host's wrap token has sequence number %d, want %d", seq, c.recvSeq)
	}
	c.recvSeq++
	return plain[:len(plain)-ec-16], nil
}

// kerberosAuth authenticates each TCP connection with Kerberos through the
// Negotiate scheme (a raw krb5 token, as pywinrm sends it) and mutual
// authentication, then sends messages on it: sealed over HTTP ([MS-WSMV]
// message encryption with RFC 4121 wrap tokens), plain over HTTPS. The
// logon and the service ticket come from the run's KerberosCredentials;
// a new connection costs one AP exchange with the host, no KDC traffic.
type kerberosAuth struct {
	host     string
	username string
	spn      string
	seal     bool
	creds    *KerberosCredentials
	own      bool // creds belong to this session alone (no shared ones given)
	src      krbSource
	ctx      *krbContext // nil until a handshake completed
	// now is the clock of authenticators; nil means time.Now (tests skew
	// it).
	now func() time.Time
}

func (a *kerberosAuth) name() string    { return "kerberos" }
func (a *kerberosAuth) user() string    { return a.username }
func (a *kerberosAuth) encrypted() bool { return a.seal }
func (a *kerberosAuth) close() {
	if a.own {
		a.creds.Close()
	}
}

func (a *kerberosAuth) exchange(ctx context.Context, ep *endpoint, body []byte) (*httpReply, error) {
	for attempt := 0; ; attempt++ {
		if a.ctx == nil {
			reply, err := a.handshake(ctx, ep)
			if err != nil || reply != nil {
				return reply, err
			}
		}
		reply, err := a.send(ctx, ep, body)
		if err != nil {
			a.ctx = nil
			return nil, err
		}
		if (reply.status == http.StatusBadRequest || reply.status == http.StatusUnauthorized) && attempt == 0 {
			// A new connection without the context: authenticate it.
			a.ctx = nil
			continue
		}
		return reply, nil
	}
}

// handshake sends an AP-REQ on an empty POST and checks the AP-REP. It
// returns a reply only when the host refused (401).
func (a *kerberosAuth) handshake(ctx context.Context, ep *endpoint) (*httpReply, error) {
	c, err := a.creds.client(ctx, a.src)
	if err != nil {
		return nil, krbError(a.host, "logon as "+a.username, err)
	}
	tkt, key, err := c.serviceTicket(ctx, a.spn)
	if err != nil {
		return nil, krbError(a.host, "ticket for "+a.spn, err)
	}
	now := time.Now
	if a.now != nil {
		now = a.now
	}
	tok, kctx, auth, err := apReq(c.cl, tkt, key, now())
	if err != nil {
		return nil, fmt.Errorf("kerberos: build AP-REQ: %w", err)
	}
	h := http.Header{}
	h.Set("Authorization", "Negotiate "+base64.StdEncoding.EncodeToString(tok))
	reply, err := ep.do(ctx, nil, h)
	if err != nil {
		return nil, err
	}
	if reply.status == http.StatusUnauthorized {
		// A host that could not accept the ticket may say why in a
		// KRB-ERROR (clock skew, an expired ticket).
		if tok, ok := negotiateToken(reply.header.Values("WWW-Authenticate")); ok {
			if kerr, ok := krbErrorToken(tok); ok {
				return nil, krbError(a.host, "the host refused the ticket for "+a.spn, kerr)
			}
		}
		return reply, nil
	}
	if reply.status != http.StatusOK {
		return nil, &transport.Error{Class: transport.ClassProtocol, Transient: reply.status >= 500,
			Message: fmt.Sprintf("%s answered the kerberos AP-REQ with HTTP %d", a.host, reply.status),
			Hint:    "the WinRM service failed, or something between answered for it; check the host's WinRM service"}
	}
	answer, ok := negotiateToken(reply.header.Values("WWW-Authenticate"))
	if !ok {
		return nil, krbError(a.host, "mutual authentication", errors.New("the host sent no AP-REP"))
	}
	if err := kctx.finish(answer, key, auth); err != nil {
		return nil, krbError(a.host, "mutual authentication", err)
	}
	a.ctx = kctx
	return nil, nil
}

// send sends one message on the authenticated connection.
func (a *kerberosAuth) send(ctx context.Context, ep *endpoint, body []byte) (*httpReply, error) {
	if !a.seal {
		return ep.do(ctx, body, nil)
	}
	reply, broken, err := sendSealed(ctx, ep, body, "kerberos", a.ctx, 0)
	if broken {
		a.ctx = nil
	}
	return reply, err
}
