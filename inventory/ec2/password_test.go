package ec2_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/fleetrun/fleetrun/inventory/ec2"
	"github.com/fleetrun/fleetrun/inventory/ec2/ec2test"
)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

// launchKey is a test-generated RSA key standing in for an EC2 key pair
// (generated once: 2048-bit generation is slow under the race detector).
func launchKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey = k
	})
	return testKey
}

// encryptPassword does what EC2 does with a new Windows password: RSA
// PKCS #1 v1.5 for the launch key pair, base64.
func encryptPassword(t testing.TB, key *rsa.PrivateKey, pw string) string {
	t.Helper()
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, &key.PublicKey, []byte(pw)) //nolint:staticcheck // EC2 encrypts Windows passwords with PKCS #1 v1.5; the test plays EC2
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(ct)
}

// writeKey writes key as EC2 hands it out (PKCS #1 PEM) with mode perm.
func writeKey(t testing.TB, key *rsa.PrivateKey, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fleet-key.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // umask may have narrowed it
		t.Fatal(err)
	}
	return path
}

func passwordFleet(t testing.TB, data string) []ec2test.Instance {
	return []ec2test.Instance{{
		ID: "i-0e000000000000001", Region: "eu-west-1", Platform: "windows", PrivateIP: "127.0.1.1",
		KeyName: "fleet-key", Tags: []ec2test.Tag{{Key: "Name", Value: "web-01"}}, PasswordData: data,
	}}
}

func TestGetPasswordDataPasswordIsDecryptedWithTheLaunchKey(t *testing.T) {
	t.Parallel()
	key := launchKey(t)
	const pw = "Pässw0rd-パス;&\"x"
	srv := startFake(t, passwordFleet(t, encryptPassword(t, key, pw)))
	spec := parseSpec(t, "ec2:\n  regions: [eu-west-1]\n  password_key_file: "+writeKey(t, key, 0o600)+"\n")
	d, err := ec2.Discover(context.Background(), spec, options(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	h := d.Hosts[0]
	if h.PasswordFunc == nil {
		t.Fatal("host has no PasswordFunc")
	}
	for range 2 { // the second call is served from the first
		got, err := h.Password(context.Background(), envOf(nil))
		if err != nil {
			t.Fatal(err)
		}
		if got != pw {
			t.Errorf("password %q, want %q", got, pw)
		}
	}
	calls := 0
	for _, r := range srv.Calls() {
		if r.Action == "GetPasswordData" {
			calls++
			if got := r.Form["InstanceId"]; len(got) != 1 || got[0] != "i-0e000000000000001" || r.Region != "eu-west-1" {
				t.Errorf("GetPasswordData for %v in %s, want i-0e000000000000001 in eu-west-1", got, r.Region)
			}
		}
	}
	if calls != 1 {
		t.Errorf("%d GetPasswordData calls, want 1 (the password is kept)", calls)
	}
	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), "ssw0rd") || strings.Contains(string(js), "password") {
		t.Errorf("host JSON mentions the password: %s", js)
	}
}

func TestGetPasswordDataFailures(t *testing.T) {
	t.Parallel()
	key := launchKey(t)
	other, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		data    string
		deny    bool
		keyFile func(t *testing.T) string
		// discoverErr is expected from Discover; passwordErr from the
		// host's PasswordFunc.
		discoverErr, passwordErr string
		is                       error
	}{
		{
			name:        "a password EC2 has not generated yet",
			data:        "",
			keyFile:     func(t *testing.T) string { return writeKey(t, key, 0o600) },
			passwordErr: "ec2: instance i-0e000000000000001 in eu-west-1: GetPasswordData: password not available yet (Windows sets it during the first boot, a few minutes after launch)",
			is:          ec2.ErrPasswordNotReady,
		},
		{
			name:        "a password encrypted for another key pair",
			data:        encryptPassword(t, &rsa.PrivateKey{PublicKey: other.PublicKey}, "secret"),
			keyFile:     func(t *testing.T) string { return writeKey(t, key, 0o600) },
			passwordErr: "ec2: instance i-0e000000000000001 in eu-west-1: decrypting the Windows password: crypto/rsa: decryption error (was the instance launched with the key pair of password_key_file?)",
		},
		{
			name:        "credentials without ec2:GetPasswordData",
			data:        encryptPassword(t, key, "secret"),
			deny:        true,
			keyFile:     func(t *testing.T) string { return writeKey(t, key, 0o600) },
			passwordErr: "the credentials need the IAM permission ec2:GetPasswordData",
			is:          ec2.ErrAccessDenied,
		},
		{
			name:        "a key file others may read",
			keyFile:     func(t *testing.T) string { return writeKey(t, key, 0o644) },
			discoverErr: "is readable by group or others (mode 0644); run chmod 600",
		},
		{
			name: "a file that is not a private key",
			keyFile: func(t *testing.T) string {
				p := filepath.Join(t.TempDir(), "not-a-key.pem")
				if err := os.WriteFile(p, []byte("hello\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			},
			discoverErr: "expected an RSA private key in PEM or OpenSSH format",
		},
		{
			name: "a key file far larger than any key",
			keyFile: func(t *testing.T) string {
				p := filepath.Join(t.TempDir(), "huge.pem")
				if err := os.WriteFile(p, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(p, 3<<30); err != nil { // sparse: no disk used
					t.Fatal(err)
				}
				return p
			},
			discoverErr: "huge.pem is 3221225472 bytes, larger than 16384; is it the right file?",
		},
		{
			name: "a named pipe nobody writes to",
			keyFile: func(t *testing.T) string {
				p := filepath.Join(t.TempDir(), "fifo.pem")
				if err := syscall.Mkfifo(p, 0o600); err != nil {
					t.Skipf("mkfifo: %v", err)
				}
				return p
			},
			discoverErr: "fifo.pem is not a regular file (a named pipe); give the path of a file",
		},
		{
			name: "a folder",
			keyFile: func(t *testing.T) string {
				p := filepath.Join(t.TempDir(), "keys")
				if err := os.Mkdir(p, 0o700); err != nil {
					t.Fatal(err)
				}
				return p
			},
			discoverErr: "keys is a folder, not a file",
		},
		{
			name:        "a missing key file",
			keyFile:     func(t *testing.T) string { return filepath.Join(t.TempDir(), "missing.pem") },
			discoverErr: "password_key_file: stat ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startFake(t, passwordFleet(t, tt.data))
			if tt.deny {
				srv.Deny("GetPasswordData", "")
			}
			spec := parseSpec(t, "ec2:\n  regions: [eu-west-1]\n  password_key_file: "+tt.keyFile(t)+"\n")
			d, err := ec2.Discover(context.Background(), spec, options(t, srv))
			if tt.discoverErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.discoverErr) {
					t.Fatalf("Discover error %v, want one containing %q", err, tt.discoverErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.Hosts[0].PasswordFunc(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.passwordErr) {
				t.Fatalf("password error %v, want one containing %q", err, tt.passwordErr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
}
