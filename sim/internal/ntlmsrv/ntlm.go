package ntlmsrv

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	// NTOWFv1 is MD4 by definition ([MS-NLMP] 3.3.1); compatibility with
	// Windows is the point here, not strength.
	"golang.org/x/crypto/md4" //nolint:staticcheck // SA1019: see above
)

// NTLMSSP negotiate flags, [MS-NLMP] 2.2.2.5.
const (
	flagUnicode         uint32 = 0x00000001
	flagOEM             uint32 = 0x00000002
	flagRequestTarget   uint32 = 0x00000004
	flagSign            uint32 = 0x00000010
	flagSeal            uint32 = 0x00000020
	flagDatagram        uint32 = 0x00000040
	flagLMKey           uint32 = 0x00000080
	flagNTLM            uint32 = 0x00000200
	flagAnonymous       uint32 = 0x00000800
	flagAlwaysSign      uint32 = 0x00008000
	flagTargetTypeSrv   uint32 = 0x00020000
	flagExtendedSession uint32 = 0x00080000
	flagTargetInfo      uint32 = 0x00800000
	flagVersion         uint32 = 0x02000000
	flag128             uint32 = 0x20000000
	flagKeyExch         uint32 = 0x40000000
	flag56              uint32 = 0x80000000
)

// Message types, [MS-NLMP] 2.2.1.
const (
	typeNegotiate    uint32 = 1
	typeChallenge    uint32 = 2
	typeAuthenticate uint32 = 3
)

// AV_PAIR identifiers, [MS-NLMP] 2.2.2.1.
const (
	avEOL             uint16 = 0
	avNbComputerName  uint16 = 1
	avNbDomainName    uint16 = 2
	avDNSComputerName uint16 = 3
	avDNSDomainName   uint16 = 4
	avFlags           uint16 = 6
	avTimestamp       uint16 = 7

	avFlagMICPresent uint32 = 0x00000002
)

var signature = []byte("NTLMSSP\x00")

// windowsVersion is the VERSION structure ([MS-NLMP] 2.2.2.10) the
// simulated host reports: Windows 10.0 build 17763 (Server 2019), NTLM
// revision 15.
var windowsVersion = [8]byte{10, 0, 0x63, 0x45, 0, 0, 0, 15}

// messageType returns the type of an NTLMSSP message, checking the
// signature.
func messageType(b []byte) (uint32, error) {
	if len(b) < 12 {
		return 0, fmt.Errorf("ntlm message of %d bytes is shorter than its 12-byte header", len(b))
	}
	if !bytes.Equal(b[:8], signature) {
		return 0, errors.New("ntlm message does not start with the NTLMSSP signature")
	}
	return binary.LittleEndian.Uint32(b[8:12]), nil
}

// negotiateMessage is the part of a NEGOTIATE_MESSAGE ([MS-NLMP] 2.2.1.1)
// the server uses: the client's flags, and the raw bytes for the MIC.
type negotiateMessage struct {
	flags uint32
	raw   []byte
}

// parseNegotiate parses a NEGOTIATE_MESSAGE. Only the header and flags are
// required; the optional domain, workstation and version fields are not
// needed by a server and are not interpreted.
func parseNegotiate(b []byte) (negotiateMessage, error) {
	t, err := messageType(b)
	if err != nil {
		return negotiateMessage{}, err
	}
	if t != typeNegotiate {
		return negotiateMessage{}, fmt.Errorf("ntlm message type %d where NEGOTIATE (1) was expected", t)
	}
	if len(b) < 16 {
		return negotiateMessage{}, fmt.Errorf("ntlm negotiate message of %d bytes has no flags", len(b))
	}
	return negotiateMessage{flags: binary.LittleEndian.Uint32(b[12:16]), raw: bytes.Clone(b)}, nil
}

// avPair is one AV_PAIR of a target info block.
type avPair struct {
	id    uint16
	value []byte
}

