package sim

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/bodgit/ntlmssp"
	"github.com/google/go-cmp/cmp"
)

// syncBuffer is a log the fleet writes from its handlers while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rawPost sends one POST to a host's endpoint and reads the whole answer.
func rawPost(t *testing.T, c *http.Client, url, authorization string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", soapContentType)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }() // read fully below
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// TestFilteredTokenIsRefusedOnTheWire: a local administrator (not the
// built-in one) on a host with LocalAccountTokenFilterPolicy 0 logs on with
// the right password and is still turned away, as WinRM turns away the
// filtered token (KB 951016): NTLM completes its three legs and the
// AUTHENTICATE leg gets 401 Negotiate with no body; Basic gets 401 at once.
// The host counts an auth failure and logs why.
func TestFilteredTokenIsRefusedOnTheWire(t *testing.T) {
	t.Parallel()
	sc := mustScenario(t, `
defaults:
  account: local_admin
  local_account_token_filter_policy: 0
host_settings:
  sim-0002:
    https: true
`)
	log := &syncBuffer{}
	f := startFleet(t, FleetOptions{Hosts: 2, Scenario: sc, Log: log})
	plain, secure := f.Hosts()[0], f.Hosts()[1]

	// NTLM over HTTP, leg by leg on one connection.
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	nc, err := ntlmssp.NewClient(ntlmssp.SetUserInfo(f.User(), f.Password()), ntlmssp.SetVersion(ntlmssp.DefaultVersion()))
	if err != nil {
		t.Fatal(err)
	}
	negotiate, err := nc.Authenticate(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	status, header, _ := rawPost(t, c, plain.URL(), "Negotiate "+base64.StdEncoding.EncodeToString(negotiate), nil)
	challenge, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(header.Get("WWW-Authenticate"), "Negotiate "))
	if status != http.StatusUnauthorized || err != nil || len(challenge) == 0 {
		t.Fatalf("NEGOTIATE leg: status %d, WWW-Authenticate %q", status, header.Values("WWW-Authenticate"))
	}
	authenticate, err := nc.Authenticate(challenge, nil)
	if err != nil {
		t.Fatal(err)
	}
	status, header, body := rawPost(t, c, plain.URL(), "Negotiate "+base64.StdEncoding.EncodeToString(authenticate), nil)
	if status != http.StatusUnauthorized || len(body) != 0 {
		t.Errorf("AUTHENTICATE leg: status %d, body %q; want 401 and no body", status, body)
	}
	if diff := cmp.Diff([]string{"Negotiate"}, header.Values("WWW-Authenticate")); diff != "" {
		t.Errorf("AUTHENTICATE leg WWW-Authenticate (-want +got):\n%s", diff)
	}
	if got := header.Get("Server"); got != "Microsoft-HTTPAPI/2.0" {
		t.Errorf("Server %q", got)
	}

	// Basic over HTTPS: refused at once, offering what the host offers.
	ca, err := os.ReadFile(secure.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	str := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(str.CloseIdleConnections)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(f.User()+":"+f.Password()))
	status, header, body = rawPost(t, &http.Client{Transport: str}, secure.URL(), basic, []byte("<s:Envelope/>"))
	if status != http.StatusUnauthorized || len(body) != 0 {
		t.Errorf("basic: status %d, body %q; want 401 and no body", status, body)
	}
	if diff := cmp.Diff([]string{"Negotiate", `Basic realm="WSMAN"`}, header.Values("WWW-Authenticate")); diff != "" {
		t.Errorf("basic WWW-Authenticate (-want +got):\n%s", diff)
	}

	for _, h := range []*Host{plain, secure} {
		if n := h.Stats().AuthFailures; n != 1 {
			t.Errorf("%s: %d auth failures, want 1", h.Name(), n)
		}
		if n := h.Stats().ShellsOpened; n != 0 {
			t.Errorf("%s: %d shells opened", h.Name(), n)
		}
	}
	logText := log.String()
	for _, want := range []string{
		`simulated host sim-0001: authentication refused: ntlm logon of "fleetrun" succeeded but access is denied: token filtered by UAC remote restrictions (LocalAccountTokenFilterPolicy=0)`,
		`simulated host sim-0002: authentication refused: basic logon of "fleetrun" succeeded but access is denied: token filtered by UAC remote restrictions (LocalAccountTokenFilterPolicy=0)`,
	} {
		if !strings.Contains(logText, want) {
			t.Errorf("log lacks %q:\n%s", want, logText)
		}
	}
	if strings.Contains(logText, f.Password()) {
		t.Error("the log holds the password")
	}
}
