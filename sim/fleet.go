package sim

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"
)

// FleetOptions say what fleet StartFleet starts.
type FleetOptions struct {
	// Hosts is the number of hosts; 0 takes the scenario's count.
	Hosts int
	// Profile is the default Windows profile (2008r2, 2012r2, 2016, 2019,
	// 2022); the scenario may override it per group or host. Empty means
	// 2019.
	Profile string
	// Scenario configures hosts and groups; nil means defaults only.
	Scenario *Scenario
	// Listen is where hosts listen. With port 0 (the default
	// "127.0.0.1:0") every host gets a free port on that address, below
	// the kernel's ephemeral range when there is room (see hostPorts);
	// with a fixed port every host gets its own address, counting up from
	// the given one (127.0.1.1:5985, 127.0.1.2:5985, ...). Only loopback
	// addresses are allowed.
	Listen string
	// HTTPS makes every host serve HTTPS unless the scenario says
	// otherwise.
	HTTPS bool
	// KerberosKeytabs, when not empty, is a folder of keytabs, one per
	// host named <host name>.keytab, each holding the key of the
	// service principal HTTP/<host name> in the realm the keytab's
	// entries name: every host with a keytab there accepts Kerberos
	// (HostConfig.Keytab); hosts without one do not.
	KerberosKeytabs string
	// Latency and ProcessStart are the default per-request latency and
	// per-process start cost (scenario settings override them).
	Latency      time.Duration
	ProcessStart time.Duration
	// Dir is where the CA file of an HTTPS fleet is written; empty means a
	// temporary directory removed by Close.
	Dir string
	// NamePrefix names the hosts: prefix + a four-digit number from 0001.
	// Empty means "sim-".
	NamePrefix string
	// Clock drives every timer of the fleet; nil means the real clock.
	Clock clockwork.Clock
	// Log receives one line per notable event (reboots, refused logins),
	// each labelled as simulated; nil discards them.
	Log io.Writer

	// SSM also serves the AWS Systems Manager API (and the S3 paths of
	// its output uploads) for the fleet's hosts on one loopback endpoint
	// (Fleet.SSMEndpoint); every host becomes a managed instance with an
	// instance id, written into the inventory's vars.
	SSM bool
	// SSMRegion is the region of the instances; empty means
	// DefaultSSMRegion.
	SSMRegion string
	// SSMListen is where the SSM endpoint listens; empty means
	// 127.0.0.1 on an ephemeral port.
	SSMListen string
	// SSMRate limits the SSM endpoint to this many requests per second
	// (all actions together); more are answered with ThrottlingException.
	// Zero means no limit.
	SSMRate float64
	// SSMDelivery is how long a command takes to reach an online
	// instance's agent.
	SSMDelivery time.Duration
	// SSMTransport makes the written inventory choose transport: ssm.
	SSMTransport bool
	// SSMBeforeReply, unless nil, is called for every SSM API call once
	// it has been carried out and before its answer is written: a test
	// holds an answer in flight by blocking in it (SendCommand done on
	// the hosts, the client not told yet). It must return when ctx, the
	// request's context, ends.
	SSMBeforeReply func(ctx context.Context, action string)
	// SSMFaults make the SSM endpoint lose the answers of some calls
	// (see SSMFault): a test checks what a client does when, say, a
	// SendCommand it made created its command but the client never
	// heard so. StartFleet refuses a fault it cannot apply.
	SSMFaults []SSMFault

	// TrustedCAs are the certificate authorities the hosts trust when a
	// download step fetches an HTTPS URL (the simulated machines' root
	// store); nil trusts none.
	TrustedCAs *x509.CertPool

	// onPark is a test hook, see Host.onPark.
	onPark func(idle bool)
}

// Fleet is a running set of simulated hosts.
type Fleet struct {
	hosts    []*Host
	user     string
	password string
	https    bool
	caFile   string
	tmpDir   string
	ca       *fleetCA
	clock    clockwork.Clock
	gauge    fleetGauge
	// changes wakes WaitFor when any host's tasks or processes change.
	changes  broadcast
	logMu    sync.Mutex
	log      io.Writer
	closed   sync.Once
	closeErr error

	ssm          *ssmServer
	ssmTransport bool

	// store keeps large files' content for every host (chunks.go).
	store *chunkStore
}

