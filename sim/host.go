package sim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/uuid"
	"github.com/jonboulle/clockwork"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
	"github.com/fleetrun/fleetrun/sim/internal/ntlmsrv"
	"github.com/fleetrun/fleetrun/sim/internal/wsman"
)

// Host is one simulated Windows host: an HTTP(S) WS-Management endpoint
// with its own shells, quotas, programs and injected failures.
type Host struct {
	cfg    HostConfig
	clock  clockwork.Clock
	logf   func(format string, args ...any)
	ln     *hostListener
	srv    *http.Server
	https  bool
	caFile string
	fleet  *fleetGauge

	ctx     context.Context // ends when the host closes; processes derive from it
	cancel  context.CancelFunc
	closing chan struct{}

	inflight sync.WaitGroup // running handlers
	procs    sync.WaitGroup // processes and timers
	served   chan struct{}  // closed when srv.Serve returns

	// onPark, when set (tests), is called each time a Receive starts
	// waiting; idle says whether the command's process is waiting too.
	onPark func(idle bool)
	// frameHold is how long a step run holds its frames back (frameHold;
	// tests that assert how frames are grouped set it before any run).
	frameHold time.Duration

	mu           sync.Mutex
	closed       bool
	quotas       Quotas
	shells       map[string]*shell
	bootTime     time.Time
	offline      bool
	onlineCh     chan struct{}   // closed while the host is online
	shutdown     clockwork.Timer // pending shutdown /r /t N
	pendingNow   bool            // shutdown /r /t 0 waiting for its response
	pendingTimer clockwork.Timer // restarts after shutdown /r /t 0 if no response is collected
	rebootTimer  clockwork.Timer // ends the current reboot
	fs           *vfs
	// trusted is the CA pool downloads check HTTPS servers against.
	trusted *x509.CertPool
	// resetSendAt, when positive, is the count of stdin bytes received
	// through Send after which the next Send's connection is reset
	// (once); sendTotal counts them.
	resetSendAt  int64
	sendTotal    int64
	requestCount int64
	receiveCount int64

	stats hostCounters

	pendingAfter map[net.Conn]func() // work to run once a response is sent

	programs map[string]cmdexe.Program // lower-case full path → program

	// machine is the state programs and scripts read and change: updates,
	// services, registry values.
	machine *machine
	// ptable is the running processes; tasks the Task Scheduler.
	ptable *procTable
	tasks  *taskScheduler

	// cut is a network cut in effect (netcut.go); cutOn is closed while it
	// is, cutOff while it is not.
	cut    bool
	cutOn  chan struct{}
	cutOff chan struct{}

	// changes wakes WaitFor when tasks or processes change; fleetChanges
	// the fleet's WaitFor.
	changes      broadcast
	fleetChanges *broadcast
}

// hostDeps are what a fleet shares with its hosts.
type hostDeps struct {
	clock   clockwork.Clock
	logf    func(format string, args ...any)
	caFile  string
	fleet   *fleetGauge
	onPark  func(idle bool)
	started time.Time
	// changes wakes Fleet.WaitFor on any host's change.
	changes *broadcast
	// store keeps the content of large files for every host of the
	// fleet; trusted is the CA pool downloads check HTTPS servers with.
	store   *chunkStore
	trusted *x509.CertPool
}

