package sim

import (
	"regexp"
	"strings"
	"time"
)

// HostConfig is everything that makes one simulated host what it is. The
// fleet fills it from FleetOptions and the scenario; zero values mean the
// profile's or Windows' defaults where one exists.
type HostConfig struct {
	// Name is the machine name (COMPUTERNAME), such as sim-0001.
	Name string
	// Group is the scenario group that configured the host ("" if none);
	// it becomes the inventory tag "group".
	Group string
	// Address and Port are where the host listens; Port 0 picks a free one.
	Address string
	Port    int

	User     string
	Password string

	Profile Profile
	// Quotas start as the profile's and may be overridden per host.
	Quotas Quotas

	// HTTPS serves TLS with the fleet's generated certificate.
	HTTPS bool
	// TLSName, when set on an HTTPS host, makes it serve a certificate
	// (from the fleet's CA) for that name only — a certificate for another
	// machine, as after a host was renamed or cloned.
	TLSName string
	// Basic and Negotiate are the authentication schemes offered.
	Basic     bool
	Negotiate bool
	// AllowUnencrypted is the WinRM service setting: false (Windows'
	// default) refuses unsealed messages over plain HTTP.
	AllowUnencrypted bool
	// Keytab, when not empty, is the path of a keytab holding the host's
	// Kerberos service key (HTTP/<Name>@REALM, the SPN Windows registers
	// for WinRM): the host then accepts Kerberos, through the Kerberos
	// and Negotiate schemes, with message encryption.
	Keytab string

	// OutputEncoding is the host's code page: "utf-8", or "cp932" for a
	// Japanese Windows (ANSI and OEM code page 932, OSLanguage 1041, OEM
	// code page 932 for shells that name none). Legacy programs write it
	// whatever the shell's code page; cmd.exe's built-ins and the
	// launcher's PowerShell write the console's (programs_encoding.go).
	OutputEncoding string

	// Latency is added to every WS-Man operation (after authentication).
	Latency time.Duration
	// ProcessStart is the cost of starting each command's process.
	ProcessStart time.Duration
	// RebootDuration is how long the host stays offline after shutdown /r.
	RebootDuration time.Duration

	Faults Faults

	// Rules answer PowerShell scripts by their text, first match wins.
	Rules []ScriptRule
	// Files are extra files of the virtual file system (path → content).
	Files map[string]string
	// InstalledKBs are updates already installed (wusa answers "already
	// installed" for them), written like "KB2842230".
	InstalledKBs []string
	// Tags are written into the fleet's inventory as the host's tags (with
	// profile and group), so playbooks can select simulated hosts the way
	// they select real ones (role=web, env=prod).
	Tags map[string]string

	// PowerShellProgress makes -EncodedCommand scripts (other than
	// fleetrun's launcher) write the "Preparing modules for first use."
	// progress record as CLIXML on stderr, as Windows PowerShell 5.1 does
	// when its output is redirected; errors then travel as CLIXML too.
	// On by default for PowerShell 5.1 hosts.
	PowerShellProgress bool

	// Preflight answers the fleetrun preflight script.
	Preflight PreflightInfo

	// Account is what kind of account User is, which decides what a
	// network logon gets (UAC remote restrictions).
	Account Account
	// Delegation says the host receives delegable credentials (CredSSP,
	// Kerberos delegation), so a WinRS process may reach file shares on
	// other machines (the second hop).
	Delegation bool
	// Services sets services' states by name (true: running); services
	// not named keep the defaults (see machine.go).
	Services map[string]bool
	// AvailableUpdates are updates Windows Update offers the host (a
	// Windows Update Agent search finds those not installed yet).
	AvailableUpdates []string
}

// AccountKind is what kind of account the host's user is.
type AccountKind string

