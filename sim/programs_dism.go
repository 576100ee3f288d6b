package sim

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
)

// dismCmd is a parsed DISM command line.
type dismCmd struct {
	op        string   // add-package or get-packages
	packages  []string // /PackagePath values, in order
	quiet     bool
	noRestart bool
}

// dismParse is what parsing a DISM command line decided.
type dismParse int

const (
	dismOK dismParse = iota
	// dismUnknown: DISM's error 87, "The <option> option is unknown."
	dismUnknown
	// dismNotModelled: valid DISM the simulator does not model.
	dismNotModelled
)

// dismKnownOptions are DISM options (Microsoft Learn, "DISM Image
// Management Command-Line Options", "DISM Operating System Package
// Servicing Command-Line Options" and their siblings) that are valid but
// not modelled: they are refused loudly rather than called unknown.
var dismKnownOptions = map[string]bool{
	"?": true, "image": true, "windir": true, "sysdrivedir": true, "systemdrive": true, "format": true,
	"cleanup-image": true, "restorehealth": true, "scanhealth": true, "checkhealth": true,
	"startcomponentcleanup": true, "resetbase": true, "analyzecomponentstore": true, "source": true, "limitaccess": true,
	"remove-package": true, "get-packageinfo": true, "packagename": true, "ignorecheck": true, "preventpending": true,
	"enable-feature": true, "disable-feature": true, "get-features": true, "get-featureinfo": true, "featurename": true, "all": true,
	"add-capability": true, "remove-capability": true, "get-capabilities": true, "get-capabilityinfo": true, "capabilityname": true,
	"get-drivers": true, "get-driverinfo": true, "add-driver": true, "remove-driver": true, "export-driver": true,
	"get-currentedition": true, "get-targeteditions": true, "set-edition": true, "productkey": true, "accepteula": true,
	"get-intl": true, "set-syslocale": true, "set-userlocale": true, "set-inputlocale": true, "set-timezone": true,
	"get-imageinfo": true, "get-mountedimageinfo": true, "mount-image": true, "unmount-image": true, "commit-image": true,
	"capture-image": true, "apply-image": true, "export-image": true, "cleanup-mountpoints": true, "remount-image": true,
	"get-provisionedappxpackages": true, "add-provisionedappxpackage": true, "remove-provisionedappxpackage": true,
}

// parseDismArgs reads DISM's argv after the program name. Modelled:
// /Online with /Add-Package and one or more /PackagePath:PATH, or with
// /Get-Packages; /Quiet, /NoRestart, /English, /LogPath, /LogLevel and
// /ScratchDir are accepted (there is no log). A servicing command without
// /Online or /Image is unknown to DISM, as is anything DISM does not
// know; it returns the offending option's name (without "/") for the
// error text.
func parseDismArgs(args []string) (dismCmd, dismParse, string) {
	var c dismCmd
	online := false
	if len(args) == 0 {
		return c, dismNotModelled, "" // DISM alone prints its help
	}
	for _, a := range args {
		if !strings.HasPrefix(a, "/") || len(a) < 2 {
			return c, dismUnknown, a
		}
		name, value, hasValue := strings.Cut(a[1:], ":")
		key := strings.ToLower(name)
		switch key {
		case "online":
			online = true
		case "add-package", "get-packages":
			if c.op != "" {
				return c, dismNotModelled, name
			}
			c.op = key
		case "packagepath":
			if !hasValue || value == "" {
				return c, dismNotModelled, name
			}
			c.packages = append(c.packages, value)
		case "quiet":
			c.quiet = true
		case "norestart":
			c.noRestart = true
		case "english", "logpath", "loglevel", "scratchdir":
		default:
			if dismKnownOptions[key] {
				return c, dismNotModelled, name
			}
			return c, dismUnknown, name
		}
	}
	switch {
	case c.op == "":
		return c, dismNotModelled, ""
	case !online:
		return c, dismUnknown, c.op
	case c.op == "add-package" && len(c.packages) == 0:
		return c, dismNotModelled, c.op
	case c.op == "get-packages" && len(c.packages) > 0:
		return c, dismUnknown, "packagepath"
	}
	return c, dismOK, ""
}

