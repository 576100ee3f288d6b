package krbsrv

import (
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"
)

// FuzzParseEncrypted: any body is parsed or refused, never a panic, and
// every part it returns lies within the body.
func FuzzParseEncrypted(f *testing.F) {
	f.Add(appendEncrypted(nil, protocolKerberos, soapContentType, 3, make([]byte, 60), []byte("abc")))
	f.Add([]byte("--Encrypted Boundary--\r\n"))
	f.Add([]byte("--Encrypted Boundary\r\n\tContent-Type: application/HTTP-Kerberos-session-encrypted\r\n\tOriginalContent: type=x;Length=99999999\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, body []byte) {
		parts, err := parseEncrypted(body, protocolKerberos, boundary)
		if err != nil {
			return
		}
		for _, p := range parts {
			if len(p.header)+len(p.data) > len(body) {
				t.Fatalf("part of %d+%d bytes from a %d-byte body", len(p.header), len(p.data), len(body))
			}
		}
	})
}

// FuzzUnwrap: any token is opened or refused, never a panic.
func FuzzUnwrap(f *testing.F) {
	et, err := crypto.GetEtype(etypeID.AES256_CTS_HMAC_SHA1_96)
	if err != nil {
		f.Fatal(err)
	}
	key, err := types.GenerateEncryptionKey(et)
	if err != nil {
		f.Fatal(err)
	}
	acceptor := &secContext{key: key, acceptorSubkey: true}
	h, d, err := acceptor.wrap([]byte("<s:Envelope/>"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(h, d)
	f.Add([]byte{0x05, 0x04, 0x06, 0xff, 0, 0, 0, 28, 0, 0, 0, 0, 0, 0, 0, 0}, []byte{})
	f.Fuzz(func(t *testing.T, header, data []byte) {
		c := &secContext{key: key, acceptorSubkey: true}
		_, _ = c.unwrap(header, data)
	})
}
