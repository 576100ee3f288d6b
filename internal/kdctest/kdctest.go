// Package kdctest runs a real MIT Kerberos KDC for tests: a realm in a
// temporary folder with an operator account and one HTTP/<host> service
// principal (and keytab) per simulated host, served on a free loopback port
// over TCP and UDP until the test ends.
//
// It leaves the Kerberos protocol to the KDC and to the code under test;
// all it adds is the KDC's log, read back so that tests can count the
// tickets a client asked for. Without Debian's krb5-kdc, krb5-admin-server
// and krb5-user the test skips, or fails where FLEETRUN_REQUIRE_KDC=1.
package kdctest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/internal/testneeds"
)

// DefaultRealm is the realm Start creates unless Options.Realm says otherwise.
const DefaultRealm = "FLEETRUN.TEST"

// Options configures Start.
type Options struct {
	// Realm is the Kerberos realm; empty means DefaultRealm.
	Realm string
	// Operator and Password are the user account's name (without realm)
	// and password; empty means "operator" and a random password.
	Operator string
	Password string
	// Hosts are host names; each gets the service principal
	// HTTP/<name>@REALM and a keytab holding its key.
	Hosts []string
	// MaxLife is the longest ticket lifetime the KDC issues; zero means 10h.
	MaxLife time.Duration
}

// KDC is a running test KDC. Its fields are read-only.
type KDC struct {
	// Realm is the realm's name.
	Realm string
	// Dir is the folder holding the database, configuration, keytabs and log.
	Dir string
	// Addr is the host:port the KDC serves on (TCP and UDP).
	Addr string
	// Krb5Conf is a client krb5.conf for the realm (TCP preferred); point
	// KRB5_CONFIG at it.
	Krb5Conf string
	// Operator is the operator's principal, user@REALM, and Password its
	// password (it requires pre-authentication, as Active Directory does).
	Operator string
	Password string
	// OperatorKeytab holds the operator's key.
	OperatorKeytab string
	// KeytabDir holds one keytab per host, named <host>.keytab, each with
	// the key of HTTP/<host>@REALM.
	KeytabDir string

	tools   testneeds.MITKerberos
	stop    func()
	logFile string
	env     []string
	keytabs map[string]string
}

// Start creates the realm and starts krb5kdc; the KDC stops when t ends.
// It skips or fails t (FLEETRUN_REQUIRE_KDC) when MIT Kerberos is missing,
// and fails t when the KDC cannot be started.
func Start(t testing.TB, opts Options) *KDC {
	t.Helper()
	tools := testneeds.KDC(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k, err := Launch(ctx, t.TempDir(), tools, opts)
	if err != nil {
		t.Fatalf("kdctest: %v", err)
	}
	t.Cleanup(k.Stop)
	return k
}

// Launch creates the realm in dir (an empty folder) and starts krb5kdc
// with tools, for callers that are not tests (the benchmarks); ctx bounds
// the start. Stop ends the KDC.
func Launch(ctx context.Context, dir string, tools testneeds.MITKerberos, opts Options) (*KDC, error) {
	if opts.Realm == "" {
		opts.Realm = DefaultRealm
	}
	if opts.Operator == "" {
		opts.Operator = "operator"
	}
	if opts.Password == "" {
		opts.Password = "Op-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if opts.MaxLife == 0 {
		opts.MaxLife = 10 * time.Hour
	}
	k := &KDC{
		Realm:    opts.Realm,
		Dir:      dir,
		Operator: opts.Operator + "@" + opts.Realm,
		Password: opts.Password,
		tools:    tools,
		keytabs:  map[string]string{},
		stop:     func() {},
	}
	k.logFile = filepath.Join(k.Dir, "kdc.log")
	k.OperatorKeytab = filepath.Join(k.Dir, "operator.keytab")
	k.KeytabDir = filepath.Join(k.Dir, "keytabs")
	if err := os.Mkdir(k.KeytabDir, 0o700); err != nil {
		return nil, err
	}
	k.Krb5Conf = filepath.Join(k.Dir, "krb5.conf")

	// A port that was free when probed can be taken before krb5kdc binds
	// it; try a few.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		k.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := k.writeConfig(opts); err != nil {
			return nil, err
		}
		if attempt == 0 {
			if err := k.createRealm(ctx, opts); err != nil {
				return nil, err
			}
		}
		if lastErr = k.serve(ctx); lastErr == nil {
			return k, nil
		}
	}
	return nil, lastErr
}