// newHost prepares a host and binds its port (or, for a refused host,
// reserves an address and releases it).
func newHost(cfg HostConfig, deps hostDeps) (*Host, error) {
	ctx, cancel := context.WithCancel(context.Background())
	h := &Host{
		frameHold:    frameHold,
		cfg:          cfg,
		clock:        deps.clock,
		logf:         deps.logf,
		https:        cfg.HTTPS,
		caFile:       deps.caFile,
		fleet:        deps.fleet,
		fleetChanges: deps.changes,
		onPark:       deps.onPark,
		ctx:          ctx,
		cancel:       cancel,
		closing:      make(chan struct{}),
		served:       make(chan struct{}),
		quotas:       cfg.Quotas,
		shells:       map[string]*shell{},
		bootTime:     deps.started,
		onlineCh:     make(chan struct{}),
		pendingAfter: map[net.Conn]func(){},
		fs:           newVFS(cfg.Files, deps.clock.Now, deps.store),
		trusted:      deps.trusted,
	}
	h.stats.init()
	h.machine = newMachine(cfg, deps.started)
	h.ptable = newProcTable()
	h.tasks = newTaskScheduler()
	h.cutOn, h.cutOff = make(chan struct{}), make(chan struct{})
	close(h.cutOff)
	h.programs = h.programTable()
	for path, p := range h.taskPrograms() {
		h.programs[path] = p
	}
	addr := net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port))
	ln, err := newHostListener(addr, !cfg.Faults.Refused, cfg.Faults.Flaky, cfg.Faults.Hang)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("host %s: %w", cfg.Name, err)
	}
	h.ln = ln
	if !cfg.Faults.Refused {
		close(h.onlineCh)
	}
	ln.onAccept = func() { h.stats.add(&h.stats.connections, 1) }
	auth := ntlmsrv.Handler(ntlmsrv.Policy{
		Users:            ntlmsrv.Accounts(map[string]string{cfg.User: cfg.Password}),
		Basic:            cfg.Basic,
		Negotiate:        cfg.Negotiate,
		AllowUnencrypted: cfg.AllowUnencrypted,
		Authorize:        h.authorize,
		OnAuthFailure:    h.authFailed,
		ComputerName:     strings.ToUpper(cfg.Name),
		Now:              h.clock.Now,
	}, http.HandlerFunc(h.serveWSMan))
	if auth, err = h.kerberosFront(auth, http.HandlerFunc(h.serveWSMan)); err != nil {
		cancel()
		// The listener is the host's only resource so far.
		_ = ln.Close()
		return nil, fmt.Errorf("host %s: %w", cfg.Name, err)
	}
	h.srv = &http.Server{
		Handler: h.outer(auth),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(authConnContext(ctx, c), connKey{}, c)
		},
		ConnState:         h.connState,
		ReadHeaderTimeout: time.Minute,
		// Clients see failures on the wire; the server's own complaints
		// (TLS handshakes of a port scanner, resets we caused) are noise.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	return h, nil
}

type connKey struct{}

// serve runs the HTTP server until the host closes.
func (h *Host) serve(tlsConfig *tls.Config) {
	defer close(h.served)
	var ln net.Listener = h.ln
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	// Serve returns http.ErrServerClosed or net.ErrClosed once Close has
	// run; either way the host is done.
	_ = h.srv.Serve(ln)
}

// Name returns the host's machine name.
func (h *Host) Name() string { return h.cfg.Name }

// Address returns the IP address the host listens on.
func (h *Host) Address() string { return h.ln.Addr().(*net.TCPAddr).IP.String() }

// Port returns the TCP port the host listens on.
func (h *Host) Port() int { return h.ln.Addr().(*net.TCPAddr).Port }

// Scheme returns "https" or "http".
func (h *Host) Scheme() string {
	if h.https {
		return "https"
	}
	return "http"
}

// URL returns the host's WS-Management endpoint.
func (h *Host) URL() string {
	return fmt.Sprintf("%s://%s/wsman", h.Scheme(), net.JoinHostPort(h.Address(), strconv.Itoa(h.Port())))
}

// CAFile returns the PEM file of the CA that signed the host's
// certificate, or "" for plain HTTP hosts.
func (h *Host) CAFile() string {
	if !h.https {
		return ""
	}
	return h.caFile
}

// Config returns the host's configuration as it was started.
func (h *Host) Config() HostConfig { return h.cfg }

// Quotas returns the host's current WinRM settings (winrm set changes
// them).
func (h *Host) Quotas() Quotas {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.quotas
}

// BootTime returns the host's last boot time.
func (h *Host) BootTime() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bootTime
}

// Online reports whether the host is up (not rebooting, not refusing).
func (h *Host) Online() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.offline && !h.cfg.Faults.Refused
}

// WaitOnline waits until the host accepts connections (after a reboot,
// for example). A host with the refused fault never does; ctx bounds the
// wait.
func (h *Host) WaitOnline(ctx context.Context) error {
	h.mu.Lock()
	ch := h.onlineCh
	h.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("host %s: wait online: %w", h.cfg.Name, ctx.Err())
	}
}

// close stops the host: no new requests, every connection closed, every
// process stopped, every goroutine it started finished.
func (h *Host) close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	if h.shutdown != nil && h.shutdown.Stop() {
		h.procs.Done()
	}
	if h.rebootTimer != nil && h.rebootTimer.Stop() {
		h.procs.Done()
	}
	if h.pendingTimer != nil && h.pendingTimer.Stop() {
		h.procs.Done()
	}
	h.mu.Unlock()
	close(h.closing)
	err := h.srv.Close()
	<-h.served
	h.inflight.Wait()
	h.cancel()
	h.procs.Wait()
	h.mu.Lock()
	for id := range h.shells {
		h.dropShellLocked(id)
	}
	h.mu.Unlock()
	return err
}

