package winrm

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fleetrun/fleetrun/transport"
)

// Config is a host's WinRM configuration (winrm get winrm/config), the
// settings that decide whether a rollout fits. A value the host did not
// report is -1; booleans not reported are false.
type Config struct {
	MaxEnvelopeSizeKB int64 // MaxEnvelopeSizekb
	MaxTimeoutMS      int64 // MaxTimeoutms
	// MaxConcurrentOperationsPerUser is under winrm/config/service.
	MaxConcurrentOperationsPerUser int64
	Winrs                          WinrsConfig
}

// WinrsConfig is winrm/config/winrs.
type WinrsConfig struct {
	AllowRemoteShellAccess bool
	IdleTimeoutMS          int64
	MaxConcurrentUsers     int64
	MaxShellRunTimeMS      int64
	MaxProcessesPerShell   int64
	// MaxMemoryPerShellMB is the per-shell memory cap; 0 means none.
	MaxMemoryPerShellMB int64
	MaxShellsPerUser    int64
}

// GetWinRMConfig reads the host's WinRM configuration with a WS-Transfer
// Get of http://schemas.microsoft.com/wbem/wsman/1/config (no process is
// started). Windows allows it to administrators only, and WinRM 2.0 hosts
// may refuse it remotely; the error is then a wsman_fault or auth error.
func (s *Session) GetWinRMConfig(ctx context.Context) (Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg, err := s.readConfig(ctx)
	if err == nil {
		s.cfgRead, s.cfg, s.cfgErr = true, cfg, nil
		s.memCapMB.Store(cfg.Winrs.MaxMemoryPerShellMB)
	}
	return cfg, err
}

// config returns the configuration, read once per session; s.mu is held.
// A failure is remembered too: it is not retried.
func (s *Session) config(ctx context.Context) (Config, error) {
	if !s.cfgRead {
		s.cfg, s.cfgErr = s.readConfig(ctx)
		s.cfgRead = true
		if s.cfgErr == nil {
			s.memCapMB.Store(s.cfg.Winrs.MaxMemoryPerShellMB)
		}
	}
	return s.cfg, s.cfgErr
}

func (s *Session) readConfig(ctx context.Context) (Config, error) {
	if s.closed {
		return Config{}, s.closedError()
	}
	resp, err := s.ep.post(ctx, "Get winrm/config", getMessage(s.ep.url, s.opXS(), resourceConfig), s.opts.OperationTimeout)
	if err != nil {
		return Config{}, err
	}
	return configFrom(resp.Elements)
}

// configFrom reads a Config from a Get response's elements.
func configFrom(el map[string]string) (Config, error) {
	if len(el) == 0 {
		return Config{}, &transport.Error{Class: transport.ClassInternal, Message: "Get winrm/config: the answer holds no configuration"}
	}
	num := func(key string) int64 {
		v, ok := el[key]
		if !ok {
			return -1
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return -1
		}
		return n
	}
	ops := num("Service/MaxConcurrentOperationsPerUser")
	if ops < 0 {
		ops = num("Winrs/MaxConcurrentOperationsPerUser")
	}
	return Config{
		MaxEnvelopeSizeKB:              num("MaxEnvelopeSizekb"),
		MaxTimeoutMS:                   num("MaxTimeoutms"),
		MaxConcurrentOperationsPerUser: ops,
		Winrs: WinrsConfig{
			AllowRemoteShellAccess: strings.EqualFold(strings.TrimSpace(el["Winrs/AllowRemoteShellAccess"]), "true"),
			IdleTimeoutMS:          num("Winrs/IdleTimeout"),
			MaxConcurrentUsers:     num("Winrs/MaxConcurrentUsers"),
			MaxShellRunTimeMS:      num("Winrs/MaxShellRunTime"),
			MaxProcessesPerShell:   num("Winrs/MaxProcessesPerShell"),
			MaxMemoryPerShellMB:    num("Winrs/MaxMemoryPerShellMB"),
			MaxShellsPerUser:       num("Winrs/MaxShellsPerUser"),
		},
	}, nil
}

