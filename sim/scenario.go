package sim

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/fleetrun/fleetrun/internal/strictyaml"
)

// MaxHosts bounds a simulated fleet's size (a scenario's hosts, a group's
// count, --hosts): every host costs memory and a listener, and beyond this
// a typo would exhaust the machine rather than be reported.
const MaxHosts = 100000

// Scenario configures a simulated fleet: fleet-wide defaults, groups of
// hosts chosen by name pattern or count, and single hosts by name. Later,
// more specific levels override earlier ones key by key; script rules of
// the more specific level are tried first. The format is documented in
// README ("The simulated fleet").
type Scenario struct {
	// File is where the scenario came from (for messages).
	File string
	// Hosts is the fleet size the scenario asks for; 0 leaves it to the
	// caller.
	Hosts    int
	Defaults Settings
	Groups   []Group
	// HostOverrides are settings for single hosts, by name.
	HostOverrides map[string]Settings
}

// Group is a named set of hosts with their own settings.
type Group struct {
	Name string
	// Pattern selects hosts by name (path.Match syntax, case-insensitive);
	// Count selects the next Count hosts no earlier group claimed.
	Pattern string
	Count   int
	Settings
}

// Settings are the host settings a scenario level may set; nil or empty
// means "not set at this level".
type Settings struct {
	Profile          *string
	User             *string
	Password         *string
	HTTPS            *bool
	Auth             []string
	AllowUnencrypted *bool
	Latency          *time.Duration
	ProcessStart     *time.Duration
	OutputEncoding   *string
	RebootDuration   *time.Duration
	Quotas           QuotaOverrides
	Faults           FaultSettings
	Rules            []ScriptRule
	Files            map[string]string
	InstalledKBs     []string
	Preflight        PreflightOverrides
	// PowerShellProgress, see HostConfig.PowerShellProgress.
	PowerShellProgress *bool
	// Tags are added to the host's tags in the written inventory.
	Tags map[string]string
	// TLSName, see HostConfig.TLSName.
	TLSName *string
	// Keytab, see HostConfig.Keytab; a relative path is resolved against
	// the scenario file's folder.
	Keytab *string
	// Account and TokenFilterPolicy, see HostConfig.Account.
	Account           *AccountKind
	TokenFilterPolicy *int
	// Delegation, see HostConfig.Delegation.
	Delegation *bool
	// Services set services' states; maps merge level by level.
	Services map[string]bool
	// AvailableUpdates add up level by level, like InstalledKBs.
	AvailableUpdates []string
}

// QuotaOverrides change single WinRM settings of a host.
type QuotaOverrides struct {
	MaxShellsPerUser               *int
	MaxConcurrentUsers             *int
	MaxProcessesPerShell           *int
	MaxMemoryPerShellMB            *int
	IdleTimeout                    *time.Duration
	MaxConcurrentOperationsPerUser *int
	MaxEnvelopeSizeKB              *int
	MaxTimeout                     *time.Duration
}

// FaultSettings are the failure injections a level sets.
type FaultSettings struct {
	Refused         *bool
	Hang            *Times
	ResetMidReceive *Times
	HTTP500Garbage  *Times
	Flaky           *int
	SlowStart       *time.Duration
	NeverReturns    *bool
}

// PreflightOverrides change what the preflight script reports.
type PreflightOverrides struct {
	PSVersion         *string
	ExecutionPolicy64 *string
	ExecutionPolicy32 *string
	DiskFreeBytes     *int64
	DiskTotalBytes    *int64
}

// LoadScenario reads and checks a scenario file.
func LoadScenario(file string) (*Scenario, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	return ParseScenario(file, data)
}