// enter registers a running handler; false once the host is closing.
func (h *Host) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.inflight.Add(1)
	return true
}

// goProc runs f as a process or timer the host owns; false when closing.
func (h *Host) goProcLocked(f func()) bool {
	if h.closed {
		return false
	}
	h.procs.Add(1)
	go func() {
		defer h.procs.Done()
		f()
	}()
	return true
}

// errTokenFiltered is why WinRM turns away a local administrator whose
// network logon got a filtered token.
var errTokenFiltered = errors.New("token filtered by UAC remote restrictions (LocalAccountTokenFilterPolicy=0)")

// authorize is WinRM's access check after a successful logon. With UAC
// remote restrictions in force (LocalAccountTokenFilterPolicy 0, Windows'
// default; KB 951016), a network logon of a local administrator other than
// the built-in Administrator gets a token with Administrators turned off,
// and WinRM's default RootSDDL, which grants Administrators and Remote
// Management Users only, refuses it. Windows answers that with HTTP 401
// although the password was right: pywinrm reports "the specified
// credentials were rejected by the server" (pywinrm issue 188, fixed by
// setting the policy to 1; Ansible issue 42978 on NTLM failing for any
// local account but the built-in Administrator). Domain accounts and the
// built-in Administrator keep their full token, and a member of Remote
// Management Users is let in without being an administrator.
func (h *Host) authorize(string) error {
	if h.cfg.Account.filteredOverNetwork() {
		return errTokenFiltered
	}
	return nil
}

func (h *Host) authFailed(reason string) {
	h.stats.add(&h.stats.authFailures, 1)
	h.logf("simulated host %s: authentication refused: %s", h.cfg.Name, reason)
}

// outer applies the HTTP-level failures before authentication.
func (h *Host) outer(auth http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.enter() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		defer h.inflight.Done()
		if h.holdDuringCut(r.Context()) {
			return
		}
		if !strings.EqualFold(r.URL.Path, "/wsman") {
			w.Header().Set("Server", "Microsoft-HTTPAPI/2.0")
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Server", "Microsoft-HTTPAPI/2.0")
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		h.mu.Lock()
		h.requestCount++
		n := h.requestCount
		h.mu.Unlock()
		if h.cfg.Faults.HTTP500Garbage.active(n) {
			h.stats.count(&h.stats.requests, "http500_garbage")
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "<html><body>simulated failure: \x00\x01 internal server garbage") // the client's problem now
			return
		}
		var hook afterHook
		auth.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), afterKey{}, &hook)))
		if hook.f != nil {
			// The response must be complete on the wire before the hook (a
			// reboot) closes the connection: run it when the server is
			// done with this exchange (connState).
			if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
				h.mu.Lock()
				h.pendingAfter[c] = hook.f
				h.mu.Unlock()
			}
		}
	})
}

// connState runs work left for after a response once the server has
// finished writing it.
func (h *Host) connState(c net.Conn, st http.ConnState) {
	if st != http.StateIdle && st != http.StateClosed && st != http.StateHijacked {
		return
	}
	h.mu.Lock()
	f := h.pendingAfter[c]
	delete(h.pendingAfter, c)
	h.mu.Unlock()
	if f != nil {
		f()
	}
}

// afterHook carries work to do once a response has been sent.
type afterHook struct{ f func() }

type afterKey struct{}

const soapContentType = "application/soap+xml;charset=UTF-8"

// maxDrain bounds how much of an oversized request is read before the 413.
const maxDrain = 16 << 20

