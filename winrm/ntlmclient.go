package winrm

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/rc4"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ntlmClient is the client's side of NTLM's NEGOTIATE / CHALLENGE /
// AUTHENTICATE exchange ([MS-NLMP] 3.1.5.1), NTLMv2 only. It sends what
// bodgit/ntlmssp's Client sends at its default compatibility level (3)
// with no Version (bodgit's DefaultVersion is nil off Windows) and no
// workstation, field for field, so that servers see no difference; only
// the random parts (client challenge, exported session key) and the
// current time differ from one run to the next. bodgit clones the AV
// pairs through encoding/gob and encodes every message with reflection;
// here each message is written into one buffer of the right size, and
// the exported session key is kept, so that the session is made from it
// (newNTLMSession) instead of derived again from the AUTHENTICATE message.
//
// It implements NTLMv2 with extended session security and Unicode
// strings for a user with credentials; for a CHALLENGE that negotiates
// anything else authenticate returns errNTLMNotSupported and the caller
// answers with bodgit's client (ntlmAuth.bodgitAnswer), whose NEGOTIATE
// message is the same bytes.
type ntlmClient struct {
	user, password string
	domain         string // trimmed of spaces, as bodgit's SetDomain does
	// workstation and version are always empty in production (bodgit
	// sends neither off Windows); tests set them to reproduce the
	// messages of [MS-NLMP] 4.2.4.
	workstation string
	version     *[8]byte
	// rand is where the client challenge and the exported session key
	// come from; now is the clock for the NTLMv2 timestamp when the
	// server sent none. Tests replace them.
	rand io.Reader
	now  func() time.Time
	// negotiate is the NEGOTIATE message sent, kept for the MIC.
	negotiate []byte
}

// NegotiateFlags bits the client sets or reads besides those in
// ntlmseal.go ([MS-NLMP] 2.2.2.5).
const (
	ntlmFlagUnicode         = 0x00000001 // NTLMSSP_NEGOTIATE_UNICODE
	ntlmFlagOEM             = 0x00000002 // NTLM_NEGOTIATE_OEM
	ntlmFlagRequestTarget   = 0x00000004 // NTLMSSP_REQUEST_TARGET
	ntlmFlagDomainSupplied  = 0x00001000 // NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED
	ntlmFlagWorkstationSupp = 0x00002000 // NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED
	ntlmFlagAlwaysSign      = 0x00008000 // NTLMSSP_NEGOTIATE_ALWAYS_SIGN
	ntlmFlagTargetInfo      = 0x00800000 // NTLMSSP_NEGOTIATE_TARGET_INFO
	ntlmFlagVersion         = 0x02000000 // NTLMSSP_NEGOTIATE_VERSION
)

// ntlmClientFlags are the NEGOTIATE message's flags: bodgit's
// defaultClientFlags plus extended session security, which its
// compatibility level 3 (NTLMv2) adds.
const ntlmClientFlags = ntlmFlagUnicode | ntlmFlagSign | ntlmFlagSeal | ntlmFlagAlwaysSign |
	ntlmFlagExtendedSec | ntlmFlagTargetInfo | ntlmFlag128 | ntlmFlagKeyExch | ntlmFlag56

// AV_PAIR AvIds ([MS-NLMP] 2.2.2.1) and the MsvAvFlags bit for a MIC.
const (
	ntlmAvEOL             = 0
	ntlmAvFlags           = 6
	ntlmAvTimestamp       = 7
	ntlmAvChannelBindings = 10
	ntlmAvFlagMIC         = 0x00000002
)

// Sizes of the fixed parts of the messages ([MS-NLMP] 2.2.1.1-2.2.1.3):
// bodgit always leaves room for the 8-byte VERSION, zeros when it sends
// none, and puts the payload after it.
const (
	ntlmNegotiateHeaderLen    = 32 + 8
	ntlmChallengeMinLen       = 48
	ntlmAuthenticateHeaderLen = ntlmAuthenticateMinLen + 8
	ntlmMICLen                = 16
)

// errNTLMChallenge says the server's CHALLENGE message could not be read.
var errNTLMChallenge = errors.New("malformed NTLM CHALLENGE message")

