package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
)

// Well-known paths of the simulated programs.
const (
	pathPowerShell   = `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`
	pathPowerShell32 = `C:\Windows\SysWOW64\WindowsPowerShell\v1.0\powershell.exe`
	pathCmd          = `C:\Windows\System32\cmd.exe`
	pathEchoArgs     = `C:\tools\echoargs.exe`
)

// programs maps the lower-case full path of every simulated program to
// its implementation. cmd.exe is added by lookup (it needs the lookup).
// Which encoding each writes is in programs_encoding.go.
func (h *Host) programTable() map[string]cmdexe.Program {
	return map[string]cmdexe.Program{
		`c:\windows\system32\hostname.exe`:                h.hostname,
		`c:\windows\system32\whoami.exe`:                  h.whoami,
		`c:\windows\system32\cscript.exe`:                 h.cscript,
		`c:\windows\system32\shutdown.exe`:                h.shutdownProgram,
		`c:\windows\system32\wusa.exe`:                    h.wusa,
		strings.ToLower(pathPowerShell):                   h.powershell,
		strings.ToLower(pathPowerShell32):                 h.powershell,
		`c:\programdata\oracle\java\javapath\java.exe`:    h.java,
		`c:\program files\java\jre1.8.0_202\bin\java.exe`: h.java,
		`c:\program files\java\jre8\bin\java.exe`:         h.java,
		`c:\windows\system32\ipconfig.exe`:                h.ipconfig,
		`c:\windows\system32\systeminfo.exe`:              h.systeminfo,
		`c:\windows\system32\reg.exe`:                     h.reg,
		`c:\windows\system32\sc.exe`:                      h.sc,
		`c:\windows\system32\dism.exe`:                    h.dism,
		strings.ToLower(pathEchoArgs):                     h.echoArgs,
		`c:\tools\sleep.exe`:                              h.sleepProgram,
		`c:\tools\crash.exe`:                              h.crash,
		`c:\tools\exitcode.exe`:                           h.exitCode,
		strings.ToLower(pathLegacyMessage):                h.legacyMessage,
	}
}

// lookup is the cmdexe.Lookup of the host: full candidate path → program,
// run as a new process and counted in the host's stats.
func (h *Host) lookup(path string) (cmdexe.Program, bool) {
	name, p, ok := h.lookupImage(path)
	if !ok {
		return nil, false
	}
	return h.counted(name, p), true
}

