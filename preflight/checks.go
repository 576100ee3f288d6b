package preflight

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/winquote"
	"github.com/fleetrun/fleetrun/winrm"
)

// authenticate asks the host which mechanisms it offers, then logs in with
// the configured one. It returns the open session, or nil after recording
// the failure.
func (c *checker) authenticate(ctx context.Context) *winrm.Session {
	h := c.host
	var sess *winrm.Session
	c.step(CheckAuth, func() Check {
		offered, probeErr := c.probeAuth(ctx)
		c.res.Facts.AuthOffered = offered
		offeredText := "offers " + strings.Join(offered, ", ")
		if probeErr != nil {
			offeredText = "could not list the mechanisms offered (" + probeErr.Error() + ")"
		}
		t, err := c.opts.Target(ctx, h)
		if err != nil {
			return Check{Status: Fail, Class: transport.ClassAuth, Detail: err.Error(), Fix: "set the password source (password_env or password_file) the inventory names"}
		}
		s, err := winrm.Open(ctx, t, c.opts.WinRM)
		if err != nil {
			te := transport.Classify(err)
			fix := te.Hint
			if fix == "" && te.Class == transport.ClassAuth {
				fix = fmt.Sprintf("the inventory uses auth %s as %q; check the user, the password and that the host offers that mechanism — or, for a local administrator other than the built-in Administrator, turn off UAC remote restrictions on the host: %s", h.Auth, h.User, winrm.TokenFilterPolicyCommand)
			}
			return Check{Status: Fail, Class: te.Class, Detail: fmt.Sprintf("%s; %s login as %q failed: %s", offeredText, h.Auth, h.User, te.Message), Fix: fix}
		}
		sess = s
		c.res.Facts.Encrypted = s.Encrypted()
		protection := "messages encrypted (NTLM sealing)"
		switch {
		case !h.HTTPS && s.Encrypted() && h.Auth == "kerberos":
			protection = "messages encrypted (Kerberos sealing)"
		case h.HTTPS:
			protection = "protected by TLS"
		case !s.Encrypted():
			protection = "messages NOT encrypted (allow_unencrypted)"
		}
		return Check{Status: Pass, Detail: fmt.Sprintf("%s; %s login as %q succeeded; %s", offeredText, h.Auth, h.User, protection)}
	})
	return sess
}

// probeAuth sends one unauthenticated request and lists the schemes the
// 401 offers; it works even when our credentials are wrong.
func (c *checker) probeAuth(ctx context.Context) ([]string, error) {
	h := c.host
	tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: h.Address, InsecureSkipVerify: h.InsecureSkipVerify, MinVersion: tls.VersionTLS12}} //nolint:gosec // only when the inventory sets insecure_skip_verify
	if h.HTTPS {
		roots, err := loadRoots(h.CAFile)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig.RootCAs = roots
	}
	defer tr.CloseIdleConnections()
	// A host that answers nothing is given its connect timeout, as the
	// login that follows gives it for its first answer.
	limit := h.ConnectTimeout
	if limit <= 0 {
		limit = 30 * time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	return offeredAuth(pctx, &http.Client{Transport: tr}, h.Endpoint())
}

// limits reads the WinRM quotas with a WS-Transfer Get, falling back to
// running `winrm get winrm/config/winrs` where the Get is refused.
func (c *checker) limits(ctx context.Context, sess *winrm.Session) {
	c.step(CheckLimits, func() Check {
		cfg, err := sess.GetWinRMConfig(ctx)
		source := "ws-transfer"
		if err != nil {
			var ferr error
			cfg, ferr = readConfigWithCommand(ctx, sess)
			if ferr != nil {
				return Check{Status: Warn, Detail: fmt.Sprintf("could not read the WinRM settings: the WS-Transfer Get failed (%v) and so did winrm get winrm/config/winrs (%v)", err, ferr),
					Fix: "run the checks as a member of the host's Administrators group"}
			}
			source = "winrm get"
		}
		c.res.Facts.Config, c.res.Facts.ConfigSource = &cfg, source
		return Check{Status: Pass, Detail: describeConfig(cfg, source)}
	})
}