// ParseScenario parses a scenario document. Every problem is reported with
// file:line:col and the key path; unknown keys are errors.
func ParseScenario(file string, data []byte) (*Scenario, error) {
	root, err := strictyaml.Parse(file, data)
	if err != nil {
		return nil, err
	}
	d := strictyaml.NewDecoder(file)
	var doc scenarioDoc
	d.Decode(root, "", &doc)
	sc := &Scenario{File: file, Hosts: doc.Hosts, HostOverrides: map[string]Settings{}}
	if doc.Hosts < 0 || doc.Hosts > MaxHosts {
		d.Errorf(doc.Pos.Value("hosts"), "hosts", "a simulated fleet has between 1 and %d hosts (0 or no key: the fleet's own count), found %d", MaxHosts, doc.Hosts)
	}
	sc.Defaults = doc.Defaults.settings(d, "defaults")
	names := map[string]bool{}
	for i, g := range doc.Groups {
		p := strictyaml.JoinIndex("groups", i)
		if g.Name == "" {
			d.Errorf(g.Pos.Node, p, "a group needs a name")
		} else if names[strings.ToLower(g.Name)] {
			d.Errorf(g.Pos.Value("name"), strictyaml.JoinKey(p, "name"), "duplicate group name %q", g.Name)
		}
		names[strings.ToLower(g.Name)] = true
		switch {
		case g.Pos.Has("hosts") == g.Pos.Has("count"):
			d.Errorf(g.Pos.Node, p, "a group selects hosts with exactly one of hosts (a name pattern) or count")
		case g.Pos.Has("hosts"):
			if _, err := path.Match(strings.ToLower(g.Hosts), ""); err != nil {
				d.Errorf(g.Pos.Value("hosts"), strictyaml.JoinKey(p, "hosts"), "bad name pattern %q: %v", g.Hosts, err)
			}
		case g.Count <= 0 || g.Count > MaxHosts:
			d.Errorf(g.Pos.Value("count"), strictyaml.JoinKey(p, "count"), "count must be between 1 and %d, found %d", MaxHosts, g.Count)
		}
		sc.Groups = append(sc.Groups, Group{Name: g.Name, Pattern: g.Hosts, Count: g.Count, Settings: g.settings(d, p)})
	}
	for name, s := range doc.HostSettings {
		sc.HostOverrides[strings.ToLower(name)] = s.settings(d, strictyaml.JoinKey("host_settings", name))
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return sc, nil
}

// scenarioDoc is the file's shape.
type scenarioDoc struct {
	Pos          strictyaml.Pos
	Hosts        int                     `yaml:"hosts"`
	Defaults     settingsDoc             `yaml:"defaults"`
	Groups       []groupDoc              `yaml:"groups"`
	HostSettings map[string]*settingsDoc `yaml:"host_settings"`
}

type groupDoc struct {
	Pos         strictyaml.Pos
	Name        string `yaml:"name"`
	Hosts       string `yaml:"hosts"`
	Count       int    `yaml:"count"`
	settingsDoc `yaml:",inline"`
}

type settingsDoc struct {
	Pos              strictyaml.Pos
	Profile          *string           `yaml:"profile"`
	User             *string           `yaml:"user"`
	Password         *string           `yaml:"password"`
	HTTPS            *bool             `yaml:"https"`
	Auth             []string          `yaml:"auth"`
	AllowUnencrypted *bool             `yaml:"allow_unencrypted"`
	Latency          *time.Duration    `yaml:"latency"`
	ProcessStart     *time.Duration    `yaml:"process_start"`
	OutputEncoding   *string           `yaml:"output_encoding"`
	RebootDuration   *time.Duration    `yaml:"reboot_duration"`
	Quotas           *quotasDoc        `yaml:"quotas"`
	Faults           *faultsDoc        `yaml:"faults"`
	Rules            []ruleDoc         `yaml:"rules"`
	Files            map[string]string `yaml:"files"`
	InstalledKBs     []string          `yaml:"installed_kbs"`
	Tags             map[string]string `yaml:"tags"`
	TLSName          *string           `yaml:"tls_name"`
	Keytab           *string           `yaml:"keytab"`
	Preflight        *preflightDoc     `yaml:"preflight"`
	PSProgress       *bool             `yaml:"powershell_progress"`
	Account          *string           `yaml:"account"`
	TokenFilter      *int              `yaml:"local_account_token_filter_policy"`
	Delegation       *bool             `yaml:"delegation"`
	Services         map[string]string `yaml:"services"`
	AvailableUpdates []string          `yaml:"available_updates"`
}

type quotasDoc struct {
	MaxShellsPerUser               *int           `yaml:"max_shells_per_user"`
	MaxConcurrentUsers             *int           `yaml:"max_concurrent_users"`
	MaxProcessesPerShell           *int           `yaml:"max_processes_per_shell"`
	MaxMemoryPerShellMB            *int           `yaml:"max_memory_per_shell_mb"`
	IdleTimeout                    *time.Duration `yaml:"idle_timeout"`
	MaxConcurrentOperationsPerUser *int           `yaml:"max_concurrent_operations_per_user"`
	MaxEnvelopeSizeKB              *int           `yaml:"max_envelope_size_kb"`
	MaxTimeout                     *time.Duration `yaml:"max_timeout"`
}

type faultsDoc struct {
	Refused         *bool          `yaml:"refused"`
	Hang            *Times         `yaml:"hang"`
	ResetMidReceive *Times         `yaml:"reset_mid_receive"`
	HTTP500Garbage  *Times         `yaml:"http500_garbage"`
	Flaky           *int           `yaml:"flaky"`
	SlowStart       *time.Duration `yaml:"slow_start"`
	NeverReturns    *bool          `yaml:"never_returns"`
}

type ruleDoc struct {
	Pos      strictyaml.Pos
	Match    string        `yaml:"match"`
	Regex    string        `yaml:"regex"`
	Stdout   string        `yaml:"stdout"`
	Stderr   string        `yaml:"stderr"`
	Exit     dword         `yaml:"exit"`
	Delay    time.Duration `yaml:"delay"`
	MemoryMB int           `yaml:"memory_mb"`
}

type preflightDoc struct {
	PSVersion         *string     `yaml:"powershell_version"`
	ExecutionPolicy64 *string     `yaml:"execution_policy_64"`
	ExecutionPolicy32 *string     `yaml:"execution_policy_32"`
	DiskFreeBytes     *bytesCount `yaml:"disk_free_bytes"`
	DiskTotalBytes    *bytesCount `yaml:"disk_total_bytes"`
}

// dword is an exit code: 0 to 4294967295, or a negative int32 meaning the
// same DWORD.
type dword uint32

// UnmarshalStrictYAML implements strictyaml.Unmarshaler.
func (v *dword) UnmarshalStrictYAML(d *strictyaml.Decoder, n *yaml.Node, p string) {
	if i, ok := d.Int(n, p, math.MinInt32, math.MaxUint32); ok {
		*v = dword(uint32(i))
	}
}

// bytesCount is a non-negative 64-bit size.
type bytesCount int64

// UnmarshalStrictYAML implements strictyaml.Unmarshaler.
func (v *bytesCount) UnmarshalStrictYAML(d *strictyaml.Decoder, n *yaml.Node, p string) {
	if i, ok := d.Int(n, p, 0, math.MaxInt64); ok {
		*v = bytesCount(i)
	}
}

// UnmarshalStrictYAML reads a failure frequency: true (always), false
// (never) or a count N (the first N times).
func (t *Times) UnmarshalStrictYAML(d *strictyaml.Decoder, n *yaml.Node, p string) {
	if n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		if b, ok := d.Bool(n, p); ok {
			*t = Times{Always: b}
		}
		return
	}
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.Errorf(n, p, "expected true, false or a count, found %s", strictyaml.KindName(n))
		return
	}
	if i, ok := d.Int(n, p, 0, math.MaxInt32); ok {
		*t = Times{N: int(i)}
	}
}

