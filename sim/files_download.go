package sim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
)

// downloadPayload is the download script's payload.
type downloadPayload struct {
	V       int    `json:"v"`
	URL     string `json:"url"`
	Dest    string `json:"dest"`
	Tmp     string `json:"tmp"`
	SHA256  string `json:"sha256"`
	Retries int    `json:"retries"`
	Proxy   string `json:"proxy"`
}

// downloadTryTimeout bounds one try: .NET's HttpWebRequest.Timeout,
// which WebClient uses, defaults to 100,000 ms (Microsoft's documentation
// of HttpWebRequest.Timeout).
const downloadTryTimeout = 100 * time.Second

// maxDownloadRetries bounds a payload's retries.
const maxDownloadRetries = 100

// downloadScript: U when dest holds the bytes; else GET the URL into tmp
// (T <try> <message> per failed try, retries further tries), check the
// hash, rename onto dest, D <sha256> <size>.
func (h *Host) downloadScript(ctx context.Context, p *cmdexe.Proc, script string) uint32 {
	o := h.newFileOp(ctx, p, "download")
	var pl downloadPayload
	// A payload too long for the command line (a long URL) comes on stdin,
	// as the launcher's does (docs/design.md, "Files to and from hosts").
	var stdin io.Reader = inlineOnly{}
	if p.Stdin != nil {
		stdin = p.Stdin
	}
	if err := decodePayload("download script", script, stdin, &pl); err != nil {
		return o.fail(fileExitBadPayload, "bad payload: %v", err)
	}
	u, err := url.Parse(pl.URL)
	switch msg := checkTransferPayload(pl.V, pl.Dest, pl.Tmp, pl.SHA256); {
	case msg != "":
		return o.fail(fileExitBadPayload, "bad payload: %s", msg)
	case pl.Retries < 0 || pl.Retries > maxDownloadRetries:
		return o.fail(fileExitBadPayload, "bad payload: retries %d is not between 0 and %d", pl.Retries, maxDownloadRetries)
	case err != nil:
		return o.fail(fileExitBadPayload, "bad payload: url: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return o.fail(fileExitBadPayload, "bad payload: url %q: the scheme must be http or https", pl.URL)
	}
	if o.unchanged(pl.Dest, pl.SHA256, -1) {
		h.stats.add(&h.stats.filesUnchanged, 1)
		size, _, _ := h.fs.Stat(pl.Dest)
		o.line("U " + strconv.FormatInt(size, 10))
		return 0
	}
	client, err := h.downloadClient(u, pl.Proxy)
	if err != nil {
		return o.fail(fileExitBadPayload, "%v", err)
	}
	defer client.CloseIdleConnections()
	if err := o.prepare(pl.Dest, pl.Tmp); err != nil {
		return o.fail(fileExitBadPayload, "%v", err)
	}
	h.stats.add(&h.stats.downloads, 1)
	var last string
	for try := 1; try <= pl.Retries+1; try++ {
		ph, err := h.fs.createPlaceholder(pl.Tmp)
		if err != nil {
			return o.fail(fileExitBadPayload, "cannot write %s: %v", pl.Tmp, err)
		}
		w := newChunkWriter(h.fs.store)
		err = getURL(ctx, client, pl.URL, w)
		if err == nil {
			content := w.Finish()
			if content.sum != pl.SHA256 {
				// A mismatch is never retried: the server sends other
				// bytes than the step requires.
				h.fs.store.release(content.chunks)
				h.fs.removeIf(pl.Tmp, ph)
				return o.fail(fileExitMismatch, "hash mismatch: %s sent %d bytes with SHA-256 %s, expected %s; nothing was kept", pl.URL, content.size, content.sum, pl.SHA256)
			}
			return o.commit(pl.Tmp, pl.Dest, ph, content, fmt.Sprintf("D %s %d", content.sum, content.size))
		}
		w.Abort()
		h.fs.removeIf(pl.Tmp, ph)
		if ctx.Err() != nil {
			return exitStopped
		}
		last = webExceptionMessage(err)
		o.line("T %d %s", try, last)
	}
	return o.fail(fileExitTries, "%d tries failed; the last: %s", pl.Retries+1, last)
}

// errNotLoopback refuses a download that would leave the machine: the
// simulated fleet is a test double and its traffic stays on loopback.
var errNotLoopback = errors.New("the simulated fleet downloads from loopback addresses only (127.0.0.0/8, ::1, localhost)")

// isLoopbackHost reports whether a URL's host is a loopback address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// downloadClient is the HTTP client of one download: the fleet's trusted
// CA pool for HTTPS, the payload's proxy (an http:// proxy on loopback)
// or none (the simulated hosts have no system proxy), no connection kept
// after the download.
func (h *Host) downloadClient(u *url.URL, proxy string) (*http.Client, error) {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: h.trusted, MinVersion: tls.VersionTLS12},
		DisableKeepAlives: true,
		Proxy:             nil,
	}
	if proxy != "" {
		pu, err := url.Parse(proxy)
		if err != nil || pu.Scheme != "http" || pu.Host == "" {
			return nil, fmt.Errorf("bad payload: proxy %q: the simulated host takes an http://host:port proxy only", proxy)
		}
		if !isLoopbackHost(pu.Hostname()) {
			return nil, fmt.Errorf("refusing proxy %s: %w", pu.Host, errNotLoopback)
		}
		tr.Proxy = http.ProxyURL(pu)
	} else if !isLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("refusing %s: %w", u.Host, errNotLoopback)
	}
	if h.trusted == nil {
		// No pool configured: trust nothing rather than this machine's
		// own roots.
		tr.TLSClientConfig.RootCAs = x509.NewCertPool()
	}
	return &http.Client{Transport: tr, Timeout: downloadTryTimeout}, nil
}

