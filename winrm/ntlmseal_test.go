package winrm

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/bodgit/ntlmssp"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ntlmSpecAuthenticate is the AUTHENTICATE message of [MS-NLMP] 4.2.4.3
// (NTLMv2: user "User", domain "Domain", password "Password", workstation
// "COMPUTER", RandomSessionKey 0x55 × 16, NegotiateFlags 0xe2888235).
const ntlmSpecAuthenticate = "4e544c4d53535000 03000000 18001800 6c000000 54005400 84000000 0c000c00 48000000" +
	"08000800 54000000 10001000 5c000000 10001000 d8000000 358288e2 0501280a 0000000f" +
	"44006f006d00610069006e00 5500730065007200 43004f004d0050005500540045005200" +
	"86c35097ac9cec102554764a57cccc19 aaaaaaaaaaaaaaaa" +
	"68cd0ab851e51c96aabc927bebef6a1c 0101000000000000 0000000000000000 aaaaaaaaaaaaaaaa 00000000" +
	"02000c0044006f006d00610069006e00 01000c005300650072007600650072000000000000000000" +
	"c5dad2544fc9799094ce1ce90bc9d03e"

// "Plaintext" in UTF-16LE, the message sealed in [MS-NLMP] 4.2.2.4,
// 4.2.3.4 and 4.2.4.4.
var ntlmSpecPlaintext = []byte("P\x00l\x00a\x00i\x00n\x00t\x00e\x00x\x00t\x00")

// TestNTLMSessionMatchesMSNLMPNTLMv2 checks the key derivation and the
// sealing against [MS-NLMP] 4.2.4: NTOWFv2, the ExportedSessionKey
// recovered from the AUTHENTICATE message, and the sealed "Plaintext"
// with its signature (4.2.4.4).
func TestNTLMSessionMatchesMSNLMPNTLMv2(t *testing.T) {
	if got, want := ntowfV2("User", "Password", "Domain"), unhex(t, "0c868a403bfd7a93a3001ef22ef02e3f"); !bytes.Equal(got, want) {
		t.Errorf("NTOWFv2 = %x, want %x (4.2.4.1.1)", got, want)
	}
	auth := unhex(t, ntlmSpecAuthenticate)
	flags, key, err := ntlmExportedSessionKey(auth, "User", "Password", "Domain")
	if err != nil {
		t.Fatal(err)
	}
	if flags != 0xe2888235 {
		t.Errorf("flags = %#x, want 0xe2888235", flags)
	}
	if want := bytes.Repeat([]byte{0x55}, 16); !bytes.Equal(key, want) {
		t.Errorf("ExportedSessionKey = %x, want %x (4.2.4.1.2 RandomSessionKey)", key, want)
	}
	s, err := ntlmSessionFromAuthenticate(auth, "User", "Password", "Domain")
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Clone(ntlmSpecPlaintext)
	sig, sealed, err := s.wrap(msg)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "54e50165bf1936dc996020c1811b0f06fb5f"); !bytes.Equal(sealed, want) {
		t.Errorf("sealed = %x, want %x (4.2.4.4)", sealed, want)
	}
	if want := unhex(t, "010000007fb38ec5c55d497600000000"); !bytes.Equal(sig, want) {
		t.Errorf("signature = %x, want %x (4.2.4.4)", sig, want)
	}
	if !bytes.Equal(msg, ntlmSpecPlaintext) {
		t.Errorf("wrap changed its input to %x", msg)
	}
	// The server's end opens it; a wrong password gives another key.
	server, err := newNTLMSession(flags, key, false)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := server.unwrap(sig, bytes.Clone(sealed))
	if err != nil || !bytes.Equal(plain, ntlmSpecPlaintext) {
		t.Errorf("server unwrap = %x, %v; want %x", plain, err, ntlmSpecPlaintext)
	}
	if _, bad, _ := ntlmExportedSessionKey(auth, "User", "password", "Domain"); bytes.Equal(bad, key) {
		t.Error("a wrong password derives the same key")
	}
}