// DefaultUser is the account simulated hosts accept unless the scenario
// names another.
const DefaultUser = "fleetrun"

// StartFleet starts every host and returns once all of them listen (hosts
// with the refused fault have an address but refuse connections). On
// error nothing is left running.
func StartFleet(ctx context.Context, opts FleetOptions) (*Fleet, error) {
	sc := opts.Scenario
	if sc == nil {
		sc = &Scenario{}
	}
	n := opts.Hosts
	if n == 0 {
		n = sc.Hosts
	}
	if n <= 0 || n > MaxHosts {
		return nil, fmt.Errorf("start simulated fleet: the number of hosts must be between 1 and %d, found %d", MaxHosts, n)
	}
	if _, err := LookupProfile(opts.Profile); err != nil {
		return nil, fmt.Errorf("start simulated fleet: %w", err)
	}
	if err := checkOpenFiles(n); err != nil {
		return nil, fmt.Errorf("start simulated fleet: %w", err)
	}
	addrs, err := fleetAddresses(opts.Listen, n)
	if err != nil {
		return nil, fmt.Errorf("start simulated fleet: %w", err)
	}
	clock := opts.Clock
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	prefix := opts.NamePrefix
	if prefix == "" {
		prefix = "sim-"
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%04d", prefix, i+1)
	}
	password, err := newPassword()
	if err != nil {
		return nil, fmt.Errorf("start simulated fleet: %w", err)
	}
	f := &Fleet{user: DefaultUser, password: password, https: opts.HTTPS, log: opts.Log, clock: clock}
	cfgs := resolveConfigs(sc, opts, names, addrs, password)
	if sc.Defaults.User != nil {
		f.user = *sc.Defaults.User
	}
	if sc.Defaults.Password != nil {
		f.password = *sc.Defaults.Password
	}
	if sc.Defaults.HTTPS != nil {
		f.https = *sc.Defaults.HTTPS
	}
	f.store = newChunkStore()
	deps := hostDeps{clock: clock, logf: f.logf, fleet: &f.gauge, onPark: opts.onPark, started: clock.Now(), changes: &f.changes,
		store: f.store, trusted: opts.TrustedCAs}
	anyTLS := false
	for _, c := range cfgs {
		anyTLS = anyTLS || c.HTTPS
	}
	if anyTLS {
		// Clients check the certificate against their own wall clock, not
		// the fleet's (possibly simulated) one.
		if err := f.setupTLS(opts.Dir, time.Now()); err != nil {
			return nil, err
		}
		deps.caFile = f.caFile
	}
	for _, c := range cfgs {
		h, err := newHost(c, deps)
		if err != nil {
			_ = f.Close() // already failing; the first error is the one to report
			return nil, fmt.Errorf("start simulated fleet: %w", err)
		}
		f.hosts = append(f.hosts, h)
		var tc *tls.Config
		switch {
		case !c.HTTPS:
		case c.TLSName != "":
			tc, err = f.ca.serverConfig(int64(3+len(f.hosts)), nil, []string{c.TLSName})
		default:
			// A certificate of its own, for its address and name, as a
			// Windows host's HTTPS listener has: one certificate naming
			// the whole fleet would make every client parse a
			// fleet-sized certificate (tens of kilobytes for 1,000 hosts)
			// in every handshake.
			tc, err = f.ca.serverConfig(int64(3+len(f.hosts)), []net.IP{net.ParseIP(c.Address)}, []string{"localhost", strings.ToLower(c.Name)})
		}
		if err != nil {
			_ = f.Close() // already failing; the first error is the one to report
			return nil, fmt.Errorf("start simulated fleet: %w", err)
		}
		go h.serve(tc)
		if err := ctx.Err(); err != nil {
			_ = f.Close() // cancelled while starting; report the cancellation
			return nil, fmt.Errorf("start simulated fleet: %w", err)
		}
	}
	if opts.SSM {
		f.ssmTransport = opts.SSMTransport
		if f.ssm, err = startSSM(f, opts); err != nil {
			_ = f.Close() // already failing; the first error is the one to report
			return nil, fmt.Errorf("start simulated fleet: %w", err)
		}
	}
	return f, nil
}