func marshalAVPairs(pairs []avPair) []byte {
	var b []byte
	for _, p := range pairs {
		b = binary.LittleEndian.AppendUint16(b, p.id)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(p.value)))
		b = append(b, p.value...)
	}
	// MsvAvEOL.
	return append(b, 0, 0, 0, 0)
}

// parseAVPairs parses AV_PAIRs up to MsvAvEOL.
func parseAVPairs(b []byte) ([]avPair, error) {
	var pairs []avPair
	for {
		if len(b) < 4 {
			return nil, errors.New("target info ends without MsvAvEOL")
		}
		id := binary.LittleEndian.Uint16(b)
		n := int(binary.LittleEndian.Uint16(b[2:]))
		b = b[4:]
		if id == avEOL {
			return pairs, nil
		}
		if n > len(b) {
			return nil, fmt.Errorf("target info pair %d claims %d bytes, %d remain", id, n, len(b))
		}
		pairs = append(pairs, avPair{id: id, value: b[:n]})
		b = b[n:]
	}
}

// challengeMessage is a CHALLENGE_MESSAGE ([MS-NLMP] 2.2.1.2) to send.
type challengeMessage struct {
	flags           uint32
	serverChallenge [8]byte
	targetName      string
	targetInfo      []avPair
	version         [8]byte
}

// marshal encodes the message. The VERSION field is always present (zero
// when the flag is not negotiated), so the payload starts at offset 56, as
// Windows sends it.
func (m challengeMessage) marshal() []byte {
	const payload = 56
	name := encodeString(m.targetName, m.flags&flagUnicode != 0)
	info := marshalAVPairs(m.targetInfo)
	b := make([]byte, 0, payload+len(name)+len(info))
	b = append(b, signature...)
	b = binary.LittleEndian.AppendUint32(b, typeChallenge)
	b = appendField(b, len(name), payload)
	b = binary.LittleEndian.AppendUint32(b, m.flags)
	b = append(b, m.serverChallenge[:]...)
	b = append(b, make([]byte, 8)...) // Reserved
	b = appendField(b, len(info), payload+len(name))
	if m.flags&flagVersion != 0 {
		b = append(b, m.version[:]...)
	} else {
		b = append(b, make([]byte, 8)...)
	}
	b = append(b, name...)
	return append(b, info...)
}

// appendField appends a Len/MaxLen/BufferOffset field descriptor.
func appendField(b []byte, n, offset int) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(n))
	b = binary.LittleEndian.AppendUint16(b, uint16(n))
	return binary.LittleEndian.AppendUint32(b, uint32(offset))
}

// challengeFlags chooses the CHALLENGE flags for a client's NEGOTIATE
// flags as a Windows server does ([MS-NLMP] 3.2.5.1.1): what the server
// always sets, plus every optional capability the client asked for and the
// server supports. NTLMv1-only options (LM_KEY, datagram) are never offered.
func challengeFlags(client uint32) uint32 {
	flags := flagRequestTarget | flagNTLM | flagTargetTypeSrv | flagTargetInfo
	if client&flagUnicode != 0 {
		flags |= flagUnicode
	} else {
		flags |= flagOEM
	}
	const optional = flagSign | flagSeal | flagAlwaysSign | flagExtendedSession |
		flagVersion | flag128 | flag56 | flagKeyExch
	return flags | client&optional
}

// filetime converts t to a Windows FILETIME (100 ns ticks since 1601).
func filetime(t time.Time) []byte {
	const epochDelta = 116444736000000000 // 1601-01-01 to 1970-01-01 in ticks
	ticks := uint64(t.UnixNano()/100) + epochDelta
	return binary.LittleEndian.AppendUint64(nil, ticks)
}

// serverTargetInfo is the target info a stand-alone (workgroup) Windows
// server sends: its NetBIOS name as computer and domain, its DNS name, and
// the current time.
func serverTargetInfo(computer string, now time.Time) []avPair {
	nb := encodeString(strings.ToUpper(computer), true)
	dns := encodeString(strings.ToLower(computer), true)
	return []avPair{
		{avNbDomainName, nb},
		{avNbComputerName, nb},
		{avDNSDomainName, dns},
		{avDNSComputerName, dns},
		{avTimestamp, filetime(now)},
	}
}

