package sim

import (
	"sort"
	"strings"
	"sync"
	"time"
)

// machine is the state of a simulated Windows host beyond WinRM that its
// programs and PowerShell read and change: installed updates and a pending
// restart, services, and the registry values scripts look at. It has its
// own lock, taken after h.mu when both are needed.
type machine struct {
	mu sync.Mutex
	// hotfixes are the installed updates, by upper-case KB number.
	hotfixes map[string]Hotfix
	// rebootPending is set by an install that needs a restart and cleared
	// by the restart (Component Based Servicing's RebootPending key).
	rebootPending bool
	// services by lower-case service name.
	services map[string]*Service
	// registry holds values by lower-case key path (HKLM\...), besides the
	// keys computed from the state above.
	registry map[string]*regKey
	// available are the updates Windows Update offers, upper-case KBs.
	available []string
	// built is when the simulated host was set up.
	built time.Time
}

// Hotfix is an installed update as Win32_QuickFixEngineering (Get-HotFix)
// lists it.
type Hotfix struct {
	ID          string // KB5034439
	Description string // Update, Security Update
	InstalledBy string // NT AUTHORITY\SYSTEM
	InstalledOn time.Time
}

// Service is a Windows service as sc.exe and Get-Service show it.
type Service struct {
	Name        string // Schedule
	DisplayName string // Task Scheduler
	Running     bool
	// Type is sc.exe's TYPE line value: 10 WIN32_OWN_PROCESS, 20
	// WIN32_SHARE_PROCESS, 30 WIN32 (shared, Windows 10 and later).
	Type int
}

// Status is Get-Service's Status: Running or Stopped.
func (s Service) Status() string {
	if s.Running {
		return "Running"
	}
	return "Stopped"
}

// regKey is one registry key's values.
type regKey struct {
	path   string // as first written, e.g. HKLM\SOFTWARE\Microsoft\...
	values map[string]RegValue
}

// RegValue is one registry value.
type RegValue struct {
	Name string
	// Type is REG_SZ, REG_DWORD, REG_EXPAND_SZ, REG_MULTI_SZ or REG_QWORD.
	Type string
	// Data holds REG_SZ / REG_EXPAND_SZ text; DWord holds REG_DWORD and
	// REG_QWORD numbers.
	Data  string
	DWord uint64
}

// Registry key paths the simulator computes or seeds.
const (
	regCurrentVersion = `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion`
	regPoliciesSystem = `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System`
	// regCBSRebootPending exists while a servicing operation waits for a
	// restart; the usual "is a restart pending" test looks for it.
	regCBSRebootPending = `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending`
	regWURebootRequired = `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired`
)

// defaultServices are the services every simulated host has, with the
// states of a Windows Server configured for remote management.
var defaultServices = []Service{
	{Name: "Schedule", DisplayName: "Task Scheduler", Running: true, Type: 30},
	{Name: "WinRM", DisplayName: "Windows Remote Management (WS-Management)", Running: true, Type: 20},
	{Name: "wuauserv", DisplayName: "Windows Update", Running: true, Type: 30},
	{Name: "TrustedInstaller", DisplayName: "Windows Modules Installer", Running: false, Type: 10},
	{Name: "LanmanServer", DisplayName: "Server", Running: true, Type: 30},
	{Name: "EventLog", DisplayName: "Windows Event Log", Running: true, Type: 30},
	{Name: "Winmgmt", DisplayName: "Windows Management Instrumentation", Running: true, Type: 30},
}

// newMachine builds a host's machine state from its configuration.
func newMachine(cfg HostConfig, now time.Time) *machine {
	m := &machine{hotfixes: map[string]Hotfix{}, services: map[string]*Service{}, registry: map[string]*regKey{}, built: now}
	for _, kb := range cfg.InstalledKBs {
		id := strings.ToUpper(kb)
		m.hotfixes[id] = Hotfix{ID: id, Description: "Update", InstalledBy: `NT AUTHORITY\SYSTEM`, InstalledOn: now.Add(-30 * 24 * time.Hour)}
	}
	for _, kb := range cfg.AvailableUpdates {
		m.available = append(m.available, strings.ToUpper(kb))
	}
	for _, s := range defaultServices {
		s := s
		m.services[strings.ToLower(s.Name)] = &s
	}
	for name, running := range cfg.Services {
		key := strings.ToLower(name)
		if s, ok := m.services[key]; ok {
			s.Running = running
			continue
		}
		m.services[key] = &Service{Name: name, DisplayName: name, Running: running, Type: 10}
	}
	p := cfg.Profile
	m.setValue(regCurrentVersion, RegValue{Name: "ProductName", Type: "REG_SZ", Data: strings.TrimPrefix(p.Caption, "Microsoft ")})
	m.setValue(regCurrentVersion, RegValue{Name: "CurrentBuild", Type: "REG_SZ", Data: p.BuildNumber})
	m.setValue(regCurrentVersion, RegValue{Name: "CurrentBuildNumber", Type: "REG_SZ", Data: p.BuildNumber})
	m.setValue(regCurrentVersion, RegValue{Name: "InstallationType", Type: "REG_SZ", Data: "Server"})
	m.setValue(regCurrentVersion, RegValue{Name: "EditionID", Type: "REG_SZ", Data: "ServerDatacenter"})
	m.setValue(regPoliciesSystem, RegValue{Name: "EnableLUA", Type: "REG_DWORD", DWord: 1})
	m.setValue(regPoliciesSystem, RegValue{Name: "LocalAccountTokenFilterPolicy", Type: "REG_DWORD", DWord: uint64(cfg.Account.TokenFilterPolicy)})
	return m
}

