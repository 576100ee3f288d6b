// Package inventory describes the hosts fleetrun acts on: the Host type,
// static YAML inventory files with defaults and groups, host selectors, and
// where a host's password comes from.
//
// It leaves discovery from cloud APIs to its sub-packages (inventory/ec2)
// and connecting to hosts to the transports.
package inventory

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Host is one machine to act on, with its connection settings resolved
// (defaults, then group settings, then the host's own).
type Host struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Port    int    `json:"port"`
	HTTPS   bool   `json:"https"`
	// Auth is basic, ntlm, kerberos or certificate.
	Auth string `json:"auth"`
	User string `json:"user,omitempty"`
	// PasswordEnv and PasswordFile say where the password comes from; the
	// password itself is never stored in a Host.
	PasswordEnv        string        `json:"password_env,omitempty"`
	PasswordFile       string        `json:"password_file,omitempty"`
	CAFile             string        `json:"ca_file,omitempty"`
	ClientCert         string        `json:"client_cert,omitempty"`
	ClientKey          string        `json:"client_key,omitempty"`
	InsecureSkipVerify bool          `json:"insecure_skip_verify,omitempty"`
	AllowUnencrypted   bool          `json:"allow_unencrypted,omitempty"`
	OutputEncoding     string        `json:"output_encoding"`
	ConnectTimeout     time.Duration `json:"-"`
	// Transport is how the host is reached: winrm (default) or ssm.
	Transport string `json:"transport"`
	// SPN is the Kerberos service principal of the host (auth: kerberos),
	// such as HTTP/web-01.corp.example; empty means HTTP/<address>. Hosts
	// reached by IP address need it.
	SPN string `json:"spn,omitempty"`
	// Keytab is the path of a keytab holding the user's keys (auth:
	// kerberos), used when the host has no password.
	Keytab string `json:"keytab,omitempty"`
	// SSM are the host's AWS Systems Manager settings (transport: ssm):
	// the instance, its region and how to reach the API. They reach the
	// transport as transport.Target.SSM, never among the template Vars.
	SSM    SSMSettings       `json:"ssm,omitzero"`
	Groups []string          `json:"groups,omitempty"`
	Tags   map[string]string `json:"tags,omitempty"`
	// Vars are the host's template variables, merged from inventory
	// defaults, groups and the host (highest wins).
	Vars map[string]any `json:"vars,omitempty"`
	// Source says where the host was defined: an inventory file, "ec2" or
	// "simulated".
	Source string `json:"source"`
	// Simulated marks hosts of a simulated fleet, so output can say so.
	Simulated bool `json:"simulated,omitempty"`
	// Unusable, when not empty, says why the host cannot be contacted (for
	// example an EC2 instance without the chosen address); such hosts are
	// reported as skipped with this reason.
	Unusable string `json:"unusable,omitempty"`

	// PasswordFunc, when set, supplies the password at connect time (EC2
	// GetPasswordData) and takes precedence over PasswordEnv and
	// PasswordFile. It is never serialised.
	PasswordFunc func(ctx context.Context) (string, error) `json:"-"`
}

// Scheme returns "https" or "http".
func (h *Host) Scheme() string {
	if h.HTTPS {
		return "https"
	}
	return "http"
}

// Endpoint returns the WinRM URL of the host.
func (h *Host) Endpoint() string {
	addr := h.Address
	if strings.Contains(addr, ":") && !strings.HasPrefix(addr, "[") {
		addr = "[" + addr + "]" // IPv6 literal
	}
	return fmt.Sprintf("%s://%s:%d/wsman", h.Scheme(), addr, h.Port)
}

// Password returns the host's password: from its PasswordFunc (EC2
// GetPasswordData, called with ctx, so fetching stops when ctx ends), its
// environment variable or its file. lookupEnv is os.LookupEnv in the
// program and a fake in tests. A password file must be a regular file of
// at most MaxPasswordFileSize bytes, readable by its owner only. A host with
// no source has an empty password (certificate and Kerberos auth need none).
func (h *Host) Password(ctx context.Context, lookupEnv func(string) (string, bool)) (string, error) {
	switch {
	case h.PasswordFunc != nil:
		return h.PasswordFunc(ctx)
	case h.PasswordEnv != "":
		v, ok := lookupEnv(h.PasswordEnv)
		if !ok {
			return "", fmt.Errorf("host %s: password_env %s is not set in the environment", h.Name, h.PasswordEnv)
		}
		return v, nil
	case h.PasswordFile != "":
		return readPasswordFile(h.PasswordFile)
	}
	return "", nil
}

// MaxPasswordFileSize is the largest password_file fleetrun reads; a
// password is a line of text, and a larger file is a wrong path.
const MaxPasswordFileSize = 4 << 10

func readPasswordFile(path string) (string, error) {
	// The file is looked at for every host; it is read again only when it
	// is not the file last read under that path, or it changed since.
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	if err := checkSecretFile("password file", path, fi, MaxPasswordFileSize); err != nil {
		return "", err
	}
	passwordFiles.Lock()
	c, ok := passwordFiles.m[path]
	passwordFiles.Unlock()
	if ok && sameFileVersion(c.fi, fi) {
		return c.password, nil
	}
	data, err := ReadSecretFile("password file", path, MaxPasswordFileSize)
	if err != nil {
		return "", err
	}
	pw := strings.TrimRight(string(data), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("password file %s is empty", path)
	}
	// Kept under fi, looked at before the read: should the file have
	// changed in between, the next host finds it changed and reads it
	// again.
	passwordFiles.Lock()
	passwordFiles.m[path] = readPassword{fi: fi, password: pw}
	passwordFiles.Unlock()
	return pw, nil
}