// newNTLMClient is the client for user, password and domain as the
// target gave them; the domain is trimmed as bodgit's SetDomain trims it.
func newNTLMClient(user, password, domain string) *ntlmClient {
	return &ntlmClient{user: user, password: password, domain: strings.TrimSpace(domain)}
}

// negotiateMessage builds and keeps the NEGOTIATE message ([MS-NLMP]
// 2.2.1.1): the client's flags, with OEM_DOMAIN_SUPPLIED and
// OEM_WORKSTATION_SUPPLIED when they are given and VERSION when it is,
// the DomainNameFields and WorkstationFields in the OEM character set
// (bodgit writes the strings' bytes as they are), and the VERSION's 8
// bytes always present (zero without VERSION).
func (c *ntlmClient) negotiateMessage() ([]byte, error) {
	if len(c.domain) > 0xffff || len(c.workstation) > 0xffff {
		return nil, fmt.Errorf("ntlm: a domain of %d bytes does not fit an NTLM message; give a shorter one", len(c.domain))
	}
	flags := uint32(ntlmClientFlags)
	if c.domain != "" {
		flags |= ntlmFlagDomainSupplied
	}
	if c.workstation != "" {
		flags |= ntlmFlagWorkstationSupp
	}
	if c.version != nil {
		flags |= ntlmFlagVersion
	}
	m := make([]byte, ntlmNegotiateHeaderLen+len(c.domain)+len(c.workstation))
	copy(m, "NTLMSSP\x00")
	binary.LittleEndian.PutUint32(m[8:], 1)
	binary.LittleEndian.PutUint32(m[12:], flags)
	off := putNTLMField(m, 16, ntlmNegotiateHeaderLen, len(c.domain))
	putNTLMField(m, 24, off, len(c.workstation))
	if c.version != nil {
		copy(m[32:40], c.version[:])
	}
	copy(m[ntlmNegotiateHeaderLen:], c.domain)
	copy(m[ntlmNegotiateHeaderLen+len(c.domain):], c.workstation)
	c.negotiate = m
	return m, nil
}

// putNTLMField writes a Fields structure (Len, MaxLen, BufferOffset,
// [MS-NLMP] 2.2.1.1) at at for n bytes of payload at off, and returns
// where the next payload starts.
func putNTLMField(m []byte, at, off, n int) int {
	binary.LittleEndian.PutUint16(m[at:], uint16(n))
	binary.LittleEndian.PutUint16(m[at+2:], uint16(n))
	binary.LittleEndian.PutUint32(m[at+4:], uint32(off))
	return off + n
}

// ntlmAvPair is one AV_PAIR of a target info ([MS-NLMP] 2.2.2.1); value
// points into the CHALLENGE message or to a value the client set.
type ntlmAvPair struct {
	id    uint16
	value []byte
}

// ntlmChallenge is what the client uses of a CHALLENGE message.
type ntlmChallenge struct {
	flags           uint32
	serverChallenge []byte
	targetInfo      []ntlmAvPair
}

// parseNTLMChallenge reads a CHALLENGE message ([MS-NLMP] 2.2.1.2),
// checking every length and offset, and refusing what bodgit refuses: a
// TargetName (read when REQUEST_TARGET is set) or TargetInfo (read when
// NEGOTIATE_TARGET_INFO is set) past the end, a target info without
// MsvAvEOL, and a VERSION (present with NEGOTIATE_VERSION) cut short.
// Every error wraps errNTLMChallenge.
func parseNTLMChallenge(msg []byte, pairs []ntlmAvPair) (ntlmChallenge, error) {
	if len(msg) < ntlmChallengeMinLen {
		return ntlmChallenge{}, fmt.Errorf("%w: %d bytes, want at least %d", errNTLMChallenge, len(msg), ntlmChallengeMinLen)
	}
	if string(msg[:8]) != "NTLMSSP\x00" || binary.LittleEndian.Uint32(msg[8:]) != 2 {
		return ntlmChallenge{}, fmt.Errorf("%w: no NTLMSSP signature and message type 2", errNTLMChallenge)
	}
	ch := ntlmChallenge{flags: binary.LittleEndian.Uint32(msg[20:]), serverChallenge: msg[24:32]}
	if ch.flags&ntlmFlagRequestTarget != 0 {
		if _, err := challengeField(msg, 12, "TargetName"); err != nil {
			return ntlmChallenge{}, err
		}
	}
	if ch.flags&ntlmFlagTargetInfo != 0 {
		info, err := challengeField(msg, 40, "TargetInfo")
		if err != nil {
			return ntlmChallenge{}, err
		}
		if len(info) > 0 {
			if ch.targetInfo, err = parseNTLMAvPairs(info, pairs); err != nil {
				return ntlmChallenge{}, err
			}
		}
	}
	if ch.flags&ntlmFlagVersion != 0 && len(msg) < ntlmChallengeMinLen+8 {
		return ntlmChallenge{}, fmt.Errorf("%w: NEGOTIATE_VERSION set but the message ends before the VERSION", errNTLMChallenge)
	}
	return ch, nil
}