func describeConfig(cfg winrm.Config, source string) string {
	w := cfg.Winrs
	parts := []string{
		"MaxMemoryPerShellMB=" + capText(w.MaxMemoryPerShellMB),
		"MaxShellsPerUser=" + num(w.MaxShellsPerUser),
		"MaxProcessesPerShell=" + num(w.MaxProcessesPerShell),
		"IdleTimeout=" + num(w.IdleTimeoutMS) + "ms",
	}
	if cfg.MaxConcurrentOperationsPerUser >= 0 {
		parts = append(parts, "MaxConcurrentOperationsPerUser="+num(cfg.MaxConcurrentOperationsPerUser))
	}
	if cfg.MaxEnvelopeSizeKB >= 0 {
		parts = append(parts, "MaxEnvelopeSizekb="+num(cfg.MaxEnvelopeSizeKB))
	}
	return strings.Join(parts, ", ") + " (read by " + source + ")"
}

func capText(mb int64) string {
	if mb == 0 {
		return "0 (unlimited)"
	}
	return num(mb)
}

func num(v int64) string {
	if v < 0 {
		return "?"
	}
	return strconv.FormatInt(v, 10)
}

// readConfigWithCommand runs `winrm get winrm/config/winrs` and parses its
// listing ("    MaxMemoryPerShellMB = 150", possibly followed by
// [Source="GPO"]).
func readConfigWithCommand(ctx context.Context, sess *winrm.Session) (winrm.Config, error) {
	res, err := sess.Run(ctx, transport.Command{Kind: transport.KindCmd, Line: "winrm get winrm/config/winrs"})
	if err != nil {
		return winrm.Config{}, err
	}
	if res.ExitCode != 0 {
		return winrm.Config{}, fmt.Errorf("winrm get exited %d: %s", res.ExitCode, clip(strings.TrimSpace(res.Stdout+res.Stderr), 200))
	}
	return parseWinrsListing(res.Stdout)
}

func parseWinrsListing(out string) (winrm.Config, error) {
	cfg := winrm.Config{MaxEnvelopeSizeKB: -1, MaxTimeoutMS: -1, MaxConcurrentOperationsPerUser: -1,
		Winrs: winrm.WinrsConfig{IdleTimeoutMS: -1, MaxConcurrentUsers: -1, MaxShellRunTimeMS: -1, MaxProcessesPerShell: -1, MaxMemoryPerShellMB: -1, MaxShellsPerUser: -1}}
	found := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		val := fields[0]
		n, err := strconv.ParseInt(val, 10, 64)
		w := &cfg.Winrs
		switch k {
		case "AllowRemoteShellAccess":
			w.AllowRemoteShellAccess = strings.EqualFold(val, "true")
			found++
			continue
		case "IdleTimeout", "MaxConcurrentUsers", "MaxShellRunTime", "MaxProcessesPerShell", "MaxMemoryPerShellMB", "MaxShellsPerUser":
			if err != nil {
				return cfg, fmt.Errorf("winrm get: %s = %q is not a number", k, val)
			}
		default:
			continue
		}
		found++
		switch k {
		case "IdleTimeout":
			w.IdleTimeoutMS = n
		case "MaxConcurrentUsers":
			w.MaxConcurrentUsers = n
		case "MaxShellRunTime":
			w.MaxShellRunTimeMS = n
		case "MaxProcessesPerShell":
			w.MaxProcessesPerShell = n
		case "MaxMemoryPerShellMB":
			w.MaxMemoryPerShellMB = n
		case "MaxShellsPerUser":
			w.MaxShellsPerUser = n
		}
	}
	if found == 0 {
		return cfg, fmt.Errorf("winrm get printed no Winrs settings")
	}
	return cfg, nil
}

// osCheck reads Win32_OperatingSystem.
func (c *checker) osCheck(ctx context.Context, sess *winrm.Session) {
	c.step(CheckOS, func() Check {
		osInfo, err := sess.GetOS(ctx)
		if err != nil {
			return Check{Status: Warn, Detail: "could not read Win32_OperatingSystem: " + transport.Classify(err).Message}
		}
		c.res.Facts.OS = &osInfo
		d := fmt.Sprintf("%s %s, %s", osInfo.Caption, osInfo.Version, osInfo.OSArchitecture)
		if !osInfo.LastBootUpTime.IsZero() {
			d += ", booted " + osInfo.LastBootUpTime.UTC().Format("2006-01-02 15:04 UTC")
		}
		return Check{Status: Pass, Detail: d}
	})
}