// passwordFiles holds the password last read from each password file,
// with the file's state when it was read: with 10,000 hosts sharing one
// file, opening and reading it for each (a dozen system calls) was 4 % of
// the controller's CPU.
var passwordFiles = struct {
	sync.Mutex
	m map[string]readPassword
}{m: map[string]readPassword{}}

type readPassword struct {
	fi       os.FileInfo
	password string
}

// sameFileVersion reports whether b is the file a was, unchanged: the same
// file (device and inode), size, modification time and mode. A file
// rewritten in place to the same size within one tick of its file
// system's clock looks unchanged; every common Linux file system keeps
// nanoseconds.
func sameFileVersion(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime()) && a.Mode() == b.Mode()
}

// ReadSecretFile reads a file holding a secret (a password, a private
// key), named what in errors: a regular file (not a FIFO, device or
// folder, which could block or never end), readable by its owner only, and
// of at most limit bytes, of which no more are read.
func ReadSecretFile(what, path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := checkSecretFile(what, path, fi, limit); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close() //nolint:errcheck // read-only
	// The file may have been replaced between Stat and Open: check what
	// was opened, then read at most one byte past the limit.
	if fi, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := checkSecretFile(what, path, fi, limit); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s %s is larger than %d bytes; is it the right file?", what, path, limit)
	}
	return data, nil
}

func checkSecretFile(what, path string, fi os.FileInfo, limit int64) error {
	switch {
	case fi.IsDir():
		return fmt.Errorf("%s %s is a folder, not a file", what, path)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s %s is not a regular file (%s); give the path of a file", what, path, fileKind(fi.Mode()))
	case fi.Mode().Perm()&0o077 != 0:
		perm := fi.Mode().Perm()
		return fmt.Errorf("%s %s is readable by group or others (mode %04o); run chmod 600 %s", what, path, perm, path)
	case fi.Size() > limit:
		return fmt.Errorf("%s %s is %d bytes, larger than %d; is it the right file?", what, path, fi.Size(), limit)
	}
	return nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}

// Inventory is the merged result of one or more inventory files.
type Inventory struct {
	// Hosts in file order, then in the order files were given.
	Hosts []*Host
	// Files are the inventory files that were read.
	Files []string
	// Simulated is set when an inventory asks for a simulated fleet.
	Simulated *Simulated
	// EC2 lists the `ec2:` sections to discover hosts from, in file order.
	EC2 []*EC2Spec
	// Layers keep each file's defaults and groups so that hosts found later
	// (by discovery or a simulated fleet) get the same settings.
	Layers []*Layer
}

// Simulated asks fleetrun to start a simulated fleet in-process instead of
// contacting real hosts (used by demos and the quick start).
type Simulated struct {
	Hosts    int    `json:"hosts"`
	Profile  string `json:"profile,omitempty"`
	Scenario string `json:"scenario,omitempty"` // resolved against the inventory's folder
	HTTPS    bool   `json:"https,omitempty"`
	// Transport is how fleetrun reaches the simulated hosts: winrm (the
	// default) or ssm (the fleet then also serves the SSM API).
	Transport string `json:"transport,omitempty"`
	// File is the inventory file that declared the fleet.
	File string `json:"-"`
}

// Select returns the hosts sel matches, in inventory order.
func (inv *Inventory) Select(sel Selector) []*Host {
	var out []*Host
	for _, h := range inv.Hosts {
		if sel.Match(h) {
			out = append(out, h)
		}
	}
	return out
}

// Merge combines inventories in order. Host names must be unique across all
// of them (compared case-insensitively, as Windows does).
func Merge(invs ...*Inventory) (*Inventory, error) {
	out := &Inventory{}
	seen := map[string]string{}
	var dups []string
	for _, inv := range invs {
		out.Files = append(out.Files, inv.Files...)
		out.Layers = append(out.Layers, inv.Layers...)
		out.EC2 = append(out.EC2, inv.EC2...)
		if inv.Simulated != nil {
			if out.Simulated != nil {
				return nil, fmt.Errorf("%s: a simulated fleet is already declared in %s; declare one per run", inv.Simulated.File, out.Simulated.File)
			}
			out.Simulated = inv.Simulated
		}
		for _, h := range inv.Hosts {
			key := strings.ToLower(h.Name)
			if prev, ok := seen[key]; ok {
				dups = append(dups, fmt.Sprintf("host %q is defined in both %s and %s", h.Name, prev, h.Source))
				continue
			}
			seen[key] = h.Source
			out.Hosts = append(out.Hosts, h)
		}
	}
	if len(dups) > 0 {
		sort.Strings(dups)
		return nil, fmt.Errorf("%s", strings.Join(dups, "\n"))
	}
	return out, nil
}

// resolvePath makes a path from an inventory file absolute against the
// file's folder; empty stays empty.
func resolvePath(invFile, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(invFile), p)
}