// TestNTLMSessionMatchesMSNLMPNTLMv1ESS checks the branch without key
// exchange and with a 56-bit sealing key against [MS-NLMP] 4.2.3.4
// (NTLMv1 with extended session security: NegotiateFlags 0x820a8233,
// ExportedSessionKey = KeyExchangeKey).
func TestNTLMSessionMatchesMSNLMPNTLMv1ESS(t *testing.T) {
	s, err := newNTLMSession(0x820a8233, unhex(t, "eb93429a8bd952f8b89c55b87f475edc"), true)
	if err != nil {
		t.Fatal(err)
	}
	sig, sealed, err := s.wrap(ntlmSpecPlaintext)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "a02372f6530273f3aa1eb90190ce5200c99d"); !bytes.Equal(sealed, want) {
		t.Errorf("sealed = %x, want %x (4.2.3.4)", sealed, want)
	}
	if want := unhex(t, "01000000ff2aeb52f681793a00000000"); !bytes.Equal(sig, want) {
		t.Errorf("signature = %x, want %x (4.2.3.4)", sig, want)
	}
}

// ntlmTestChallenge is a CHALLENGE message ([MS-NLMP] 2.2.1.2) with the
// given NegotiateFlags (NTLMSSP_NEGOTIATE_TARGET_INFO added), server
// challenge 0123456789abcdef and a target info of NetBIOS domain
// "Domain", computer "Server" and, when timestamp, an MsvAvTimestamp
// (which makes the client add a MIC).
func ntlmTestChallenge(flags uint32, timestamp bool) []byte {
	var info []byte
	av := func(id uint16, v []byte) {
		info = binary.LittleEndian.AppendUint16(info, id)
		info = binary.LittleEndian.AppendUint16(info, uint16(len(v)))
		info = append(info, v...)
	}
	av(2, utf16LE("Domain"))
	av(1, utf16LE("Server"))
	if timestamp {
		av(7, []byte{0, 0x80, 0x3e, 0xd5, 0xde, 0xb1, 0x9d, 0x01})
	}
	av(0, nil)
	m := []byte("NTLMSSP\x00")
	m = binary.LittleEndian.AppendUint32(m, 2)
	m = append(m, 0, 0, 0, 0, 48, 0, 0, 0) // TargetNameFields: empty
	m = binary.LittleEndian.AppendUint32(m, flags|0x00800000)
	m = append(m, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef)
	m = append(m, make([]byte, 8)...) // Reserved
	m = binary.LittleEndian.AppendUint16(m, uint16(len(info)))
	m = binary.LittleEndian.AppendUint16(m, uint16(len(info)))
	m = binary.LittleEndian.AppendUint32(m, 48)
	return append(m, info...)
}

