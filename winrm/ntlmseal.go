package winrm

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"unicode/utf16"

	"golang.org/x/crypto/md4" //nolint:staticcheck // NTOWFv2 is defined over MD4 ([MS-NLMP] 3.3.2)
)

// NTLM message protection after the handshake. bodgit/ntlmssp's
// SecuritySession allocates several copies of every message it seals or
// opens, and a fresh HMAC per message. ntlmSession does the same work
// ([MS-NLMP] 3.4.4.2 and 3.4.6, extended session security) with one HMAC
// and one RC4 handle per direction kept for the session's life: sealing
// writes into a buffer the caller gives, opening decrypts in place.
//
// The handshake is ntlmClient's (ntlmclient.go), which hands the exported
// session key to newNTLMSession. When it falls back to bodgit's client,
// which does not hand out the key, ntlmSessionFromAuthenticate derives it
// again from the AUTHENTICATE message bodgit built and the credentials it
// was given.

// NegotiateFlags bits used here ([MS-NLMP] 2.2.2.5).
const (
	ntlmFlagSign        = 0x00000010 // NTLMSSP_NEGOTIATE_SIGN
	ntlmFlagSeal        = 0x00000020 // NTLMSSP_NEGOTIATE_SEAL
	ntlmFlagAnonymous   = 0x00000800 // NTLMSSP_ANONYMOUS
	ntlmFlagExtendedSec = 0x00080000 // NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
	ntlmFlag128         = 0x20000000 // NTLMSSP_NEGOTIATE_128
	ntlmFlagKeyExch     = 0x40000000 // NTLMSSP_NEGOTIATE_KEY_EXCH
	ntlmFlag56          = 0x80000000 // NTLMSSP_NEGOTIATE_56
)

// The magic constants of SIGNKEY and SEALKEY ([MS-NLMP] 3.4.5.2, 3.4.5.3),
// with their terminating NUL.
const (
	ntlmClientSigning = "session key to client-to-server signing key magic constant\x00"
	ntlmServerSigning = "session key to server-to-client signing key magic constant\x00"
	ntlmClientSealing = "session key to client-to-server sealing key magic constant\x00"
	ntlmServerSealing = "session key to server-to-client sealing key magic constant\x00"
)

// ntlmAuthenticateMinLen is the fixed part of an AUTHENTICATE message up
// to and including NegotiateFlags ([MS-NLMP] 2.2.1.3).
const ntlmAuthenticateMinLen = 64

// errNTLMAuthenticate says an AUTHENTICATE message could not be read.
var errNTLMAuthenticate = errors.New("malformed NTLM AUTHENTICATE message")

// ntlmField returns the payload an AUTHENTICATE message's Fields
// structure at off points to: Len uint16, MaxLen uint16, Offset uint32,
// little endian ([MS-NLMP] 2.2.1.3).
func ntlmField(msg []byte, off int) ([]byte, error) {
	if off+8 > len(msg) {
		return nil, fmt.Errorf("%w: %d bytes, too short for the field at %d", errNTLMAuthenticate, len(msg), off)
	}
	n := int(binary.LittleEndian.Uint16(msg[off:]))
	start := int64(binary.LittleEndian.Uint32(msg[off+4:]))
	if start+int64(n) > int64(len(msg)) {
		return nil, fmt.Errorf("%w: the field at %d (%d bytes at %d) ends past the message's %d bytes", errNTLMAuthenticate, off, n, start, len(msg))
	}
	return msg[start : start+int64(n)], nil
}

// ntlmSessionFromAuthenticate builds the client's session for the
// AUTHENTICATE message authenticate, made from user, password and domain
// exactly as they were given to the NTLM client (bodgit trims the domain's
// spaces; pass it trimmed). It handles NTLMv2 with extended session
// security and sealing, the only kind bodgit makes at its default
// compatibility level when the server agrees; for anything else it
// returns errNTLMNotSupported and the caller keeps bodgit's session.
func ntlmSessionFromAuthenticate(authenticate []byte, user, password, domain string) (*ntlmSession, error) {
	flags, key, err := ntlmExportedSessionKey(authenticate, user, password, domain)
	if err != nil {
		return nil, err
	}
	return newNTLMSession(flags, key, true)
}

