package winrm

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/transport"
)

func TestLookupEncodingKnowsWindowsCodePages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"", []byte("caf\xc3\xa9"), "café"},
		{"utf-8", []byte("bad \xff byte"), "bad \uFFFD byte"},
		{"cp932", []byte{0x93, 0xfa, 0x96, 0x7b}, "日本"},
		{"shift_jis", []byte{0x93, 0xfa, 0x96, 0x7b}, "日本"},
		{"Windows-31J", []byte{0x87, 0x40}, "①"},
		{"cp1252", []byte{0x80, 0xe9}, "€é"},
		{"windows-1252", []byte{0x80}, "€"},
		{"cp437", []byte{0xb3}, "│"},
		{"cp936", []byte{0xd6, 0xd0}, "中"},
		{"iso-8859-1", []byte{0xe9}, "é"},
	}
	for _, tc := range tests {
		enc, err := LookupEncoding(tc.name)
		if err != nil {
			t.Errorf("LookupEncoding(%q): %v", tc.name, err)
			continue
		}
		if got := decodeOutput(enc, tc.in); got != tc.want {
			t.Errorf("%q: decoded % x as %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"klingon", "cp99999"} {
		if _, err := LookupEncoding(bad); err == nil {
			t.Errorf("LookupEncoding(%q) succeeded", bad)
		}
	}
}

func TestCaptureKeepsTheHeadAndTheTailAndSaysSo(t *testing.T) {
	t.Parallel()
	cases := []struct {
		max    int
		writes []string
		want   string
		trunc  bool
	}{
		{8, []string{"ab", "cd"}, "abcd", false},
		{8, []string{"abcdefgh"}, "abcdefgh", false},
		{8, []string{"ab", "cdefgh", "ij"}, "ab\r\n[... fleetrun kept the first and last bytes of this output; 2 bytes in between are in --log-dir ...]\r\nefghij", true},
		{8, []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r"}, "ab\r\n[... fleetrun kept the first and last bytes of this output; 10 bytes in between are in --log-dir ...]\r\nmnopqr", true},
		{8, []string{strings.Repeat("x", 100) + "END"}, "xx\r\n[... fleetrun kept the first and last bytes of this output; 95 bytes in between are in --log-dir ...]\r\nxxxEND", true},
		// The tail wraps around: writes that straddle its end.
		{8, []string{"ab", "cdefgh", "ijk", "l"}, "ab\r\n[... fleetrun kept the first and last bytes of this output; 4 bytes in between are in --log-dir ...]\r\nghijkl", true},
		{8, []string{"abcdefg", "hijk", "lmnopqrst", "uv"}, "ab\r\n[... fleetrun kept the first and last bytes of this output; 14 bytes in between are in --log-dir ...]\r\nqrstuv", true},
		{8, []string{"abcdefgh", "i", "jklmnopq", "r"}, "ab\r\n[... fleetrun kept the first and last bytes of this output; 10 bytes in between are in --log-dir ...]\r\nmnopqr", true},
		{1, []string{"abc"}, "\r\n[... fleetrun kept the first and last bytes of this output; 2 bytes in between are in --log-dir ...]\r\nc", true},
	}
	for _, tc := range cases {
		c := &capture{max: tc.max}
		for _, s := range tc.writes {
			if n, err := c.Write([]byte(s)); n != len(s) || err != nil {
				t.Fatalf("Write(%q) = %d, %v", s, n, err)
			}
		}
		if got := string(c.bytes()); got != tc.want || c.truncated != tc.trunc {
			t.Errorf("%q: capture = %q truncated %v, want %q %v", tc.writes, got, c.truncated, tc.want, tc.trunc)
		}
	}
}

// However much is written, a capture holds no more than its cap.
func TestCaptureNeverHoldsMoreThanItsCap(t *testing.T) {
	t.Parallel()
	const capMax = 64 << 10
	c := &capture{max: capMax}
	chunk := bytes.Repeat([]byte("0123456789"), 1000)
	total := 0
	for i := range 200 {
		w := chunk[:1+i*37%len(chunk)]
		total += len(w)
		if _, err := c.Write(w); err != nil {
			t.Fatal(err)
		}
		if held := cap(c.head) + cap(c.tail); held > capMax {
			t.Fatalf("after %d bytes the capture holds %d bytes, more than its cap %d", total, held, capMax)
		}
	}
	if got := int64(len(c.head)+len(c.tail)) + c.dropped; got != int64(total) {
		t.Errorf("kept %d + dropped %d = %d bytes, want the %d written", len(c.head)+len(c.tail), c.dropped, got, total)
	}
}

func TestOutputIsCappedButStreamedWhole(t *testing.T) {
	t.Parallel()
	f, h := fleetFor(t, ntlmHTTP, nil)
	s := open(t, targetFor(f, h, ntlmHTTP), Options{OutputCap: 8})
	var full bytes.Buffer
	res := run(t, s, transport.Command{Kind: transport.KindCmd, Line: "echo 0123456789abcdef", Stdout: &full})
	if want := "01\r\n[... fleetrun kept the first and last bytes of this output; 12 bytes in between are in --log-dir ...]\r\n\r\n"; !strings.HasPrefix(res.Stdout, "01\r\n[... fleetrun kept") || !strings.HasSuffix(res.Stdout, "ef\r\n") || !res.StdoutTruncated || res.StderrTruncated {
		t.Errorf("result = %+v, want head, marker, tail (like %q) and StdoutTruncated", res, want)
	}
	if full.String() != "0123456789abcdef\r\n" {
		t.Errorf("the writer got %q, want everything", full.String())
	}
}

func TestCancellationInterruptsAndCleansUp(t *testing.T) {
	t.Parallel()
	f, h := fleetFor(t, ntlmHTTP, nil)
	s := open(t, targetFor(f, h, ntlmHTTP), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := writerFunc(func(p []byte) (int, error) {
		cancel()
		return len(p), nil
	})
	_, err := s.Run(ctx, transport.Command{Kind: transport.KindCmd, Line: `echo started& C:\tools\sleep.exe 600`, Stdout: stop})
	var te *transport.Error
	if !errors.As(err, &te) || te.Class != transport.ClassInterrupted {
		t.Fatalf("Run error = %v, want class interrupted", err)
	}
	if st := h.Stats(); st.Signals != 1 || st.Deletes != 1 || st.OpenShells != 0 {
		t.Errorf("host saw %d Signals, %d Deletes, %d shells still open; want 1, 1, 0", st.Signals, st.Deletes, st.OpenShells)
	}
	// A cancelled context before the start is reported without a request.
	before := s.Requests()
	if _, err := s.Run(ctx, argv(`C:\tools\exitcode.exe`, "0")); !errors.As(err, &te) || te.Class != transport.ClassInterrupted {
		t.Errorf("Run with a cancelled context: %v", err)
	}
	if s.Requests() != before {
		t.Errorf("Run with a cancelled context sent %d requests", s.Requests()-before)
	}
}

func TestCloseSignalsDeletesAndIsIdempotent(t *testing.T) {
	t.Parallel()
	f, h := fleetFor(t, basicHTTPS, nil)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s, err := Open(ctx, targetFor(f, h, basicHTTPS), Options{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, s, argv(`C:\tools\exitcode.exe`, "0"))
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if st := h.Stats(); st.Signals != 1 || st.Deletes != 1 || st.OpenShells != 0 {
		t.Errorf("after Close the host saw %d Signals, %d Deletes, %d open shells", st.Signals, st.Deletes, st.OpenShells)
	}
	if _, err := s.Run(ctx, argv(`C:\tools\exitcode.exe`, "0")); err == nil {
		t.Errorf("Run after Close succeeded")
	}
	// Close after the caller's context ended still cleans up.
	s2, err := Open(ctx, targetFor(f, h, basicHTTPS), Options{})
	if err != nil {
		t.Fatal(err)
	}
	done, stop := context.WithCancel(ctx)
	stop()
	if err := s2.Close(done); err != nil {
		t.Errorf("Close with an ended context: %v", err)
	}
	if st := h.Stats(); st.OpenShells != 0 {
		t.Errorf("%d shells left open", st.OpenShells)
	}
}

func TestAShellGoneBetweenStepsIsReplacedTransparently(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f, h := fleetFor(t, m, nil)
			target := targetFor(f, h, m)
			s := open(t, target, Options{})
			other := open(t, target, Options{})
			run(t, s, argv(`C:\tools\exitcode.exe`, "0"))
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			if _, err := other.ep.post(ctx, "Delete shell", deleteShellMessage(other.ep.url, other.opXS(), s.shellID), time.Minute); err != nil {
				t.Fatal(err)
			}
			if res := run(t, s, argv(`C:\tools\exitcode.exe`, "6")); res.ExitCode != 6 {
				t.Errorf("exit code = %d, want 6", res.ExitCode)
			}
		})
	}
}

func TestANewConnectionIsAuthenticatedAgain(t *testing.T) {
	t.Parallel()
	f, h := fleetFor(t, ntlmHTTP, nil)
	s := open(t, targetFor(f, h, ntlmHTTP), Options{})
	run(t, s, argv(`C:\tools\exitcode.exe`, "0"))
	// The NTLM context lives on the connection; drop it.
	s.ep.conn.close()
	if res := run(t, s, argv(`C:\tools\exitcode.exe`, "2")); res.ExitCode != 2 {
		t.Errorf("exit code = %d, want 2", res.ExitCode)
	}
	if st := h.Stats(); st.Connections != 2 {
		t.Errorf("connections = %d, want 2 (one per authentication)", st.Connections)
	}
}

func TestStepsShareOneKeepAliveConnection(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f, h := fleetFor(t, m, nil)
			s := open(t, targetFor(f, h, m), Options{})
			for range 5 {
				run(t, s, argv(`C:\tools\exitcode.exe`, "0"))
			}
			if st := h.Stats(); st.Connections != 1 {
				t.Errorf("connections = %d for 5 steps, want 1", st.Connections)
			}
			// Create, then Command and Receive per step.
			if got := s.Requests(); got != 1+2*5 {
				t.Errorf("requests = %d, want %d", got, 1+2*5)
			}
		})
	}
}