func (m *machine) setValue(key string, v RegValue) {
	k := m.registry[strings.ToLower(key)]
	if k == nil {
		k = &regKey{path: key, values: map[string]RegValue{}}
		m.registry[strings.ToLower(key)] = k
	}
	k.values[strings.ToLower(v.Name)] = v
}

// Hotfix returns an installed update by its KB number (any case).
func (m *machine) Hotfix(kb string) (Hotfix, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.hotfixes[strings.ToUpper(kb)]
	return h, ok
}

// Hotfixes lists the installed updates by KB number.
func (m *machine) Hotfixes() []Hotfix {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Hotfix, 0, len(m.hotfixes))
	for _, h := range m.hotfixes {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// install records an update as installed by the servicing stack and a
// restart as pending; it reports false, changing nothing, when the update
// is already installed.
func (m *machine) install(kb string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := strings.ToUpper(kb)
	if _, ok := m.hotfixes[id]; ok {
		return false
	}
	m.hotfixes[id] = Hotfix{ID: id, Description: "Update", InstalledBy: `NT AUTHORITY\SYSTEM`, InstalledOn: now}
	m.rebootPending = true
	return true
}

// Available lists the updates Windows Update offers that are not
// installed yet, in the scenario's order.
func (m *machine) Available() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, kb := range m.available {
		if _, ok := m.hotfixes[kb]; !ok {
			out = append(out, kb)
		}
	}
	return out
}

// RebootPending reports whether an install waits for a restart.
func (m *machine) RebootPending() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rebootPending
}

// restarted clears what a restart completes.
func (m *machine) restarted() {
	m.mu.Lock()
	m.rebootPending = false
	m.mu.Unlock()
}

// Service returns a service by name (any case).
func (m *machine) Service(name string) (Service, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.services[strings.ToLower(name)]
	if !ok {
		return Service{}, false
	}
	return *s, true
}

// Services lists the services by name.
func (m *machine) Services() []Service {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Service, 0, len(m.services))
	for _, s := range m.services {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out
}

// RegistryKey returns a key's path as stored and its values sorted by
// name; ok is false for a key that does not exist. path may start with
// HKLM\ or HKEY_LOCAL_MACHINE\ (and HKLM: from PowerShell); names compare
// case-insensitively.
func (m *machine) RegistryKey(path string) (string, []RegValue, bool) {
	key := canonRegPath(path)
	m.mu.Lock()
	defer m.mu.Unlock()
	switch strings.ToLower(key) {
	case strings.ToLower(regCBSRebootPending), strings.ToLower(regWURebootRequired):
		if !m.rebootPending {
			return "", nil, false
		}
		return key, nil, true
	}
	k, ok := m.registry[strings.ToLower(key)]
	if !ok {
		// A key that only has subkeys exists too.
		prefix := strings.ToLower(key) + `\`
		for p := range m.registry {
			if strings.HasPrefix(p, prefix) {
				return key, nil, true
			}
		}
		return "", nil, false
	}
	vals := make([]RegValue, 0, len(k.values))
	for _, v := range k.values {
		vals = append(vals, v)
	}
	sort.Slice(vals, func(i, j int) bool { return strings.ToLower(vals[i].Name) < strings.ToLower(vals[j].Name) })
	return k.path, vals, true
}

// canonRegPath spells a registry path with the HKLM\ root: HKLM:\x,
// HKEY_LOCAL_MACHINE\x and Registry::HKEY_LOCAL_MACHINE\x become HKLM\x.
func canonRegPath(p string) string {
	p = strings.TrimPrefix(p, "Registry::")
	p = strings.TrimPrefix(p, "registry::")
	p = strings.TrimRight(p, `\`)
	for _, root := range []string{"HKEY_LOCAL_MACHINE", "HKLM:", "HKLM"} {
		if len(p) >= len(root) && strings.EqualFold(p[:len(root)], root) {
			rest := strings.TrimLeft(p[len(root):], `\`)
			if rest == "" {
				return "HKLM"
			}
			return `HKLM\` + rest
		}
	}
	return p
}
