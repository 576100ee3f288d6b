package winrm

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/bodgit/ntlmssp"
)

// [MS-NLMP] 4.2.4 (NTLMv2) as bodgit/ntlmssp's client tests carry it.
const (
	// ntlmSpecChallenge is the CHALLENGE of 4.2.4.3: flags 0xe28a8233,
	// target name "Server", VERSION, target info of NetBIOS domain
	// "Domain" and computer "Server", no timestamp.
	ntlmSpecChallenge = "4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef00000000000000002400240044000000060070170000000f53006500720076006500720002000c0044006f006d00610069006e0001000c0053006500720076006500720000000000"
	// ntlmSpecNegotiate is bodgit's NEGOTIATE for domain "Domain",
	// workstation "COMPUTER" and version 5.1.2600 (its TestClient).
	ntlmSpecNegotiate = "4e544c4d535350000100000031b088e20600060028000000080008002e0000000501280a0000000f446f6d61696e434f4d5055544552"
	// ntlmSpecVersion is the VERSION of 4.2.4: 5.1 build 2600, NTLM
	// revision 15.
	ntlmSpecVersion = "0501280a0000000f"
	// ntlmSpecAuthenticateCBT is bodgit's TestClient AUTHENTICATE for the
	// 4.2.4 CHALLENGE with the channel bindings of ntlmSpecFingerprint:
	// the 4.2.4 message plus an MsvAvChannelBindings AV pair.
	ntlmSpecAuthenticateCBT = "4e544c4d5353500003000000180018006c00000068006800840000000c000c00480000000800080054000000100010005c00000010001000ec00000031828ae20501280a0000000f44006f006d00610069006e00550073006500720043004f004d005000550054004500520086c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa0410c47acf199789de7f2011957aea5001010000000000000000000000000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e0001000c005300650072007600650072000a0010006ea19df066da4622051f9c4f92c6df740000000000000000e569951d15d4735f49e14cf9a7d3e672"
	ntlmSpecFingerprint     = "e3ca49271e5089cc48ce82109f1324f41dbeddc29a777410c738f7868c4ff405"
)

// ntlmSpecClient is an ntlmClient with [MS-NLMP] 4.2.4's user, domain,
// password, workstation and version, ClientChallenge 0xaa × 8,
// RandomSessionKey 0x55 × 16 and a clock at FILETIME 0.
func ntlmSpecClient(t testing.TB) *ntlmClient {
	c := newNTLMClient("User", "Password", "Domain")
	c.workstation = "COMPUTER"
	c.version = (*[8]byte)(unhex(t, ntlmSpecVersion))
	c.rand = bytes.NewReader(append(bytes.Repeat([]byte{0xaa}, 8), bytes.Repeat([]byte{0x55}, 16)...))
	c.now = func() time.Time { return time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC) }
	return c
}

