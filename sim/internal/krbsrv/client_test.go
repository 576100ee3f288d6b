package krbsrv

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/fleetrun/fleetrun/internal/kdctest"
)

// The test's own initiator: gokrb5's client gets the tickets, and this
// file builds the AP-REQ, checks the AP-REP and seals as a WinRM client
// does, written from RFC 4121 apart from the package under test.

func loginOperator(t *testing.T, k *kdctest.KDC) *client.Client {
	t.Helper()
	cfg, err := config.Load(k.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	cl := client.NewWithPassword("operator", k.Realm, k.Password, cfg, client.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Destroy)
	return cl
}

func loadKeytab(t *testing.T, path string) *keytab.Keytab {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kt := keytab.New()
	if err := kt.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	return kt
}

type initiator struct {
	sessionKey types.EncryptionKey
	auth       types.Authenticator
	key        types.EncryptionKey // subkey in use for wrap tokens
	acceptor   bool                // the acceptor asserted a subkey
	sendSeq    uint64
	recvSeq    uint64
}

// apReq builds a krb5 GSS token with an AP-REQ for spn asking for flags.
func newInitiator(t *testing.T, cl *client.Client, spn string, flags uint32) (*initiator, []byte) {
	t.Helper()
	return newInitiatorAt(t, cl, spn, flags, 0)
}

// newInitiatorAt is newInitiator on a clock off by skew.
func newInitiatorAt(t *testing.T, cl *client.Client, spn string, flags uint32, skew time.Duration) (*initiator, []byte) {
	t.Helper()
	tkt, key, err := cl.GetServiceTicket(spn)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := types.NewAuthenticator(cl.Credentials.Domain(), cl.Credentials.CName())
	if err != nil {
		t.Fatal(err)
	}
	auth.CTime = auth.CTime.Add(skew)
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.GenerateSeqNumberAndSubKey(key.KeyType, et.GetKeyByteSize()); err != nil {
		t.Fatal(err)
	}
	ck := make([]byte, 24)
	binary.LittleEndian.PutUint32(ck[:4], 16)
	binary.LittleEndian.PutUint32(ck[20:], flags)
	auth.Cksum = types.Checksum{CksumType: 0x8003, Checksum: ck}
	req, err := messages.NewAPReq(tkt, key, auth)
	if err != nil {
		t.Fatal(err)
	}
	if flags&gssMutual != 0 {
		types.SetFlag(&req.APOptions, 2) // mutual-required
	}
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	in := &initiator{sessionKey: key, auth: auth, key: auth.SubKey, sendSeq: uint64(auth.SeqNumber), recvSeq: uint64(auth.SeqNumber)}
	return in, krb5Token(tokAPReq, b)
}

func spnegoInit(t *testing.T, krb []byte) []byte {
	t.Helper()
	tok := spnego.SPNEGOToken{Init: true, NegTokenInit: spnego.NegTokenInit{
		MechTypes:      []asn1.ObjectIdentifier{gssapi.OIDKRB5.OID()},
		MechTokenBytes: krb,
	}}
	b, err := tok.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// finish checks the acceptor's answer token (raw krb5 or SPNEGO) and takes
// its subkey and sequence number.
func (in *initiator) finish(answer []byte) error {
	if len(answer) > 0 && answer[0] == 0xa1 {
		var resp spnego.NegTokenResp
		if err := resp.Unmarshal(answer); err != nil {
			return err
		}
		if resp.NegState != asn1.Enumerated(spnego.NegStateAcceptCompleted) {
			return fmt.Errorf("spnego state %d", resp.NegState)
		}
		answer = resp.ResponseToken
	}
	oid, inner, err := parseInitialToken(answer)
	if err != nil {
		return err
	}
	if !oid.Equal(gssapi.OIDKRB5.OID()) || !bytes.Equal(inner[:2], tokAPRep) {
		return fmt.Errorf("answer is no krb5 AP-REP (%s %x)", oid, inner[:2])
	}
	var rep messages.APRep
	if err := rep.Unmarshal(inner[2:]); err != nil {
		return err
	}
	plain, err := crypto.DecryptEncPart(rep.EncPart, in.sessionKey, keyusage.AP_REP_ENCPART)
	if err != nil {
		return err
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		return err
	}
	if !part.CTime.Equal(in.auth.CTime.Truncate(time.Second)) || part.Cusec != in.auth.Cusec {
		return fmt.Errorf("AP-REP time %v.%d, want %v.%d", part.CTime, part.Cusec, in.auth.CTime, in.auth.Cusec)
	}
	if part.Subkey.KeyValue != nil {
		in.key, in.acceptor = part.Subkey, true
	}
	in.recvSeq = uint64(part.SequenceNumber)
	return nil
}

// wrap seals msg as the initiator (usage 24) with filler ec and rotation
// rrc+ec (Windows) or rrc alone (rfc), split as WinRM sends it.
func (in *initiator) wrap(t *testing.T, msg []byte, ec int, windowsRotation bool) (header, data []byte) {
	t.Helper()
	h := make([]byte, 16)
	copy(h, tokWrap)
	h[2] = flagSealed
	if in.acceptor {
		h[2] |= flagAcceptorSubkey
	}
	h[3] = 0xff
	binary.BigEndian.PutUint16(h[4:], uint16(ec))
	binary.BigEndian.PutUint64(h[8:], in.sendSeq)
	in.sendSeq++
	plain := append(append(append([]byte(nil), msg...), bytes.Repeat([]byte{0xff}, ec)...), h...)
	et, err := crypto.GetEtype(in.key.KeyType)
	if err != nil {
		t.Fatal(err)
	}
	_, ct, err := et.EncryptMessage(in.key.KeyValue, plain, keyusage.GSSAPI_INITIATOR_SEAL)
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint16(h[6:], 28)
	rot := 28
	if windowsRotation {
		rot += ec
	}
	ct = rotateRight(ct, rot)
	split := len(ct) - len(msg)
	return append(h, ct[:split]...), ct[split:]
}

// unwrap opens a token the acceptor sealed (usage 22).
func (in *initiator) unwrap(header, data []byte) ([]byte, error) {
	tok := append(append([]byte(nil), header...), data...)
	h := tok[:16]
	if h[2]&flagSentByAcceptor == 0 || h[2]&flagSealed == 0 {
		return nil, fmt.Errorf("flags %#x", h[2])
	}
	ec := int(binary.BigEndian.Uint16(h[4:]))
	rrc := int(binary.BigEndian.Uint16(h[6:]))
	if seq := binary.BigEndian.Uint64(h[8:]); seq != in.recvSeq {
		return nil, fmt.Errorf("acceptor sequence %d, want %d", seq, in.recvSeq)
	}
	in.recvSeq++
	plain, err := crypto.DecryptMessage(rotateLeft(tok[16:], rrc+ec), in.key, keyusage.GSSAPI_ACCEPTOR_SEAL)
	if err != nil {
		return nil, err
	}
	if len(plain) < ec+16 {
		return nil, errors.New("short")
	}
	return plain[:len(plain)-ec-16], nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