// ntlmExportedSessionKey reads the NegotiateFlags of the AUTHENTICATE
// message authenticate and derives the ExportedSessionKey the client that
// made it chose (see ntlmSessionFromAuthenticate).
func ntlmExportedSessionKey(authenticate []byte, user, password, domain string) (flags uint32, key []byte, err error) {
	if len(authenticate) < ntlmAuthenticateMinLen {
		return 0, nil, fmt.Errorf("%w: %d bytes, want at least %d", errNTLMAuthenticate, len(authenticate), ntlmAuthenticateMinLen)
	}
	if string(authenticate[:8]) != "NTLMSSP\x00" || binary.LittleEndian.Uint32(authenticate[8:]) != 3 {
		return 0, nil, fmt.Errorf("%w: no NTLMSSP signature and message type 3", errNTLMAuthenticate)
	}
	flags = binary.LittleEndian.Uint32(authenticate[60:])
	nt, err := ntlmField(authenticate, 20)
	if err != nil {
		return 0, nil, err
	}
	encryptedKey, err := ntlmField(authenticate, 52)
	if err != nil {
		return 0, nil, err
	}
	// An NTLMv2 response is NTProofStr (16 bytes) and a client challenge
	// structure; NTLMv1's is exactly 24 bytes ([MS-NLMP] 2.2.2.8, 2.2.2.6).
	if flags&ntlmFlagSeal == 0 || flags&ntlmFlagExtendedSec == 0 || flags&ntlmFlagAnonymous != 0 || len(nt) <= 24 {
		return 0, nil, errNTLMNotSupported
	}
	// [MS-NLMP] 3.3.2: ResponseKeyNT = NTOWFv2, SessionBaseKey =
	// HMAC_MD5(ResponseKeyNT, NTProofStr), and for NTLMv2 KeyExchangeKey =
	// SessionBaseKey (3.4.5.1).
	mac := hmac.New(md5.New, ntowfV2(user, password, domain))
	mac.Write(nt[:16])
	key = mac.Sum(nil)
	if flags&ntlmFlagKeyExch == 0 {
		// [MS-NLMP] 3.1.5.1.2: without key exchange, ExportedSessionKey =
		// KeyExchangeKey.
		return flags, key, nil
	}
	// [MS-NLMP] 3.1.5.1.2: the client sent RC4K(KeyExchangeKey,
	// ExportedSessionKey) as EncryptedRandomSessionKey.
	if len(encryptedKey) != 16 {
		return 0, nil, fmt.Errorf("%w: EncryptedRandomSessionKey of %d bytes, want 16", errNTLMAuthenticate, len(encryptedKey))
	}
	c, err := rc4.NewCipher(key)
	if err != nil {
		return 0, nil, fmt.Errorf("ntlm: derive the session key: %w", err)
	}
	exported := make([]byte, 16)
	c.XORKeyStream(exported, encryptedKey)
	return flags, exported, nil
}

// errNTLMNotSupported says ntlmSession does not implement what the
// handshake negotiated; bodgit's session is used instead.
var errNTLMNotSupported = errors.New("ntlm: negotiated session security is not NTLMv2 sealing with extended session security")

// ntowfV2 is NTOWFv2 ([MS-NLMP] 3.3.2): HMAC_MD5(MD4(UNICODE(password)),
// UNICODE(ConcatenationOf(Uppercase(user), domain))).
func ntowfV2(user, password, domain string) []byte {
	h := md4.New()
	h.Write(utf16LE(password))
	mac := hmac.New(md5.New, h.Sum(nil))
	mac.Write(utf16LE(strings.ToUpper(user) + domain))
	return mac.Sum(nil)
}

// utf16LE is s in UTF-16 little endian, NTLM's UNICODE().
func utf16LE(s string) []byte {
	units := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(units))
	for i, u := range units {
		binary.LittleEndian.PutUint16(b[2*i:], u)
	}
	return b
}

// ntlmSession is one NTLM security context's message protection with
// extended session security ([MS-NLMP] 3.4.4.2, 3.4.6): sealing and
// signing with a separate key and RC4 handle each way.
type ntlmSession struct {
	keyExch  bool // NTLMSSP_NEGOTIATE_KEY_EXCH: the checksum is RC4'd
	out, in  ntlmDirection
	expected [ntlmSignatureSize]byte // unwrap's expected signature
}

// ntlmDirection is one direction's state: the HMAC keyed with the
// signing key, the RC4 handle keyed with the sealing key, and the
// sequence number, all kept across messages ([MS-NLMP] 3.4.6).
type ntlmDirection struct {
	seq uint32
	mac hash.Hash
	rc4 *rc4.Cipher
	// scratch is where the sequence number and the HMAC are put, here
	// rather than on the stack because the hash.Hash interface would move
	// them to the heap on every message.
	seqBuf [4]byte
	sum    [md5.Size]byte
}

// newNTLMSession makes the session for the exported session key; client
// says which end this is: a client sends with the client-to-server keys.
func newNTLMSession(flags uint32, exportedKey []byte, client bool) (*ntlmSession, error) {
	if flags&ntlmFlagExtendedSec == 0 {
		return nil, errNTLMNotSupported
	}
	s := &ntlmSession{keyExch: flags&ntlmFlagKeyExch != 0}
	clientDir, err := newNTLMDirection(flags, exportedKey, ntlmClientSigning, ntlmClientSealing)
	if err != nil {
		return nil, err
	}
	serverDir, err := newNTLMDirection(flags, exportedKey, ntlmServerSigning, ntlmServerSealing)
	if err != nil {
		return nil, err
	}
	if client {
		s.out, s.in = clientDir, serverDir
	} else {
		s.out, s.in = serverDir, clientDir
	}
	return s, nil
}