// serveWSMan answers one authenticated WS-Management request.
func (h *Host) serveWSMan(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	quotas := h.Quotas()
	limit := int64(quotas.MaxEnvelopeSizeKB) * 1024
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return // the connection is gone
	}
	if int64(len(body)) > limit {
		// A request larger than MaxEnvelopeSizekb (MS-WSMV 2.2.4.10: the
		// setting "is also used to limit the size of client request
		// packets") is turned away at the HTTP level with 413 and no SOAP
		// fault: pywinrm reports it as "Bad HTTP response returned from
		// server. Code 413" (ansible.windows#391, #620), masterzen/winrm as
		// "http response error: 413 - invalid content type" (no
		// application/soap+xml body; masterzen/winrm#156), and Windows' own
		// client maps the status to ERROR_WSMAN_HTTP_REQUEST_TOO_LARGE_STATUS
		// (0x80338111), "The WinRM client sent a request to the remote
		// WS-Management service and was notified that the request size
		// exceeded the configured MaxEnvelopeSize quota" (Microsoft365DSC
		// #2109, SharePointDsc#670), a client-side message that no server
		// fault carries. The answer comes from HTTP.sys's WinRM URL
		// registration, hence its Server header.
		//
		// Read what is left (within reason) before answering, so the client
		// sees the 413 rather than a connection reset while it is still
		// sending.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxDrain)) // best effort; the answer is 413 either way
		h.stats.count(&h.stats.requests, "too_large")
		w.Header().Set("Server", "Microsoft-HTTPAPI/2.0")
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	if !h.wait(ctx, h.cfg.Latency) {
		return
	}
	machine := hostOnly(r.Host)
	req, err := ParseRequest(body)
	if err != nil {
		h.stats.count(&h.stats.requests, "malformed")
		f := faultSchema()
		var te *wsman.InvalidTimeoutError
		if errors.As(err, &te) {
			f = faultInvalidTimeout()
		}
		h.writeFault(w, "", machine, f)
		return
	}
	h.stats.count(&h.stats.requests, actionName(req.Action))
	out, f := h.dispatch(ctx, r, req)
	if f != nil {
		h.stats.count(&h.stats.faults, strconv.FormatUint(uint64(f.Code), 10))
		h.writeFault(w, req.MessageID, machine, f)
		return
	}
	if out.abandon {
		return
	}
	if h.isCut() {
		// The answer is lost in the cut; the work it reports is done.
		h.holdDuringCut(ctx)
	}
	w.Header().Set("Content-Type", soapContentType)
	_, _ = w.Write(out.body) // a failed write is the client's disconnect
	if hook, ok := ctx.Value(afterKey{}).(*afterHook); ok && out.after != nil {
		hook.f = out.after
	}
}

// result is a successful answer; abandon means write nothing.
type result struct {
	body    []byte
	after   func()
	abandon bool
}

func (h *Host) writeFault(w http.ResponseWriter, relatesTo, machine string, f *Fault) {
	w.Header().Set("Content-Type", soapContentType)
	status := f.HTTPStatus
	if status == 0 {
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	_, _ = w.Write(faultResponse(relatesTo, newMessageID(), machine, f)) // a failed write is the client's disconnect
}

func (h *Host) dispatch(ctx context.Context, r *http.Request, req *Request) (result, *Fault) {
	switch {
	case req.Action == "":
		return result{}, faultSchema()
	case strings.EqualFold(req.ResourceURI, ResourceShellCmd):
		return h.dispatchShell(ctx, r, req)
	case req.Action == ActionGet:
		return h.get(req)
	}
	return result{}, faultUnknownResource(req.ResourceURI)
}

func (h *Host) dispatchShell(ctx context.Context, r *http.Request, req *Request) (result, *Fault) {
	switch req.Action {
	case ActionCreate:
		return h.create(r, req)
	case ActionDelete:
		return h.deleteShell(req)
	case ActionCommand:
		// The process outlives this request: it belongs to the host's
		// context, not the request's.
		return h.command(req) //nolint:contextcheck // see above
	case ActionSend:
		return h.send(r, req)
	case ActionReceive:
		return h.receive(ctx, r, req)
	case ActionSignal:
		return h.signal(req)
	}
	return result{}, faultActionNotSupported(req.Action)
}

// wait sleeps d on the host's clock; false when the request or host ended
// first.
func (h *Host) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := h.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.Chan():
		return true
	case <-ctx.Done():
		return false
	case <-h.closing:
		return false
	}
}

func newMessageID() string { return strings.ToUpper(uuid.Must(uuid.NewV4()).String()) }

// actionName is the last path element of an action URI: "Receive".
func actionName(action string) string {
	if i := strings.LastIndexByte(action, '/'); i >= 0 {
		return action[i+1:]
	}
	if action == "" {
		return "none"
	}
	return action
}

// hostOnly strips the port from a Host header value.
func hostOnly(hostport string) string {
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		return host
	}
	return hostport
}