// challengeField is the payload of the CHALLENGE's Fields structure at
// at ([MS-NLMP] 2.2.1.2), bounds-checked.
func challengeField(msg []byte, at int, name string) ([]byte, error) {
	n := int64(binary.LittleEndian.Uint16(msg[at:]))
	off := int64(binary.LittleEndian.Uint32(msg[at+4:]))
	if n > 0 && off+n > int64(len(msg)) {
		return nil, fmt.Errorf("%w: %s (%d bytes at %d) ends past the message's %d bytes", errNTLMChallenge, name, n, off, len(msg))
	}
	return msg[min(off, int64(len(msg))):][:n], nil
}

// parseNTLMAvPairs reads AV_PAIRs ([MS-NLMP] 2.2.2.1) up to MsvAvEOL,
// appending to pairs. As bodgit does, a repeated AvId keeps its first
// place and takes the last value, and anything after MsvAvEOL is ignored.
func parseNTLMAvPairs(b []byte, pairs []ntlmAvPair) ([]ntlmAvPair, error) {
	for {
		if len(b) < 4 {
			return nil, fmt.Errorf("%w: the target info ends without MsvAvEOL", errNTLMChallenge)
		}
		id, n := binary.LittleEndian.Uint16(b), int(binary.LittleEndian.Uint16(b[2:]))
		if id == ntlmAvEOL {
			return pairs, nil
		}
		if len(b) < 4+n {
			return nil, fmt.Errorf("%w: AV pair %d of %d bytes ends past the target info", errNTLMChallenge, id, n)
		}
		pairs = setNTLMAvPair(pairs, id, b[4:4+n:4+n])
		b = b[4+n:]
	}
}

// setNTLMAvPair sets id's value, in its place when it is there already,
// else at the end.
func setNTLMAvPair(pairs []ntlmAvPair, id uint16, value []byte) []ntlmAvPair {
	for i := range pairs {
		if pairs[i].id == id {
			pairs[i].value = value
			return pairs
		}
	}
	return append(pairs, ntlmAvPair{id, value})
}

func getNTLMAvPair(pairs []ntlmAvPair, id uint16) ([]byte, bool) {
	for _, p := range pairs {
		if p.id == id {
			return p.value, true
		}
	}
	return nil, false
}

// ntlmAuthenticated is the result of answering a CHALLENGE.
type ntlmAuthenticated struct {
	message []byte // the AUTHENTICATE message
	flags   uint32 // its NegotiateFlags
	// exportedKey is the ExportedSessionKey ([MS-NLMP] 3.1.5.1.2), for
	// newNTLMSession.
	exportedKey [16]byte
	// sessionBaseKey is the SessionBaseKey ([MS-NLMP] 3.3.2), kept for
	// tests.
	sessionBaseKey [16]byte
}