// OSInfo is what Win32_OperatingSystem says about the host.
type OSInfo struct {
	Caption        string // "Microsoft Windows Server 2019 Datacenter"
	Version        string // "10.0.17763"
	BuildNumber    string
	OSArchitecture string    // "64-bit"
	LastBootUpTime time.Time // zero when not reported
	CSName         string    // the computer name
	// OSLanguage is the LCID of the installed language (1033 English,
	// 1041 Japanese); CodeSet the ANSI code page ("1252", "932"). -1 and
	// "" when not reported.
	OSLanguage             int64
	CodeSet                string
	SystemDrive            string
	FreePhysicalMemoryKB   int64
	TotalVisibleMemoryKB   int64
	WindowsDirectory       string
	Properties             map[string]string // every property as sent
	LastBootUpTimeUnparsed string            // the raw value when it did not parse
}

// GetOS reads Win32_OperatingSystem with a WMI Get over WS-Man (no process
// is started).
func (s *Session) GetOS(ctx context.Context) (OSInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return OSInfo{}, s.closedError()
	}
	resp, err := s.ep.post(ctx, "Get Win32_OperatingSystem", getMessage(s.ep.url, s.opXS(), resourceOS), s.opts.OperationTimeout)
	if err != nil {
		return OSInfo{}, err
	}
	return osInfoFrom(resp.Elements)
}

func osInfoFrom(el map[string]string) (OSInfo, error) {
	if len(el) == 0 {
		return OSInfo{}, &transport.Error{Class: transport.ClassInternal, Message: "Get Win32_OperatingSystem: the answer holds no properties"}
	}
	num := func(key string) int64 {
		n, err := strconv.ParseInt(strings.TrimSpace(el[key]), 10, 64)
		if err != nil {
			return -1
		}
		return n
	}
	props := map[string]string{}
	for k, v := range el {
		k, _, _ = strings.Cut(k, "/")
		if _, dup := props[k]; !dup || v != "" {
			props[k] = v
		}
	}
	info := OSInfo{
		Caption:              el["Caption"],
		Version:              el["Version"],
		BuildNumber:          el["BuildNumber"],
		OSArchitecture:       el["OSArchitecture"],
		CSName:               el["CSName"],
		OSLanguage:           num("OSLanguage"),
		CodeSet:              el["CodeSet"],
		SystemDrive:          el["SystemDrive"],
		FreePhysicalMemoryKB: num("FreePhysicalMemory"),
		TotalVisibleMemoryKB: num("TotalVisibleMemorySize"),
		WindowsDirectory:     el["WindowsDirectory"],
		Properties:           props,
	}
	boot := el["LastBootUpTime/Datetime"]
	if boot == "" {
		boot = el["LastBootUpTime"]
	}
	if t, ok := parseCIMTime(boot); ok {
		info.LastBootUpTime = t
	} else {
		info.LastBootUpTimeUnparsed = boot
	}
	return info, nil
}

// parseCIMTime reads an xs:dateTime (WS-Man's cim:Datetime) or a DMTF
// datetime (20240102030405.000000+060).
func parseCIMTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999-07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	// DMTF: yyyymmddHHMMSS.mmmmmmsUUU, UUU the offset in minutes.
	if len(s) == 25 && (s[21] == '+' || s[21] == '-') {
		t, err := time.Parse("20060102150405.000000", s[:21])
		if err != nil {
			return time.Time{}, false
		}
		off, err := strconv.Atoi(s[22:])
		if err != nil {
			return time.Time{}, false
		}
		if s[21] == '-' {
			off = -off
		}
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.FixedZone("", off*60)), true
	}
	return time.Time{}, false
}

// AuthOffered asks the host which authentication schemes it offers (an
// unauthenticated request answered 401, as Windows answers it) and returns
// them as named in WWW-Authenticate ("Negotiate", "Basic", "Kerberos").
func (s *Session) AuthOffered(ctx context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, s.closedError()
	}
	rctx, cancel := context.WithTimeout(ctx, s.opts.OperationTimeout)
	defer cancel()
	reply, err := s.ep.do(rctx, nil, nil)
	s.ep.releaseBody()
	if err != nil {
		return nil, classifyNetError(ctx, s.name, err)
	}
	if reply.status != http.StatusUnauthorized {
		return nil, &transport.Error{Class: transport.ClassInternal,
			Message: fmt.Sprintf("%s answered an anonymous request with HTTP %d, not 401", s.name, reply.status)}
	}
	return offeredSchemes(reply.header.Values("WWW-Authenticate")), nil
}