// Account kinds.
const (
	// AccountLocalAdmin: a local account in Administrators other than the
	// built-in Administrator; UAC filters its token on a network logon
	// unless LocalAccountTokenFilterPolicy is 1.
	AccountLocalAdmin AccountKind = "local_admin"
	// AccountBuiltinAdmin: the built-in Administrator (RID 500), which UAC
	// does not filter (FilterAdministratorToken off, the default).
	AccountBuiltinAdmin AccountKind = "builtin_admin"
	// AccountDomainAdmin: a domain account in the local Administrators
	// group; UAC remote restrictions do not apply to domain accounts.
	AccountDomainAdmin AccountKind = "domain_admin"
	// AccountNonAdmin: a member of Remote Management Users only: it may
	// open WinRS shells but is no administrator.
	AccountNonAdmin AccountKind = "non_admin"
)

// Account describes the host's user account and the UAC setting that
// applies to it.
type Account struct {
	Kind AccountKind
	// TokenFilterPolicy is HKLM\...\Policies\System
	// LocalAccountTokenFilterPolicy: 1 (what Enable-PSRemoting and winrm
	// quickconfig set, the simulator's default) gives local administrators
	// their full token over the network; 0 (Windows' own default) filters
	// it (KB 951016).
	TokenFilterPolicy int
}

// filteredOverNetwork reports whether a network logon of this account gets
// a filtered token: Administrators membership turned off, which WinRM's
// default RootSDDL (Administrators, Remote Management Users) then refuses
// (KB 951016; pywinrm issue 188: "the specified credentials were rejected
// by the server" for a non-built-in local administrator until the policy
// was set to 1).
func (a Account) filteredOverNetwork() bool {
	return a.Kind == AccountLocalAdmin && a.TokenFilterPolicy == 0
}

// admin reports whether a network logon of the account is a full
// administrator's.
func (a Account) admin() bool {
	return a.Kind != AccountNonAdmin && !a.filteredOverNetwork()
}

// Faults are the failures a host injects.
type Faults struct {
	// Refused: nothing listens on the host's port.
	Refused bool
	// Hang accepts connections and never answers them (the first Hang.N
	// connections, or all when Hang.Always).
	Hang Times
	// ResetMidReceive resets the TCP connection instead of answering a
	// Receive.
	ResetMidReceive Times
	// HTTP500Garbage answers requests with HTTP 500 and a body that is not
	// SOAP.
	HTTP500Garbage Times
	// Flaky resets the first Flaky connections right after accepting them.
	Flaky int
	// SlowStart is added to every process start on top of ProcessStart.
	SlowStart time.Duration
	// NeverReturns keeps the host offline for good once shutdown /r takes
	// it down: a restart that never comes back (a failed boot, an update
	// stuck while applying).
	NeverReturns bool
}

// Times says how often a failure happens: always, or the first N times.
type Times struct {
	Always bool
	N      int
}

// active reports whether a failure applies to occurrence number n
// (1-based).
func (t Times) active(n int64) bool { return t.Always || n <= int64(t.N) }

// ScriptRule answers PowerShell scripts whose text matches.
type ScriptRule struct {
	// Contains matches when the script contains this text; Regexp when the
	// expression matches. A rule has exactly one of them.
	Contains string
	Regexp   *regexp.Regexp

	Stdout   string
	Stderr   string
	ExitCode uint32
	// Delay is how long the script runs before it writes and exits.
	Delay time.Duration
	// MemoryMB is what the script needs; above the shell's
	// MaxMemoryPerShellMB it fails with PowerShell's out-of-memory error.
	MemoryMB int
}

func (r *ScriptRule) match(script string) bool {
	if r.Regexp != nil {
		return r.Regexp.MatchString(script)
	}
	return r.Contains != "" && strings.Contains(script, r.Contains)
}

// PreflightInfo is what the fleetrun preflight script reports.
type PreflightInfo struct {
	PSVersion         string
	ExecutionPolicy64 string
	ExecutionPolicy32 string
	SystemDrive       string
	DiskFreeBytes     int64
	DiskTotalBytes    int64
}