// resolveConfigs builds every host's configuration: profile defaults,
// then the scenario's defaults, group and host levels.
func resolveConfigs(sc *Scenario, opts FleetOptions, names, addrs []string, password string) []HostConfig {
	groups := sc.assignGroups(names)
	cfgs := make([]HostConfig, len(names))
	for i, name := range names {
		host, port, _ := net.SplitHostPort(addrs[i]) // fleetAddresses built it
		portN, _ := strconv.Atoi(port)
		levels := []*Settings{&sc.Defaults}
		group := ""
		if g := groups[i]; g != nil {
			levels = append(levels, &g.Settings)
			group = g.Name
		}
		if s, ok := sc.HostOverrides[strings.ToLower(name)]; ok {
			levels = append(levels, &s)
		}
		profileName := opts.Profile
		for _, l := range levels {
			if l.Profile != nil {
				profileName = *l.Profile
			}
		}
		profile, _ := LookupProfile(profileName) // validated by StartFleet and the scenario parser
		cfg := HostConfig{
			Name: name, Group: group, Address: host, Port: portN,
			User: DefaultUser, Password: password,
			Profile: profile, Quotas: profile.Quotas,
			HTTPS: opts.HTTPS, Basic: true, Negotiate: true,
			Keytab:         keytabOf(opts.KerberosKeytabs, name),
			OutputEncoding: "utf-8",
			Latency:        opts.Latency, ProcessStart: opts.ProcessStart,
			RebootDuration: 10 * time.Second,
			// A host set up for remote management: Enable-PSRemoting sets
			// LocalAccountTokenFilterPolicy to 1.
			Account: Account{Kind: AccountLocalAdmin, TokenFilterPolicy: 1},
			Preflight: PreflightInfo{
				ExecutionPolicy64: "RemoteSigned", ExecutionPolicy32: "Restricted", SystemDrive: "C:",
				DiskFreeBytes: 42_949_672_960, DiskTotalBytes: 107_374_182_400,
			},
		}
		progressSet := false
		for _, l := range levels {
			l.apply(&cfg)
			progressSet = progressSet || l.PowerShellProgress != nil
		}
		if !progressSet {
			ps := cfg.Preflight.PSVersion
			if ps == "" {
				ps = profile.PSVersion
			}
			cfg.PowerShellProgress = strings.HasPrefix(ps, "5")
		}
		cfgs[i] = cfg
	}
	return cfgs
}

// fleetAddresses lays hosts out on loopback addresses (see
// FleetOptions.Listen).
func fleetAddresses(listen string, n int) ([]string, error) {
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", listen, err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host).To4()
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("listen address %q: simulated hosts listen on 127.0.0.0/8 only", listen)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("listen address %q: bad port", listen)
	}
	out := make([]string, n)
	if port == 0 {
		for i := range out {
			out[i] = net.JoinHostPort(ip.String(), "0")
		}
		return out, nil
	}
	base := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
	for i := range out {
		a := base + uint32(i)
		next := net.IPv4(byte(a>>24), byte(a>>16), byte(a>>8), byte(a))
		if a < base || !next.IsLoopback() {
			return nil, fmt.Errorf("listen address %q: %d hosts do not fit in 127.0.0.0/8", listen, n)
		}
		out[i] = net.JoinHostPort(next.String(), portText)
	}
	return out, nil
}

// openFilesHeadroom is what a fleet needs beside its listeners: the
// process's own files, the SSM and stats servers, and room for some
// connections.
const openFilesHeadroom = 256

// checkOpenFiles refuses a fleet whose listeners alone would use up the
// process's open-files limit (Go raises the soft limit to the hard one at
// start): every host holds a listening socket for its life, and every
// connection to it one more descriptor, so such a fleet would fail to
// bind its last hosts or, worse, start and then fail to accept. 10,000
// hosts served at forks 2,000 hold about 12,100.
func checkOpenFiles(hosts int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil // unknown: the binds will say
	}
	return openFilesFit(hosts, lim.Cur)
}

