package ntlmsrv

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// benchmarkSOAP is a Receive-sized SOAP body.
var benchmarkSOAP = bytes.Repeat([]byte("<rsp:Stream Name=\"stdout\">aGVsbG8gd29ybGQ=</rsp:Stream>"), 80)

func BenchmarkSessionWrapUnwrap(b *testing.B) {
	const flags = flagSign | flagSeal | flagExtendedSession | flag128 | flagKeyExch
	key := bytes.Repeat([]byte{0x55}, 16)
	client, err := newSession(flags, key, roleClient)
	if err != nil {
		b.Fatal(err)
	}
	server, err := newSession(flags, key, roleServer)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchmarkSOAP)))
	for b.Loop() {
		sealed, sig, err := client.wrap(benchmarkSOAP)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := server.unwrap(sealed, sig[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseEncrypted(b *testing.B) {
	body, _ := validEncrypted(b, benchmarkSOAP)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := parseEncrypted(body, encryptedBoundary); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealedRequest is one sealed request through the handler: parse,
// unseal, serve, seal the response.
func BenchmarkSealedRequest(b *testing.B) {
	const flags = flagSign | flagSeal | flagExtendedSession | flag128 | flagKeyExch
	key := bytes.Repeat([]byte{0x55}, 16)
	client, err := newSession(flags, key, roleClient)
	if err != nil {
		b.Fatal(err)
	}
	server, err := newSession(flags, key, roleServer)
	if err != nil {
		b.Fatal(err)
	}
	cs := &connState{user: testUser, sess: server}
	ctx := context.WithValue(b.Context(), connKey{}, cs)
	h := Handler(newPolicy(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", soapContentType)
		_, _ = w.Write(benchmarkSOAP)
	}))
	b.ReportAllocs()
	for b.Loop() {
		sealed, sig, err := client.wrap(benchmarkSOAP)
		if err != nil {
			b.Fatal(err)
		}
		body := appendEncrypted(nil, soapContentType, len(benchmarkSOAP), sig, sealed)
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/wsman", bytes.NewReader(body))
		req.Header.Set("Content-Type", encryptedContentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
		// Keep the client's incoming state in step with the server's.
		parts, err := parseEncrypted(rec.Body.Bytes(), encryptedBoundary)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := client.unwrap(parts[0].sealed, parts[0].signature); err != nil {
			b.Fatal(err)
		}
	}
}