// Stop ends the KDC and waits for it to exit; later calls do nothing.
func (k *KDC) Stop() { k.stop() }

// freePort returns a loopback port that is free for both TCP and UDP.
func freePort() (int, error) {
	for i := 0; i < 20; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("probing for a free port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		// Both probes are released before krb5kdc binds the port.
		_ = ln.Close()
		if err == nil {
			_ = pc.Close()
			return port, nil
		}
	}
	return 0, errors.New("found no loopback port free for both TCP and UDP")
}

func (k *KDC) writeConfig(opts Options) error {
	kdcConf := fmt.Sprintf(`[kdcdefaults]
 kdc_listen = %[1]s
 kdc_tcp_listen = %[1]s
 kdc_tcp_listen_backlog = 128
[realms]
 %[2]s = {
  database_name = %[3]s
  key_stash_file = %[4]s
  acl_file = %[5]s
  master_key_type = aes256-cts-hmac-sha1-96
  supported_enctypes = aes256-cts-hmac-sha1-96:normal
  max_life = %[6]ds
  max_renewable_life = %[6]ds
 }
[logging]
 kdc = FILE:%[7]s
 admin_server = FILE:%[8]s
 default = FILE:%[8]s
`, k.Addr, k.Realm, filepath.Join(k.Dir, "principal"), filepath.Join(k.Dir, "stash"),
		filepath.Join(k.Dir, "kadm5.acl"), int(opts.MaxLife/time.Second), k.logFile, filepath.Join(k.Dir, "admin.log"))
	// udp_preference_limit = 1 makes clients use TCP for every message, as
	// Windows does for tickets carrying a PAC.
	krb5Conf := fmt.Sprintf(`[libdefaults]
 default_realm = %[1]s
 dns_lookup_kdc = false
 dns_lookup_realm = false
 rdns = false
 dns_canonicalize_hostname = false
 udp_preference_limit = 1
 default_tkt_enctypes = aes256-cts-hmac-sha1-96
 default_tgs_enctypes = aes256-cts-hmac-sha1-96
 permitted_enctypes = aes256-cts-hmac-sha1-96
[realms]
 %[1]s = {
  kdc = %[2]s
 }
[domain_realm]
 .%[3]s = %[1]s
`, k.Realm, k.Addr, strings.ToLower(k.Realm))
	for name, text := range map[string]string{"kdc.conf": kdcConf, "krb5.conf": krb5Conf, "kadm5.acl": ""} {
		if err := os.WriteFile(filepath.Join(k.Dir, name), []byte(text), 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	k.env = []string{
		"KRB5_CONFIG=" + k.Krb5Conf,
		"KRB5_KDC_PROFILE=" + filepath.Join(k.Dir, "kdc.conf"),
		"KRB5CCNAME=FILE:" + filepath.Join(k.Dir, "admin.ccache"),
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	}
	return nil
}

// createRealm makes the database and the principals, and exports keytabs.
func (k *KDC) createRealm(ctx context.Context, opts Options) error {
	// The master password only protects the stash in a temporary folder.
	if out, err := k.run(ctx, nil, k.tools.KDBUtil, "create", "-s", "-r", k.Realm, "-P", "kdctest-master"); err != nil {
		return fmt.Errorf("kdb5_util create: %w: %s", err, out)
	}
	var script bytes.Buffer
	// +requires_preauth: Active Directory requires pre-authentication.
	fmt.Fprintf(&script, "addprinc +requires_preauth -pw %s %s\n", opts.Password, opts.Operator)
	fmt.Fprintf(&script, "ktadd -k %s -norandkey %s\n", k.OperatorKeytab, opts.Operator)
	for _, h := range opts.Hosts {
		princ := "HTTP/" + h
		kt := filepath.Join(k.KeytabDir, h+".keytab")
		fmt.Fprintf(&script, "addprinc -randkey %s\n", princ)
		fmt.Fprintf(&script, "ktadd -k %s -norandkey %s\n", kt, princ)
		k.keytabs[h] = kt
	}
	out, err := k.run(ctx, &script, k.tools.KadminLocal, "-r", k.Realm)
	if err != nil {
		return fmt.Errorf("kadmin.local: %w: %s", err, out)
	}
	// kadmin.local reports a failed command on its output and goes on.
	for _, p := range append([]string{k.OperatorKeytab}, valuesOf(k.keytabs)...) {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("kadmin.local made no keytab %s: %w: %s", filepath.Base(p), err, out)
		}
	}
	return nil
}

func valuesOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func (k *KDC) run(ctx context.Context, stdin *bytes.Buffer, prog string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = k.env
	cmd.Dir = k.Dir
	if stdin != nil {
		cmd.Stdin = stdin
	}
	return cmd.CombinedOutput()
}

// serve starts krb5kdc and waits until it accepts TCP connections. The
// process is stopped at t's cleanup.
func (k *KDC) serve(ctx context.Context) error {
	// Read only once the process has been waited for, when os/exec's
	// copying has ended.
	var stderr bytes.Buffer
	// Only this start's part of the log tells whether it is serving.
	var logStart int64
	if fi, err := os.Stat(k.logFile); err == nil {
		logStart = fi.Size()
	}
	cmd := exec.Command(k.tools.KDC, "-n", "-r", k.Realm)
	cmd.Env = k.env
	cmd.Dir = k.Dir
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting krb5kdc: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		// Kill is the end of a test KDC: it holds nothing worth flushing.
		_ = cmd.Process.Kill()
		// The exit status of a killed KDC says only that it was killed.
		if err := <-exited; err != nil {
			return
		}
	}

	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", k.Addr)
		if err == nil {
			_ = c.Close()
		}
		// The port answering is not enough: between the probe and
		// krb5kdc's bind another process may have taken it. krb5kdc
		// logs "commencing operation" once its sockets are set up.
		if err == nil && k.commenced(logStart) {
			var once sync.Once
			k.stop = func() { once.Do(stop) }
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("krb5kdc on %s exited before serving: %w: %s%s", k.Addr, err, stderr.String(), k.tail())
		case <-ctx.Done():
			stop()
			return fmt.Errorf("krb5kdc on %s did not accept connections: %w%s", k.Addr, ctx.Err(), k.tail())
		case <-tick.C:
		}
	}
}