// TestNTLMClientMatchesMSNLMPNTLMv2 checks the client against [MS-NLMP]
// 4.2.4: the NEGOTIATE (bodgit's, byte for byte), NTOWFv2 (4.2.4.1.1),
// the LMv2 and NTLMv2 responses with NTProofStr (4.2.4.2.1, 4.2.4.2.2),
// SessionBaseKey (4.2.4.1.2), EncryptedRandomSessionKey (4.2.4.2.3) and
// the AUTHENTICATE message (4.2.4.3) byte for byte but its flags, which
// are the CHALLENGE's less OEM as bodgit sends them; then the sealing
// with the exported key (4.2.4.4). A second run with channel bindings
// must give bodgit's own test vector byte for byte.
func TestNTLMClientMatchesMSNLMPNTLMv2(t *testing.T) {
	c := ntlmSpecClient(t)
	neg, err := c.negotiateMessage()
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, ntlmSpecNegotiate); !bytes.Equal(neg, want) {
		t.Errorf("NEGOTIATE\n%x, want\n%x", neg, want)
	}
	if got, want := ntowfV2("User", "Password", "Domain"), unhex(t, "0c868a403bfd7a93a3001ef22ef02e3f"); !bytes.Equal(got, want) {
		t.Errorf("NTOWFv2 = %x, want %x", got, want)
	}
	res, err := c.authenticate(unhex(t, ntlmSpecChallenge), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := parseTestAuthenticate(t, res.message)
	if want := unhex(t, "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa"); !bytes.Equal(a.lm, want) {
		t.Errorf("LMv2 response = %x, want %x", a.lm, want)
	}
	if want := unhex(t, "68cd0ab851e51c96aabc927bebef6a1c"); !bytes.Equal(a.nt[:16], want) {
		t.Errorf("NTProofStr = %x, want %x", a.nt[:16], want)
	}
	wantTemp := unhex(t, "0101000000000000 0000000000000000 aaaaaaaaaaaaaaaa 00000000 02000c0044006f006d00610069006e00 01000c00530065007200760065007200 00000000 00000000")
	if !bytes.Equal(a.nt[16:], wantTemp) {
		t.Errorf("NTLMv2 client challenge\n%x, want\n%x", a.nt[16:], wantTemp)
	}
	if want := unhex(t, "8de40ccadbc14a82f15cb0ad0de95ca3"); !bytes.Equal(res.sessionBaseKey[:], want) {
		t.Errorf("SessionBaseKey = %x, want %x", res.sessionBaseKey, want)
	}
	if want := unhex(t, "c5dad2544fc9799094ce1ce90bc9d03e"); !bytes.Equal(a.key, want) {
		t.Errorf("EncryptedRandomSessionKey = %x, want %x", a.key, want)
	}
	if want := bytes.Repeat([]byte{0x55}, 16); !bytes.Equal(res.exportedKey[:], want) {
		t.Errorf("ExportedSessionKey = %x, want %x", res.exportedKey, want)
	}
	if res.flags != 0xe28a8231 || a.flags != res.flags {
		t.Errorf("flags = %#x (message %#x), want 0xe28a8231", res.flags, a.flags)
	}
	if a.domain != "Domain" || a.user != "User" || a.workstation != "COMPUTER" || a.mic != nil {
		t.Errorf("domain %q user %q workstation %q MIC %x; want Domain, User, COMPUTER, none", a.domain, a.user, a.workstation, a.mic)
	}
	want := unhex(t, ntlmSpecAuthenticate)
	got := bytes.Clone(res.message)
	binary.LittleEndian.PutUint32(got[60:], 0xe2888235) // the spec's flags
	if !bytes.Equal(got, want) {
		t.Errorf("AUTHENTICATE (spec's flags put in)\n%x, want\n%x", got, want)
	}
	s, err := newNTLMSession(res.flags, res.exportedKey[:], true)
	if err != nil {
		t.Fatal(err)
	}
	sig, sealed, _ := s.wrap(ntlmSpecPlaintext)
	if want := unhex(t, "54e50165bf1936dc996020c1811b0f06fb5f"); !bytes.Equal(sealed, want) {
		t.Errorf("sealed = %x, want %x (4.2.4.4)", sealed, want)
	}
	if want := unhex(t, "010000007fb38ec5c55d497600000000"); !bytes.Equal(sig, want) {
		t.Errorf("signature = %x, want %x (4.2.4.4)", sig, want)
	}

	c = ntlmSpecClient(t)
	if _, err := c.negotiateMessage(); err != nil {
		t.Fatal(err)
	}
	cb := &ntlmChannelBindings{applicationData: append([]byte("tls-server-end-point:"), unhex(t, ntlmSpecFingerprint)...)}
	res, err = c.authenticate(unhex(t, ntlmSpecChallenge), cb)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, ntlmSpecAuthenticateCBT); !bytes.Equal(res.message, want) {
		t.Errorf("AUTHENTICATE with channel bindings\n%x, want\n%x", res.message, want)
	}
}

// testAuthenticate is an AUTHENTICATE message's fields ([MS-NLMP]
// 2.2.1.3), read by the tests.
type testAuthenticate struct {
	flags                     uint32
	lm, nt, key, mic, version []byte
	domain, user, workstation string
	avPairs                   []ntlmAvPair // of the NTLMv2 response
}