// authenticate answers the server's CHALLENGE message with the
// AUTHENTICATE message ([MS-NLMP] 3.1.5.1.2), adding to the NTLMv2
// response the channel bindings' hash when bindings is not nil (HTTPS).
// negotiateMessage must have been called. A malformed CHALLENGE gives an
// error wrapping errNTLMChallenge; one that negotiates what this client
// does not implement (no Unicode, no extended session security, signing
// without sealing, NTLMSSP_ANONYMOUS) or anonymous credentials give
// errNTLMNotSupported.
func (c *ntlmClient) authenticate(challenge []byte, bindings *ntlmChannelBindings) (ntlmAuthenticated, error) {
	var pairsBuf [12]ntlmAvPair
	ch, err := parseNTLMChallenge(challenge, pairsBuf[:0])
	if err != nil {
		return ntlmAuthenticated{}, err
	}
	// NegotiateFlags: bodgit answers with the server's flags as they
	// are, not intersected with its own, less NTLM_NEGOTIATE_OEM when
	// Unicode is set, and VERSION only when it sends one.
	flags := ch.flags
	switch {
	case c.user == "" && c.password == "":
		return ntlmAuthenticated{}, fmt.Errorf("%w: anonymous authentication", errNTLMNotSupported)
	case flags&ntlmFlagAnonymous != 0:
		// bodgit would pass the flag on with the credentials' responses.
		return ntlmAuthenticated{}, fmt.Errorf("%w: the server's CHALLENGE carries NTLMSSP_ANONYMOUS", errNTLMNotSupported)
	case flags&ntlmFlagUnicode == 0:
		return ntlmAuthenticated{}, fmt.Errorf("%w: the server did not agree to Unicode", errNTLMNotSupported)
	case flags&ntlmFlagExtendedSec == 0:
		return ntlmAuthenticated{}, fmt.Errorf("%w: the server did not agree to extended session security", errNTLMNotSupported)
	case flags&ntlmFlagSign != 0 && flags&ntlmFlagSeal == 0:
		return ntlmAuthenticated{}, fmt.Errorf("%w: the server agreed to signing without sealing", errNTLMNotSupported)
	}
	flags &^= ntlmFlagOEM | ntlmFlagVersion
	if c.version != nil {
		flags |= ntlmFlagVersion
	}
	if c.negotiate == nil {
		return ntlmAuthenticated{}, errors.New("ntlm: no NEGOTIATE message was built before the CHALLENGE; this is a bug, report it")
	}

	// The NTLMv2 timestamp ([MS-NLMP] 3.1.5.1.2): the server's
	// MsvAvTimestamp when it sent one, and then MsvAvFlags gains the MIC
	// bit (the MIC is sent) and LmChallengeResponse is Z(24); else the
	// client's clock as a FILETIME and an LMv2 response.
	pairs := ch.targetInfo
	var timestamp [8]byte
	serverTime, fromServer := getNTLMAvPair(pairs, ntlmAvTimestamp)
	if fromServer {
		if len(serverTime) != 8 {
			return ntlmAuthenticated{}, fmt.Errorf("%w: MsvAvTimestamp of %d bytes, want 8", errNTLMChallenge, len(serverTime))
		}
		copy(timestamp[:], serverTime)
		var avFlags uint32
		if v, ok := getNTLMAvPair(pairs, ntlmAvFlags); ok {
			if len(v) < 4 {
				return ntlmAuthenticated{}, fmt.Errorf("%w: MsvAvFlags of %d bytes, want 4", errNTLMChallenge, len(v))
			}
			avFlags = binary.LittleEndian.Uint32(v)
		}
		v := binary.LittleEndian.AppendUint32(make([]byte, 0, 4), avFlags|ntlmAvFlagMIC)
		pairs = setNTLMAvPair(pairs, ntlmAvFlags, v)
	} else {
		now := time.Now
		if c.now != nil {
			now = c.now
		}
		binary.LittleEndian.PutUint64(timestamp[:], ntlmFiletime(now()))
	}
	// MsvAvChannelBindings ([MS-NLMP] 2.2.2.1): MD5 of the
	// gss_channel_bindings_struct, only when there are bindings (bodgit
	// adds no zero hash without them, and no MsvAvTargetName).
	if bindings != nil {
		sum := bindings.hash()
		pairs = setNTLMAvPair(pairs, ntlmAvChannelBindings, sum[:])
	}
	// MIC ([MS-NLMP] 3.1.5.1.2): sent when the AV pairs sent carry
	// MsvAvFlags with the MIC bit.
	mic := false
	if v, ok := getNTLMAvPair(pairs, ntlmAvFlags); ok {
		if len(v) < 4 {
			return ntlmAuthenticated{}, fmt.Errorf("%w: MsvAvFlags of %d bytes, want 4", errNTLMChallenge, len(v))
		}
		mic = binary.LittleEndian.Uint32(v)&ntlmAvFlagMIC != 0
	}

	// Random parts: ClientChallenge (8 bytes) and, with key exchange,
	// ExportedSessionKey (16 bytes).
	rnd := c.rand
	if rnd == nil {
		rnd = rand.Reader
	}
	var random [24]byte
	if _, err := io.ReadFull(rnd, random[:]); err != nil {
		return ntlmAuthenticated{}, fmt.Errorf("ntlm: read random bytes for the client challenge: %w; the system's random source failed", err)
	}
	clientChallenge := random[:8]

	// Layout ([MS-NLMP] 2.2.1.3), payloads in bodgit's (and the spec
	// examples') order: DomainName, UserName, Workstation,
	// LmChallengeResponse, NtChallengeResponse, EncryptedRandomSessionKey,
	// after the fixed part, the VERSION's 8 bytes and the MIC.
	domain, user, workstation := utf16LE(c.domain), utf16LE(c.user), utf16LE(c.workstation)
	infoLen := 4 // MsvAvEOL
	for _, p := range pairs {
		infoLen += 4 + len(p.value)
	}
	// NTLMv2_CLIENT_CHALLENGE ([MS-NLMP] 2.2.2.7) after the 16-byte
	// NTProofStr: RespType 1, HiRespType 1, Z(6), TimeStamp,
	// ChallengeFromClient, Z(4), the AV pairs, then Z(4) (3.3.2).
	ntLen := 16 + 28 + infoLen + 4
	keyLen := 0
	if flags&ntlmFlagKeyExch != 0 {
		keyLen = 16
	}
	for _, n := range []int{len(domain), len(user), len(workstation), ntLen} {
		if n > 0xffff {
			return ntlmAuthenticated{}, fmt.Errorf("ntlm: a field of %d bytes does not fit the AUTHENTICATE message; use a shorter user or domain name", n)
		}
	}
	head := ntlmAuthenticateHeaderLen
	if mic {
		head += ntlmMICLen
	}
	m := make([]byte, head+len(domain)+len(user)+len(workstation)+24+ntLen+keyLen)
	copy(m, "NTLMSSP\x00")
	binary.LittleEndian.PutUint32(m[8:], 3)
	off := putNTLMField(m, 28, head, len(domain))
	off = putNTLMField(m, 36, off, len(user))
	off = putNTLMField(m, 44, off, len(workstation))
	lmOff := off
	off = putNTLMField(m, 12, off, 24)
	ntOff := off
	off = putNTLMField(m, 20, off, ntLen)
	keyOff := off
	putNTLMField(m, 52, off, keyLen)
	binary.LittleEndian.PutUint32(m[60:], flags)
	if c.version != nil {
		copy(m[64:72], c.version[:])
	}
	p := copy(m[head:], domain) + head
	p += copy(m[p:], user)
	copy(m[p:], workstation)

	responseKey := ntowfV2(c.user, c.password, c.domain)
	mac := hmac.New(md5.New, responseKey)

	// The NTLMv2 response ([MS-NLMP] 3.3.2): temp, then NTProofStr =
	// HMAC_MD5(ResponseKeyNT, ServerChallenge ‖ temp) in front of it.
	temp := m[ntOff+16 : ntOff+ntLen]
	temp[0], temp[1] = 1, 1
	copy(temp[8:16], timestamp[:])
	copy(temp[16:24], clientChallenge)
	q := 28
	for _, pr := range pairs {
		binary.LittleEndian.PutUint16(temp[q:], pr.id)
		binary.LittleEndian.PutUint16(temp[q+2:], uint16(len(pr.value)))
		q += 4 + copy(temp[q+4:], pr.value)
	}
	// MsvAvEOL and the trailing Z(4) are the buffer's zeros.
	mac.Write(ch.serverChallenge)
	mac.Write(temp)
	ntProofStr := mac.Sum(m[ntOff:ntOff])

	// LmChallengeResponse ([MS-NLMP] 3.3.2): Z(24) when the server sent
	// MsvAvTimestamp (the buffer's zeros), else LMv2:
	// HMAC_MD5(ResponseKeyLM, ServerChallenge ‖ ClientChallenge) ‖
	// ClientChallenge, where ResponseKeyLM = ResponseKeyNT.
	if !fromServer {
		mac.Reset()
		mac.Write(ch.serverChallenge)
		mac.Write(clientChallenge)
		mac.Sum(m[lmOff:lmOff])
		copy(m[lmOff+16:lmOff+24], clientChallenge)
	}

	// SessionBaseKey = HMAC_MD5(ResponseKeyNT, NTProofStr) ([MS-NLMP]
	// 3.3.2), which is the KeyExchangeKey for NTLMv2 (3.4.5.1).
	var res ntlmAuthenticated
	mac.Reset()
	mac.Write(ntProofStr)
	keyExchangeKey := mac.Sum(res.sessionBaseKey[:0])
	if keyLen > 0 {
		// [MS-NLMP] 3.1.5.1.2: a random ExportedSessionKey, sent as
		// EncryptedRandomSessionKey = RC4K(KeyExchangeKey, it).
		copy(res.exportedKey[:], random[8:24])
		rc, err := rc4.NewCipher(keyExchangeKey)
		if err != nil {
			return ntlmAuthenticated{}, fmt.Errorf("ntlm: encrypt the session key: %w", err)
		}
		rc.XORKeyStream(m[keyOff:keyOff+16], res.exportedKey[:])
	} else {
		copy(res.exportedKey[:], keyExchangeKey)
	}

	// MIC = HMAC_MD5(ExportedSessionKey, NEGOTIATE ‖ CHALLENGE ‖
	// AUTHENTICATE with a zero MIC) ([MS-NLMP] 3.1.5.1.2).
	if mic {
		mm := hmac.New(md5.New, res.exportedKey[:])
		mm.Write(c.negotiate)
		mm.Write(challenge)
		mm.Write(m)
		mm.Sum(m[ntlmAuthenticateHeaderLen:ntlmAuthenticateHeaderLen])
	}
	res.message, res.flags = m, flags
	return res, nil
}

