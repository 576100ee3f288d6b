package winrm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"
	"golang.org/x/text/encoding"

	"github.com/fleetrun/fleetrun/transport"
)

// Options tune a Dialer. The zero value is usable.
type Options struct {
	// OutputCap is how many bytes of each stream a Result keeps (the
	// Command's writers still get everything). Zero means
	// DefaultOutputCap.
	OutputCap int
	// OperationTimeout is the WS-Man OperationTimeout of every request but
	// Receive: how long the host may take to answer. Zero means 60
	// seconds, Windows' default MaxTimeoutms, which it must not exceed.
	OperationTimeout time.Duration
	// ReceiveTimeout is the OperationTimeout of each Receive: how long the
	// host holds a Receive open when the command prints nothing. Zero means
	// 20 seconds; Windows refuses more than its MaxTimeoutms (60 s).
	ReceiveTimeout time.Duration
	// RequestGrace is how much longer than its OperationTimeout the client
	// waits for an answer before giving the request up. Zero means 30
	// seconds.
	RequestGrace time.Duration
	// CleanupTimeout bounds the Signal and Delete sent after a step timed
	// out or was interrupted (they run after the step's context ended).
	// Zero means 10 seconds.
	CleanupTimeout time.Duration
	// ConnectTimeout is used when the Target sets none. Zero means 30
	// seconds.
	ConnectTimeout time.Duration
	// Krb5Config is the path of krb5.conf for Kerberos when the Target's
	// Vars do not name one ("krb5_conf"). Empty means /etc/krb5.conf.
	Krb5Config string
	// Kerberos holds the run's Kerberos logons and service tickets, shared
	// by every session given it (one TGT per run, one service ticket per
	// host), and the ticket cache to use. Nil means each session logs on
	// by itself, with the host's password or keytab.
	Kerberos *KerberosCredentials
	// MaxCommandLine is passed to launcher.Render. Zero means
	// launcher.DefaultMaxCommandLine.
	MaxCommandLine int
	// TaskPoll is how often, while a step runs as a task (run_as: system),
	// the task script on the host looks for its new output; TaskWindow how
	// long one call of the script follows the task before another call
	// takes over. Zero means 500 ms and 30 s.
	TaskPoll   time.Duration
	TaskWindow time.Duration
	// TaskRetry is the first pause before following a task again after the
	// host stopped answering; the pause doubles up to TaskRetryMax. Zero
	// means 1 s and 30 s.
	TaskRetry    time.Duration
	TaskRetryMax time.Duration
}

func (o Options) withDefaults() Options {
	if o.OutputCap <= 0 {
		o.OutputCap = DefaultOutputCap
	}
	if o.OperationTimeout <= 0 {
		o.OperationTimeout = time.Minute
	}
	if o.ReceiveTimeout <= 0 {
		o.ReceiveTimeout = 20 * time.Second
	}
	if o.RequestGrace <= 0 {
		o.RequestGrace = 30 * time.Second
	}
	if o.CleanupTimeout <= 0 {
		o.CleanupTimeout = 10 * time.Second
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 30 * time.Second
	}
	if o.Krb5Config == "" {
		o.Krb5Config = "/etc/krb5.conf"
	}
	if o.TaskPoll <= 0 {
		o.TaskPoll = defaultTaskPoll
	}
	if o.TaskWindow <= 0 {
		o.TaskWindow = defaultTaskWindow
	}
	if o.TaskRetry <= 0 {
		o.TaskRetry = defaultTaskRetry
	}
	if o.TaskRetryMax <= 0 {
		o.TaskRetryMax = defaultTaskRetryMax
	}
	return o
}

// Dialer opens WinRM sessions; it implements transport.Dialer.
type Dialer struct {
	Options Options
}

// NewDialer returns a Dialer with the given options.
func NewDialer(opts Options) *Dialer { return &Dialer{Options: opts} }