func parseTestAuthenticate(t testing.TB, m []byte) testAuthenticate {
	t.Helper()
	field := func(off int) []byte {
		b, err := ntlmField(m, off)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	str := func(b []byte) string {
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		return string(utf16.Decode(u))
	}
	if len(m) < ntlmAuthenticateHeaderLen || string(m[:8]) != "NTLMSSP\x00" || binary.LittleEndian.Uint32(m[8:]) != 3 {
		t.Fatalf("not an AUTHENTICATE message: %x", m)
	}
	a := testAuthenticate{flags: binary.LittleEndian.Uint32(m[60:]), lm: field(12), nt: field(20), key: field(52),
		domain: str(field(28)), user: str(field(36)), workstation: str(field(44))}
	if a.flags&ntlmFlagVersion != 0 {
		a.version = m[64:72]
	}
	first := len(m)
	for _, off := range []int{12, 20, 28, 36, 44, 52} {
		first = min(first, int(binary.LittleEndian.Uint32(m[off+4:])))
	}
	if first == ntlmAuthenticateHeaderLen+ntlmMICLen {
		a.mic = m[72:88]
	} else if first != ntlmAuthenticateHeaderLen {
		t.Fatalf("payload starts at %d", first)
	}
	if len(a.nt) > 16+28 {
		pairs, err := parseNTLMAvPairs(a.nt[16+28:], nil)
		if err != nil {
			t.Fatalf("NTLMv2 response's AV pairs: %v", err)
		}
		a.avPairs = pairs
	}
	return a
}

// ntlmTestChallengeWith is a CHALLENGE with flags, the server challenge
// 0123456789abcdef and the AV pairs given (MsvAvEOL added), and, when
// name is set, a TargetName.
func ntlmTestChallengeWith(flags uint32, name string, pairs ...ntlmAvPair) []byte {
	var info []byte
	for _, p := range pairs {
		info = binary.LittleEndian.AppendUint16(info, p.id)
		info = binary.LittleEndian.AppendUint16(info, uint16(len(p.value)))
		info = append(info, p.value...)
	}
	info = append(info, 0, 0, 0, 0)
	head := 48
	if flags&ntlmFlagVersion != 0 {
		head += 8
	}
	tn := utf16LE(name)
	m := make([]byte, head, head+len(tn)+len(info))
	copy(m, "NTLMSSP\x00")
	binary.LittleEndian.PutUint32(m[8:], 2)
	putNTLMField(m, 12, head, len(tn))
	binary.LittleEndian.PutUint32(m[20:], flags)
	copy(m[24:], []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef})
	putNTLMField(m, 40, head+len(tn), len(info))
	if flags&ntlmFlagVersion != 0 {
		copy(m[48:], []byte{10, 0, 0x63, 0x45, 0, 0, 0, 15})
	}
	return append(append(m, tn...), info...)
}

var (
	ntlmTestTimestamp = ntlmAvPair{7, []byte{0, 0x80, 0x3e, 0xd5, 0xde, 0xb1, 0x9d, 0x01}}
	ntlmTestDomain    = ntlmAvPair{2, utf16LE("CORP")}
	ntlmTestComputer  = ntlmAvPair{1, utf16LE("WIN-01")}
	ntlmTestDNSDomain = ntlmAvPair{4, utf16LE("corp.example")}
	ntlmTestDNSHost   = ntlmAvPair{3, utf16LE("win-01.corp.example")}
	ntlmTestBindings  = &ntlmChannelBindings{applicationData: append([]byte("tls-server-end-point:"), bytes.Repeat([]byte{0x5a}, 32)...)}
)

// ntlmWindowsChallenge is a CHALLENGE as Windows Server sends it to
// bodgit's NEGOTIATE: its flags with TARGET_INFO, TARGET_TYPE_SERVER,
// REQUEST_TARGET and VERSION, a target name, and NetBIOS and DNS names
// with MsvAvTimestamp.
func ntlmWindowsChallenge() []byte {
	return ntlmTestChallengeWith(ntlmWindowsFlags|ntlmFlagTargetInfo|ntlmFlagVersion|0x00020000, "CORP",
		ntlmTestDomain, ntlmTestComputer, ntlmTestDNSDomain, ntlmTestDNSHost, ntlmTestDNSDomain, ntlmTestTimestamp)
}