// ntlmFiletime is t as a FILETIME: 100 ns ticks since 1601-01-01 UTC
// ([MS-NLMP] 2.2.2.1 MsvAvTimestamp, [MS-DTYP] 2.3.3).
// Counted from whole seconds, so that times outside UnixNano's range
// (1601 itself) convert too; for the present it is bodgit's
// UnixNano()/100 + 116444736000000000.
func ntlmFiletime(t time.Time) uint64 {
	const epochDelta = 11644473600 // seconds from 1601-01-01 to 1970-01-01
	return uint64((t.Unix()+epochDelta)*10_000_000 + int64(t.Nanosecond()/100))
}

// ntlmChannelBindings is a gss_channel_bindings_struct (RFC 2744 3.11)
// as [MS-NLMP] 3.1.5.1.2 hashes it for MsvAvChannelBindings.
type ntlmChannelBindings struct {
	initiatorAddrType uint32
	initiatorAddress  []byte
	acceptorAddrType  uint32
	acceptorAddress   []byte
	applicationData   []byte
}

// hash is MD5 of the structure's flat encoding: each address type and
// each length as a little-endian uint32, each value after its length.
func (b *ntlmChannelBindings) hash() [md5.Size]byte {
	buf := make([]byte, 0, 20+len(b.initiatorAddress)+len(b.acceptorAddress)+len(b.applicationData))
	buf = binary.LittleEndian.AppendUint32(buf, b.initiatorAddrType)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(b.initiatorAddress)))
	buf = append(buf, b.initiatorAddress...)
	buf = binary.LittleEndian.AppendUint32(buf, b.acceptorAddrType)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(b.acceptorAddress)))
	buf = append(buf, b.acceptorAddress...)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(b.applicationData)))
	buf = append(buf, b.applicationData...)
	return md5.Sum(buf)
}