// Dial implements transport.Dialer: it connects, authenticates and opens
// the session's shell, so an unreachable host or refused credentials fail
// here, classified.
func (d *Dialer) Dial(ctx context.Context, t transport.Target) (transport.Session, error) {
	s, err := Open(ctx, t, d.Options)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Session is a WinRM session with one host: one keep-alive HTTP transport,
// one authentication context and one WinRS shell, reused by every step
// and re-created when the host drops it. It implements transport.Session
// and transport.ExitClassifier. Its methods may be called from several
// goroutines; they run one at a time.
type Session struct {
	mu     sync.Mutex
	ep     *endpoint
	opts   Options
	name   string
	enc    encoding.Encoding
	closed bool

	shellID     string
	lastCommand string // the last command started in shellID, not yet signalled

	cfgRead bool
	cfg     Config
	cfgErr  error
	// memCapMB is the host's MaxMemoryPerShellMB once the configuration
	// was read (0 before, or when it could not be), for ClassifyExit: a
	// step run's observer calls it while RunSteps holds s.mu.
	memCapMB atomic.Int64
}

var (
	_ transport.Session        = (*Session)(nil)
	_ transport.ExitClassifier = (*Session)(nil)
	_ transport.Dialer         = (*Dialer)(nil)
)

// Open connects to t, authenticates and opens a shell. Every network wait
// is bounded by ctx. Configuration errors (an unknown auth mechanism or
// output encoding, Basic over plain HTTP without AllowUnencrypted, an
// unreadable CA or client certificate) fail before any connection is made.
func Open(ctx context.Context, t transport.Target, opts Options) (*Session, error) {
	s, err := newSession(t, opts)
	if err != nil {
		return nil, err
	}
	if err := s.firstContact(ctx); err != nil {
		s.ep.auth.close()
		s.ep.conn.close()
		return nil, err
	}
	return s, nil
}

// errNoFirstAnswer ends the first contact with a host that answers nothing.
var errNoFirstAnswer = errors.New("no first answer")

// firstContact opens the session's shell, the first exchange with the host
// (authentication included), within the connect timeout: a host that
// accepts connections and answers nothing (a hung WinRM service, a proxy
// holding the connection) is unreachable after that long, not after a
// whole operation's timeout.
func (s *Session) firstContact(ctx context.Context) error {
	limit := s.ep.conn.connectTimeout
	fctx, cancel := context.WithTimeoutCause(ctx, limit, errNoFirstAnswer)
	defer cancel()
	err := s.openShell(fctx)
	var te *transport.Error
	noAnswer := errors.Is(context.Cause(fctx), errNoFirstAnswer) || (errors.As(err, &te) && te.Class == transport.ClassTimeout)
	if err != nil && ctx.Err() == nil && noAnswer {
		return &transport.Error{Class: transport.ClassConnectTimeout, Transient: true, Err: err,
			Message: fmt.Sprintf("%s accepted the connection but sent no answer within %s (its connect timeout)", s.name, limit),
			Hint:    "the WinRM service may be hung, or something between (a proxy, a load balancer) accepts connections for it; raise connect_timeout in the inventory for a host that is only slow"}
	}
	return err
}

// newSession validates t and builds the session without connecting.
func newSession(t transport.Target, opts Options) (*Session, error) {
	opts = opts.withDefaults()
	name := t.Name
	if name == "" {
		name = t.Address
	}
	cfgErr := func(format string, args ...any) *transport.Error {
		return &transport.Error{Class: transport.ClassAuth, Message: fmt.Sprintf("%s: ", name) + fmt.Sprintf(format, args...)}
	}
	if t.Address == "" {
		return nil, &transport.Error{Class: transport.ClassDNS, Message: fmt.Sprintf("%s: no address", name)}
	}
	enc, err := LookupEncoding(t.OutputEncoding)
	if err != nil {
		return nil, &transport.Error{Class: transport.ClassInternal, Message: fmt.Sprintf("%s: %v", name, err), Err: err}
	}
	port := t.Port
	if port == 0 {
		port = 5985
		if t.HTTPS {
			port = 5986
		}
	}
	scheme := "http"
	if t.HTTPS {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(t.Address, strconv.Itoa(port)), Path: "/wsman"}

	mechanism := strings.ToLower(strings.TrimSpace(t.Auth))
	if mechanism == "" {
		mechanism = "ntlm"
		if t.HTTPS {
			mechanism = "basic"
		}
	}
	var tlsConfig *tls.Config
	if t.HTTPS {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // only when the inventory asks
		if host := t.Address; net.ParseIP(host) == nil {
			tlsConfig.ServerName = host
		}
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return nil, &transport.Error{Class: transport.ClassTLS, Err: err, Message: fmt.Sprintf("%s: read ca_file: %v", name, err)}
			}
			pool := caPool(pem)
			if pool == nil {
				return nil, &transport.Error{Class: transport.ClassTLS, Message: fmt.Sprintf("%s: ca_file %s holds no PEM certificate", name, t.CAFile)}
			}
			tlsConfig.RootCAs = pool
		}
	} else if t.CAFile != "" || t.ClientCert != "" {
		return nil, cfgErr("ca_file and client certificates need https")
	}

	var auth authenticator
	switch mechanism {
	case "basic":
		if !t.HTTPS && !t.AllowUnencrypted {
			e := cfgErr("refusing Basic authentication over plain HTTP: the password would cross the network readable")
			e.Hint = "use https: true, or auth: ntlm (encrypted over HTTP); set allow_unencrypted only for a test host"
			return nil, e
		}
		auth = &basicAuth{username: t.User, password: t.Password}
	case "ntlm", "negotiate":
		user, domain := splitUser(t.User)
		auth = &ntlmAuth{username: user, domain: domain, password: t.Password, seal: !t.HTTPS}
	case "kerberos":
		ka, err := newKerberosAuth(t, opts)
		if err != nil {
			return nil, err
		}
		auth = ka
	case "certificate":
		if !t.HTTPS {
			return nil, cfgErr("certificate authentication needs https")
		}
		if t.ClientCert == "" || t.ClientKey == "" {
			return nil, cfgErr("certificate authentication needs client_cert and client_key")
		}
		pair, err := tls.LoadX509KeyPair(t.ClientCert, t.ClientKey)
		if err != nil {
			return nil, &transport.Error{Class: transport.ClassTLS, Err: err, Message: fmt.Sprintf("%s: load client certificate: %v", name, err)}
		}
		tlsConfig.Certificates = []tls.Certificate{pair}
		// HTTP.sys may renegotiate to ask for the client certificate.
		tlsConfig.Renegotiation = tls.RenegotiateOnceAsClient
		auth = certAuth{}
	default:
		return nil, cfgErr("unknown auth mechanism %q (want basic, ntlm, kerberos or certificate)", t.Auth)
	}

	connectTimeout := t.ConnectTimeout
	if connectTimeout <= 0 {
		connectTimeout = opts.ConnectTimeout
	}
	ep := &endpoint{host: name, url: u.String(), conn: newHTTPConn(u.Host, tlsConfig, connectTimeout), auth: auth, requestGrace: opts.RequestGrace}
	return &Session{ep: ep, opts: opts, name: name, enc: enc}, nil
}