var encodings = map[string]string{"utf-8": "utf-8", "utf8": "utf-8", "cp932": "cp932", "shift_jis": "cp932", "windows-31j": "cp932"}

// settings validates a level and converts it.
func (s *settingsDoc) settings(d *strictyaml.Decoder, p string) Settings {
	if s == nil {
		return Settings{}
	}
	out := Settings{
		Profile: s.Profile, User: s.User, Password: s.Password, HTTPS: s.HTTPS,
		AllowUnencrypted: s.AllowUnencrypted, Latency: s.Latency, ProcessStart: s.ProcessStart,
		RebootDuration: s.RebootDuration, Files: s.Files, InstalledKBs: s.InstalledKBs,
		PowerShellProgress: s.PSProgress, Tags: s.Tags, TLSName: s.TLSName,
	}
	if s.Keytab != nil {
		kt := *s.Keytab
		if kt != "" && !filepath.IsAbs(kt) {
			kt = filepath.Join(filepath.Dir(d.File), kt)
		}
		out.Keytab = &kt
	}
	if s.Account != nil {
		switch k := AccountKind(strings.ToLower(*s.Account)); k {
		case AccountLocalAdmin, AccountBuiltinAdmin, AccountDomainAdmin, AccountNonAdmin:
			out.Account = &k
		default:
			d.Errorf(s.Pos.Value("account"), strictyaml.JoinKey(p, "account"), "unknown account kind %q; expected local_admin, builtin_admin, domain_admin or non_admin", *s.Account)
		}
	}
	if s.TokenFilter != nil {
		if *s.TokenFilter != 0 && *s.TokenFilter != 1 {
			d.Errorf(s.Pos.Value("local_account_token_filter_policy"), strictyaml.JoinKey(p, "local_account_token_filter_policy"), "local_account_token_filter_policy is 0 or 1, found %d", *s.TokenFilter)
		}
		out.TokenFilterPolicy = s.TokenFilter
	}
	out.Delegation = s.Delegation
	out.AvailableUpdates = s.AvailableUpdates
	for i, kb := range s.AvailableUpdates {
		if !kbRE.MatchString(kb) {
			d.Errorf(s.Pos.Value("available_updates").Content[i], strictyaml.JoinIndex(strictyaml.JoinKey(p, "available_updates"), i), "%q is not a KB number such as KB2842230", kb)
		}
	}
	for name, state := range s.Services {
		switch strings.ToLower(state) {
		case "running", "stopped":
			if out.Services == nil {
				out.Services = map[string]bool{}
			}
			out.Services[name] = strings.EqualFold(state, "running")
		default:
			d.Errorf(s.Pos.Value("services"), strictyaml.JoinKey(strictyaml.JoinKey(p, "services"), name), "service state %q; expected running or stopped", state)
		}
		if name == "" || strings.ContainsAny(name, `\/ `) {
			d.Errorf(s.Pos.Value("services"), strictyaml.JoinKey(p, "services"), "service name %q is empty or contains a space or a slash", name)
		}
	}
	if s.TLSName != nil && (*s.TLSName == "" || strings.ContainsAny(*s.TLSName, " /\\")) {
		d.Errorf(s.Pos.Value("tls_name"), strictyaml.JoinKey(p, "tls_name"), "tls_name %q is not a DNS name", *s.TLSName)
	}
	for k := range s.Tags {
		if k == "" || k == "profile" || k == "group" || strings.ContainsAny(k, ",=!@\" ") {
			d.Errorf(s.Pos.Value("tags"), strictyaml.JoinKey(p, "tags"), "tag name %q is empty, reserved (profile, group) or contains one of , = ! @ \" or a space", k)
		}
	}
	if s.Profile != nil {
		if _, err := LookupProfile(*s.Profile); err != nil {
			d.Errorf(s.Pos.Value("profile"), strictyaml.JoinKey(p, "profile"), "%v", err)
		}
	}
	if s.User != nil && strings.TrimSpace(*s.User) == "" {
		d.Errorf(s.Pos.Value("user"), strictyaml.JoinKey(p, "user"), "user must not be empty")
	}
	if s.OutputEncoding != nil {
		enc, ok := encodings[strings.ToLower(*s.OutputEncoding)]
		if !ok {
			d.Errorf(s.Pos.Value("output_encoding"), strictyaml.JoinKey(p, "output_encoding"), "unknown output encoding %q; expected utf-8 or cp932", *s.OutputEncoding)
		}
		out.OutputEncoding = &enc
	}
	for i, a := range s.Auth {
		switch strings.ToLower(a) {
		case "basic", "ntlm", "negotiate":
			out.Auth = append(out.Auth, strings.ToLower(a))
		default:
			d.Errorf(s.Pos.Value("auth").Content[i], strictyaml.JoinIndex(strictyaml.JoinKey(p, "auth"), i), "unknown auth scheme %q; expected basic or ntlm", a)
		}
	}
	if s.Pos.Has("auth") && len(s.Auth) == 0 {
		d.Errorf(s.Pos.Value("auth"), strictyaml.JoinKey(p, "auth"), "auth must offer at least one scheme")
	}
	if q := s.Quotas; q != nil {
		out.Quotas = QuotaOverrides{
			MaxShellsPerUser: q.MaxShellsPerUser, MaxConcurrentUsers: q.MaxConcurrentUsers,
			MaxProcessesPerShell: q.MaxProcessesPerShell, MaxMemoryPerShellMB: q.MaxMemoryPerShellMB,
			IdleTimeout: q.IdleTimeout, MaxConcurrentOperationsPerUser: q.MaxConcurrentOperationsPerUser,
			MaxEnvelopeSizeKB: q.MaxEnvelopeSizeKB, MaxTimeout: q.MaxTimeout,
		}
		for _, v := range []*int{q.MaxShellsPerUser, q.MaxConcurrentUsers, q.MaxProcessesPerShell, q.MaxMemoryPerShellMB, q.MaxConcurrentOperationsPerUser, q.MaxEnvelopeSizeKB} {
			if v != nil && *v < 0 {
				d.Errorf(s.Pos.Value("quotas"), strictyaml.JoinKey(p, "quotas"), "quota values must not be negative")
				break
			}
		}
		if q.MaxEnvelopeSizeKB != nil && *q.MaxEnvelopeSizeKB < 32 {
			d.Errorf(s.Pos.Value("quotas"), strictyaml.JoinKey(p, "quotas.max_envelope_size_kb"), "max_envelope_size_kb must be at least 32")
		}
	}
	if f := s.Faults; f != nil {
		out.Faults = FaultSettings{Refused: f.Refused, Hang: f.Hang, ResetMidReceive: f.ResetMidReceive, HTTP500Garbage: f.HTTP500Garbage, Flaky: f.Flaky, SlowStart: f.SlowStart, NeverReturns: f.NeverReturns}
		if f.Flaky != nil && *f.Flaky < 0 {
			d.Errorf(s.Pos.Value("faults"), strictyaml.JoinKey(p, "faults.flaky"), "flaky must not be negative")
		}
	}
	for i, r := range s.Rules {
		rp := strictyaml.JoinIndex(strictyaml.JoinKey(p, "rules"), i)
		rule := ScriptRule{Contains: r.Match, Stdout: r.Stdout, Stderr: r.Stderr, ExitCode: uint32(r.Exit), Delay: r.Delay, MemoryMB: r.MemoryMB}
		switch {
		case r.Pos.Has("match") == r.Pos.Has("regex"):
			d.Errorf(r.Pos.Node, rp, "a rule needs exactly one of match (a substring) or regex")
		case r.Pos.Has("match") && r.Match == "":
			d.Errorf(r.Pos.Value("match"), strictyaml.JoinKey(rp, "match"), "match must not be empty")
		case r.Pos.Has("regex"):
			re, err := regexp.Compile(r.Regex)
			if err != nil {
				d.Errorf(r.Pos.Value("regex"), strictyaml.JoinKey(rp, "regex"), "bad regular expression: %v", err)
			}
			rule.Regexp = re
		}
		if r.MemoryMB < 0 {
			d.Errorf(r.Pos.Value("memory_mb"), strictyaml.JoinKey(rp, "memory_mb"), "memory_mb must not be negative")
		}
		out.Rules = append(out.Rules, rule)
	}
	for f := range s.Files {
		if !isAbsWindowsPath(f) {
			d.Errorf(s.Pos.Value("files"), strictyaml.JoinKey(p, "files"), "file %q needs an absolute Windows path such as C:\\scripts\\x.bat", f)
		}
	}
	for i, kb := range s.InstalledKBs {
		if !kbRE.MatchString(kb) {
			d.Errorf(s.Pos.Value("installed_kbs").Content[i], strictyaml.JoinIndex(strictyaml.JoinKey(p, "installed_kbs"), i), "%q is not a KB number such as KB2842230", kb)
		}
	}
	if pf := s.Preflight; pf != nil {
		out.Preflight = PreflightOverrides{PSVersion: pf.PSVersion, ExecutionPolicy64: pf.ExecutionPolicy64, ExecutionPolicy32: pf.ExecutionPolicy32}
		if pf.DiskFreeBytes != nil {
			v := int64(*pf.DiskFreeBytes)
			out.Preflight.DiskFreeBytes = &v
		}
		if pf.DiskTotalBytes != nil {
			v := int64(*pf.DiskTotalBytes)
			out.Preflight.DiskTotalBytes = &v
		}
	}
	return out
}