// authenticateMessage is a parsed AUTHENTICATE_MESSAGE ([MS-NLMP] 2.2.1.3).
type authenticateMessage struct {
	flags                     uint32
	lmResponse                []byte
	ntResponse                []byte
	domain                    string
	user                      string
	workstation               string
	encryptedRandomSessionKey []byte
	raw                       []byte
	payloadStart              int // lowest offset of a non-empty payload field
}

// parseAuthenticate parses an AUTHENTICATE_MESSAGE. It accepts the 64-byte
// header without VERSION (Azure/go-ntlmssp) as well as the 72- and 88-byte
// forms with VERSION and MIC.
func parseAuthenticate(b []byte) (authenticateMessage, error) {
	t, err := messageType(b)
	if err != nil {
		return authenticateMessage{}, err
	}
	if t != typeAuthenticate {
		return authenticateMessage{}, fmt.Errorf("ntlm message type %d where AUTHENTICATE (3) was expected", t)
	}
	if len(b) < 64 {
		return authenticateMessage{}, fmt.Errorf("ntlm authenticate message of %d bytes is shorter than its 64-byte header", len(b))
	}
	m := authenticateMessage{
		flags:        binary.LittleEndian.Uint32(b[60:64]),
		raw:          bytes.Clone(b),
		payloadStart: len(b),
	}
	field := func(at int, name string) ([]byte, error) {
		n := int(binary.LittleEndian.Uint16(b[at:]))
		off := int(binary.LittleEndian.Uint32(b[at+4:]))
		if n == 0 {
			return nil, nil
		}
		if off < 64 || off > len(b) || n > len(b)-off {
			return nil, fmt.Errorf("ntlm authenticate %s field (offset %d, length %d) lies outside the %d-byte message", name, off, n, len(b))
		}
		m.payloadStart = min(m.payloadStart, off)
		return b[off : off+n], nil
	}
	unicode := m.flags&flagUnicode != 0
	str := func(at int, name string) (string, error) {
		v, err := field(at, name)
		if err != nil {
			return "", err
		}
		return decodeString(v, unicode, name)
	}
	if m.lmResponse, err = field(12, "LmChallengeResponse"); err != nil {
		return authenticateMessage{}, err
	}
	if m.ntResponse, err = field(20, "NtChallengeResponse"); err != nil {
		return authenticateMessage{}, err
	}
	if m.domain, err = str(28, "DomainName"); err != nil {
		return authenticateMessage{}, err
	}
	if m.user, err = str(36, "UserName"); err != nil {
		return authenticateMessage{}, err
	}
	if m.workstation, err = str(44, "Workstation"); err != nil {
		return authenticateMessage{}, err
	}
	if m.encryptedRandomSessionKey, err = field(52, "EncryptedRandomSessionKey"); err != nil {
		return authenticateMessage{}, err
	}
	return m, nil
}

// encodeString encodes s as UTF-16LE or as OEM bytes (Latin-1 here; the
// simulator's names are ASCII).
func encodeString(s string, unicode bool) []byte {
	if !unicode {
		return []byte(s)
	}
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}

func decodeString(b []byte, unicode bool, name string) (string, error) {
	if !unicode {
		return string(b), nil
	}
	if len(b)%2 != 0 {
		return "", fmt.Errorf("ntlm authenticate %s field has odd length %d for UTF-16", name, len(b))
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u)), nil
}

// ntowfv2 is NTOWFv2 of [MS-NLMP] 3.3.2:
// HMAC_MD5(MD4(UNICODE(Passwd)), UNICODE(Uppercase(User) ‖ UserDom)).
func ntowfv2(password, user, domain string) []byte {
	h := md4.New()
	h.Write(encodeString(password, true))
	return hmacMD5(h.Sum(nil), encodeString(strings.ToUpper(user)+domain, true))
}

