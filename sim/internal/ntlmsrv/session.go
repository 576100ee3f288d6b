package ntlmsrv

import (
	"crypto/md5"
	"crypto/rc4"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Key derivation constants, [MS-NLMP] 3.4.5.2 and 3.4.5.3.
const (
	clientSigningMagic = "session key to client-to-server signing key magic constant\x00"
	serverSigningMagic = "session key to server-to-client signing key magic constant\x00"
	clientSealingMagic = "session key to client-to-server sealing key magic constant\x00"
	serverSealingMagic = "session key to server-to-client sealing key magic constant\x00"
)

// signatureSize is the size of an NTLMSSP_MESSAGE_SIGNATURE.
const signatureSize = 16

// role says which end of the context a session is.
type role int

const (
	roleServer role = iota
	roleClient      // used by tests to play the client against spec vectors
)

// session is the per-context signing and sealing state of [MS-NLMP] 3.4
// for connection-oriented NTLM: one RC4 handle and one sequence number per
// direction, both carried over from message to message.
type session struct {
	flags            uint32
	outSign, inSign  []byte
	outSeal, inSeal  *rc4.Cipher
	outSeqN, inSeqN  uint32
	sealing, signing bool
}

// newSession derives the four directional keys from the exported session
// key ([MS-NLMP] 3.4.5.2 SIGNKEY, 3.4.5.3 SEALKEY) and starts both
// sequence numbers at zero.
func newSession(flags uint32, exported []byte, r role) (*session, error) {
	if len(exported) != 16 {
		return nil, fmt.Errorf("exported session key has %d bytes, want 16", len(exported))
	}
	clientSeal, err := rc4.NewCipher(sealKey(flags, exported, clientSealingMagic))
	if err != nil {
		return nil, fmt.Errorf("client sealing key: %w", err)
	}
	serverSeal, err := rc4.NewCipher(sealKey(flags, exported, serverSealingMagic))
	if err != nil {
		return nil, fmt.Errorf("server sealing key: %w", err)
	}
	s := &session{
		flags:   flags,
		sealing: flags&flagSeal != 0,
		signing: flags&(flagSign|flagSeal) != 0,
	}
	clientSign := signKey(flags, exported, clientSigningMagic)
	serverSign := signKey(flags, exported, serverSigningMagic)
	switch r {
	case roleServer:
		s.outSign, s.inSign = serverSign, clientSign
		s.outSeal, s.inSeal = serverSeal, clientSeal
	default:
		s.outSign, s.inSign = clientSign, serverSign
		s.outSeal, s.inSeal = clientSeal, serverSeal
	}
	return s, nil
}

// signKey is SIGNKEY of [MS-NLMP] 3.4.5.2; without extended session
// security there is no signing key (the checksum is a CRC32).
func signKey(flags uint32, exported []byte, magic string) []byte {
	if flags&flagExtendedSession == 0 {
		return nil
	}
	h := md5.New()
	h.Write(exported)
	h.Write([]byte(magic))
	return h.Sum(nil)
}

// sealKey is SEALKEY of [MS-NLMP] 3.4.5.3.
func sealKey(flags uint32, exported []byte, magic string) []byte {
	switch {
	case flags&flagExtendedSession != 0:
		k := exported
		switch {
		case flags&flag128 != 0:
		case flags&flag56 != 0:
			k = exported[:7]
		default:
			k = exported[:5]
		}
		h := md5.New()
		h.Write(k)
		h.Write([]byte(magic))
		return h.Sum(nil)
	case flags&flagLMKey != 0 && flags&flag56 != 0:
		return append(exported[:7:7], 0xa0)
	case flags&flagLMKey != 0:
		return append(exported[:5:5], 0xe5, 0x38, 0xb0)
	default:
		return exported
	}
}

// mac computes the NTLMSSP_MESSAGE_SIGNATURE of msg with sequence number
// seq ([MS-NLMP] 3.4.4), advancing the RC4 handle as the spec requires.
func (s *session) mac(msg []byte, seq uint32, key []byte, handle *rc4.Cipher) [signatureSize]byte {
	var sig [signatureSize]byte
	binary.LittleEndian.PutUint32(sig[0:], 1)
	if s.flags&flagExtendedSession != 0 {
		// 3.4.4.2: HMAC_MD5(SigningKey, SeqNum ‖ Message)[0..7], sealed
		// with the direction's RC4 handle when keys were exchanged.
		var seqb [4]byte
		binary.LittleEndian.PutUint32(seqb[:], seq)
		sum := hmacMD5(key, seqb[:], msg)
		if s.flags&flagKeyExch != 0 {
			handle.XORKeyStream(sig[4:12], sum[:8])
		} else {
			copy(sig[4:12], sum[:8])
		}
		binary.LittleEndian.PutUint32(sig[12:], seq)
		return sig
	}
	// 3.4.4.1: RandomPad, CRC32 checksum and sequence number, each through
	// RC4; for connection-oriented NTLM the sequence number is XORed in and
	// RandomPad is sent as zero.
	var pad, crc, seqb [4]byte
	handle.XORKeyStream(pad[:], pad[:])
	binary.LittleEndian.PutUint32(crc[:], crc32.ChecksumIEEE(msg))
	handle.XORKeyStream(sig[8:12], crc[:])
	handle.XORKeyStream(seqb[:], seqb[:])
	binary.LittleEndian.PutUint32(sig[12:], binary.LittleEndian.Uint32(seqb[:])^seq)
	return sig
}

// wrap seals (or, without confidentiality, only signs) an outgoing message
// ([MS-NLMP] 3.4.6 GSS_WrapEx) and returns the sealed bytes and the
// signature. The sequence number advances by one.
func (s *session) wrap(msg []byte) (sealed []byte, sig [signatureSize]byte, err error) {
	if !s.signing {
		return nil, sig, errors.New("the ntlm context negotiated neither signing nor sealing")
	}
	sealed = make([]byte, len(msg))
	if s.sealing {
		s.outSeal.XORKeyStream(sealed, msg)
	} else {
		copy(sealed, msg)
	}
	sig = s.mac(msg, s.outSeqN, s.outSign, s.outSeal)
	s.outSeqN++
	return sealed, sig, nil
}

// unwrap unseals an incoming message and checks its signature and sequence
// number ([MS-NLMP] 3.4.7 GSS_UnwrapEx). On success the incoming sequence
// number advances by one; on failure the context must not be trusted again
// (its RC4 state has moved on).
func (s *session) unwrap(sealed, sig []byte) ([]byte, error) {
	if !s.signing {
		return nil, errors.New("the ntlm context negotiated neither signing nor sealing")
	}
	if len(sig) != signatureSize {
		return nil, fmt.Errorf("ntlm signature has %d bytes, want %d", len(sig), signatureSize)
	}
	msg := make([]byte, len(sealed))
	if s.sealing {
		s.inSeal.XORKeyStream(msg, sealed)
	} else {
		copy(msg, sealed)
	}
	want := s.mac(msg, s.inSeqN, s.inSign, s.inSeal)
	if binary.LittleEndian.Uint32(sig) != 1 {
		return nil, fmt.Errorf("ntlm signature version %d, want 1", binary.LittleEndian.Uint32(sig))
	}
	// The checksum starts at byte 4 with extended session security and at
	// byte 8 (after RandomPad, which is not checked) without.
	from := 4
	if s.flags&flagExtendedSession == 0 {
		from = 8
	}
	if subtle.ConstantTimeCompare(sig[from:12], want[from:12]) != 1 {
		return nil, errors.New("ntlm signature checksum does not match the message")
	}
	if subtle.ConstantTimeCompare(sig[12:16], want[12:16]) != 1 {
		return nil, fmt.Errorf("ntlm signature sequence number does not match: want %d", s.inSeqN)
	}
	s.inSeqN++
	return msg, nil
}