// verifyNTLMv2 checks an AUTHENTICATE message as a server would: the
// NTProofStr against the credentials, the LMv2 response when there is
// one, and, with key, the MIC over negotiate ‖ challenge ‖ message.
func verifyNTLMv2(t *testing.T, who string, a testAuthenticate, msg, negotiate, challenge []byte, user, password, domain string, key []byte) {
	t.Helper()
	rk := ntowfV2(user, password, domain)
	mac := hmac.New(md5.New, rk)
	mac.Write(challenge[24:32])
	mac.Write(a.nt[16:])
	if !hmac.Equal(mac.Sum(nil), a.nt[:16]) {
		t.Errorf("%s: NTProofStr does not verify", who)
	}
	if !bytes.Equal(a.lm, make([]byte, 24)) {
		mac.Reset()
		mac.Write(challenge[24:32])
		mac.Write(a.nt[16+16 : 16+24])
		if !hmac.Equal(mac.Sum(nil), a.lm[:16]) || !bytes.Equal(a.lm[16:], a.nt[16+16:16+24]) {
			t.Errorf("%s: LMv2 response does not verify", who)
		}
	}
	if a.mic != nil && key != nil {
		zeroed := bytes.Clone(msg)
		clear(zeroed[72:88])
		mm := hmac.New(md5.New, key)
		mm.Write(negotiate)
		mm.Write(challenge)
		mm.Write(zeroed)
		if !hmac.Equal(mm.Sum(nil), a.mic) {
			t.Errorf("%s: MIC does not verify", who)
		}
	}
}