// ntlmBodgitHandshake runs bodgit's client, as handshake does, against
// a CHALLENGE with flags, and returns it with its AUTHENTICATE message.
func ntlmBodgitHandshake(t testing.TB, user, password, domain string, flags uint32, timestamp bool) (*ntlmssp.Client, []byte) {
	t.Helper()
	c, err := ntlmssp.NewClient(ntlmssp.SetUserInfo(user, password), ntlmssp.SetDomain(domain), ntlmssp.SetVersion(ntlmssp.DefaultVersion()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Authenticate(nil, nil); err != nil {
		t.Fatal(err)
	}
	auth, err := c.Authenticate(ntlmTestChallenge(flags, timestamp), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, auth
}

// NegotiateFlags of CHALLENGE messages: what Windows answers
// (UNICODE, REQUEST_TARGET, SIGN, SEAL, NTLM, ALWAYS_SIGN, ESS, 128,
// KEY_EXCH, 56) and variants.
const (
	ntlmWindowsFlags = 0xe2088235
	ntlmNoKeyExch    = ntlmWindowsFlags &^ ntlmFlagKeyExch
	ntlm56Bit        = ntlmWindowsFlags &^ ntlmFlag128
	ntlm40Bit        = ntlmWindowsFlags &^ (ntlmFlag128 | ntlmFlag56)
)

// TestNTLMSessionMatchesBodgit runs bodgit's client handshake and
// checks that the session derived from its AUTHENTICATE message seals
// every message of a sequence exactly as bodgit's SecuritySession does
// (same sealed bytes, same signatures), and opens what a server-role
// session sealed exactly as bodgit's does, for the key sizes and with and
// without key exchange.
func TestNTLMSessionMatchesBodgit(t *testing.T) {
	msgs := [][]byte{{}, {0x42}, bytes.Repeat([]byte("<s:Envelope/>"), 800), []byte("the fourth message"), {}}
	for _, tc := range []struct {
		name                string
		flags               uint32
		timestamp           bool
		user, password, dom string
	}{
		{"windows", ntlmWindowsFlags, true, "Administrator", "Passw0rd!", "CORP"},
		{"no timestamp", ntlmWindowsFlags, false, "admin", "pw", ""},
		{"no key exchange", ntlmNoKeyExch, true, "user", "pw", "corp"},
		{"56-bit", ntlm56Bit, true, "User", "Password", "Domain"},
		{"40-bit", ntlm40Bit, true, "User", "Password", "Domain"},
		{"non-ascii, spaced domain", ntlmWindowsFlags, true, "jürgen", "pässwörd€", " Dömäne "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, auth := ntlmBodgitHandshake(t, tc.user, tc.password, tc.dom, tc.flags, tc.timestamp)
			a := &ntlmAuth{username: tc.user, password: tc.password, domain: tc.dom, seal: true}
			got, err := a.ntlmSessionFor(c, auth)
			if err != nil {
				t.Fatal(err)
			}
			ours, ok := got.(*ntlmSession)
			if !ok {
				t.Fatalf("sealer is %T, want *ntlmSession", got)
			}
			theirs := c.SecuritySession()
			for i, msg := range msgs {
				in := bytes.Clone(msg)
				wantSealed, wantSig, err := theirs.Wrap(msg)
				if err != nil {
					t.Fatal(err)
				}
				sig, sealed, err := ours.wrap(in)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(sealed, wantSealed) || !bytes.Equal(sig, wantSig) {
					t.Fatalf("message %d (%d bytes): ours sealed %.16x… sig %x, bodgit %.16x… sig %x", i, len(msg), sealed, sig, wantSealed, wantSig)
				}
				if !bytes.Equal(in, msg) {
					t.Fatalf("message %d: wrap changed its input", i)
				}
			}
			flags, key, err := ntlmExportedSessionKey(auth, tc.user, tc.password, strings.TrimSpace(tc.dom))
			if err != nil {
				t.Fatal(err)
			}
			server, err := newNTLMSession(flags, key, false)
			if err != nil {
				t.Fatal(err)
			}
			for i, msg := range msgs {
				sig, sealed, err := server.wrap(msg)
				if err != nil {
					t.Fatal(err)
				}
				want, err := theirs.Unwrap(sealed, sig)
				if err != nil {
					t.Fatalf("message %d: bodgit refuses the server's message: %v", i, err)
				}
				plain, err := ours.unwrap(sig, bytes.Clone(sealed))
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if !bytes.Equal(plain, want) || !bytes.Equal(plain, msg) {
					t.Fatalf("message %d: ours opened %.16x…, bodgit %.16x…, sent %.16x…", i, plain, want, msg)
				}
			}
		})
	}
}

// TestNTLMSessionRefusesAlteredMessages checks that unwrap refuses a
// changed byte, a changed signature and a replayed message.
func TestNTLMSessionRefusesAlteredMessages(t *testing.T) {
	key := bytes.Repeat([]byte{0x55}, 16)
	for _, tc := range []struct {
		name   string
		change func(sig, sealed []byte) ([]byte, []byte)
		want   string
	}{
		{"sealed byte", func(sig, sealed []byte) ([]byte, []byte) { sealed[3] ^= 1; return sig, sealed }, "checksum does not match"},
		{"checksum byte", func(sig, sealed []byte) ([]byte, []byte) { sig[5] ^= 1; return sig, sealed }, "checksum does not match"},
		{"sequence number", func(sig, sealed []byte) ([]byte, []byte) { sig[12]++; return sig, sealed }, "sequence number does not match"},
		{"short signature", func(sig, sealed []byte) ([]byte, []byte) { return sig[:15], sealed }, "signature of 15 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, _ := newNTLMSession(ntlmWindowsFlags, key, true)
			server, _ := newNTLMSession(ntlmWindowsFlags, key, false)
			sig, sealed, _ := server.wrap([]byte("hello there"))
			if _, err := client.unwrap(tc.change(sig, sealed)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("unwrap = %v, want an error with %q", err, tc.want)
			}
		})
	}
	t.Run("replay", func(t *testing.T) {
		client, _ := newNTLMSession(ntlmWindowsFlags, key, true)
		server, _ := newNTLMSession(ntlmWindowsFlags, key, false)
		sig, sealed, _ := server.wrap([]byte("first"))
		if _, err := client.unwrap(sig, bytes.Clone(sealed)); err != nil {
			t.Fatal(err)
		}
		if _, err := client.unwrap(sig, sealed); err == nil {
			t.Error("a replayed message was accepted")
		}
	})
}

// TestNTLMSessionForFallsBackToBodgit checks that without extended
// session security (which ntlmSession does not implement) the sealer is
// bodgit's own session, and that with ESS it is ours.
func TestNTLMSessionForFallsBackToBodgit(t *testing.T) {
	c, auth := ntlmBodgitHandshake(t, "user", "pw", "corp", ntlmWindowsFlags&^ntlmFlagExtendedSec, false)
	a := &ntlmAuth{username: "user", password: "pw", domain: "corp", seal: true}
	got, err := a.ntlmSessionFor(c, auth)
	if err != nil {
		t.Fatal(err)
	}
	bs, ok := got.(ntlmSealer)
	if !ok || bs.s != c.SecuritySession() {
		t.Fatalf("sealer is %#v, want bodgit's session %p", got, c.SecuritySession())
	}
	if _, err := ntlmSessionFromAuthenticate(auth, "user", "pw", "corp"); !errors.Is(err, errNTLMNotSupported) {
		t.Errorf("ntlmSessionFromAuthenticate = %v, want errNTLMNotSupported", err)
	}
	// Without SIGN and SEAL there is no session at all.
	c, auth = ntlmBodgitHandshake(t, "user", "pw", "corp", ntlmWindowsFlags&^(ntlmFlagSeal|ntlmFlagSign|ntlmFlagKeyExch), false)
	if got, err := a.ntlmSessionFor(c, auth); err != nil || got != nil {
		t.Errorf("without SIGN and SEAL: %v, %v; want no sealer", got, err)
	}
}

// TestNTLMSessionFromAuthenticateRefusesMalformed checks that malformed
// AUTHENTICATE messages give errNTLMAuthenticate, not a panic.
func TestNTLMSessionFromAuthenticateRefusesMalformed(t *testing.T) {
	good := unhex(t, ntlmSpecAuthenticate)
	patch := func(off int, v uint32) []byte {
		b := bytes.Clone(good)
		binary.LittleEndian.PutUint32(b[off:], v)
		return b
	}
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"header only", good[:12]},
		{"short of the flags", good[:63]},
		{"cut in the payload", good[:len(good)-1]},
		{"wrong signature", append([]byte("NTLMSSQ\x00"), good[8:]...)},
		{"wrong type", patch(8, 2)},
		{"NT response past the end", patch(24, uint32(len(good)))},
		{"NT response offset overflows", patch(24, 0xffffffff)},
		{"NT response too long", patch(20, 0xffffffff)},
		{"session key past the end", patch(56, uint32(len(good)-8))},
		{"session key of 8 bytes", patch(52, 0x00080008)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ntlmSessionFromAuthenticate(tc.msg, "User", "Password", "Domain"); !errors.Is(err, errNTLMAuthenticate) {
				t.Errorf("error %v, want errNTLMAuthenticate", err)
			}
		})
	}
}