// statusError is an HTTP answer other than 200.
type statusError struct{ code int }

func (e *statusError) Error() string { return fmt.Sprintf("HTTP status %d", e.code) }

// getURL streams one GET's body into w.
func getURL(ctx context.Context, client *http.Client, rawURL string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", rawURL, err)
	}
	defer resp.Body.Close() //nolint:errcheck // a read-only body
	if resp.StatusCode != http.StatusOK {
		return &statusError{resp.StatusCode}
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("read %s: %w", rawURL, err)
	}
	return nil
}

// netStatusText is .NET Framework's wording of HTTP statuses in
// WebException messages ("The remote server returned an error: (503)
// Server Unavailable."), which differs from the reason phrases in places.
var netStatusText = map[int]string{
	400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
	407: "Proxy Authentication Required", 500: "Internal Server Error",
	502: "Bad Gateway", 503: "Server Unavailable", 504: "Gateway Timeout",
}

// webExceptionMessage words a failed try as Windows PowerShell 5.1's
// WebClient (System.Net.WebException) words it.
func webExceptionMessage(err error) string {
	var se *statusError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var tv *tls.CertificateVerificationError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		text := netStatusText[se.code]
		if text == "" {
			text = http.StatusText(se.code)
		}
		return fmt.Sprintf("The remote server returned an error: (%d) %s.", se.code, text)
	case errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &ci), errors.As(err, &tv):
		return "The underlying connection was closed: Could not establish trust relationship for the SSL/TLS secure channel."
	case errors.Is(err, syscall.ECONNREFUSED):
		return "Unable to connect to the remote server"
	case errors.Is(err, syscall.ECONNRESET):
		return "Unable to read data from the transport connection: An existing connection was forcibly closed by the remote host."
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "The underlying connection was closed: The connection was closed unexpectedly."
	case errors.As(err, &ne) && ne.Timeout():
		return "The operation has timed out"
	}
	return "The underlying connection was closed: An unexpected error occurred on a receive. (" + err.Error() + ")"
}
