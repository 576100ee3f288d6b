package krbsrv

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Token identifiers of RFC 4121 4.1 and 4.2.6.2.
var (
	tokAPReq = []byte{0x01, 0x00}
	tokAPRep = []byte{0x02, 0x00}
	// tokKRBError marks a KRB-ERROR in the krb5 mechanism's framing.
	tokKRBError = []byte{0x03, 0x00}
	tokWrap     = []byte{0x05, 0x04}
)

// Wrap token flags, RFC 4121 4.2.2.
const (
	flagSentByAcceptor = 0x01
	flagSealed         = 0x02
	flagAcceptorSubkey = 0x04
)

// GSS checksum flags carried in the authenticator (RFC 4121 4.1.1.1).
const (
	gssMutual   = 0x02
	gssSequence = 0x08
)

// wrapHeaderLen is the size of a wrap token's header, and of its copy
// inside the encrypted data.
const wrapHeaderLen = 16

// winrmRRC is the rotation count Windows' SSPI writes in sealed wrap
// tokens: "The RRC field is 12 if no encryption is requested or 28 if
// encryption is requested" ([MS-KILE] 3.4.5.4.1), so that the encrypted
// header copy and the checksum travel at the front, in the "signature"
// WinRM sends before the data ([MS-WSMV] 2.2.9.1.2).
const winrmRRC = 28

// parseInitialToken splits a GSS-API InitialContextToken (RFC 2743 3.1:
// [APPLICATION 0] { thisMech OID, innerToken }) into its mechanism and
// inner token.
func parseInitialToken(b []byte) (asn1.ObjectIdentifier, []byte, error) {
	var oid asn1.ObjectIdentifier
	inner, err := asn1.UnmarshalWithParams(b, &oid, "application,explicit,tag:0")
	if err != nil {
		return nil, nil, fmt.Errorf("not a gss-api initial context token: %w", err)
	}
	return oid, inner, nil
}

// krb5Token wraps a Kerberos message in the krb5 mechanism's token framing
// (RFC 4121 4.1): the InitialContextToken header, then the two-byte token
// identifier, then the message.
func krb5Token(tokID, msg []byte) []byte {
	oid, err := asn1.Marshal(gssapi.OIDKRB5.OID())
	if err != nil {
		// A constant OID always marshals.
		panic(err)
	}
	b := append(oid, tokID...)
	b = append(b, msg...)
	return asn1tools.AddASNAppTag(b, 0)
}

// gssFlags returns the context flags the initiator asked for in the
// authenticator's checksum (type 0x8003, RFC 4121 4.1.1), or 0 when it
// carries none.
func gssFlags(a types.Authenticator) uint32 {
	if a.Cksum.CksumType != 0x8003 || len(a.Cksum.Checksum) < 24 {
		return 0
	}
	return binary.LittleEndian.Uint32(a.Cksum.Checksum[20:24])
}

// encAPRepPart is EncAPRepPart of RFC 4120 5.5.2, in the shape gokrb5's
// asn1 package marshals (gokrb5 only unmarshals AP-REP).
type encAPRepPart struct {
	CTime          time.Time           `asn1:"generalized,explicit,tag:0"`
	Cusec          int                 `asn1:"explicit,tag:1"`
	Subkey         types.EncryptionKey `asn1:"optional,explicit,tag:2"`
	SequenceNumber int64               `asn1:"optional,explicit,tag:3"`
}

type apRep struct {
	PVNO    int                 `asn1:"explicit,tag:0"`
	MsgType int                 `asn1:"explicit,tag:1"`
	EncPart types.EncryptedData `asn1:"explicit,tag:2"`
}

// marshalAPRep builds the KRB_AP_REP for a verified AP-REQ: the client's
// time echoed, the acceptor's subkey and its first sequence number,
// encrypted in the ticket's session key (key usage 12).
func marshalAPRep(req *messages.APReq, subkey types.EncryptionKey, seq uint64) ([]byte, error) {
	part := encAPRepPart{
		CTime:          req.Authenticator.CTime,
		Cusec:          req.Authenticator.Cusec,
		Subkey:         subkey,
		SequenceNumber: int64(seq),
	}
	pb, err := asn1.Marshal(part)
	if err != nil {
		return nil, fmt.Errorf("marshalling EncAPRepPart: %w", err)
	}
	pb = asn1tools.AddASNAppTag(pb, asnAppTag.EncAPRepPart)
	ed, err := crypto.GetEncryptedData(pb, req.Ticket.DecryptedEncPart.Key, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, fmt.Errorf("encrypting EncAPRepPart: %w", err)
	}
	rb, err := asn1.Marshal(apRep{PVNO: 5, MsgType: msgtype.KRB_AP_REP, EncPart: ed})
	if err != nil {
		return nil, fmt.Errorf("marshalling AP-REP: %w", err)
	}
	return asn1tools.AddASNAppTag(rb, asnAppTag.APREP), nil
}

// secContext is an established Kerberos security context: the key wrap
// tokens use and the sequence numbers of both directions (RFC 4121 4.2).
type secContext struct {
	user           string // client principal, user@REALM
	key            types.EncryptionKey
	acceptorSubkey bool
	sendSeq        uint64 // next SND_SEQ of a token this side sends
	recvSeq        uint64 // SND_SEQ the next token from the client must carry
}

