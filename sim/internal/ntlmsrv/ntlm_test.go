package ntlmsrv

import (
	"bytes"
	"crypto/rc4"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The values below are the test vectors of [MS-NLMP] section 4.2, typed in
// from the specification: 4.2.1 "Common Values", 4.2.2.4 (NTLM v1
// GSS_WrapEx), 4.2.4 "NTLMv2 Authentication" (4.2.4.1.1 NTOWFv2,
// 4.2.4.1.2 Session Base Key, 4.2.4.2.2 NTLMv2 Response, 4.2.4.2.3
// Encrypted Session Key, 4.2.4.3 CHALLENGE_MESSAGE, 4.2.4.4 GSS_WrapEx).
const (
	specUser        = "User"
	specDomain      = "Domain"
	specPassword    = "Password"
	specServer      = "Server"
	specWorkstation = "COMPUTER"

	specServerChallenge  = "0123456789abcdef"
	specClientChallenge  = "aaaaaaaaaaaaaaaa"
	specTime             = "0000000000000000"
	specRandomSessionKey = "55555555555555555555555555555555"

	specNTOWFv2        = "0c868a403bfd7a93a3001ef22ef02e3f"
	specSessionBaseKey = "8de40ccadbc14a82f15cb0ad0de95ca3"
	specLMv2Response   = "86c35097ac9cec102554764a57cccc19" + specClientChallenge
	specNTProofStr     = "68cd0ab851e51c96aabc927bebef6a1c"
	specEncSessionKey  = "c5dad2544fc9799094ce1ce90bc9d03e"

	// "Plaintext" in UTF-16LE, the message of every GSS_WrapEx example.
	specPlaintext = "50006c00610069006e007400650078007400"

	// 4.2.4.4: SEALKEY and SIGNKEY (client to server), sealed data, and
	// the signature.
	specV2SealKey   = "59f600973cc4960a25480a7c196e4c58"
	specV2SignKey   = "4788dc861b4782f35d43fd98fe1a2d39"
	specV2Sealed    = "54e50165bf1936dc996020c1811b0f06fb5f"
	specV2Signature = "010000007fb38ec5c55d497600000000"

	// 4.2.2.4: NTLM v1 without extended session security, flags
	// 0xe2028233 (KEY_EXCH, 56, 128, VERSION, TARGET_TYPE_SERVER,
	// ALWAYS_SIGN, NTLM, SEAL, SIGN, OEM, UNICODE), sealing key = the
	// random session key. The example prints the RC4-encrypted RandomPad
	// (45c844e5); connection-oriented signatures send it as zero
	// ([MS-NLMP] 3.4.4.1), which is what is expected here.
	specV1Flags     = 0xe2028233
	specV1Sealed    = "56fe04d861f9319af0d7238a2e3b4d457fb8"
	specV1Signature = "0100000000000000" + "09dcd1df2e459d36"
)

// specTargetInfo is the target info of 4.2.4: NetBIOS domain "Domain",
// NetBIOS server "Server".
var specTargetInfo = []avPair{
	{avNbDomainName, utf16le("Domain")},
	{avNbComputerName, utf16le("Server")},
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func utf16le(s string) []byte { return encodeString(s, true) }

func TestNTOWFv2MatchesSpec(t *testing.T) {
	t.Parallel()
	got := ntowfv2(specPassword, specUser, specDomain)
	if diff := cmp.Diff(unhex(t, specNTOWFv2), got); diff != "" {
		t.Errorf("NTOWFv2 (MS-NLMP 4.2.4.1.1) mismatch (-want +got):\n%s", diff)
	}
}

func TestChallengeMessageMatchesSpec(t *testing.T) {
	t.Parallel()
	m := challengeMessage{
		flags:      0xe28a8233,
		targetName: specServer,
		targetInfo: specTargetInfo,
		version:    [8]byte{0x06, 0x00, 0x70, 0x17, 0x00, 0x00, 0x00, 0x0f},
	}
	copy(m.serverChallenge[:], unhex(t, specServerChallenge))
	want := unhex(t, "4e544c4d53535000"+"02000000"+"0c000c0038000000"+"33828ae2"+
		specServerChallenge+"0000000000000000"+"2400240044000000"+"060070170000000f"+
		"530065007200760065007200"+
		"02000c0044006f006d00610069006e00"+"01000c00530065007200760065007200"+"00000000")
	if diff := cmp.Diff(want, m.marshal()); diff != "" {
		t.Errorf("CHALLENGE_MESSAGE (MS-NLMP 4.2.4.3) mismatch (-want +got):\n%s", diff)
	}
}

// specBlob is the NTLMv2_CLIENT_CHALLENGE of 4.2.4.2.2: RespType 1,
// HiRespType 1, Z(6), Time, ClientChallenge, Z(4), the server's target
// info, Z(4).
func specBlob(t testing.TB) []byte {
	var b []byte
	b = append(b, 1, 1, 0, 0, 0, 0, 0, 0)
	b = append(b, unhex(t, specTime)...)
	b = append(b, unhex(t, specClientChallenge)...)
	b = append(b, 0, 0, 0, 0)
	b = append(b, marshalAVPairs(specTargetInfo)...)
	return append(b, 0, 0, 0, 0)
}

// authenticateBytes encodes an AUTHENTICATE_MESSAGE with VERSION and
// optionally a MIC (the client side, for tests).
type testAuth struct {
	flags                     uint32
	lm, nt                    []byte
	domain, user, workstation string
	encKey                    []byte
	mic                       []byte // nil: no MIC field at all
}

func (a testAuth) marshal() []byte {
	unicode := a.flags&flagUnicode != 0
	fields := [][]byte{a.lm, a.nt, encodeString(a.domain, unicode), encodeString(a.user, unicode), encodeString(a.workstation, unicode), a.encKey}
	off := 72
	if a.mic != nil {
		off = 88
	}
	b := append([]byte{}, signature...)
	b = binary.LittleEndian.AppendUint32(b, typeAuthenticate)
	var payload []byte
	for _, f := range fields {
		b = appendField(b, len(f), off+len(payload))
		payload = append(payload, f...)
	}
	b = binary.LittleEndian.AppendUint32(b, a.flags)
	b = append(b, 0x05, 0x01, 0x28, 0x0a, 0, 0, 0, 0x0f)
	b = append(b, a.mic...)
	return append(b, payload...)
}

func specPending(t testing.TB) (negotiateMessage, challengeMessage, []byte) {
	chal := challengeMessage{flags: 0xe28a8233, targetName: specServer, targetInfo: specTargetInfo}
	copy(chal.serverChallenge[:], unhex(t, specServerChallenge))
	return negotiateMessage{flags: 0xe2088297}, chal, chal.marshal()
}

func specAuthenticate(t testing.TB) testAuth {
	return testAuth{
		flags:       0xe2888235,
		lm:          unhex(t, specLMv2Response),
		nt:          append(unhex(t, specNTProofStr), specBlob(t)...),
		domain:      specDomain,
		user:        specUser,
		workstation: specWorkstation,
		encKey:      unhex(t, specEncSessionKey),
	}
}

func specLookup(user string) (string, bool) {
	if strings.EqualFold(user, specUser) {
		return specPassword, true
	}
	return "", false
}

func TestVerifyAuthenticateAcceptsSpecResponse(t *testing.T) {
	t.Parallel()
	neg, chal, raw := specPending(t)
	am, err := parseAuthenticate(specAuthenticate(t).marshal())
	if err != nil {
		t.Fatalf("parseAuthenticate: %v", err)
	}
	v, err := verifyAuthenticate(neg, chal, raw, am, specLookup)
	if err != nil {
		t.Fatalf("verifyAuthenticate: %v", err)
	}
	want := verified{user: specUser, domain: specDomain, flags: 0xe2888235, exportedSessionKey: unhex(t, specRandomSessionKey)}
	if diff := cmp.Diff(want, v, cmp.AllowUnexported(verified{})); diff != "" {
		t.Errorf("verified mismatch (-want +got):\n%s", diff)
	}
	// The session base key (4.2.4.1.2) is the key exchange key that
	// decrypts 4.2.4.2.3's encrypted session key into the random one.
	if got := hmacMD5(unhex(t, specNTOWFv2), unhex(t, specNTProofStr)); !bytes.Equal(got, unhex(t, specSessionBaseKey)) {
		t.Errorf("session base key = %x, want %s", got, specSessionBaseKey)
	}
}

func TestVerifyAuthenticateRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		modify  func(*testAuth)
		lookup  func(string) (string, bool)
		wantErr error  // when set, errors.Is must hold
		wantMsg string // otherwise a substring of the message
	}{
		{
			name:    "a wrong password",
			lookup:  func(string) (string, bool) { return "password", true },
			wantErr: errWrongPassword,
		},
		{
			name:    "an unknown user",
			lookup:  func(string) (string, bool) { return "", false },
			wantErr: errUnknownUser,
		},
		{
			name:    "a response computed for another domain",
			modify:  func(a *testAuth) { a.domain = "OTHER" },
			wantErr: errWrongPassword,
		},
		{
			name:    "a tampered client blob",
			modify:  func(a *testAuth) { a.nt[len(a.nt)-20] ^= 1 },
			wantErr: errWrongPassword,
		},
		{
			name:    "an NTLMv1 response",
			modify:  func(a *testAuth) { a.nt = a.nt[:24] },
			wantMsg: "ntlmv1",
		},
		{
			name:    "an anonymous logon",
			modify:  func(a *testAuth) { a.user, a.nt, a.lm = "", nil, []byte{0} },
			wantMsg: "anonymous",
		},
		{
			name:    "a key exchange without a 16-byte key",
			modify:  func(a *testAuth) { a.encKey = a.encKey[:8] },
			wantMsg: "encrypted session key",
		},
		{
			name:    "a blob with an unknown version",
			modify:  func(a *testAuth) { a.nt[16] = 2 },
			wantMsg: "version",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			neg, chal, raw := specPending(t)
			a := specAuthenticate(t)
			if tt.modify != nil {
				tt.modify(&a)
			}
			lookup := tt.lookup
			if lookup == nil {
				lookup = specLookup
			}
			am, err := parseAuthenticate(a.marshal())
			if err != nil {
				t.Fatalf("parseAuthenticate: %v", err)
			}
			_, err = verifyAuthenticate(neg, chal, raw, am, lookup)
			switch {
			case err == nil:
				t.Fatal("verifyAuthenticate succeeded, want an error")
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			case tt.wantErr == nil && !strings.Contains(err.Error(), tt.wantMsg):
				t.Errorf("error = %v, want one mentioning %q", err, tt.wantMsg)
			}
		})
	}
}

