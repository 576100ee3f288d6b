package sim

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Quotas are a host's WinRM and WinRS settings (winrm/config and
// winrm/config/winrs). Zero for MaxMemoryPerShellMB means unlimited, as on
// Windows.
type Quotas struct {
	MaxShellsPerUser               int
	MaxConcurrentUsers             int
	MaxProcessesPerShell           int
	MaxMemoryPerShellMB            int
	IdleTimeout                    time.Duration
	MaxConcurrentOperationsPerUser int
	MaxEnvelopeSizeKB              int
	MaxTimeout                     time.Duration
	MaxShellRunTime                time.Duration
	AllowRemoteShellAccess         bool
}

// Profile is what a Windows Server version brings: its OS identity,
// PowerShell and WinRS defaults.
type Profile struct {
	// Name is the profile's short name: 2008r2, 2012r2, 2016, 2019 or 2022.
	Name        string
	Caption     string
	Version     string
	BuildNumber string
	// PSVersion is the Windows PowerShell version that ships with the
	// release (2008 R2 has 2.0 unless WMF 5.1 is installed).
	PSVersion string
	Quotas    Quotas
}

// winrm2Quotas are WinRM 2.0's defaults (2008 R2, Windows 7); winrm3Quotas
// those of 2012 and later (winrm-reference.md §5).
var (
	winrm2Quotas = Quotas{
		MaxShellsPerUser: 5, MaxConcurrentUsers: 5, MaxProcessesPerShell: 15,
		MaxMemoryPerShellMB: 150, IdleTimeout: 180 * time.Second,
		MaxConcurrentOperationsPerUser: 15, MaxEnvelopeSizeKB: 150,
		MaxTimeout: 60 * time.Second, MaxShellRunTime: 2147483647 * time.Millisecond,
		AllowRemoteShellAccess: true,
	}
	winrm3Quotas = Quotas{
		MaxShellsPerUser: 30, MaxConcurrentUsers: 10, MaxProcessesPerShell: 25,
		MaxMemoryPerShellMB: 1024, IdleTimeout: 7200 * time.Second,
		MaxConcurrentOperationsPerUser: 1500, MaxEnvelopeSizeKB: 500,
		MaxTimeout: 60 * time.Second, MaxShellRunTime: 2147483647 * time.Millisecond,
		AllowRemoteShellAccess: true,
	}
)

var profiles = map[string]Profile{
	"2008r2": {Name: "2008r2", Caption: "Microsoft Windows Server 2008 R2 Datacenter", Version: "6.1.7601", BuildNumber: "7601", PSVersion: "2.0", Quotas: winrm2Quotas},
	"2012r2": {Name: "2012r2", Caption: "Microsoft Windows Server 2012 R2 Datacenter", Version: "6.3.9600", BuildNumber: "9600", PSVersion: "4.0", Quotas: winrm3Quotas},
	"2016":   {Name: "2016", Caption: "Microsoft Windows Server 2016 Datacenter", Version: "10.0.14393", BuildNumber: "14393", PSVersion: "5.1.14393.0", Quotas: winrm3Quotas},
	"2019":   {Name: "2019", Caption: "Microsoft Windows Server 2019 Datacenter", Version: "10.0.17763", BuildNumber: "17763", PSVersion: "5.1.17763.1", Quotas: winrm3Quotas},
	"2022":   {Name: "2022", Caption: "Microsoft Windows Server 2022 Datacenter", Version: "10.0.20348", BuildNumber: "20348", PSVersion: "5.1.20348.1", Quotas: winrm3Quotas},
}

// DefaultProfile is the profile hosts get when none is named.
const DefaultProfile = "2019"

// LookupProfile returns the named profile. Names are matched
// case-insensitively; "2008R2" and "2008-r2" are accepted spellings.
func LookupProfile(name string) (Profile, error) {
	key := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "-", "")
	if key == "" {
		key = DefaultProfile
	}
	p, ok := profiles[key]
	if !ok {
		return Profile{}, fmt.Errorf("unknown profile %q; expected one of %s", name, strings.Join(ProfileNames(), ", "))
	}
	return p, nil
}

// ProfileNames lists the known profile names in release order.
func ProfileNames() []string {
	names := make([]string, 0, len(profiles))
	for n := range profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ms renders a duration as whole milliseconds, as WinRM's config does.
func ms(d time.Duration) string { return fmt.Sprint(d.Milliseconds()) }

// updatePrefix is how the release names its update packages: the
// "Windows10.0" of Windows10.0-KB5034439-x64.msu.
func (p Profile) updatePrefix() string {
	switch p.Name {
	case "2008r2":
		return "Windows6.1"
	case "2012r2":
		return "Windows8.1"
	}
	return "Windows10.0"
}
