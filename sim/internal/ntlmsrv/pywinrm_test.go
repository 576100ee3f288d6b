package ntlmsrv

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/internal/testneeds"
)

// pythonEnv is the whole environment of the Python runs: nothing from the
// test's own environment (no proxies), and OpenSSL's legacy provider, where
// MD4 lives, for ntlm_auth.
func pythonEnv(t *testing.T) []string {
	t.Helper()
	cnf, err := filepath.Abs(filepath.Join("testdata", "openssl-legacy.cnf"))
	if err != nil {
		t.Fatal(err)
	}
	return []string{"OPENSSL_CONF=" + cnf, "PYTHONDONTWRITEBYTECODE=1", "LC_ALL=C.UTF-8"}
}

// requirePywinrm skips the test unless Debian's python3-winrm imports and
// its NTLM can compute MD4 (or fails it where FLEETRUN_REQUIRE_PYWINRM=1).
func requirePywinrm(t *testing.T) {
	t.Helper()
	testneeds.Pywinrm(t, pythonEnv(t), "python3-winrm", "import winrm, requests_ntlm, hashlib; hashlib.new('md4')")
}

type pywinrmRequest struct {
	Endpoint   string   `json:"endpoint"`
	User       string   `json:"user"`
	Password   string   `json:"password"`
	Auth       string   `json:"auth"`
	Encryption string   `json:"encryption"`
	Messages   []string `json:"messages"`
}

type pywinrmResult struct {
	Body  string `json:"body,omitempty"`
	Error string `json:"error,omitempty"`
}

type pywinrmReport struct {
	Encrypted bool            `json:"encrypted"`
	Results   []pywinrmResult `json:"results"`
}

func runPywinrm(t *testing.T, req pywinrmRequest) pywinrmReport {
	t.Helper()
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testneeds.DebianPython, filepath.Join("testdata", "pywinrm_client.py"))
	cmd.Env = pythonEnv(t)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pywinrm client: %v\nstderr:\n%s", err, stderr.String())
	}
	var rep pywinrmReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("pywinrm client output %q: %v\nstderr:\n%s", stdout.String(), err, stderr.String())
	}
	return rep
}

// TestPywinrm runs Debian's pywinrm, unchanged, against the handler: NTLM
// with message encryption ('always', and 'auto' over http), several
// messages on one connection with a fault in the middle, plain NTLM and
// Basic where the policy allows them, and the refusals where it does not.
func TestPywinrm(t *testing.T) {
	t.Parallel()
	requirePywinrm(t)
	messages := []string{
		`<s:Envelope>first</s:Envelope>`,
		`<s:Envelope>a fault in the middle</s:Envelope>`,
		`<s:Envelope>third: こんにちは</s:Envelope>`,
	}
	ok := func(user string) []pywinrmResult {
		return []pywinrmResult{
			{Body: echoed(user, messages[0])},
			{Error: "WinRMTransportError 500: " + echoed(user, messages[1])},
			{Body: echoed(user, messages[2])},
		}
	}
	refused := []pywinrmResult{
		{Error: "InvalidCredentialsError: the specified credentials were rejected by the server"},
		{Error: "InvalidCredentialsError: the specified credentials were rejected by the server"},
		{Error: "InvalidCredentialsError: the specified credentials were rejected by the server"},
	}
	tests := []struct {
		name           string
		tls            bool
		modify         func(*Policy)
		auth           string
		encryption     string
		user           string
		password       string
		want           pywinrmReport
		wantFailures   bool
		wantOneConnect bool
	}{
		{
			name: "ntlm with encryption always over http", auth: "ntlm", encryption: "always",
			want: pywinrmReport{Encrypted: true, Results: ok(testUser)}, wantOneConnect: true,
		},
		{
			name: "ntlm with encryption auto over http", auth: "ntlm", encryption: "auto",
			want: pywinrmReport{Encrypted: true, Results: ok(testUser)}, wantOneConnect: true,
		},
		{
			name: "ntlm with a domain-qualified user", auth: "ntlm", encryption: "always", user: `win-test01\administrator`,
			want: pywinrmReport{Encrypted: true, Results: ok("administrator")}, wantOneConnect: true,
		},
		{
			name: "ntlm with encryption auto over https sends plaintext", tls: true, auth: "ntlm", encryption: "auto",
			want: pywinrmReport{Encrypted: false, Results: ok(testUser)}, wantOneConnect: true,
		},
		{
			name: "ntlm without encryption over http with unencrypted traffic allowed", modify: allowUnencrypted, auth: "ntlm", encryption: "never",
			want: pywinrmReport{Encrypted: false, Results: ok(testUser)}, wantOneConnect: true,
		},
		{
			name: "ntlm without encryption over http is refused", auth: "ntlm", encryption: "never",
			want: pywinrmReport{Encrypted: false, Results: refused}, wantFailures: true,
		},
		{
			name: "ntlm with a wrong password", auth: "ntlm", encryption: "always", password: wrongPassword,
			want: pywinrmReport{Encrypted: false, Results: refused}, wantFailures: true,
		},
		{
			name: "basic over http with unencrypted traffic allowed", modify: allowUnencrypted, auth: "basic", encryption: "auto",
			want: pywinrmReport{Encrypted: false, Results: ok(testUser)},
		},
		{
			name: "basic over http is refused", auth: "basic", encryption: "auto",
			want: pywinrmReport{Encrypted: false, Results: refused}, wantFailures: true,
		},
		{
			name: "basic over https", tls: true, auth: "basic", encryption: "auto",
			want: pywinrmReport{Encrypted: false, Results: ok(testUser)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPolicy()
			if tt.modify != nil {
				tt.modify(&p)
			}
			h := startHost(t, p, tt.tls)
			password := orDefault(tt.password, testPassword)
			got := runPywinrm(t, pywinrmRequest{
				Endpoint:   h.wsmanURL(),
				User:       orDefault(tt.user, testUser),
				Password:   password,
				Auth:       tt.auth,
				Encryption: tt.encryption,
				Messages:   messages,
			})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("pywinrm report mismatch (-want +got):\n%s", diff)
			}
			if tt.wantOneConnect {
				if n := h.conns.Load(); n != 1 {
					t.Errorf("server saw %d connections, want 1", n)
				}
			}
			failures := h.authFailures()
			if tt.wantFailures != (len(failures) > 0) {
				t.Errorf("auth failures %q, want some: %v", failures, tt.wantFailures)
			}
			for _, f := range failures {
				if bytes.Contains([]byte(f), []byte(password)) {
					t.Errorf("failure reason %q contains the password", f)
				}
			}
		})
	}
}