// TestVerifyAuthenticateChecksMIC signs the spec exchange with a MIC, as
// clients do when the challenge carries a timestamp, and checks that the
// server accepts the right MIC and refuses a wrong one.
func TestVerifyAuthenticateChecksMIC(t *testing.T) {
	t.Parallel()
	neg, chal, chalRaw := specPending(t)
	neg.raw = []byte("NTLMSSP\x00\x01\x00\x00\x00\x97\x82\x08\xe2")
	flagsPair := avPair{avFlags, binary.LittleEndian.AppendUint32(nil, avFlagMICPresent)}

	build := func(micOK bool) []byte {
		a := specAuthenticate(t)
		blob := specBlob(t)
		// Rebuild the blob's target info with MsvAvFlags before EOL.
		info := marshalAVPairs(append(append([]avPair{}, specTargetInfo...), flagsPair))
		blob = append(append(blob[:28:28], info...), 0, 0, 0, 0)
		responseKey := ntowfv2(specPassword, specUser, specDomain)
		proof := hmacMD5(responseKey, chal.serverChallenge[:], blob)
		a.nt = append(proof, blob...)
		// Session base key changes with the blob; re-encrypt the random
		// session key under it.
		kxk := hmacMD5(responseKey, proof)
		a.encKey = rc4Once(t, kxk, unhex(t, specRandomSessionKey))
		a.mic = make([]byte, 16)
		msg := a.marshal()
		mic := hmacMD5(unhex(t, specRandomSessionKey), neg.raw, chalRaw, msg)
		if !micOK {
			mic[0] ^= 0xff
		}
		copy(msg[72:88], mic)
		return msg
	}
	for _, tt := range []struct {
		name   string
		micOK  bool
		wantOK bool
	}{
		{"a correct MIC is accepted", true, true},
		{"a wrong MIC is refused", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			am, err := parseAuthenticate(build(tt.micOK))
			if err != nil {
				t.Fatalf("parseAuthenticate: %v", err)
			}
			_, err = verifyAuthenticate(neg, chal, chalRaw, am, specLookup)
			if (err == nil) != tt.wantOK {
				t.Errorf("verifyAuthenticate error = %v, want success %v", err, tt.wantOK)
			}
		})
	}
}