// powershell runs Script through the launcher.
func (c *checker) powershell(ctx context.Context, sess transport.Session) {
	c.step(CheckPowerShell, func() Check {
		res, err := sess.Run(ctx, transport.Command{Kind: transport.KindPowerShell, Script: Script})
		if err != nil {
			te := transport.Classify(err)
			return Check{Status: Fail, Class: te.Class, Detail: "the PowerShell check could not run: " + te.Message, Fix: te.Hint}
		}
		if res.ExitCode != 0 {
			return Check{Status: Fail, Class: transport.ClassUnexpectedExit, Detail: fmt.Sprintf("the PowerShell check exited %d: %s", res.ExitCode, clip(strings.TrimSpace(res.Stderr), 300)),
				Fix: "check that powershell.exe starts on the host (64-bit, under %SystemRoot%\\System32\\WindowsPowerShell\\v1.0)"}
		}
		f, err := parseFacts(res.Stdout)
		if err != nil {
			return Check{Status: Fail, Class: transport.ClassInternal, Detail: err.Error()}
		}
		c.res.Facts.PowerShell = &f
		bits := "64-bit session"
		if !f.Is64BitProcess {
			bits = "32-bit session"
		}
		d := fmt.Sprintf("PowerShell %s, %s; ExecutionPolicy 64-bit %s, 32-bit %s; %s %.1f GB free of %.1f GB",
			f.Version, bits, f.ExecutionPolicy64, orNone(f.ExecutionPolicy32), f.SystemDrive, gb(f.DiskFreeBytes), gb(f.DiskTotalBytes))
		switch {
		case f.Is64BitOS && !f.Is64BitProcess:
			return Check{Status: Fail, Class: transport.ClassInternal, Detail: d + ": fleetrun's steps ran in the 32-bit PowerShell", Fix: "check that %SystemRoot%\\System32 is not redirected for the WinRM service"}
		case restrictive(f.ExecutionPolicy32) && !strings.EqualFold(f.ExecutionPolicy32, f.ExecutionPolicy64):
			// The field notes' trap: the policy was set on the 64-bit
			// PowerShell only.
			return Check{Status: Warn, Detail: d,
				Fix: "fleetrun always starts the 64-bit PowerShell with -ExecutionPolicy Bypass, but a 32-bit scheduler or agent on this host would start the 32-bit PowerShell, whose policy refuses scripts: %SystemRoot%\\SysWOW64\\WindowsPowerShell\\v1.0\\powershell.exe -Command \"Set-ExecutionPolicy RemoteSigned -Force\""}
		}
		return Check{Status: Pass, Detail: d}
	})
}

// adminFix is what to do about a login without a full administrator's
// token.
var adminFix = "log in as the built-in Administrator or as a domain account in the host's Administrators group, " +
	"or, for another local administrator, turn off UAC remote restrictions on the host (elevated): " + winrm.TokenFilterPolicyCommand +
	"; an account outside Administrators must be added to it first"

// adminToken checks that the session's token is a full administrator's.
// WinRM lets a member of Remote Management Users in without being one,
// and a local administrator who is also such a member gets in with the
// token UAC filtered (KB 951016); either way installing updates, changing
// services or HKLM, and registering a task as SYSTEM are then denied.
func (c *checker) adminToken() {
	c.step(CheckAdmin, func() Check {
		ps := c.res.Facts.PowerShell
		if ps == nil || ps.IsAdmin == nil {
			return Check{Status: Skipped, Detail: "unknown: the PowerShell check did not report it"}
		}
		if c.viaAgent() {
			if !*ps.IsAdmin {
				return Check{Status: Fail, Class: transport.ClassRemoteDenied, Detail: "the SSM agent's commands run without administrator rights (the agent should run as SYSTEM)",
					Fix: "run the AmazonSSMAgent service as LocalSystem, its default"}
			}
			return Check{Status: Pass, Detail: "the SSM agent runs commands with a full administrator's token (SYSTEM)"}
		}
		if !*ps.IsAdmin {
			return Check{Status: Fail, Class: transport.ClassRemoteDenied,
				Detail: fmt.Sprintf("%q is logged in without administrator rights: the session's token is not in Administrators (an account outside it, or a local administrator whose token UAC filters over the network); steps that install or change the system would be denied", c.host.User),
				Fix:    adminFix}
		}
		return Check{Status: Pass, Detail: fmt.Sprintf("%q has a full administrator's token", c.host.User)}
	})
}

// scheduleFix starts the Task Scheduler and keeps it starting.
const scheduleFix = "sc config Schedule start= auto && sc start Schedule"