// dismVersions are DISM's Version and Image Version lines by release.
func (p Profile) dismVersions() (tool, image string) {
	switch p.Name {
	case "2008r2":
		return "6.1.7600.16385", "6.1.7601.17514"
	case "2012r2":
		return "6.3.9600.17031", "6.3.9600.17031"
	case "2016":
		return "10.0.14393.0", "10.0.14393.0"
	}
	return p.Version + ".1", p.Version + ".1"
}

// packageIdentity is an update's name in the servicing stack.
func (p Profile) packageIdentity(kb string) string {
	v := p.Version
	if i := strings.IndexByte(v, '.'); i >= 0 {
		if j := strings.IndexByte(v[i+1:], '.'); j >= 0 {
			v = v[:i+1+j]
		}
	}
	return "Package_for_" + strings.ToUpper(kb) + "~31bf3856ad364e35~amd64~~" + v + ".1.0"
}

const dismLog = `The DISM log file can be found at C:\Windows\Logs\DISM\dism.log` + "\r\n"

// dism is dism.exe for installing updates: /Online /Add-Package
// /PackagePath:PATH (a .cab as `wusa /extract` writes it, or a folder
// holding such cabinets) and /Online /Get-Packages. DISM works from a
// WinRS shell, where wusa does not (Microsoft KB 2773898 gives it as the
// workaround), but needs an administrator's token (error 740). A new
// update asks for a restart: exit code 3010 (ERROR_SUCCESS_REBOOT_REQUIRED)
// and, without /NoRestart, the "Restart Windows" question read from
// stdin (no answer is N; Y restarts the host); with /Quiet and without
// /NoRestart DISM restarts without asking, as Microsoft's DISM
// documentation says. An update already installed is exit code 0; a
// missing package is error 2. Other DISM commands are not modelled.
func (h *Host) dism(ctx context.Context, p *cmdexe.Proc) uint32 {
	c, res, opt := parseDismArgs(toolArgs(p)[1:])
	switch res {
	case dismNotModelled:
		return h.notModelled(p)
	}
	ps := procFrom(ctx)
	tool, image := h.cfg.Profile.dismVersions()
	banner := "\r\nDeployment Image Servicing and Management tool\r\nVersion: " + tool + "\r\n\r\n"
	fail := func(withImage bool, code uint32, msg string) uint32 {
		var b strings.Builder
		if !c.quiet {
			b.WriteString(banner)
			if withImage {
				b.WriteString("Image Version: " + image + "\r\n\r\n")
			}
		}
		fmt.Fprintf(&b, "\r\nError: %d\r\n\r\n%s\r\n\r\n%s", code, msg, dismLog)
		h.writeHost(p.Stdout, b.String())
		return code
	}
	if res == dismUnknown {
		return fail(false, 87, "The "+strings.ToLower(opt)+" option is unknown.\r\nFor more information, refer to the help by running DISM.exe /?.")
	}
	if ps.remote() && !h.cfg.Account.admin() {
		return fail(false, 740, "Elevated permissions are required to run DISM.\r\nUse an elevated command prompt to complete these tasks.")
	}
	prof := h.cfg.Profile
	if c.op == "get-packages" {
		var b strings.Builder
		if !c.quiet {
			b.WriteString(banner + "Image Version: " + image + "\r\n\r\nPackages listing: \r\n\r\n")
			pending := h.machine.RebootPending()
			boot := h.BootTime()
			for _, f := range h.machine.Hotfixes() {
				state := "Installed"
				if pending && !f.InstalledOn.Before(boot) {
					state = "Install Pending"
				}
				fmt.Fprintf(&b, "Package Identity : %s\r\nState : %s\r\nRelease Type : %s\r\nInstall Time : %s\r\n\r\n",
					prof.packageIdentity(f.ID), state, f.Description, f.InstalledOn.UTC().Format("1/2/2006 3:04 PM"))
			}
			b.WriteString("The operation completed successfully.\r\n")
		}
		h.writeHost(p.Stdout, b.String())
		return 0
	}

	// Find every package before installing any, as DISM opens them all
	// first.
	fsys := h.fsFor(ps)
	var kbs []string
	for _, pkg := range c.packages {
		path := resolveWindowsPath(p.Env.Cwd(), pkg)
		found, notPackage, err := h.dismPackages(fsys, path)
		switch {
		case err != nil:
			return fail(true, 5, "Access is denied.")
		case notPackage:
			h.writeHost(p.Stderr, "simulated host: dism /add-package of "+path+", which is not an update cabinet, is not modelled\r\n")
			return 1
		case len(found) == 0:
			return fail(true, 2, "The system cannot find the file specified.")
		}
		kbs = append(kbs, found...)
	}
	var b strings.Builder
	if !c.quiet {
		b.WriteString(banner + "Image Version: " + image + "\r\n\r\n")
	}
	restart := false
	for i, kb := range kbs {
		if !c.quiet {
			fmt.Fprintf(&b, "Processing %d of %d - Adding package %s\r\n", i+1, len(kbs), prof.packageIdentity(kb))
			b.WriteString("[==========================100.0%==========================]\r\n")
		}
		if h.machine.install(kb, h.clock.Now()) {
			restart = true
		}
	}
	if c.quiet {
		if restart && !c.noRestart {
			h.restartAfter(ps)
		}
		return dismExit(restart)
	}
	b.WriteString("The operation completed successfully.\r\n")
	if !restart || c.noRestart {
		h.writeHost(p.Stdout, b.String())
		return dismExit(restart)
	}
	b.WriteString("Restart Windows to complete this operation.\r\nDo you want to restart the computer now? (Y/N) ")
	h.writeHost(p.Stdout, b.String())
	if answer := strings.TrimSpace(readAnswer(p)); strings.EqualFold(answer, "y") {
		h.restartAfter(ps)
	}
	return dismExit(restart)
}