// TestNTLMClientMatchesBodgit feeds the same CHALLENGE messages to
// bodgit's client, as handshake used it, and to ours, and compares the
// AUTHENTICATE messages field by field: flags, domain, user,
// workstation, no VERSION, the LM response (Z(24) for both with a
// server timestamp, else each an LMv2 over its own client challenge),
// the NTLMv2 response's header, timestamp (when the server's) and AV
// pairs (same ids, order and values; the channel bindings hash equal),
// MIC presence, key length; each message's NTProofStr, LMv2 and MIC
// verify against the credentials. The NEGOTIATE messages must be the
// same bytes.
func TestNTLMClientMatchesBodgit(t *testing.T) {
	serverFlags := ntlmAvPair{6, []byte{1, 0, 0, 0}}
	for _, tc := range []struct {
		name                string
		user, password, dom string
		challenge           []byte
		bindings            *ntlmChannelBindings
		mic                 bool
	}{
		{"windows", "Administrator", "Passw0rd!", "CORP", ntlmWindowsChallenge(), nil, true},
		{"windows, channel bindings", "Administrator", "Passw0rd!", "CORP", ntlmWindowsChallenge(), ntlmTestBindings, true},
		{"no timestamp", "admin", "pw", "", ntlmTestChallengeWith(ntlmWindowsFlags|ntlmFlagTargetInfo, "", ntlmTestDomain, ntlmTestComputer), nil, false},
		{"no timestamp, channel bindings", "admin", "pw", "", ntlmTestChallengeWith(ntlmWindowsFlags|ntlmFlagTargetInfo, "", ntlmTestDomain, ntlmTestComputer), ntlmTestBindings, false},
		{"no target info", "admin", "pw", "corp", ntlmTestChallengeWith(ntlmWindowsFlags, ""), nil, false},
		{"non-ascii, spaced domain", "jürgen", "pässwörd€𝄞", " Dömäne ", ntlmWindowsChallenge(), ntlmTestBindings, true},
		{"no domain", `user`, "pw", "", ntlmWindowsChallenge(), nil, true},
		{"invalid UTF-8 credentials", "u\xff", "p\xfe", "d\xfd", ntlmWindowsChallenge(), nil, true},
		{"server MsvAvFlags kept first", "user", "pw", "corp", ntlmTestChallengeWith(ntlmWindowsFlags|ntlmFlagTargetInfo, "", serverFlags, ntlmTestDomain, ntlmTestTimestamp), nil, true},
		{"server MsvAvFlags with MIC bit, no timestamp", "user", "pw", "corp", ntlmTestChallengeWith(ntlmWindowsFlags|ntlmFlagTargetInfo, "", ntlmAvPair{6, []byte{2, 0, 0, 0}}, ntlmTestDomain), nil, true},
		{"repeated AV pair", "user", "pw", "corp", ntlmTestChallengeWith(ntlmWindowsFlags|ntlmFlagTargetInfo, "", ntlmTestDomain, ntlmTestComputer, ntlmAvPair{2, utf16LE("OTHER")}, ntlmTestTimestamp), nil, true},
		{"server's channel bindings replaced", "user", "pw", "corp", ntlmTestChallengeWith(ntlmWindowsFlags|ntlmFlagTargetInfo, "", ntlmAvPair{10, make([]byte, 16)}, ntlmTestDomain, ntlmTestTimestamp), ntlmTestBindings, true},
		{"no key exchange", "user", "pw", "corp", ntlmTestChallengeWith(ntlmNoKeyExch|ntlmFlagTargetInfo, "", ntlmTestDomain, ntlmTestTimestamp), nil, true},
		{"40-bit, OEM too", "user", "pw", "corp", ntlmTestChallengeWith(ntlm40Bit|ntlmFlagTargetInfo|ntlmFlagOEM, "", ntlmTestDomain, ntlmTestTimestamp), nil, true},
		{"no sign, no seal", "user", "pw", "corp", ntlmTestChallengeWith(ntlmWindowsFlags&^(ntlmFlagSign|ntlmFlagSeal|ntlmFlagKeyExch)|ntlmFlagTargetInfo, "", ntlmTestDomain, ntlmTestTimestamp), nil, true},
		{"spec challenge", "User", "Password", "Domain", unhex(t, ntlmSpecChallenge), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bc, err := ntlmssp.NewClient(ntlmssp.SetUserInfo(tc.user, tc.password), ntlmssp.SetDomain(tc.dom), ntlmssp.SetVersion(ntlmssp.DefaultVersion()))
			if err != nil {
				t.Fatal(err)
			}
			theirNeg, err := bc.Authenticate(nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var cb *ntlmssp.ChannelBindings
			if tc.bindings != nil {
				cb = tc.bindings.bodgit()
			}
			theirMsg, err := bc.Authenticate(tc.challenge, cb)
			if err != nil {
				t.Fatal(err)
			}
			c := newNTLMClient(tc.user, tc.password, tc.dom)
			ourNeg, err := c.negotiateMessage()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ourNeg, theirNeg) {
				t.Fatalf("NEGOTIATE\n%x, bodgit\n%x", ourNeg, theirNeg)
			}
			res, err := c.authenticate(tc.challenge, tc.bindings)
			if err != nil {
				t.Fatal(err)
			}
			ours, theirs := parseTestAuthenticate(t, res.message), parseTestAuthenticate(t, theirMsg)
			if ours.flags != theirs.flags || res.flags != ours.flags {
				t.Errorf("flags %#x (result %#x), bodgit %#x", ours.flags, res.flags, theirs.flags)
			}
			if ours.domain != theirs.domain || ours.user != theirs.user || ours.workstation != theirs.workstation {
				t.Errorf("domain %q user %q workstation %q, bodgit %q %q %q", ours.domain, ours.user, ours.workstation, theirs.domain, theirs.user, theirs.workstation)
			}
			// string([]rune(s)): invalid UTF-8 arrives as U+FFFD.
			if ours.domain != string([]rune(strings.TrimSpace(tc.dom))) || ours.user != string([]rune(tc.user)) || ours.workstation != "" {
				t.Errorf("domain %q user %q workstation %q", ours.domain, ours.user, ours.workstation)
			}
			if ours.version != nil || theirs.version != nil || !bytes.Equal(res.message[64:72], theirMsg[64:72]) {
				t.Errorf("VERSION %x, bodgit %x", res.message[64:72], theirMsg[64:72])
			}
			serverTime := bytes.Contains(tc.challenge, ntlmTestTimestamp.value)
			if len(ours.lm) != 24 || len(theirs.lm) != 24 || serverTime != bytes.Equal(ours.lm, make([]byte, 24)) || serverTime != bytes.Equal(theirs.lm, make([]byte, 24)) {
				t.Errorf("LM response %x, bodgit %x (server timestamp: %v)", ours.lm, theirs.lm, serverTime)
			}
			if len(ours.nt) != len(theirs.nt) || !bytes.Equal(ours.nt[16:24], theirs.nt[16:24]) || !bytes.Equal(ours.nt[16+24:16+28], theirs.nt[16+24:16+28]) ||
				!bytes.Equal(ours.nt[len(ours.nt)-4:], theirs.nt[len(theirs.nt)-4:]) {
				t.Errorf("NTLMv2 response\n%x, bodgit\n%x", ours.nt, theirs.nt)
			}
			if serverTime && !bytes.Equal(ours.nt[16+8:16+16], ntlmTestTimestamp.value) {
				t.Errorf("timestamp %x, want the server's %x", ours.nt[16+8:16+16], ntlmTestTimestamp.value)
			}
			if len(ours.avPairs) != len(theirs.avPairs) {
				t.Fatalf("AV pairs %v, bodgit %v", ours.avPairs, theirs.avPairs)
			}
			for i := range ours.avPairs {
				if ours.avPairs[i].id != theirs.avPairs[i].id || !bytes.Equal(ours.avPairs[i].value, theirs.avPairs[i].value) {
					t.Errorf("AV pair %d: %d=%x, bodgit %d=%x", i, ours.avPairs[i].id, ours.avPairs[i].value, theirs.avPairs[i].id, theirs.avPairs[i].value)
				}
			}
			if (ours.mic != nil) != tc.mic || (theirs.mic != nil) != tc.mic {
				t.Errorf("MIC %x, bodgit %x, want one: %v", ours.mic, theirs.mic, tc.mic)
			}
			if len(ours.key) != len(theirs.key) {
				t.Errorf("EncryptedRandomSessionKey %x, bodgit %x", ours.key, theirs.key)
			}
			dom := strings.TrimSpace(tc.dom)
			verifyNTLMv2(t, "ours", ours, res.message, ourNeg, tc.challenge, tc.user, tc.password, dom, res.exportedKey[:])
			var theirKey []byte
			if _, k, err := ntlmExportedSessionKey(theirMsg, tc.user, tc.password, dom); err == nil {
				theirKey = k
			}
			verifyNTLMv2(t, "bodgit", theirs, theirMsg, theirNeg, tc.challenge, tc.user, tc.password, dom, theirKey)
			// The key we keep is the one the message carries.
			if _, k, err := ntlmExportedSessionKey(res.message, tc.user, tc.password, dom); err == nil && !bytes.Equal(k, res.exportedKey[:]) {
				t.Errorf("exported key %x, the message carries %x", res.exportedKey, k)
			}
		})
	}
}

