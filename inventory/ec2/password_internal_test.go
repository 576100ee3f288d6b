package ec2

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"
)

// FuzzParseKey checks that no key file content makes parseKey panic, and
// that whatever it accepts is a usable RSA key.
func FuzzParseKey(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	f.Add([]byte("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"))
	f.Add([]byte("not a key"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := parseKey("key.pem", data)
		if err != nil {
			return
		}
		if err := k.Validate(); err != nil {
			t.Errorf("accepted an invalid key: %v", err)
		}
	})
}

// FuzzDecryptPassword checks that no GetPasswordData answer makes the
// decryption panic.
func FuzzDecryptPassword(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("")
	f.Add("aGVsbG8=")
	f.Add("not base64!")
	f.Add("\n  aGVs\nbG8=\n")
	f.Fuzz(func(t *testing.T, data string) {
		_, _ = decryptPassword(key, data) // only a panic is a failure
	})
}

func TestSanitizeMakesNamesSelectorsCanUse(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"web-01":           "web-01",
		"file server 01":   "file-server-01",
		"a,b=c!d@e\"f":     "a-b-c-d-e-f",
		"two  spaces\tx":   "two-spaces-x",
		"全角\u3000スペース":     "全角-スペース",
		"ctl\x01\x7fchars": "ctl-chars",
	}
	for in, want := range tests {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}