// caPools holds the certificate pool of every CA file content seen, so
// that a fleet's thousand hosts sharing one ca_file parse it once and
// share one pool (x509.CertPool is safe for concurrent use).
var caPools sync.Map // string(PEM) → *x509.CertPool

// caPool returns the pool of the certificates in pem, or nil when it holds
// none.
func caPool(pem []byte) *x509.CertPool {
	if p, ok := caPools.Load(string(pem)); ok {
		return p.(*x509.CertPool)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil
	}
	p, _ := caPools.LoadOrStore(string(pem), pool)
	return p.(*x509.CertPool)
}

// newKerberosAuth configures Kerberos from the target's Vars: krb5_conf
// (path of krb5.conf), realm (default: the domain part of the user, upper
// case, or krb5.conf's default_realm), spn (default HTTP/<address>) and
// keytab (the user's keys); without a password or keytab the ticket cache
// of Options.Kerberos is used. Messages are sealed over plain HTTP.
func newKerberosAuth(t transport.Target, opts Options) (*kerberosAuth, error) {
	name := t.Name
	if name == "" {
		name = t.Address
	}
	path := t.Vars["krb5_conf"]
	if path == "" {
		path = opts.Krb5Config
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, &transport.Error{Class: transport.ClassAuth, Err: err,
			Message: fmt.Sprintf("%s: kerberos: read %s: %v", name, path, err),
			Hint:    "give the path of krb5.conf as the host variable krb5_conf"}
	}
	user, domain := splitUser(t.User)
	realm := t.Vars["realm"]
	if realm == "" {
		realm = strings.ToUpper(domain)
	}
	if realm == "" {
		realm = cfg.LibDefaults.DefaultRealm
	}
	if realm == "" {
		return nil, &transport.Error{Class: transport.ClassAuth,
			Message: fmt.Sprintf("%s: kerberos: no realm (user %q has no domain, krb5.conf no default_realm)", name, t.User),
			Hint:    "write the user as user@REALM, or set the host variable realm"}
	}
	spn := t.SPN
	if spn == "" {
		spn = t.Vars["spn"]
	}
	if spn == "" {
		spn = "HTTP/" + t.Address
	}
	creds, own := opts.Kerberos, false
	if creds == nil {
		creds, own = &KerberosCredentials{}, true
	}
	src := krbSource{krb5Conf: path, cfg: cfg, user: user, realm: realm, password: t.Password, keytab: keytabOf(t), ccache: creds.CCache}
	return &kerberosAuth{host: name, username: user + "@" + realm, spn: spn, seal: !t.HTTPS,
		creds: creds, own: own, src: src}, nil
}