// commenced reports whether krb5kdc logged, after offset from, that it
// commenced operation.
func (k *KDC) commenced(from int64) bool {
	b, err := os.ReadFile(k.logFile)
	if err != nil || int64(len(b)) < from {
		return false
	}
	return bytes.Contains(b[from:], []byte("commencing operation"))
}

func (k *KDC) tail() string {
	b, err := os.ReadFile(k.logFile)
	if err != nil {
		return ""
	}
	return "\nkdc.log:\n" + string(b)
}

// Keytab returns the path of the keytab holding HTTP/<host>'s key; it fails
// t for a host Start was not given.
func (k *KDC) Keytab(t testing.TB, host string) string {
	t.Helper()
	p, ok := k.keytabs[host]
	if !ok {
		t.Fatalf("kdctest: no service principal for host %q", host)
	}
	return p
}

// Env returns the environment a Kerberos client process needs: KRB5_CONFIG
// pointing at Krb5Conf and KRB5CCNAME at ccache (a file path).
func (k *KDC) Env(ccache string) []string {
	return []string{"KRB5_CONFIG=" + k.Krb5Conf, "KRB5CCNAME=FILE:" + ccache}
}

// Kinit gets the operator a TGT with the password into the ticket cache
// file ccache, as an operator would before running a tool.
func (k *KDC) Kinit(ctx context.Context, ccache string) error {
	return k.kinit(ctx, ccache)
}