func dismExit(restart bool) uint32 {
	if restart {
		return 3010 // ERROR_SUCCESS_REBOOT_REQUIRED
	}
	return 0
}

// restartAfter restarts the host once the process has exited (right after
// the response that reports its exit code, for a WinRS command).
func (h *Host) restartAfter(ps *procState) {
	if ps.cmd != nil {
		h.scheduleReboot(ps.cmd, 0)
		return
	}
	h.scheduleReboot(nil, time.Second)
}

// readAnswer reads one line of stdin (up to its line end or the end of
// input), byte by byte so that nothing after it is consumed.
func readAnswer(p *cmdexe.Proc) string {
	var b strings.Builder
	var buf [1]byte
	for b.Len() < 256 {
		n, err := p.Stdin.Read(buf[:])
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			break
		}
	}
	return b.String()
}

// dismPackages lists the updates a /PackagePath names: a cabinet file, or
// every cabinet in a folder and its subfolders (DISM's documentation for
// /PackagePath). A cabinet is an update when it holds one (what `wusa
// /extract` writes says "simulated update package KB...") or, failing that,
// when its name carries a KB number; a folder's other cabinets, such as the
// WSUSSCAN.cab wusa extracts beside the update, are not packages and are
// skipped. notPackage says a file named directly is no update cabinet (an
// .msu included: only the .cab inside is modelled); an error means the
// path was out of reach.
func (h *Host) dismPackages(fsys *procFS, path string) (kbs []string, notPackage bool, err error) {
	if err := fsys.Access(path); err != nil {
		return nil, false, err
	}
	kbOf := func(p string) string {
		if data, err := fsys.ReadFile(p); err == nil && strings.HasPrefix(string(data), "simulated update package ") {
			if m := kbRE.FindStringSubmatch(string(data)); m != nil {
				return "KB" + m[1]
			}
		}
		if m := kbRE.FindStringSubmatch(p[strings.LastIndexByte(p, '\\')+1:]); m != nil {
			return "KB" + m[1]
		}
		return ""
	}
	if !fsys.v.IsDir(path) {
		if !fsys.Exists(path) {
			return nil, false, nil
		}
		if kb := kbOf(path); kb != "" && strings.HasSuffix(strings.ToLower(path), ".cab") {
			return []string{kb}, false, nil
		}
		return nil, true, nil
	}
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		entries, ok, _ := fsys.List(dir)
		if !ok || depth > 16 {
			return
		}
		for _, e := range entries {
			switch {
			case e.Dir:
				walk(e.Path, depth+1)
			case strings.HasSuffix(strings.ToLower(e.Name), ".cab"):
				if kb := kbOf(e.Path); kb != "" {
					kbs = append(kbs, kb)
				}
			}
		}
	}
	walk(path, 0)
	return kbs, false, nil
}
