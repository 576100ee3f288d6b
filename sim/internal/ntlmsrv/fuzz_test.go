package ntlmsrv

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// validEncrypted is a well-formed sealed body for seeds and benchmarks.
func validEncrypted(t testing.TB, plain []byte) (body []byte, server *session) {
	t.Helper()
	const flags = flagSign | flagSeal | flagExtendedSession | flag128 | flagKeyExch | flagUnicode
	key := bytes.Repeat([]byte{0x55}, 16)
	client, err := newSession(flags, key, roleClient)
	if err != nil {
		t.Fatal(err)
	}
	server, err = newSession(flags, key, roleServer)
	if err != nil {
		t.Fatal(err)
	}
	sealed, sig, err := client.wrap(plain)
	if err != nil {
		t.Fatal(err)
	}
	return appendEncrypted(nil, soapContentType, len(plain), sig, sealed), server
}

func FuzzParseNegotiate(f *testing.F) {
	f.Add([]byte("NTLMSSP\x00\x01\x00\x00\x00\x97\x82\x08\xe2"))
	f.Add([]byte("NTLMSSP\x00\x01\x00\x00\x00"))
	f.Add([]byte("NTLMSSP\x00\x02\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		neg, err := parseNegotiate(b)
		if err != nil {
			return
		}
		// A parsed NEGOTIATE always yields a well-formed CHALLENGE.
		chal := challengeMessage{flags: challengeFlags(neg.flags), targetName: "WIN-SIM", targetInfo: serverTargetInfo("WIN-SIM", time.Unix(0, 0))}
		if _, err := messageType(chal.marshal()); err != nil {
			t.Fatalf("challenge for flags %#x does not parse: %v", neg.flags, err)
		}
	})
}

// FuzzVerifyAuthenticate feeds arbitrary AUTHENTICATE messages to the
// parser and the verifier, seeded with the MS-NLMP 4.2.4 message.
func FuzzVerifyAuthenticate(f *testing.F) {
	f.Add(specAuthenticate(f).marshal())
	a := specAuthenticate(f)
	a.mic = make([]byte, 16)
	f.Add(a.marshal())
	f.Add([]byte("NTLMSSP\x00\x03\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		am, err := parseAuthenticate(b)
		if err != nil {
			return
		}
		neg, chal, raw := specPending(t)
		v, err := verifyAuthenticate(neg, chal, raw, am, specLookup)
		if err != nil {
			return
		}
		if v.flags&(flagSign|flagSeal) != 0 {
			if _, err := newSession(v.flags, v.exportedSessionKey, roleServer); err != nil {
				t.Fatalf("verified context has no usable session: %v", err)
			}
		}
	})
}

func FuzzParseEncrypted(f *testing.F) {
	body, _ := validEncrypted(f, []byte("<s:Envelope/>"))
	f.Add(body, encryptedBoundary)
	f.Add(bytes.Clone(body[:len(body)-2]), encryptedBoundary)
	f.Add([]byte("--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=99999\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n\x10\x00\x00\x00"), encryptedBoundary)
	f.Add([]byte("--x--\r\n"), "x")
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		parts, err := parseEncrypted(body, boundary)
		if err != nil {
			return
		}
		if len(parts) == 0 {
			t.Fatal("no parts and no error")
		}
		for _, p := range parts {
			if len(p.signature) != signatureSize {
				t.Fatalf("signature of %d bytes", len(p.signature))
			}
		}
	})
}

// FuzzHandler sends arbitrary Authorization headers, content types and
// bodies through the handler, on a connection that has or has not
// authenticated: it must answer, never panic.
func FuzzHandler(f *testing.F) {
	body, _ := validEncrypted(f, []byte("<s:Envelope/>"))
	neg := base64.StdEncoding.EncodeToString([]byte("NTLMSSP\x00\x01\x00\x00\x00\x97\x82\x08\xe2"))
	f.Add("Negotiate "+neg, soapContentType, []byte{}, false)
	f.Add("Negotiate "+base64.StdEncoding.EncodeToString(specAuthenticate(f).marshal()), soapContentType, []byte("x"), true)
	f.Add("", encryptedContentType, body, true)
	f.Add("Basic QWRtaW5pc3RyYXRvcjpTaW0tUGFzc3cwcmQh", soapContentType, []byte("<s:Envelope/>"), false)
	f.Add("NTLM !!!", "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\"", body, false)
	f.Fuzz(func(t *testing.T, authorization, contentType string, body []byte, authenticated bool) {
		p := newPolicy()
		p.AllowUnencrypted = authenticated
		h := Handler(p, http.HandlerFunc(echo))
		cs := &connState{}
		if authenticated {
			_, server := validEncrypted(t, nil)
			cs.user, cs.sess = testUser, server
		}
		req := httptest.NewRequestWithContext(context.WithValue(t.Context(), connKey{}, cs), http.MethodPost, "/wsman", bytes.NewReader(body))
		req.Header.Set("Authorization", authorization)
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == 0 {
			t.Fatal("no status written")
		}
		if rec.Code == http.StatusUnauthorized && rec.Body.Len() != 0 && !strings.Contains(rec.Header().Get("Content-Type"), "multipart") {
			t.Fatalf("401 with a body %q", rec.Body.String())
		}
	})
}