func newNTLMDirection(flags uint32, exportedKey []byte, signing, sealing string) (ntlmDirection, error) {
	// SIGNKEY ([MS-NLMP] 3.4.5.2): MD5(ExportedSessionKey, constant).
	h := md5.New()
	h.Write(exportedKey)
	h.Write([]byte(signing))
	signKey := h.Sum(nil)
	// SEALKEY with extended session security ([MS-NLMP] 3.4.5.3): MD5 of
	// all 16 bytes of the key (128-bit), its first 7 (56-bit) or its first
	// 5 (40-bit), then the constant.
	sealLen := 5
	switch {
	case flags&ntlmFlag128 != 0:
		sealLen = 16
	case flags&ntlmFlag56 != 0:
		sealLen = 7
	}
	if len(exportedKey) < sealLen {
		return ntlmDirection{}, fmt.Errorf("ntlm: session key of %d bytes, want 16", len(exportedKey))
	}
	h.Reset()
	h.Write(exportedKey[:sealLen])
	h.Write([]byte(sealing))
	c, err := rc4.NewCipher(h.Sum(nil))
	if err != nil {
		return ntlmDirection{}, fmt.Errorf("ntlm: sealing key: %w", err)
	}
	return ntlmDirection{mac: hmac.New(md5.New, signKey), rc4: c}, nil
}

// checksum puts HMAC_MD5(SigningKey, SeqNum ‖ plain) under the
// direction's current sequence number in d.sum ([MS-NLMP] 3.4.4.2, with
// extended session security; the HMAC is over the plaintext).
func (d *ntlmDirection) checksum(plain []byte) {
	binary.LittleEndian.PutUint32(d.seqBuf[:], d.seq)
	d.mac.Reset()
	d.mac.Write(d.seqBuf[:])
	d.mac.Write(plain)
	d.mac.Sum(d.sum[:0])
}

// finish writes the NTLMSSP_MESSAGE_SIGNATURE for the checksum in d.sum
// to sig (16 bytes) and advances the sequence number ([MS-NLMP]
// 2.2.2.9.1, 3.4.4.2): Version 1, the checksum's first 8 bytes, RC4'd
// with the direction's handle when keys were exchanged, then SeqNum.
func (d *ntlmDirection) finish(sig []byte, keyExch bool) {
	binary.LittleEndian.PutUint32(sig[0:4], 1)
	if keyExch {
		d.rc4.XORKeyStream(sig[4:12], d.sum[:8])
	} else {
		copy(sig[4:12], d.sum[:8])
	}
	copy(sig[12:16], d.seqBuf[:])
	d.seq++
}

// sealInto seals msg into dst (as long as msg; it may be msg itself) and
// writes its signature to sig (ntlmSignatureSize bytes) ([MS-NLMP]
// 3.4.6.1 SEAL): the message is RC4'd first, then the checksum, with the
// same handle, so the order of the two matters.
func (s *ntlmSession) sealInto(sig, dst, msg []byte) {
	s.out.checksum(msg) // before dst, which may be msg, is overwritten
	s.out.rc4.XORKeyStream(dst[:len(msg)], msg)
	s.out.finish(sig[:ntlmSignatureSize], s.keyExch)
}

// wrap is the sealer's wrap: the sealed message in a buffer of its own,
// msg left as it is.
func (s *ntlmSession) wrap(msg []byte) (sig, sealed []byte, err error) {
	b := make([]byte, ntlmSignatureSize+len(msg))
	s.sealInto(b[:ntlmSignatureSize], b[ntlmSignatureSize:], msg)
	return b[:ntlmSignatureSize], b[ntlmSignatureSize:], nil
}

// unwrap opens a message from the other end in place (sealed then holds
// the plaintext, which is returned) and checks its signature ([MS-NLMP]
// 3.4.6.2 UNSEAL, 3.4.4.2): decrypt with the incoming handle, compute the
// expected signature over the plaintext with the same handle, compare the
// checksum and the sequence number. After an error the handle and the
// sequence number have moved on: the caller drops the context
// (sendSealed reports it broken) and authenticates again.
func (s *ntlmSession) unwrap(sig, sealed []byte) ([]byte, error) {
	if len(sig) != ntlmSignatureSize {
		return nil, fmt.Errorf("ntlm: signature of %d bytes, want %d", len(sig), ntlmSignatureSize)
	}
	s.in.rc4.XORKeyStream(sealed, sealed)
	s.in.checksum(sealed)
	s.in.finish(s.expected[:], s.keyExch)
	if subtle.ConstantTimeCompare(sig[4:12], s.expected[4:12]) != 1 {
		return nil, errors.New("checksum does not match: the host's sealed message was altered or this end's session keys are wrong; the connection is authenticated again")
	}
	if subtle.ConstantTimeCompare(sig[12:16], s.expected[12:16]) != 1 {
		return nil, errors.New("sequence number does not match: a sealed message was lost or replayed; the connection is authenticated again")
	}
	return sealed, nil
}