// taskScheduler checks that the Task Scheduler service runs. It counts
// against the host only when the rollout runs steps as SYSTEM, which go
// through it; otherwise a stopped scheduler is a warning.
func (c *checker) taskScheduler() {
	c.step(CheckTaskScheduler, func() Check {
		ps := c.res.Facts.PowerShell
		if ps == nil {
			return Check{Status: Skipped, Detail: "unknown: the PowerShell check did not report it"}
		}
		if strings.EqualFold(ps.TaskScheduler, "Running") {
			return Check{Status: Pass, Detail: "the Task Scheduler service (Schedule) is running"}
		}
		detail := "the Task Scheduler service (Schedule) is " + strings.ToLower(ps.TaskScheduler)
		if ps.TaskScheduler == "" {
			detail = "the Task Scheduler service (Schedule) was not found"
		}
		if c.opts.NeedTaskScheduler && !c.viaAgent() {
			return Check{Status: Fail, Class: transport.ClassInternal,
				Detail: detail + "; the playbook's run_as: system steps run as scheduled tasks and could not start",
				Fix:    scheduleFix}
		}
		return Check{Status: Warn, Detail: detail + "; no step of this run needs it (only run_as: system steps do)", Fix: scheduleFix}
	})
}

func restrictive(policy string) bool {
	return strings.EqualFold(policy, "Restricted") || strings.EqualFold(policy, "AllSigned")
}

func orNone(s string) string {
	if s == "" {
		return "(none: no 32-bit PowerShell)"
	}
	return s
}

func gb(b int64) float64 { return float64(b) / (1 << 30) }

// fixMemoryCap raises a finite MaxMemoryPerShellMB below FixMemoryCap, then
// opens a new session (new shells get the new limit) and reads the settings
// again. It returns the new session, or nil when nothing changed.
func (c *checker) fixMemoryCap(ctx context.Context, sess *winrm.Session) *winrm.Session {
	cfg := c.res.Facts.Config
	want := int64(c.opts.FixMemoryCap)
	if cfg == nil || cfg.Winrs.MaxMemoryPerShellMB == 0 || cfg.Winrs.MaxMemoryPerShellMB >= want || cfg.Winrs.MaxMemoryPerShellMB < 0 {
		return nil // unknown, unlimited or already enough: never lowered
	}
	before := cfg.Winrs.MaxMemoryPerShellMB
	cmdLine, _ := winquote.WinrmSetMemoryCapCommands(c.opts.FixMemoryCap)
	var fixed *winrm.Session
	c.step("fix memory cap", func() Check {
		res, err := sess.Run(ctx, transport.Command{Kind: transport.KindCmd, Line: cmdLine})
		if err != nil {
			te := transport.Classify(err)
			return Check{Status: Fail, Class: te.Class, Detail: cmdLine + " failed: " + te.Message}
		}
		if res.ExitCode != 0 {
			return Check{Status: Fail, Class: transport.ClassUnexpectedExit, Detail: fmt.Sprintf("%s exited %d: %s", cmdLine, res.ExitCode, clip(strings.TrimSpace(res.Stdout+res.Stderr), 300)),
				Fix: "run it from an elevated prompt on the host (it needs administrator rights)"}
		}
		t, err := c.opts.Target(ctx, c.host)
		if err == nil {
			fixed, err = winrm.Open(ctx, t, c.opts.WinRM)
		}
		if err != nil {
			return Check{Status: Fail, Class: transport.Classify(err).Class, Detail: "the cap was raised but the host could not be checked again: " + err.Error()}
		}
		newCfg, err := fixed.GetWinRMConfig(ctx)
		if err != nil {
			if newCfg, err = readConfigWithCommand(ctx, fixed); err != nil {
				return Check{Status: Warn, Detail: "the cap was raised but could not be read back: " + err.Error()}
			}
		}
		c.res.Facts.Config = &newCfg
		change := fmt.Sprintf("MaxMemoryPerShellMB %d -> %d", before, newCfg.Winrs.MaxMemoryPerShellMB)
		c.res.Changes = append(c.res.Changes, change)
		return Check{Status: Pass, Detail: "ran " + cmdLine + ": " + change}
	})
	return fixed
}