// lookupImage finds the program at a full path, without starting a
// process for it: its image name and implementation.
func (h *Host) lookupImage(path string) (string, cmdexe.Program, bool) {
	key := strings.ToLower(strings.ReplaceAll(path, "/", `\`))
	if key == strings.ToLower(pathCmd) || key == `c:\windows\syswow64\cmd.exe` {
		return "cmd.exe", func(ctx context.Context, p *cmdexe.Proc) uint32 {
			return cmdexe.Cmd(h.fsFor(procFrom(ctx)), h.lookup)(ctx, p)
		}, true
	}
	p, ok := h.programs[key]
	if !ok || p == nil {
		return "", nil, false
	}
	return key[strings.LastIndexByte(key, '\\')+1:], p, true
}

// counted wraps a program so its invocations show in the host's stats.
func (h *Host) counted(name string, p cmdexe.Program) cmdexe.Program {
	return func(ctx context.Context, proc *cmdexe.Proc) uint32 {
		h.stats.count(&h.stats.programs, name)
		return h.spawn(ctx, name, proc.CommandLine, func(ctx context.Context) uint32 { return p(ctx, proc) })
	}
}

// resolveProgram finds a program the way CreateProcess does for a
// command line's first token: a name without extension gets ".exe"; a bare
// name is searched in System32, the Windows directory, then PATH.
func (h *Host) resolveProgram(file string, env *cmdexe.Env) (cmdexe.Program, string, bool) {
	file = strings.Trim(file, `"`)
	candidates := []string{file}
	base := file[strings.LastIndexAny(file, `\/`)+1:]
	if !strings.Contains(base, ".") {
		candidates = []string{file + ".exe"}
	}
	var dirs []string
	if !isAbsWindowsPath(file) && !strings.ContainsAny(file, `\/`) {
		dirs = []string{env.Cwd(), `C:\Windows\System32`, `C:\Windows`}
		if p, ok := env.Get("PATH"); ok {
			dirs = append(dirs, strings.Split(p, ";")...)
		}
	}
	for _, c := range candidates {
		if len(dirs) == 0 {
			if p, ok := h.lookup(c); ok {
				return p, c, true
			}
			continue
		}
		for _, d := range dirs {
			if d == "" {
				continue
			}
			full := strings.TrimRight(d, `\`) + `\` + c
			if p, ok := h.lookup(full); ok {
				return p, full, true
			}
		}
	}
	return nil, "", false
}

// writeHost writes text as the host's programs encode it.
func (h *Host) writeHost(w io.Writer, s string) { rawWrite(w, h.encodeHost(s)) }

func (h *Host) hostname(_ context.Context, p *cmdexe.Proc) uint32 {
	h.writeHost(p.Stdout, h.cfg.Name+"\r\n")
	return 0
}

func (h *Host) whoami(ctx context.Context, p *cmdexe.Proc) uint32 {
	user := procFrom(ctx).user
	if user == "" {
		user = h.cfg.User
	}
	if strings.EqualFold(user, "SYSTEM") {
		h.writeHost(p.Stdout, "nt authority\\system\r\n")
		return 0
	}
	h.writeHost(p.Stdout, strings.ToLower(h.cfg.Name+`\`+user)+"\r\n")
	return 0
}

// echoArgs prints the argv it received, parsed with the C runtime's rules,
// and its raw command line, as one line of JSON (UTF-8 whatever the host).
func (h *Host) echoArgs(_ context.Context, p *cmdexe.Proc) uint32 {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	args := p.Args
	if args == nil {
		args = []string{}
	}
	// Encoding a struct of strings cannot fail.
	_ = enc.Encode(struct {
		Argv        []string `json:"argv"`
		CommandLine string   `json:"command_line"`
	}{args, p.CommandLine})
	out := strings.TrimSuffix(b.String(), "\n") + "\r\n"
	rawWrite(p.Stdout, []byte(out))
	return 0
}

// sleepProgram is C:\tools\sleep.exe SECONDS [TEXT...]: it waits, then
// prints TEXT. A test double for long-running commands.
func (h *Host) sleepProgram(ctx context.Context, p *cmdexe.Proc) uint32 {
	if len(p.Args) < 2 {
		h.writeHost(p.Stderr, "usage: sleep.exe SECONDS [TEXT]\r\n")
		return 1
	}
	secs, err := strconv.ParseFloat(p.Args[1], 64)
	if err != nil || secs < 0 {
		h.writeHost(p.Stderr, fmt.Sprintf("sleep.exe: bad duration %q\r\n", p.Args[1]))
		return 1
	}
	if procFrom(ctx).sleep(ctx, time.Duration(secs*float64(time.Second))) != nil {
		return 0xC000013A
	}
	if len(p.Args) > 2 {
		h.writeHost(p.Stdout, strings.Join(p.Args[2:], " ")+"\r\n")
	}
	return 0
}

// crash ends like a process that hit an access violation.
func (h *Host) crash(context.Context, *cmdexe.Proc) uint32 { return 0xC0000005 }

// exitCode is C:\tools\exitcode.exe N: it exits with N (as a DWORD).
func (h *Host) exitCode(_ context.Context, p *cmdexe.Proc) uint32 {
	if len(p.Args) < 2 {
		return 0
	}
	n, err := strconv.ParseInt(p.Args[1], 0, 64)
	if err != nil {
		h.writeHost(p.Stderr, fmt.Sprintf("exitcode.exe: bad number %q\r\n", p.Args[1]))
		return 1
	}
	return uint32(n)
}

// cscript is the Windows Script Host; the only script it knows is
// winrm.vbs, which winrm.cmd starts.
func (h *Host) cscript(ctx context.Context, p *cmdexe.Proc) uint32 {
	args := p.Args[1:]
	for len(args) > 0 && strings.HasPrefix(args[0], "//") {
		args = args[1:]
	}
	if len(args) == 0 {
		h.writeHost(p.Stdout, "Microsoft (R) Windows Script Host Version 5.812\r\nCopyright (C) Microsoft Corporation. All rights reserved.\r\n\r\nUsage: CScript scriptname.extension [option...] [arguments...]\r\n")
		return 0
	}
	if !strings.EqualFold(args[0], `C:\Windows\System32\winrm.vbs`) {
		h.writeHost(p.Stderr, "Input Error: Can not find script file \""+args[0]+"\".\r\n")
		return 1
	}
	h.stats.count(&h.stats.programs, "winrm.vbs")
	return h.winrm(ctx, p, args[1:])
}

// winrm is winrm.vbs: get and set on winrm/config/winrs, and get on
// winrm/config.
func (h *Host) winrm(ctx context.Context, p *cmdexe.Proc, args []string) uint32 {
	usage := func() uint32 {
		h.writeHost(p.Stdout, "Error: Invalid use of command line. Type \"winrm -?\" for help.\r\n")
		return 1
	}
	if len(args) < 2 {
		return usage()
	}
	op := strings.ToLower(args[0])
	res := strings.ToLower(strings.Trim(args[1], "/"))
	switch {
	case (op == "get" || op == "g") && (res == "winrm/config/winrs"):
		h.writeHost(p.Stdout, winrsListing(h.Quotas()))
		return 0
	case (op == "get" || op == "g") && res == "winrm/config":
		q := h.Quotas()
		var b strings.Builder
		fmt.Fprintf(&b, "Config\r\n    MaxEnvelopeSizekb = %d\r\n    MaxTimeoutms = %d\r\n    MaxBatchItems = 32000\r\n    MaxProviderRequests = 4294967295\r\n", q.MaxEnvelopeSizeKB, q.MaxTimeout.Milliseconds())
		b.WriteString("    Winrs\r\n")
		for _, kv := range winrsSettings(q) {
			fmt.Fprintf(&b, "        %s = %s\r\n", kv[0], kv[1])
		}
		b.WriteString("\r\n")
		h.writeHost(p.Stdout, b.String())
		return 0
	case (op == "set" || op == "s") && res == "winrm/config/winrs":
		if len(args) != 3 {
			return usage()
		}
		settings, ok := parseHashtableArg(args[2])
		if !ok {
			return usage()
		}
		if msg := h.setWinrs(settings); msg != "" {
			h.writeHost(p.Stdout, "WSManFault\r\n    Message = "+msg+"\r\n\r\nError number:  -2144108526 0x80338012\r\n"+msg+"\r\n")
			return 1
		}
		h.writeHost(p.Stdout, winrsListing(h.Quotas()))
		return 0
	}
	return usage()
}

// winrsListing is `winrm get winrm/config/winrs` output.
func winrsListing(q Quotas) string {
	var b strings.Builder
	b.WriteString("Winrs\r\n")
	for _, kv := range winrsSettings(q) {
		fmt.Fprintf(&b, "    %s = %s\r\n", kv[0], kv[1])
	}
	b.WriteString("\r\n")
	return b.String()
}

// parseHashtableArg reads winrm's @{Key="Value";Key2="Value2"} argument;
// the quotes are optional (cmd.exe passes them through, the C runtime
// strips them).
func parseHashtableArg(s string) (map[string]string, bool) {
	inner, ok := strings.CutPrefix(s, "@{")
	if !ok {
		return nil, false
	}
	inner, ok = strings.CutSuffix(inner, "}")
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	for _, part := range strings.Split(inner, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, false
		}
		k = strings.TrimSpace(k)
		v = strings.Trim(strings.TrimSpace(v), `"`)
		if k == "" {
			return nil, false
		}
		out[k] = v
	}
	return out, len(out) > 0
}

// setWinrs applies winrm set winrm/config/winrs settings to the host.
// New shells get them; running shells keep what they started with. It
// returns the WS-Man fault message for a setting it refuses, else "".
func (h *Host) setWinrs(settings map[string]string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	q := h.quotas
	for k, v := range settings {
		if strings.EqualFold(k, "AllowRemoteShellAccess") {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Sprintf("The WS-Management service cannot process a configuration request because the value %q is not valid for AllowRemoteShellAccess. ", v)
			}
			q.AllowRemoteShellAccess = b
			continue
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return fmt.Sprintf("The WS-Management service cannot process a configuration request because the value %q is not valid for %s. ", v, k)
		}
		switch strings.ToLower(k) {
		case "idletimeout":
			q.IdleTimeout = time.Duration(n) * time.Millisecond
		case "maxconcurrentusers":
			q.MaxConcurrentUsers = int(n)
		case "maxshellruntime":
			q.MaxShellRunTime = time.Duration(n) * time.Millisecond
		case "maxprocessespershell":
			q.MaxProcessesPerShell = int(n)
		case "maxmemorypershellmb":
			q.MaxMemoryPerShellMB = int(n)
		case "maxshellsperuser":
			q.MaxShellsPerUser = int(n)
		default:
			return fmt.Sprintf("The WS-Management service cannot process a configuration request because the setting %s is not valid. ", k)
		}
	}
	h.quotas = q
	return ""
}

// shutdownProgram is shutdown.exe: /r [/t N] schedules a reboot, /a aborts
// a pending one.
func (h *Host) shutdownProgram(ctx context.Context, p *cmdexe.Proc) uint32 {
	var restart, abort bool
	delay := 30 * time.Second
	for i := 1; i < len(p.Args); i++ {
		a := strings.ToLower(strings.Replace(p.Args[i], "-", "/", 1))
		switch a {
		case "/r", "/g":
			restart = true
		case "/a":
			abort = true
		case "/t":
			if i+1 < len(p.Args) {
				n, err := strconv.Atoi(p.Args[i+1])
				if err != nil || n < 0 || n > 315360000 {
					h.writeHost(p.Stderr, "The parameter is incorrect.(87)\r\n")
					return 87
				}
				delay = time.Duration(n) * time.Second
				i++
			}
		case "/c", "/d":
			i++ // comment or reason: ignored
		}
	}
	switch {
	case abort:
		switch h.abortShutdown() {
		case abortNothing:
			h.writeHost(p.Stderr, "Unable to abort the system shutdown because no shutdown was in progress.(1116)\r\n")
			return abortNothing
		case abortInProgress:
			h.writeHost(p.Stderr, "A system shutdown is in progress.(1115)\r\n")
			return abortInProgress
		}
		return 0
	case restart:
		if !h.scheduleReboot(procFrom(ctx).cmd, delay) {
			h.writeHost(p.Stderr, "A system shutdown has already been scheduled.(1190)\r\n")
			return 1190
		}
		return 0
	}
	h.writeHost(p.Stderr, "The parameter is incorrect.(87)\r\n")
	return 87
}

var kbRE = regexp.MustCompile(`(?i)kb(\d+)`)

// Exit codes of the Windows Update standalone installer.
const (
	wusaAccessDenied    = 5          // ERROR_ACCESS_DENIED: an install from a network logon (KB 2773898)
	wusaRebootRequired  = 3010       // ERROR_SUCCESS_REBOOT_REQUIRED
	wusaAlreadyDone     = 2359302    // WU_S_ALREADY_INSTALLED (0x00240006)
	wusaFileNotFound    = 0x80070002 // the .msu does not exist
	wusaInvalidArgument = 87         // ERROR_INVALID_PARAMETER
)

// wusa is the Windows Update standalone installer, wusa.exe PACKAGE.msu
// [/quiet] [/norestart] [/extract:DIR].
//
// Installing from a WinRS shell (a network logon) fails with exit code 5
// and nothing on stdout or stderr: Microsoft KB 2773898 ("WUSA returns
// 0x5 ERROR_ACCESS_DENIED when deploying .msu files through WinRM"; the
// same seen by Chef's test-kitchen, sous-chefs/powershell#47 and
// ansible-modules-core#4242). /extract works there, and so does an
// install run as a scheduled task or by the SSM agent. An install needs
// the package file; the first install of a KB asks for a restart (3010),
// later ones answer "already installed" (2359302).
func (h *Host) wusa(ctx context.Context, p *cmdexe.Proc) uint32 {
	var pkg, extract string
	for _, a := range p.Args[1:] {
		switch lower := strings.ToLower(a); {
		case strings.HasPrefix(lower, "/extract:"):
			extract = a[len("/extract:"):]
		case strings.HasPrefix(a, "/"):
		case pkg == "":
			pkg = a
		}
	}
	m := kbRE.FindStringSubmatch(pkg)
	if m == nil || !strings.HasSuffix(strings.ToLower(pkg), ".msu") {
		return wusaInvalidArgument
	}
	kb := "KB" + m[1]
	ps := procFrom(ctx)
	path := resolveWindowsPath(p.Env.Cwd(), pkg)
	if !h.fsFor(ps).Exists(path) {
		return wusaFileNotFound
	}
	if extract != "" {
		return h.wusaExtract(kb, resolveWindowsPath(p.Env.Cwd(), extract))
	}
	if ps.remote() {
		return wusaAccessDenied
	}
	if !h.machine.install(kb, h.clock.Now()) {
		return wusaAlreadyDone
	}
	return wusaRebootRequired
}

// wusaExtract writes what an .msu holds into dir: the update's .cab (which
// dism /add-package installs), WSUSSCAN.cab, the package's XML and its
// properties file. File names follow Microsoft's pattern
// (Windows10.0-KB5034439-x64.cab).
func (h *Host) wusaExtract(kb, dir string) uint32 {
	base := h.cfg.Profile.updatePrefix() + "-" + kb + "-x64"
	files := map[string]string{
		base + ".cab":               "simulated update package " + kb + "\r\n",
		"WSUSSCAN.cab":              "simulated scan metadata\r\n",
		base + ".xml":               `<?xml version="1.0" encoding="UTF-8"?><unattend xmlns="urn:schemas-microsoft-com:unattend"><servicing><package action="install"><source location="%configsetroot%\` + base + `.cab" /></package></servicing></unattend>` + "\r\n",
		base + "-pkgProperties.txt": "ApplicabilityInfo=\"Windows Server\"\r\nKB Article Number=\"" + strings.TrimPrefix(kb, "KB") + "\"\r\n",
	}
	for name, data := range files {
		if err := h.fs.WriteFile(strings.TrimRight(dir, `\`)+`\`+name, []byte(data), false); err != nil {
			return 3 // ERROR_PATH_NOT_FOUND
		}
	}
	return 0
}