func FuzzNTLMSessionFromAuthenticate(f *testing.F) {
	f.Add(unhex(f, ntlmSpecAuthenticate))
	_, auth := ntlmBodgitHandshake(f, "user", "pw", "corp", ntlmWindowsFlags, true)
	f.Add(auth)
	f.Add([]byte("NTLMSSP\x00\x03\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		s, err := ntlmSessionFromAuthenticate(msg, "User", "Password", "Domain")
		if err != nil {
			return
		}
		sig, sealed, _ := s.wrap(msg)
		if len(sig) != ntlmSignatureSize || len(sealed) != len(msg) {
			t.Fatalf("wrap gave %d and %d bytes for %d", len(sig), len(sealed), len(msg))
		}
	})
}

// TestNTLMSessionAllocations checks what sealing and opening a 4 KB
// message allocate: wrap one buffer (signature and sealed message
// together), sealing into the request and unwrap nothing (unwrap opens
// in place).
func TestNTLMSessionAllocations(t *testing.T) {
	key := bytes.Repeat([]byte{0x55}, 16)
	client, _ := newNTLMSession(ntlmWindowsFlags, key, true)
	server, _ := newNTLMSession(ntlmWindowsFlags, key, false)
	msg := bytes.Repeat([]byte("x"), 4096)
	buf := make([]byte, len(msg))
	var err error
	allocs := testing.AllocsPerRun(100, func() {
		sig, sealed, _ := client.wrap(msg)
		// The server's end, with the same sequence of messages.
		copy(buf, sealed)
		if _, err = server.unwrap(sig, buf); err != nil {
			return
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 1 {
		t.Errorf("wrap+unwrap of 4 KB: %v allocations, want 1", allocs)
	}
	if a := testing.AllocsPerRun(100, func() { _, _, _ = client.wrap(msg) }); a != 1 {
		t.Errorf("wrap: %v allocations, want 1", a)
	}
	var b bytes.Buffer
	b.Grow(2 * len(msg))
	if a := testing.AllocsPerRun(100, func() {
		b.Reset()
		writeFrameSealedInto(&b, client, ntlmSignatureSize, msg)
	}); a != 0 {
		t.Errorf("writeFrameSealedInto: %v allocations, want 0", a)
	}
	// Open 101 of the server's messages in turn (AllocsPerRun runs the
	// function once more than asked): no allocation at all.
	type sealedMsg struct{ sig, sealed []byte }
	pending := make([]sealedMsg, 101)
	for i := range pending {
		sig, sealed, _ := server.wrap(msg)
		pending[i] = sealedMsg{sig, sealed}
	}
	i := 0
	if a := testing.AllocsPerRun(100, func() {
		_, err = client.unwrap(pending[i].sig, pending[i].sealed)
		i++
	}); a != 0 || err != nil {
		t.Errorf("unwrap: %v allocations (error %v), want 0", a, err)
	}
}

// TestNTLMSealedFrameIntoMatchesWrap checks that sealing straight into
// the request (writeFrameSealedInto, what sendSealed does for an
// ntlmSession) writes the same body, of the announced length, as wrap
// then writeFrameSealed, and that the server's end opens it.
func TestNTLMSealedFrameIntoMatchesWrap(t *testing.T) {
	key := bytes.Repeat([]byte{0x55}, 16)
	into, _ := newNTLMSession(ntlmWindowsFlags, key, true)
	wrapped, _ := newNTLMSession(ntlmWindowsFlags, key, true)
	server, _ := newNTLMSession(ntlmWindowsFlags, key, false)
	var b bytes.Buffer
	for i, msg := range [][]byte{{}, {0x42}, bytes.Repeat([]byte("<s:Envelope/>"), 800)} {
		b.Reset()
		b.WriteString("head")
		writeFrameSealedInto(&b, into, ntlmSignatureSize, msg)
		got := b.Bytes()[len("head"):]
		sig, sealed, _ := wrapped.wrap(msg)
		if want := frameSealed(sig, sealed, len(msg)); !bytes.Equal(got, want) {
			t.Fatalf("message %d (%d bytes): sealed into the request\n%.80q…, wrapped\n%.80q…", i, len(msg), got, want)
		}
		if n := sealedFrameOverhead(len(msg)) + ntlmSignatureSize + len(msg); n != len(got) {
			t.Errorf("message %d: announced %d bytes, wrote %d", i, n, len(got))
		}
		sig, sealed, err := unframeSealedSized(bytes.Clone(got), ntlmSignatureSize)
		if err != nil {
			t.Fatal(err)
		}
		if plain, err := server.unwrap(sig, sealed); err != nil || !bytes.Equal(plain, msg) {
			t.Fatalf("message %d: server opened %.16x…, %v", i, plain, err)
		}
	}
}

// BenchmarkNTLMWrap seals a 4 KB message with ntlmSession (wrap, and
// straight into a request buffer with its framing, as sendSealed does)
// and with bodgit's SecuritySession, all from the same handshake.
func BenchmarkNTLMWrap(b *testing.B) {
	c, auth := ntlmBodgitHandshake(b, "user", "pw", "corp", ntlmWindowsFlags, true)
	ours, err := ntlmSessionFromAuthenticate(auth, "user", "pw", "corp")
	if err != nil {
		b.Fatal(err)
	}
	theirs := c.SecuritySession()
	msg := bytes.Repeat([]byte("<s:Envelope/>"), 4096/13+1)[:4096]
	b.Run("ours", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := ours.wrap(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ours-into-request", func(b *testing.B) {
		var buf bytes.Buffer
		buf.Grow(2 * len(msg))
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			writeFrameSealedInto(&buf, ours, ntlmSignatureSize, msg)
		}
	})
	b.Run("bodgit", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := theirs.Wrap(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