// verdict applies the requirements; each unmet one is a failed check with
// its fix.
func (c *checker) verdict() {
	r := c.opts.Requirements
	cfg := c.res.Facts.Config
	ps := c.res.Facts.PowerShell
	if r.MemoryPerShellMB > 0 {
		c.step(CheckVerdict+": memory per shell", func() Check {
			if c.viaAgent() {
				return Check{Status: Skipped, Detail: notOverSSMQuota}
			}
			if cfg == nil || cfg.Winrs.MaxMemoryPerShellMB < 0 {
				return Check{Status: Warn, Detail: fmt.Sprintf("needs %d MB per shell; the host's MaxMemoryPerShellMB could not be read", r.MemoryPerShellMB)}
			}
			have := cfg.Winrs.MaxMemoryPerShellMB
			if have != 0 && have < int64(r.MemoryPerShellMB) {
				cmdLine, psLine := winquote.WinrmSetMemoryCapCommands(r.MemoryPerShellMB)
				return Check{Status: Fail, Class: transport.ClassMemoryCap,
					Detail: fmt.Sprintf("MaxMemoryPerShellMB is %d; the playbook needs %d: programs started by steps would run out of memory", have, r.MemoryPerShellMB),
					Fix:    fmt.Sprintf("from an elevated cmd.exe: %s — from PowerShell: %s — or run fleetrun preflight --fix-memory-cap %d (on WMF 3.0 hosts also install KB2842230)", cmdLine, psLine, r.MemoryPerShellMB)}
			}
			return Check{Status: Pass, Detail: fmt.Sprintf("MaxMemoryPerShellMB %s ≥ %d", capText(have), r.MemoryPerShellMB)}
		})
	}
	if r.ShellsPerUser > 0 {
		c.step(CheckVerdict+": shells per user", func() Check {
			if c.viaAgent() {
				return Check{Status: Skipped, Detail: notOverSSMQuota}
			}
			if cfg == nil || cfg.Winrs.MaxShellsPerUser < 0 {
				return Check{Status: Warn, Detail: "MaxShellsPerUser could not be read"}
			}
			if have := cfg.Winrs.MaxShellsPerUser; have < int64(r.ShellsPerUser) {
				return Check{Status: Fail, Class: transport.ClassWSManFault,
					Detail: fmt.Sprintf("MaxShellsPerUser is %d; the playbook needs %d", have, r.ShellsPerUser),
					Fix:    fmt.Sprintf(`from an elevated cmd.exe: winrm set winrm/config/winrs @{MaxShellsPerUser="%d"} — from PowerShell: winrm set winrm/config/winrs '@{MaxShellsPerUser="%d"}'`, r.ShellsPerUser, r.ShellsPerUser)}
			}
			return Check{Status: Pass, Detail: fmt.Sprintf("MaxShellsPerUser %d ≥ %d", cfg.Winrs.MaxShellsPerUser, r.ShellsPerUser)}
		})
	}
	if r.DiskFreeGB > 0 {
		c.step(CheckVerdict+": disk free", func() Check {
			if ps == nil {
				return Check{Status: Fail, Class: transport.ClassInternal, Detail: "free disk space unknown: the PowerShell check did not report it"}
			}
			if free := gb(ps.DiskFreeBytes); free < r.DiskFreeGB {
				return Check{Status: Fail, Class: transport.ClassInternal,
					Detail: fmt.Sprintf("%s has %.1f GB free; the playbook needs %.1f GB", ps.SystemDrive, free, r.DiskFreeGB),
					Fix:    "free space on the system drive (e.g. Dism /Online /Cleanup-Image /StartComponentCleanup) or extend the volume"}
			}
			return Check{Status: Pass, Detail: fmt.Sprintf("%s has %.1f GB free ≥ %.1f GB", ps.SystemDrive, gb(ps.DiskFreeBytes), r.DiskFreeGB)}
		})
	}
	if r.PowerShell != "" {
		c.step(CheckVerdict+": powershell version", func() Check {
			if ps == nil {
				return Check{Status: Fail, Class: transport.ClassInternal, Detail: "PowerShell version unknown: the PowerShell check did not run"}
			}
			have, err1 := playbook.ParseVersion(ps.Version)
			want, err2 := playbook.ParseVersion(r.PowerShell)
			if err1 != nil || err2 != nil {
				return Check{Status: Fail, Class: transport.ClassInternal, Detail: fmt.Sprintf("cannot compare PowerShell %q with %q", ps.Version, r.PowerShell)}
			}
			if !playbook.VersionAtLeast(have, want) {
				return Check{Status: Fail, Class: transport.ClassInternal,
					Detail: fmt.Sprintf("PowerShell %s is older than the %s the playbook needs", ps.Version, r.PowerShell),
					Fix:    "install Windows Management Framework 5.1 (it brings PowerShell 5.1 to Windows Server 2008 R2 SP1 and later)"}
			}
			return Check{Status: Pass, Detail: fmt.Sprintf("PowerShell %s ≥ %s", ps.Version, r.PowerShell)}
		})
	}
}