// unwrap checks and decrypts a sealed wrap token the initiator sent (RFC
// 4121 4.2.4, 4.2.6.2), split as WinRM sends it: the token's header and
// the part of the rotated ciphertext before the data, then the data.
// The incoming sequence number advances on success; a failed token leaves
// the context unusable (the caller drops it).
func (c *secContext) unwrap(header, data []byte) ([]byte, error) {
	token := make([]byte, 0, len(header)+len(data))
	token = append(append(token, header...), data...)
	if len(token) < wrapHeaderLen {
		return nil, fmt.Errorf("wrap token has %d bytes, shorter than its header", len(token))
	}
	h := token[:wrapHeaderLen]
	if !bytes.Equal(h[0:2], tokWrap) || h[3] != 0xff {
		return nil, fmt.Errorf("not an rfc 4121 wrap token (token id %x, filler %#x)", h[0:2], h[3])
	}
	flags := h[2]
	switch {
	case flags&flagSentByAcceptor != 0:
		return nil, errors.New("wrap token is marked as sent by the acceptor")
	case flags&flagSealed == 0:
		return nil, errors.New("wrap token is not sealed (integrity only); WinRM message encryption needs confidentiality")
	case (flags&flagAcceptorSubkey != 0) != c.acceptorSubkey:
		return nil, fmt.Errorf("wrap token AcceptorSubkey flag is %t, the context has %t", flags&flagAcceptorSubkey != 0, c.acceptorSubkey)
	}
	ec := int(binary.BigEndian.Uint16(h[4:6]))
	rrc := int(binary.BigEndian.Uint16(h[6:8]))
	seq := binary.BigEndian.Uint64(h[8:16])
	body := token[wrapHeaderLen:]
	if len(body) < 16+wrapHeaderLen+ec+12 {
		return nil, fmt.Errorf("wrap token of %d bytes is too short for its confounder, header copy and checksum", len(token))
	}
	// Windows rotates by RRC+EC, not by RRC alone as RFC 4121 4.2.5 says
	// ([MS-KILE] 3.4.5.4.1); try Windows' way first.
	rotations := []int{rrc + ec}
	if ec != 0 {
		rotations = append(rotations, rrc)
	}
	var plain []byte
	var err error
	for _, r := range rotations {
		plain, err = crypto.DecryptMessage(rotateLeft(body, r), c.key, keyusage.GSSAPI_INITIATOR_SEAL)
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("wrap token does not decrypt with the context's key: %w", err)
	}
	if len(plain) < ec+wrapHeaderLen {
		return nil, errors.New("decrypted wrap token is shorter than its filler and header copy")
	}
	inner := plain[len(plain)-wrapHeaderLen:]
	// The encrypted copy of the header carries RRC 0 (RFC 4121 4.2.5).
	want := append([]byte(nil), h...)
	want[6], want[7] = 0, 0
	if subtle.ConstantTimeCompare(inner, want) != 1 {
		return nil, errors.New("wrap token header does not match its encrypted copy")
	}
	if seq != c.recvSeq {
		return nil, fmt.Errorf("wrap token sequence number %d, want %d", seq, c.recvSeq)
	}
	c.recvSeq++
	return plain[:len(plain)-ec-wrapHeaderLen], nil
}

// wrap seals msg as the acceptor (key usage 22) and returns it split as
// Windows sends it: the header (token header, then the rotated checksum,
// encrypted header copy and confounder) and the data, as long as msg.
// AES in CTS mode needs no padding, so EC is 0.
func (c *secContext) wrap(msg []byte) (header, data []byte, err error) {
	h := make([]byte, wrapHeaderLen)
	copy(h, tokWrap)
	h[2] = flagSentByAcceptor | flagSealed
	if c.acceptorSubkey {
		h[2] |= flagAcceptorSubkey
	}
	h[3] = 0xff
	binary.BigEndian.PutUint64(h[8:], c.sendSeq)
	plain := make([]byte, 0, len(msg)+wrapHeaderLen)
	plain = append(append(plain, msg...), h...)
	et, err := crypto.GetEtype(c.key.KeyType)
	if err != nil {
		return nil, nil, fmt.Errorf("wrap: %w", err)
	}
	_, ct, err := et.EncryptMessage(c.key.KeyValue, plain, keyusage.GSSAPI_ACCEPTOR_SEAL)
	if err != nil {
		return nil, nil, fmt.Errorf("wrap: %w", err)
	}
	c.sendSeq++
	binary.BigEndian.PutUint16(h[6:8], winrmRRC)
	ct = rotateRight(ct, winrmRRC)
	split := len(ct) - len(msg)
	header = append(h, ct[:split]...)
	return header, ct[split:], nil
}

// rotateLeft returns b rotated left by n bytes (undoing RRC).
func rotateLeft(b []byte, n int) []byte {
	if len(b) == 0 {
		return b
	}
	n %= len(b)
	out := make([]byte, 0, len(b))
	return append(append(out, b[n:]...), b[:n]...)
}

// rotateRight returns b rotated right by n bytes (applying RRC).
func rotateRight(b []byte, n int) []byte {
	if len(b) == 0 {
		return b
	}
	n %= len(b)
	out := make([]byte, 0, len(b))
	return append(append(out, b[len(b)-n:]...), b[:len(b)-n]...)
}