// openFilesFit is checkOpenFiles' rule for a limit.
func openFilesFit(hosts int, limit uint64) error {
	if need := uint64(hosts) + openFilesHeadroom; need > limit {
		return fmt.Errorf("%d hosts need at least %d open files (a listening socket each, one more per open connection), but the limit is %d: raise it (ulimit -n) or start fewer hosts", hosts, need, limit)
	}
	return nil
}

// newPassword makes a random password for the fleet's account.
func newPassword() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate password: %w", err)
	}
	return "Sim-" + base64.RawURLEncoding.EncodeToString(b), nil
}

// setupTLS creates the fleet's CA and writes its certificate.
func (f *Fleet) setupTLS(dir string, now time.Time) error {
	ca, err := newFleetCA(now)
	if err != nil {
		return fmt.Errorf("start simulated fleet: %w", err)
	}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "fleetrun-sim-")
		if err != nil {
			return fmt.Errorf("start simulated fleet: %w", err)
		}
		f.tmpDir, dir = tmp, tmp
	}
	f.caFile = filepath.Join(dir, "sim-fleet-ca.pem")
	if err := writeFileAtomic(f.caFile, ca.caPEM, 0o644); err != nil {
		return fmt.Errorf("start simulated fleet: %w", err)
	}
	f.ca = ca
	return nil
}

// Hosts returns the fleet's hosts in order.
func (f *Fleet) Hosts() []*Host { return f.hosts }

// Host returns the host with the given name (case-insensitive), or nil.
func (f *Fleet) Host(name string) *Host {
	for _, h := range f.hosts {
		if strings.EqualFold(h.cfg.Name, name) {
			return h
		}
	}
	return nil
}

// User and Password are the fleet's default credentials.
func (f *Fleet) User() string { return f.user }

// Password returns the fleet's default password.
func (f *Fleet) Password() string { return f.password }

// CAFile returns the PEM file of the fleet's CA ("" when no host serves
// HTTPS).
func (f *Fleet) CAFile() string { return f.caFile }

// Stats returns every host's counters and the fleet-wide figures.
func (f *Fleet) Stats() FleetStats {
	s := FleetStats{OpenShells: f.gauge.open.Load(), PeakShells: f.gauge.peak.Load()}
	for _, h := range f.hosts {
		s.Hosts = append(s.Hosts, h.Stats())
	}
	s.Totals = sumStats(s.Hosts)
	s.SSM = f.SSMStats()
	cs := f.store.stats()
	s.ChunkStore = &cs
	return s
}

// ChunkStore returns what the fleet's shared store of file content holds.
func (f *Fleet) ChunkStore() ChunkStoreStats { return f.store.stats() }

// StatsHandler serves GET /stats as JSON.
func (f *Fleet) StatsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(f.Stats()) // a failed write is the client's disconnect
	})
	return mux
}

// Close stops every host, waits for everything they started, and removes
// the temporary CA directory. It is safe to call more than once.
func (f *Fleet) Close() error {
	f.closed.Do(func() {
		var errs []error
		if f.ssm != nil {
			errs = append(errs, f.ssm.close())
		}
		var wg sync.WaitGroup
		hostErrs := make([]error, len(f.hosts))
		for i, h := range f.hosts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				hostErrs[i] = h.close()
			}()
		}
		wg.Wait()
		errs = append(errs, hostErrs...)
		if f.tmpDir != "" {
			errs = append(errs, os.RemoveAll(f.tmpDir))
		}
		f.closeErr = errors.Join(errs...)
	})
	return f.closeErr
}

// logf writes one labelled line to the fleet's log.
func (f *Fleet) logf(format string, args ...any) {
	if f.log == nil {
		return
	}
	line := fmt.Sprintf(format, args...)
	f.logMu.Lock()
	defer f.logMu.Unlock()
	_, _ = fmt.Fprintf(f.log, "%s %s\n", f.clock.Now().UTC().Format(time.RFC3339), line) // logging is best effort
}

// writeFileAtomic writes data to a temporary file next to path and
// renames it into place.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	cleanup := func() { _ = os.Remove(name) } // best effort after a failure
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close() // the write error matters more
		cleanup()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		_ = tmp.Close() // the chmod error matters more
		cleanup()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		cleanup()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		cleanup()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