// Encrypted reports whether the session's messages are sealed (NTLM or
// Kerberos over HTTP); over HTTPS the channel itself is encrypted.
func (s *Session) Encrypted() bool { return s.ep.auth.encrypted() }

// Requests returns how many WS-Man requests the session has sent (not
// counting authentication legs).
func (s *Session) Requests() int64 { return s.ep.requests.Load() }

// openShell creates a WinRS shell; s.mu is held or s is not shared yet.
func (s *Session) openShell(ctx context.Context) error {
	resp, err := s.ep.post(ctx, "Create shell", createShellMessage(s.ep.url, s.opXS()), s.opts.OperationTimeout)
	if err != nil {
		return err
	}
	if !validID(resp.ShellID) {
		return &transport.Error{Class: transport.ClassInternal,
			Message: fmt.Sprintf("Create shell on %s: the answer names no usable shell ID (%q)", s.name, resp.ShellID)}
	}
	s.shellID = resp.ShellID
	s.lastCommand = ""
	return nil
}

// opXS is the OperationTimeout of requests other than Receive.
func (s *Session) opXS() string { return durationXS(s.opts.OperationTimeout) }

// durationXS writes d as an xs:duration in whole seconds (at least 1).
func durationXS(d time.Duration) string {
	if d < time.Second {
		d = time.Second
	}
	return "PT" + strconv.Itoa(int(d.Round(time.Second)/time.Second)) + "S"
}

// errClosed is returned for a session used after Close.
var errClosed = errors.New("session is closed")

// keytabOf is the target's keytab: its Keytab, else the host variable
// keytab.
func keytabOf(t transport.Target) string {
	if t.Keytab != "" {
		return t.Keytab
	}
	return t.Vars["keytab"]
}

// closedError is what a session answers once Close was called.
func (s *Session) closedError() *transport.Error {
	return &transport.Error{Class: transport.ClassInternal, Err: errClosed, Message: s.name + ": " + errClosed.Error()}
}

// usable says why the session cannot start work now: it is closed, or
// ctx ended (see contextError); s.mu is held.
func (s *Session) usable(ctx context.Context) error {
	if s.closed {
		return s.closedError()
	}
	if ctx.Err() != nil {
		return contextError(ctx, s.name)
	}
	return nil
}
