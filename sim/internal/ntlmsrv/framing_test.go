package ntlmsrv

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var (
	testSig    = bytes.Repeat([]byte{0xAB}, signatureSize)
	testSealed = []byte("SEALED\r\n--Encrypted Boundary\r\nbytes")
)

// frame builds an encrypted body from its pieces; lines are given without
// line ends and joined with eol.
func frame(eol string, header []string, dataHeader string, sigLen uint32, sig, sealed []byte, closing string) []byte {
	var b []byte
	for _, l := range header {
		b = append(b, l+eol...)
	}
	b = append(b, dataHeader+eol...)
	b = binary.LittleEndian.AppendUint32(b, sigLen)
	b = append(append(b, sig...), sealed...)
	return append(b, closing...)
}

func standardHeader(length int) []string {
	return []string{
		"--Encrypted Boundary",
		"\tContent-Type: application/HTTP-SPNEGO-session-encrypted",
		"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + strconv.Itoa(length),
		"--Encrypted Boundary",
	}
}

func TestParseEncryptedAccepts(t *testing.T) {
	t.Parallel()
	n := len(testSealed)
	want := []encryptedPart{{contentType: soapContentType, signature: testSig, sealed: testSealed}}
	tests := []struct {
		name string
		body []byte
		want []encryptedPart
	}{
		{
			name: "the framing masterzen and pywinrm send, with a boundary inside the sealed bytes",
			body: frame("\r\n", standardHeader(n), "\tContent-Type: application/octet-stream", 16, testSig, testSealed, "--Encrypted Boundary--\r\n"),
			want: want,
		},
		{
			name: "header lines without tabs and with bare LF",
			body: frame("\n", []string{"--Encrypted Boundary", "content-type: application/http-spnego-session-encrypted", "OriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + strconv.Itoa(n), "--Encrypted Boundary"}, "Content-Type: application/octet-stream", 16, testSig, testSealed, "--Encrypted Boundary--\n"),
			want: want,
		},
		{
			name: "a closing boundary without its final CR LF",
			body: frame("\r\n", standardHeader(n), "\tContent-Type: application/octet-stream", 16, testSig, testSealed, "--Encrypted Boundary--"),
			want: want,
		},
		{
			name: "an empty line before the binary, as a MIME writer puts it",
			body: frame("\r\n", standardHeader(n), "\tContent-Type: application/octet-stream\r\n", 16, testSig, testSealed, "--Encrypted Boundary--\r\n"),
			want: want,
		},
		{
			name: "Length counting the whole data part, as bodgit/ntlmssp/http sends it",
			body: frame("\r\n", standardHeader(4+16+n), "\tContent-Type: application/octet-stream", 16, testSig, testSealed, "--Encrypted Boundary--\r\n"),
			want: want,
		},
		{
			name: "an empty message",
			body: frame("\r\n", standardHeader(0), "\tContent-Type: application/octet-stream", 16, testSig, nil, "--Encrypted Boundary--\r\n"),
			want: []encryptedPart{{contentType: soapContentType, signature: testSig, sealed: []byte{}}},
		},
		{
			name: "two messages in one body",
			body: append(
				frame("\r\n", standardHeader(n), "\tContent-Type: application/octet-stream", 16, testSig, testSealed, ""),
				frame("\r\n", standardHeader(3), "\tContent-Type: application/octet-stream", 16, testSig, []byte("abc"), "--Encrypted Boundary--\r\n")...),
			want: append(want, encryptedPart{contentType: soapContentType, signature: testSig, sealed: []byte("abc")}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseEncrypted(tt.body, encryptedBoundary)
			if err != nil {
				t.Fatalf("parseEncrypted: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(encryptedPart{})); diff != "" {
				t.Errorf("parts mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseEncryptedRefuses(t *testing.T) {
	t.Parallel()
	n := len(testSealed)
	octet := "\tContent-Type: application/octet-stream"
	closing := "--Encrypted Boundary--\r\n"
	tests := []struct {
		name     string
		body     []byte
		boundary string
		wantMsg  string
	}{
		{"an empty body", nil, encryptedBoundary, "expected"},
		{"no boundary parameter", frame("\r\n", standardHeader(n), octet, 16, testSig, testSealed, closing), "", "no boundary"},
		{"another boundary", frame("\r\n", standardHeader(n), octet, 16, testSig, testSealed, closing), "Other", "expected boundary"},
		{"only a closing boundary", []byte(closing), encryptedBoundary, "no parts"},
		{"a header part of another type", frame("\r\n", []string{"--Encrypted Boundary", "\tContent-Type: text/plain", "\tOriginalContent: type=a;Length=1", "--Encrypted Boundary"}, octet, 16, testSig, testSealed, closing), encryptedBoundary, "Content-Type"},
		{"no OriginalContent", frame("\r\n", []string{"--Encrypted Boundary", "\tContent-Type: application/HTTP-SPNEGO-session-encrypted", "--Encrypted Boundary"}, octet, 16, testSig, testSealed, closing), encryptedBoundary, "OriginalContent"},
		{"no Length", frame("\r\n", []string{"--Encrypted Boundary", "\tContent-Type: application/HTTP-SPNEGO-session-encrypted", "\tOriginalContent: type=application/soap+xml", "--Encrypted Boundary"}, octet, 16, testSig, testSealed, closing), encryptedBoundary, "no Length"},
		{"a negative Length", frame("\r\n", standardHeader(-3), octet, 16, testSig, testSealed, closing), encryptedBoundary, "not a byte count"},
		{"a Length that fits nothing", frame("\r\n", standardHeader(n+1), octet, 16, testSig, testSealed, closing), encryptedBoundary, "does not fit"},
		{"a data part of another type", frame("\r\n", standardHeader(n), "\tContent-Type: text/plain", 16, testSig, testSealed, closing), encryptedBoundary, "data part starts"},
		{"a signature that is not 16 bytes", frame("\r\n", standardHeader(n), octet, 20, append(testSig, 1, 2, 3, 4), testSealed, closing), encryptedBoundary, "signature length"},
		{"a body cut inside the binary", frame("\r\n", standardHeader(n), octet, 16, testSig, nil, ""), encryptedBoundary, "does not fit"},
		{"bytes after the closing boundary", frame("\r\n", standardHeader(n), octet, 16, testSig, testSealed, closing+"x"), encryptedBoundary, "after the closing boundary"},
		{"a header line without a colon", frame("\r\n", []string{"--Encrypted Boundary", "garbage", "--Encrypted Boundary"}, octet, 16, testSig, testSealed, closing), encryptedBoundary, "malformed header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseEncrypted(tt.body, tt.boundary)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("parseEncrypted error = %v, want one mentioning %q", err, tt.wantMsg)
			}
		})
	}
}

// TestAppendEncryptedIsWindowsFraming pins the response framing byte for
// byte ([MS-WSMV] 2.2.9.1.1): both clients split it on the boundary line
// and read the number after "Length=" to the end of its line.
func TestAppendEncryptedIsWindowsFraming(t *testing.T) {
	t.Parallel()
	var sig [signatureSize]byte
	copy(sig[:], testSig)
	got := appendEncrypted(nil, soapContentType, 42, sig, []byte("sealed"))
	want := "--Encrypted Boundary\r\n" +
		"\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n" +
		"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=42\r\n" +
		"--Encrypted Boundary\r\n" +
		"\tContent-Type: application/octet-stream\r\n" +
		"\x10\x00\x00\x00" + string(testSig) + "sealed" +
		"--Encrypted Boundary--\r\n"
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("framing mismatch (-want +got):\n%s", diff)
	}
}

func TestEncryptedBoundaryOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		contentType  string
		wantBoundary string
		wantSealed   bool
	}{
		{encryptedContentType, encryptedBoundary, true},
		{`multipart/encrypted; protocol="application/HTTP-SPNEGO-session-encrypted"; boundary="Encrypted Boundary"`, encryptedBoundary, true},
		{`Multipart/Encrypted;protocol="application/http-spnego-session-encrypted";boundary=B`, "B", true},
		{`multipart/encrypted;protocol="application/HTTP-CredSSP-session-encrypted";boundary="Encrypted Boundary"`, "", false},
		{`multipart/x-multi-encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"`, "", false},
		{soapContentType, "", false},
		{"", "", false},
		{`multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";;;boundary="x`, "", true},
	}
	for _, tt := range tests {
		b, sealed := encryptedBoundaryOf(tt.contentType)
		if b != tt.wantBoundary || sealed != tt.wantSealed {
			t.Errorf("encryptedBoundaryOf(%q) = %q, %v; want %q, %v", tt.contentType, b, sealed, tt.wantBoundary, tt.wantSealed)
		}
	}
}

func TestChallengeFlags(t *testing.T) {
	t.Parallel()
	const always = flagRequestTarget | flagNTLM | flagTargetTypeSrv | flagTargetInfo
	tests := []struct {
		name   string
		client uint32
		want   uint32
	}{
		{
			name:   "a sealing client (bodgit/ntlmssp) gets every capability it asked for",
			client: flagUnicode | flagSign | flagSeal | flagAlwaysSign | flagTargetInfo | flag128 | flagKeyExch | flag56 | flagExtendedSession | flagVersion,
			want:   always | flagUnicode | flagSign | flagSeal | flagAlwaysSign | flag128 | flagKeyExch | flag56 | flagExtendedSession | flagVersion,
		},
		{
			name:   "a non-sealing client (Azure/go-ntlmssp) is not offered key exchange it cannot do",
			client: flagTargetInfo | flag56 | flag128 | flagUnicode | flagExtendedSession,
			want:   always | flag56 | flag128 | flagUnicode | flagExtendedSession,
		},
		{
			name:   "an OEM client is answered in OEM, without LM_KEY or datagram",
			client: flagOEM | flagLMKey | flagDatagram | flagSign,
			want:   always | flagOEM | flagSign,
		},
	}
	for _, tt := range tests {
		if got := challengeFlags(tt.client); got != tt.want {
			t.Errorf("%s: challengeFlags(%#08x) = %#08x, want %#08x", tt.name, tt.client, got, tt.want)
		}
	}
}