// KinitFor is Kinit asking for a ticket that lives for life (kinit -l),
// so tests can meet an expired ticket cache.
func (k *KDC) KinitFor(ctx context.Context, ccache string, life time.Duration) error {
	return k.kinit(ctx, ccache, "-l", fmt.Sprintf("%ds", int(life.Seconds())))
}

func (k *KDC) kinit(ctx context.Context, ccache string, args ...string) error {
	cmd := exec.CommandContext(ctx, k.tools.Kinit, append(args, k.Operator)...)
	cmd.Env = append(k.Env(ccache), "PATH=/usr/bin:/bin")
	cmd.Stdin = strings.NewReader(k.Password + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("kinit %s: %w: %s", k.Operator, err, out)
	}
	return nil
}

// Exchange is one ticket the KDC issued, from its log.
type Exchange struct {
	// Kind is "AS" (a TGT, or a ticket got with a password or key) or
	// "TGS" (a service ticket got with a TGT).
	Kind string
	// Client and Server are the principals, with realm.
	Client, Server string
}

// Issued returns the tickets the KDC issued so far, in order. Refusals
// (pre-authentication needed, unknown principals, wrong passwords) are not
// issued tickets; Errors lists them.
func (k *KDC) Issued() ([]Exchange, error) {
	lines, err := k.logLines()
	if err != nil {
		return nil, err
	}
	var out []Exchange
	for _, l := range lines {
		kind, rest, ok := exchangeLine(l)
		if !ok || !strings.Contains(rest, ": ISSUE: ") {
			continue
		}
		// "..., operator@R for krbtgt/R@R"
		i := strings.LastIndex(rest, "}, ")
		if i < 0 {
			continue
		}
		client, server, ok := strings.Cut(rest[i+3:], " for ")
		if !ok {
			continue
		}
		out = append(out, Exchange{Kind: kind, Client: client, Server: strings.TrimSpace(server)})
	}
	return out, nil
}

// Errors returns the KDC's answers that were no ticket, as the log's lines
// after the address ("NEEDED_PREAUTH: operator@R for krbtgt/R@R, Additional
// pre-authentication required"), in order.
func (k *KDC) Errors() ([]string, error) {
	lines, err := k.logLines()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range lines {
		_, rest, ok := exchangeLine(l)
		if !ok || strings.Contains(rest, ": ISSUE: ") {
			continue
		}
		// "(1 etypes {...}) 127.0.0.1: NEEDED_PREAUTH: ..."
		if _, after, ok := strings.Cut(rest, ") "); ok {
			if _, msg, ok := strings.Cut(after, ": "); ok {
				out = append(out, msg)
				continue
			}
		}
		out = append(out, rest)
	}
	return out, nil
}

// Count returns how many tickets of kind ("AS" or "TGS") the KDC issued
// for server (a principal with realm; empty for any).
func (k *KDC) Count(kind, server string) (int, error) {
	ex, err := k.Issued()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ex {
		if e.Kind == kind && (server == "" || e.Server == server) {
			n++
		}
	}
	return n, nil
}

// Log returns the KDC's log so far.
func (k *KDC) Log() (string, error) {
	b, err := os.ReadFile(k.logFile)
	if err != nil {
		return "", fmt.Errorf("reading the kdc log: %w", err)
	}
	return string(b), nil
}

func (k *KDC) logLines() ([]string, error) {
	text, err := k.Log()
	if err != nil {
		return nil, err
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, sc.Err()
}

// exchangeLine splits a log line "... krb5kdc[N](info): AS_REQ (...) ..."
// into its kind and the rest.
func exchangeLine(l string) (kind, rest string, ok bool) {
	for _, k := range []string{"AS", "TGS"} {
		if _, after, found := strings.Cut(l, "): "+k+"_REQ "); found {
			return k, after, true
		}
	}
	return "", "", false
}