func hmacMD5(key []byte, data ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

// Errors a failed verification wraps, so the handler can name the reason.
var (
	errWrongPassword = errors.New("wrong password")
	errUnknownUser   = errors.New("unknown user")
)

// verified is the outcome of a successful AUTHENTICATE verification.
type verified struct {
	user               string // as sent in the message
	domain             string // as sent in the message
	flags              uint32 // the negotiated flags (AUTHENTICATE_MESSAGE.NegotiateFlags)
	exportedSessionKey []byte
}

// verifyAuthenticate checks an NTLMv2 AUTHENTICATE_MESSAGE against the
// password lookup returns for its user, following the server side of
// [MS-NLMP] 3.2.5.1.2 and 3.3.2: recompute NTProofStr over the server
// challenge and the client's blob, derive the session key, recover the
// exported session key when keys were exchanged, and check the MIC when the
// client says it sent one. NTLMv1 and anonymous responses are refused.
func verifyAuthenticate(neg negotiateMessage, chal challengeMessage, chalRaw []byte, am authenticateMessage, lookup func(user string) (string, bool)) (verified, error) {
	if am.user == "" || (am.flags&flagAnonymous != 0 && len(am.ntResponse) == 0) {
		return verified{}, errors.New("anonymous ntlm logon refused")
	}
	switch n := len(am.ntResponse); {
	case n == 24:
		return verified{}, errors.New("ntlmv1 response refused: only ntlmv2 is accepted")
	case n < 16+28+4:
		return verified{}, fmt.Errorf("ntlmv2 response of %d bytes is too short", n)
	}
	ntProof, blob := am.ntResponse[:16], am.ntResponse[16:]
	if blob[0] != 1 || blob[1] != 1 {
		return verified{}, fmt.Errorf("ntlmv2 client challenge has version %d.%d, want 1.1", blob[0], blob[1])
	}
	info, err := parseAVPairs(blob[28:])
	if err != nil {
		return verified{}, fmt.Errorf("ntlmv2 client challenge: %w", err)
	}

	password, ok := lookup(am.user)
	if !ok {
		return verified{}, errUnknownUser
	}
	responseKey := ntowfv2(password, am.user, am.domain)
	want := hmacMD5(responseKey, chal.serverChallenge[:], blob)
	if !hmac.Equal(want, ntProof) {
		return verified{}, errWrongPassword
	}

	// [MS-NLMP] 3.4.5.1: for NTLMv2 the key exchange key is the session
	// base key.
	keyExchangeKey := hmacMD5(responseKey, ntProof)
	exported := keyExchangeKey
	if am.flags&flagKeyExch != 0 && (am.flags&(flagSign|flagSeal) != 0) {
		if len(am.encryptedRandomSessionKey) != 16 {
			return verified{}, fmt.Errorf("key exchange negotiated but the encrypted session key has %d bytes, want 16", len(am.encryptedRandomSessionKey))
		}
		c, err := rc4.NewCipher(keyExchangeKey)
		if err != nil {
			return verified{}, fmt.Errorf("session key: %w", err)
		}
		exported = make([]byte, 16)
		c.XORKeyStream(exported, am.encryptedRandomSessionKey)
	}

	if micPresent(info) {
		if am.payloadStart < 88 || len(am.raw) < 88 {
			return verified{}, errors.New("ntlmv2 response announces a MIC but the authenticate message has no room for one")
		}
		msg := bytes.Clone(am.raw)
		got := bytes.Clone(msg[72:88])
		clear(msg[72:88])
		if !hmac.Equal(got, hmacMD5(exported, neg.raw, chalRaw, msg)) {
			return verified{}, errors.New("message integrity code does not match the three ntlm messages")
		}
	}
	return verified{user: am.user, domain: am.domain, flags: am.flags, exportedSessionKey: exported}, nil
}

// micPresent reports whether the client's target info says it computed a
// MIC (MsvAvFlags bit 0x2, [MS-NLMP] 2.2.2.1).
func micPresent(info []avPair) bool {
	for _, p := range info {
		if p.id == avFlags && len(p.value) == 4 {
			return binary.LittleEndian.Uint32(p.value)&avFlagMICPresent != 0
		}
	}
	return false
}