// assignGroups decides every host's group: each host gets the first group
// that selects it; a count group selects the next hosts that no earlier
// group claimed.
func (sc *Scenario) assignGroups(names []string) []*Group {
	out := make([]*Group, len(names))
	for gi := range sc.Groups {
		g := &sc.Groups[gi]
		left := g.Count
		for i, name := range names {
			if out[i] != nil {
				continue
			}
			if g.Pattern != "" {
				if ok, _ := path.Match(strings.ToLower(g.Pattern), strings.ToLower(name)); ok {
					out[i] = g
				}
				continue
			}
			if left > 0 {
				out[i] = g
				left--
			}
		}
	}
	return out
}

// apply layers s over cfg; the profile is chosen before (profileOf).
func (s *Settings) apply(cfg *HostConfig) {
	setIf(&cfg.User, s.User)
	setIf(&cfg.Password, s.Password)
	setIf(&cfg.HTTPS, s.HTTPS)
	setIf(&cfg.TLSName, s.TLSName)
	setIf(&cfg.Keytab, s.Keytab)
	if len(s.Auth) > 0 {
		cfg.Basic, cfg.Negotiate = false, false
		for _, a := range s.Auth {
			if a == "basic" {
				cfg.Basic = true
			} else {
				cfg.Negotiate = true
			}
		}
	}
	setIf(&cfg.AllowUnencrypted, s.AllowUnencrypted)
	setIf(&cfg.Latency, s.Latency)
	setIf(&cfg.ProcessStart, s.ProcessStart)
	setIf(&cfg.OutputEncoding, s.OutputEncoding)
	setIf(&cfg.RebootDuration, s.RebootDuration)
	q := &s.Quotas
	setIf(&cfg.Quotas.MaxShellsPerUser, q.MaxShellsPerUser)
	setIf(&cfg.Quotas.MaxConcurrentUsers, q.MaxConcurrentUsers)
	setIf(&cfg.Quotas.MaxProcessesPerShell, q.MaxProcessesPerShell)
	setIf(&cfg.Quotas.MaxMemoryPerShellMB, q.MaxMemoryPerShellMB)
	setIf(&cfg.Quotas.IdleTimeout, q.IdleTimeout)
	setIf(&cfg.Quotas.MaxConcurrentOperationsPerUser, q.MaxConcurrentOperationsPerUser)
	setIf(&cfg.Quotas.MaxEnvelopeSizeKB, q.MaxEnvelopeSizeKB)
	setIf(&cfg.Quotas.MaxTimeout, q.MaxTimeout)
	f := &s.Faults
	setIf(&cfg.Faults.Refused, f.Refused)
	setIf(&cfg.Faults.Hang, f.Hang)
	setIf(&cfg.Faults.ResetMidReceive, f.ResetMidReceive)
	setIf(&cfg.Faults.HTTP500Garbage, f.HTTP500Garbage)
	setIf(&cfg.Faults.Flaky, f.Flaky)
	setIf(&cfg.Faults.SlowStart, f.SlowStart)
	setIf(&cfg.Faults.NeverReturns, f.NeverReturns)
	// More specific rules are tried first.
	cfg.Rules = append(append([]ScriptRule(nil), s.Rules...), cfg.Rules...)
	if len(s.Files) > 0 {
		files := make(map[string]string, len(cfg.Files)+len(s.Files))
		for k, v := range cfg.Files {
			files[k] = v
		}
		for k, v := range s.Files {
			files[k] = v
		}
		cfg.Files = files
	}
	cfg.InstalledKBs = append(append([]string(nil), cfg.InstalledKBs...), s.InstalledKBs...)
	cfg.AvailableUpdates = append(append([]string(nil), cfg.AvailableUpdates...), s.AvailableUpdates...)
	if len(s.Tags) > 0 {
		tags := make(map[string]string, len(cfg.Tags)+len(s.Tags))
		maps.Copy(tags, cfg.Tags)
		maps.Copy(tags, s.Tags)
		cfg.Tags = tags
	}
	setIf(&cfg.PowerShellProgress, s.PowerShellProgress)
	setIf(&cfg.Account.Kind, s.Account)
	setIf(&cfg.Account.TokenFilterPolicy, s.TokenFilterPolicy)
	setIf(&cfg.Delegation, s.Delegation)
	if len(s.Services) > 0 {
		services := make(map[string]bool, len(cfg.Services)+len(s.Services))
		maps.Copy(services, cfg.Services)
		maps.Copy(services, s.Services)
		cfg.Services = services
	}
	pf := &s.Preflight
	setIf(&cfg.Preflight.PSVersion, pf.PSVersion)
	setIf(&cfg.Preflight.ExecutionPolicy64, pf.ExecutionPolicy64)
	setIf(&cfg.Preflight.ExecutionPolicy32, pf.ExecutionPolicy32)
	setIf(&cfg.Preflight.DiskFreeBytes, pf.DiskFreeBytes)
	setIf(&cfg.Preflight.DiskTotalBytes, pf.DiskTotalBytes)
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}