func rc4Once(t testing.TB, key, data []byte) []byte {
	t.Helper()
	c, err := rc4.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(data))
	c.XORKeyStream(out, data)
	return out
}

func TestSessionKeysMatchSpec(t *testing.T) {
	t.Parallel()
	const flags = 0xe28a8233
	key := unhex(t, specRandomSessionKey)
	if got := sealKey(flags, key, clientSealingMagic); !bytes.Equal(got, unhex(t, specV2SealKey)) {
		t.Errorf("client SEALKEY = %x, want %s", got, specV2SealKey)
	}
	if got := signKey(flags, key, clientSigningMagic); !bytes.Equal(got, unhex(t, specV2SignKey)) {
		t.Errorf("client SIGNKEY = %x, want %s", got, specV2SignKey)
	}
}

// TestSealMatchesSpec plays the client of the spec examples: its wrap must
// give the spec's sealed bytes and signature, and a server session over
// the same key must unwrap them back to the plaintext.
func TestSealMatchesSpec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		flags     uint32
		sealed    string
		signature string
		sigFrom   int // bytes before this offset are not compared
	}{
		{"NTLMv2 with extended session security (4.2.4.4)", 0xe28a8233, specV2Sealed, specV2Signature, 0},
		{"NTLMv1 without extended session security (4.2.2.4)", specV1Flags, specV1Sealed, specV1Signature, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := unhex(t, specRandomSessionKey)
			client, err := newSession(tt.flags, key, roleClient)
			if err != nil {
				t.Fatal(err)
			}
			sealed, sig, err := client.wrap(unhex(t, specPlaintext))
			if err != nil {
				t.Fatalf("wrap: %v", err)
			}
			if diff := cmp.Diff(unhex(t, tt.sealed), sealed); diff != "" {
				t.Errorf("sealed data mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(unhex(t, tt.signature)[tt.sigFrom:], sig[tt.sigFrom:]); diff != "" {
				t.Errorf("signature mismatch (-want +got):\n%s", diff)
			}

			server, err := newSession(tt.flags, key, roleServer)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := server.unwrap(unhex(t, tt.sealed), unhex(t, tt.signature))
			if err != nil {
				t.Fatalf("unwrap: %v", err)
			}
			if diff := cmp.Diff(unhex(t, specPlaintext), plain); diff != "" {
				t.Errorf("unwrapped mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSessionSequences sends several messages each way and checks that the
// directions keep their own sequence numbers and RC4 states, and that a
// replayed, reordered or altered message is refused.
func TestSessionSequences(t *testing.T) {
	t.Parallel()
	const flags = flagSign | flagSeal | flagExtendedSession | flag128 | flagKeyExch
	key := unhex(t, specRandomSessionKey)
	newPair := func(t *testing.T) (client, server *session) {
		c, err := newSession(flags, key, roleClient)
		if err != nil {
			t.Fatal(err)
		}
		s, err := newSession(flags, key, roleServer)
		if err != nil {
			t.Fatal(err)
		}
		return c, s
	}

	t.Run("messages in order in both directions", func(t *testing.T) {
		t.Parallel()
		client, server := newPair(t)
		for i := range 3 {
			req := []byte(strings.Repeat("request ", i+1))
			sealed, sig, err := client.wrap(req)
			if err != nil {
				t.Fatal(err)
			}
			if got := binary.LittleEndian.Uint32(sig[12:]); got != uint32(i) {
				t.Errorf("request %d carries sequence number %d", i, got)
			}
			plain, err := server.unwrap(sealed, sig[:])
			if err != nil {
				t.Fatalf("server unwrap %d: %v", i, err)
			}
			if !bytes.Equal(plain, req) {
				t.Errorf("server got %q, want %q", plain, req)
			}
			resp := []byte(strings.Repeat("response ", i+1))
			sealed, sig, err = server.wrap(resp)
			if err != nil {
				t.Fatal(err)
			}
			plain, err = client.unwrap(sealed, sig[:])
			if err != nil {
				t.Fatalf("client unwrap %d: %v", i, err)
			}
			if !bytes.Equal(plain, resp) {
				t.Errorf("client got %q, want %q", plain, resp)
			}
		}
	})

	t.Run("a skipped message breaks the sequence", func(t *testing.T) {
		t.Parallel()
		client, server := newPair(t)
		if _, _, err := client.wrap([]byte("lost")); err != nil {
			t.Fatal(err)
		}
		sealed, sig, err := client.wrap([]byte("second"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := server.unwrap(sealed, sig[:]); err == nil {
			t.Error("unwrap of message 1 as message 0 succeeded")
		}
	})

	t.Run("an altered message is refused", func(t *testing.T) {
		t.Parallel()
		client, server := newPair(t)
		sealed, sig, err := client.wrap([]byte("important"))
		if err != nil {
			t.Fatal(err)
		}
		sealed[0] ^= 1
		if _, err := server.unwrap(sealed, sig[:]); err == nil {
			t.Error("unwrap of an altered message succeeded")
		}
	})
}