// TestNTLMClientNegotiateMatchesBodgit checks the NEGOTIATE message byte
// for byte against bodgit's for domains empty, ASCII, spaced and
// non-ASCII (sent as their bytes, in the OEM field).
func TestNTLMClientNegotiateMatchesBodgit(t *testing.T) {
	for _, dom := range []string{"", "CORP", "  corp.example ", "Dömäne"} {
		bc, err := ntlmssp.NewClient(ntlmssp.SetUserInfo("u", "p"), ntlmssp.SetDomain(dom), ntlmssp.SetVersion(ntlmssp.DefaultVersion()))
		if err != nil {
			t.Fatal(err)
		}
		want, err := bc.Authenticate(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := newNTLMClient("u", "p", dom).negotiateMessage()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("domain %q: NEGOTIATE %x, %v; bodgit %x", dom, got, err, want)
		}
	}
}

// TestNTLMClientTimestamp checks that without a server timestamp the
// NTLMv2 response carries the client's clock as a FILETIME.
func TestNTLMClientTimestamp(t *testing.T) {
	c := newNTLMClient("u", "p", "d")
	c.now = func() time.Time { return time.Date(2026, 12, 3, 21, 0, 0, 123456789, time.UTC) }
	if _, err := c.negotiateMessage(); err != nil {
		t.Fatal(err)
	}
	res, err := c.authenticate(ntlmTestChallengeWith(ntlmWindowsFlags|ntlmFlagTargetInfo, "", ntlmTestDomain), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := parseTestAuthenticate(t, res.message)
	// 2026-12-03T21:00:00.123456789Z in 100 ns ticks since 1601.
	want := uint64(134408052001234567)
	if got := binary.LittleEndian.Uint64(a.nt[16+8:]); got != want {
		t.Errorf("timestamp %d, want %d", got, want)
	}
}

// TestNTLMClientRefusesMalformedChallenge checks that malformed
// CHALLENGE messages give errors wrapping errNTLMChallenge, and that
// bodgit refuses them too where it does not panic.
func TestNTLMClientRefusesMalformedChallenge(t *testing.T) {
	good := ntlmWindowsChallenge()
	patch := func(off int, v uint32) []byte {
		b := bytes.Clone(good)
		binary.LittleEndian.PutUint32(b[off:], v)
		return b
	}
	for _, tc := range []struct {
		name      string
		msg       []byte
		bodgitToo bool // bodgit errors too (else it panics or goes on)
	}{
		{"empty", []byte{}, true},
		{"header cut", good[:47], true},
		{"wrong signature", append([]byte("NTLMSSQ\x00"), good[8:]...), true},
		{"wrong type", patch(8, 3), true},
		{"target info past the end", patch(44, uint32(len(good))), true},
		{"target info offset overflows", patch(44, 0xffffffff), true},
		{"target info cut", good[:len(good)-1], true},
		{"target name past the end", patch(16, uint32(len(good)-2)), true},
		{"version cut", ntlmTestChallengeWith(ntlmWindowsFlags|ntlmFlagVersion, "")[:50], true},
		{"no MsvAvEOL", ntlmTestChallengeWith(ntlmWindowsFlags|ntlmFlagTargetInfo, "", ntlmTestDomain)[:48+4+8], true},
		{"AV pair past the end", ntlmTestChallengeWith(ntlmWindowsFlags|ntlmFlagTargetInfo, "", ntlmAvPair{2, []byte{1, 2}})[:48+4+1], true},
		{"short MsvAvFlags", ntlmTestChallengeWith(ntlmWindowsFlags|ntlmFlagTargetInfo, "", ntlmAvPair{6, []byte{2}}, ntlmTestTimestamp), false},
		{"short MsvAvFlags, no timestamp", ntlmTestChallengeWith(ntlmWindowsFlags|ntlmFlagTargetInfo, "", ntlmAvPair{6, []byte{2}}), false},
		{"short timestamp", ntlmTestChallengeWith(ntlmWindowsFlags|ntlmFlagTargetInfo, "", ntlmAvPair{7, []byte{2}}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newNTLMClient("user", "pw", "corp")
			if _, err := c.negotiateMessage(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.authenticate(tc.msg, ntlmTestBindings); !errors.Is(err, errNTLMChallenge) {
				t.Errorf("error %v, want errNTLMChallenge", err)
			}
			if tc.bodgitToo {
				bc, _ := ntlmssp.NewClient(ntlmssp.SetUserInfo("user", "pw"))
				_, _ = bc.Authenticate(nil, nil)
				if _, err := bc.Authenticate(tc.msg, nil); err == nil {
					t.Errorf("bodgit accepts it")
				}
			}
		})
	}
}

// TestNTLMAuthFallsBackToBodgit checks answerChallenge: for CHALLENGEs
// ntlmClient does not implement (no extended session security, no
// Unicode, signing without sealing, no credentials) it answers with
// bodgit's client, whose MIC covers the NEGOTIATE ntlmClient sent, and
// the sealer is what handshake made before ntlmClient; for a Windows
// CHALLENGE it answers itself with an ntlmSession.
func TestNTLMAuthFallsBackToBodgit(t *testing.T) {
	answer := func(a *ntlmAuth, challenge []byte) ([]byte, []byte, sealer) {
		t.Helper()
		c := newNTLMClient(a.username, a.password, a.domain)
		neg, err := c.negotiateMessage()
		if err != nil {
			t.Fatal(err)
		}
		msg, s, err := a.answerChallenge(c, challenge, nil)
		if err != nil {
			t.Fatal(err)
		}
		return neg, msg, s
	}
	a := &ntlmAuth{username: "user", password: "pw", domain: "corp", seal: true}

	_, _, s := answer(a, ntlmWindowsChallenge())
	if _, ok := s.(*ntlmSession); !ok {
		t.Errorf("Windows CHALLENGE: sealer %T, want *ntlmSession", s)
	}

	noESS := ntlmTestChallengeWith(ntlmWindowsFlags&^ntlmFlagExtendedSec|ntlmFlagTargetInfo, "", ntlmTestDomain)
	_, msg, s := answer(a, noESS)
	if _, ok := s.(ntlmSealer); !ok {
		t.Errorf("no ESS: sealer %T, want bodgit's ntlmSealer", s)
	}
	if f := parseTestAuthenticate(t, msg).flags; f&ntlmFlagExtendedSec != 0 {
		t.Errorf("no ESS: flags %#x", f)
	}

	// Without Unicode bodgit's strings are OEM; its MIC must verify over
	// the NEGOTIATE ntlmClient sent, with the key it chose.
	oem := ntlmTestChallengeWith(ntlmWindowsFlags&^ntlmFlagUnicode|ntlmFlagOEM|ntlmFlagTargetInfo, "", ntlmTestDomain, ntlmTestTimestamp)
	neg, msg, s := answer(a, oem)
	if _, ok := s.(*ntlmSession); !ok {
		t.Errorf("OEM: sealer %T, want the *ntlmSession derived from bodgit's message", s)
	}
	if !bytes.Contains(msg, []byte("user")) {
		t.Errorf("OEM: no OEM user name in %x", msg)
	}
	_, key, err := ntlmExportedSessionKey(msg, "user", "pw", "corp")
	if err != nil {
		t.Fatal(err)
	}
	zeroed := bytes.Clone(msg)
	clear(zeroed[72:88])
	mm := hmac.New(md5.New, key)
	mm.Write(neg)
	mm.Write(oem)
	mm.Write(zeroed)
	if !hmac.Equal(mm.Sum(nil), msg[72:88]) {
		t.Error("OEM: bodgit's MIC does not verify over ntlmClient's NEGOTIATE")
	}

	signOnly := ntlmTestChallengeWith(ntlmWindowsFlags&^ntlmFlagSeal|ntlmFlagTargetInfo, "", ntlmTestDomain)
	if _, _, s := answer(a, signOnly); s == nil {
		t.Error("sign only: no sealer, want bodgit's session")
	} else if _, ok := s.(ntlmSealer); !ok {
		t.Errorf("sign only: sealer %T, want bodgit's ntlmSealer", s)
	}

	anon := &ntlmAuth{seal: true}
	if _, msg, _ := answer(anon, ntlmWindowsChallenge()); parseTestAuthenticate(t, msg).flags&ntlmFlagAnonymous == 0 {
		t.Error("anonymous: bodgit's message has no NTLMSSP_ANONYMOUS")
	}

	// Over HTTPS (no sealing) there is no sealer either way.
	https := &ntlmAuth{username: "user", password: "pw", seal: false}
	for _, ch := range [][]byte{ntlmWindowsChallenge(), noESS} {
		if _, _, s := answer(https, ch); s != nil {
			t.Errorf("HTTPS: sealer %T, want none", s)
		}
	}
}

func FuzzNTLMClientChallenge(f *testing.F) {
	f.Add(ntlmWindowsChallenge())
	f.Add(unhex(f, ntlmSpecChallenge))
	f.Add(ntlmTestChallengeWith(ntlmWindowsFlags|ntlmFlagTargetInfo, "", ntlmAvPair{6, []byte{2, 0, 0, 0}}, ntlmAvPair{10, make([]byte, 16)}))
	f.Add([]byte("NTLMSSP\x00\x02\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, challenge []byte) {
		c := newNTLMClient("user", "pw", "corp")
		if _, err := c.negotiateMessage(); err != nil {
			t.Fatal(err)
		}
		res, err := c.authenticate(challenge, ntlmTestBindings)
		if err != nil {
			if !errors.Is(err, errNTLMChallenge) && !errors.Is(err, errNTLMNotSupported) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		if res.flags&ntlmFlagSeal == 0 {
			return // ntlmExportedSessionKey reads sealing messages only
		}
		if _, key, err := ntlmExportedSessionKey(res.message, "user", "pw", "corp"); err != nil || !bytes.Equal(key, res.exportedKey[:]) {
			t.Fatalf("our AUTHENTICATE does not give back our key: %x, %v", key, err)
		}
	})
}

// BenchmarkNTLMHandshake builds NEGOTIATE and, for a Windows CHALLENGE
// (timestamp, so a MIC), AUTHENTICATE with ntlmClient and with bodgit's
// client, as handshake does (with the session keys each path derives).
func BenchmarkNTLMHandshake(b *testing.B) {
	challenge := ntlmWindowsChallenge()
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := newNTLMClient("Administrator", "Passw0rd!", "CORP")
			if _, err := c.negotiateMessage(); err != nil {
				b.Fatal(err)
			}
			res, err := c.authenticate(challenge, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := newNTLMSession(res.flags, res.exportedKey[:], true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bodgit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, err := ntlmssp.NewClient(ntlmssp.SetUserInfo("Administrator", "Passw0rd!"), ntlmssp.SetDomain("CORP"), ntlmssp.SetVersion(ntlmssp.DefaultVersion()))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Authenticate(nil, nil); err != nil {
				b.Fatal(err)
			}
			auth, err := c.Authenticate(challenge, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ntlmSessionFromAuthenticate(auth, "Administrator", "Passw0rd!", "CORP"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
