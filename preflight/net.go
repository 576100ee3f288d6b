package preflight

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fleetrun/fleetrun/transport"
)

// reach resolves the host's name and connects to the WinRM port, timing
// both. It returns the connected conn (the caller closes it) or a
// classified failure with a hint.
func reach(ctx context.Context, address string, port int, timeout time.Duration) (net.Conn, string, *transport.Error) {
	start := time.Now()
	host := address
	if net.ParseIP(host) == nil {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		addrs, err := net.DefaultResolver.LookupHost(rctx, host)
		cancel()
		if err != nil {
			var dnsErr *net.DNSError
			if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
				return nil, "", &transport.Error{Class: transport.ClassDNS, Message: fmt.Sprintf("name %q does not resolve (no such host)", host), Hint: "check the inventory address or the DNS records", Err: err}
			}
			return nil, "", &transport.Error{Class: transport.ClassDNS, Message: fmt.Sprintf("resolving %q: %v", host, err), Hint: "check the controller's DNS resolver", Err: err}
		}
		host = addrs[0]
	}
	d := net.Dialer{Timeout: timeout}
	hostPort := net.JoinHostPort(host, strconv.Itoa(port))
	conn, err := d.DialContext(ctx, "tcp", hostPort)
	var ne net.Error
	switch {
	case err == nil:
		return conn, fmt.Sprintf("connected to %s in %s", hostPort, time.Since(start).Round(time.Millisecond)), nil
	case errors.Is(err, syscall.ECONNREFUSED):
		return nil, "", &transport.Error{Class: transport.ClassRefused, Message: fmt.Sprintf("connection to %s refused", hostPort), Hint: "WinRM is not listening on this port (winrm quickconfig; winrm enumerate winrm/config/listener) or a firewall rejects it", Err: err}
	case errors.As(err, &ne) && ne.Timeout():
		return nil, "", &transport.Error{Class: transport.ClassConnectTimeout, Message: fmt.Sprintf("no answer from %s within %s", hostPort, timeout), Hint: "a firewall or security group drops the traffic, or the host is down", Err: err}
	}
	return nil, "", &transport.Error{Class: transport.ClassRefused, Message: fmt.Sprintf("connecting to %s: %v", hostPort, err), Err: err}
}

// checkTLS performs the TLS handshake on conn and explains, in words, what is
// wrong with the certificate when verification fails.
func checkTLS(ctx context.Context, conn net.Conn, serverName, caFile string, insecure bool) (string, error) {
	roots, err := loadRoots(caFile)
	if err != nil {
		return "", err
	}
	cfg := &tls.Config{ServerName: serverName, RootCAs: roots, InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12} //nolint:gosec // only when the inventory sets insecure_skip_verify
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return "", explainTLS(serverName, roots, err)
	}
	st := tc.ConnectionState()
	leaf := st.PeerCertificates[0]
	msg := fmt.Sprintf("%s, certificate for %s valid until %s", tls.VersionName(st.Version), certNames(leaf), leaf.NotAfter.Format("2006-01-02"))
	if insecure {
		msg += " (verification turned off by insecure_skip_verify)"
	}
	return msg, nil
}

func loadRoots(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, nil // the system pool
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("reading ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s holds no PEM certificate", caFile)
	}
	return pool, nil
}

// explainTLS turns a handshake failure into a sentence about the
// certificate.
func explainTLS(serverName string, roots *x509.CertPool, hsErr error) error {
	var hostErr x509.HostnameError
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(hsErr, &hostErr):
		return fmt.Errorf("the certificate is for %s, not %s: connect by a name the certificate lists, or reissue it with this name", certNames(hostErr.Certificate), serverName)
	case errors.As(hsErr, &unknown):
		who := ""
		if unknown.Cert != nil {
			who = fmt.Sprintf(" (issued by %q)", unknown.Cert.Issuer.CommonName)
		}
		hint := "set ca_file to the CA that issued it"
		if roots != nil {
			hint = "the configured ca_file does not contain its issuer"
		}
		return fmt.Errorf("the certificate does not chain to a trusted CA%s: %s", who, hint)
	case errors.As(hsErr, &invalid):
		switch invalid.Reason {
		case x509.Expired:
			c := invalid.Cert
			if c != nil && time.Now().After(c.NotAfter) {
				return fmt.Errorf("the certificate expired on %s: renew the WinRM HTTPS listener's certificate", c.NotAfter.Format("2006-01-02"))
			}
			if c != nil {
				return fmt.Errorf("the certificate is not valid before %s: check the host's clock or the certificate", c.NotBefore.Format("2006-01-02"))
			}
		}
		return fmt.Errorf("the certificate is invalid: %w", invalid)
	}
	var recordErr tls.RecordHeaderError
	if errors.As(hsErr, &recordErr) {
		return fmt.Errorf("the port does not speak TLS (is this the HTTP listener? use https: false or port 5986): %w", hsErr)
	}
	return fmt.Errorf("TLS handshake failed: %w", hsErr)
}

func certNames(c *x509.Certificate) string {
	if c == nil {
		return "an unknown name"
	}
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	if len(names) == 0 {
		return "no name"
	}
	return strings.Join(names, ", ")
}

// offeredAuth sends an unauthenticated request to /wsman and returns the
// mechanisms the 401 offers (Negotiate, Kerberos, Basic, CredSSP, ...).
func offeredAuth(ctx context.Context, client *http.Client, endpoint string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(""))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // drain so the connection can be reused; the body carries nothing we need
	_ = resp.Body.Close()                                         // read-only; nothing to report
	if resp.StatusCode != http.StatusUnauthorized {
		return nil, fmt.Errorf("expected 401 with WWW-Authenticate from an unauthenticated request, got %s", resp.Status)
	}
	var mechs []string
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		name, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		if name != "" {
			mechs = append(mechs, name)
		}
	}
	return mechs, nil
}