// TestCertificateAuthenticationPresentsTheClientCertificate runs against a
// TLS server that requires a client certificate (the simulator does not
// implement certificate authentication) and checks the WS-Man
// Authorization header WinRM expects.
func TestCertificateAuthenticationPresentsTheClientCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, caKey := newCert(t, nil, nil, "fleetrun test CA", true)
	serverCert, serverKey := newCert(t, ca, caKey, "127.0.0.1", false)
	clientCert, clientKey := newCert(t, ca, caKey, "deploy", false)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", ca.Raw)
	writePEM(t, filepath.Join(dir, "client.pem"), "CERTIFICATE", clientCert.Raw)
	writeKey(t, filepath.Join(dir, "client.key"), clientKey)

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	seen := make(chan string, 10)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		who := ""
		if len(r.TLS.PeerCertificates) > 0 {
			who = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		seen <- who + " " + r.Header.Get("Authorization")
		w.Header().Set("Content-Type", soapContentType)
		_, _ = io.WriteString(w, `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Body><x:ResourceCreated xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer"><w:SelectorSet><w:Selector Name="ShellId">ABC-1</w:Selector></w:SelectorSet></x:ResourceCreated></s:Body></s:Envelope>`)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
		Certificates: []tls.Certificate{{Certificate: [][]byte{serverCert.Raw}, PrivateKey: serverKey}}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	target := transport.Target{Name: "cert-host", Address: host, Port: atoi(port), HTTPS: true, Auth: "certificate",
		CAFile: filepath.Join(dir, "ca.pem"), ClientCert: filepath.Join(dir, "client.pem"), ClientKey: filepath.Join(dir, "client.key")}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	s, err := Open(ctx, target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got != "deploy http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual" {
		t.Errorf("server saw %q", got)
	}
	if s.shellID != "ABC-1" {
		t.Errorf("shell ID %q", s.shellID)
	}
	s.ep.conn.close()
	s.closed = true // the fake server does not speak the rest of WS-Man

	// Without the client certificate the handshake fails, classified.
	noCert := target
	noCert.Auth = "basic"
	if _, err := Open(ctx, noCert, Options{}); err == nil || transport.Classify(err).Class != transport.ClassTLS {
		t.Errorf("without a client certificate: %v, want a tls error", err)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func newCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, name string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:        isCA, BasicConstraintsValid: true,
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeKey(t *testing.T, path string, key *ecdsa.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, path, "EC PRIVATE KEY", der)
}

func TestDialerImplementsTheTransportContract(t *testing.T) {
	t.Parallel()
	f, h := fleetFor(t, ntlmHTTP, nil)
	var d transport.Dialer = NewDialer(Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	sess, err := d.Dial(ctx, targetFor(f, h, ntlmHTTP))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := sess.Close(ctx); err != nil {
			t.Error(err)
		}
	}()
	if _, ok := sess.(transport.ExitClassifier); !ok {
		t.Errorf("the session is no ExitClassifier")
	}
	res, err := sess.Run(ctx, transport.Command{Kind: transport.KindPowerShell, Script: "Write-Output 'ok'"})
	if err != nil || strings.TrimSpace(res.Stdout) != "ok" {
		t.Errorf("Run = %+v, %v", res, err)
	}
}

func TestNTLMOverHTTPSSendsPlainMessagesOnTheAuthenticatedConnection(t *testing.T) {
	t.Parallel()
	m := mode{"ntlm over https", true, "ntlm"}
	f, h := fleetFor(t, m, nil)
	s := open(t, targetFor(f, h, m), Options{})
	if s.Encrypted() {
		t.Errorf("NTLM over HTTPS seals messages; TLS already protects them")
	}
	for _, code := range []string{"0", "3010"} {
		if res := run(t, s, argv(`C:\tools\exitcode.exe`, code)); res.ExitCode != uint32(atoi(code)) {
			t.Errorf("exit code = %d, want %s", res.ExitCode, code)
		}
	}
	if st := h.Stats(); st.Connections != 1 {
		t.Errorf("connections = %d, want 1", st.Connections)
	}
}
