package sim

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
	"github.com/fleetrun/fleetrun/sim/internal/psmodel"
)

// psHost is a powershell.exe process of a simulated host as the
// PowerShell model reaches it: the host's machine state and file system
// as the process's logon sees them, its environment and directory, and
// the host's programs.
type psHost struct {
	h   *Host
	ps  *procState
	env *cmdexe.Env
	enc func(string) []byte
	// dec reads a program's captured output, fileDec a text file
	// without a byte-order mark.
	dec, fileDec func([]byte) string
	// wow64 is the 32-bit PowerShell of SysWOW64.
	wow64 bool
	// policy is the process's execution policy (-ExecutionPolicy), or "".
	policy string
}

var _ psmodel.Host = (*psHost)(nil)

// Facts implements psmodel.Process.
func (p *psHost) Facts() psmodel.Facts {
	h := p.h
	user := p.ps.user
	if user == "" {
		user = h.cfg.User
	}
	domain, _ := p.env.Get("USERDOMAIN")
	pf := h.cfg.Preflight
	// The two PowerShells keep separate policies (field notes, pitfall 5).
	machinePolicy := pf.ExecutionPolicy64
	if p.wow64 {
		machinePolicy = pf.ExecutionPolicy32
	}
	return psmodel.Facts{
		ComputerName:      h.cfg.Name,
		UserName:          user,
		UserDomain:        domain,
		PSVersion:         h.psVersion(),
		Is64BitProcess:    !p.wow64,
		Is64BitOS:         true,
		OSCaption:         h.cfg.Profile.Caption,
		OSVersion:         h.cfg.Profile.Version,
		OSBuild:           h.cfg.Profile.BuildNumber,
		LastBoot:          h.BootTime(),
		ExecutionPolicies: map[string]string{"Process": p.policy, "LocalMachine": machinePolicy},
		SystemDrive:       pf.SystemDrive,
		DiskFreeBytes:     pf.DiskFreeBytes,
		DiskTotalBytes:    pf.DiskTotalBytes,
		NetworkLogon:      p.ps.remote(),
	}
}

// Now implements psmodel.Process.
func (p *psHost) Now() time.Time { return p.h.clock.Now() }

// Sleep implements psmodel.Process on the host's clock.
func (p *psHost) Sleep(ctx context.Context, d time.Duration) error { return p.ps.sleep(ctx, d) }

// Getenv implements psmodel.Process.
func (p *psHost) Getenv(name string) (string, bool) { return p.env.Get(name) }

// Setenv implements psmodel.Process.
func (p *psHost) Setenv(name, value string) { p.env.Set(name, value) }

// Unsetenv implements psmodel.Process.
func (p *psHost) Unsetenv(name string) { p.env.Unset(name) }

// Dir implements psmodel.Process.
func (p *psHost) Dir() string { return p.env.Cwd() }

// Chdir implements psmodel.Process.
func (p *psHost) Chdir(dir string) { p.env.SetCwd(dir) }

// FindProgram implements psmodel.Process as PowerShell's command
// discovery finds an application: a name with a path relative to the
// current location, a bare name in PATH only (PowerShell does not run
// programs from the current directory without .\), and without an
// extension with PATHEXT's extensions (.ps1 first, which PowerShell runs
// itself).
func (p *psHost) FindProgram(name string) (psmodel.Program, error) {
	h := p.h
	pfs := h.fsFor(p.ps)
	name = strings.ReplaceAll(name, "/", `\`)
	var dirs []string
	base := name
	if strings.Contains(name, `\`) || (len(name) >= 2 && name[1] == ':') {
		full := resolveWindowsPath(p.env.Cwd(), name)
		if strings.HasPrefix(name, `\\`) {
			full = name
		}
		if err := pfs.Access(full); err != nil {
			return psmodel.Program{}, fmt.Errorf("%s: %w", name, fs.ErrPermission)
		}
		dirs = []string{full[:strings.LastIndexByte(full, '\\')]}
		base = full[strings.LastIndexByte(full, '\\')+1:]
	} else {
		path, _ := p.env.Get("PATH")
		for _, d := range strings.Split(path, ";") {
			if d = strings.TrimRight(strings.TrimSpace(d), `\`); d != "" {
				dirs = append(dirs, d)
			}
		}
	}
	exts := []string{""}
	if !strings.Contains(base, ".") {
		exts = []string{".ps1"}
		pathext, _ := p.env.Get("PATHEXT")
		for _, e := range strings.Split(pathext, ";") {
			if e != "" {
				exts = append(exts, strings.ToLower(e))
			}
		}
	}
	for _, d := range dirs {
		for _, e := range exts {
			full := d + `\` + base + e
			lower := strings.ToLower(full)
			switch {
			case strings.HasSuffix(lower, ".ps1"):
				if pfs.Exists(full) && !h.fs.IsDir(full) {
					return psmodel.Program{Path: h.spelled(full), Script: true}, nil
				}
			case strings.HasSuffix(lower, ".bat"), strings.HasSuffix(lower, ".cmd"):
				if pfs.Exists(full) && !h.fs.IsDir(full) {
					return psmodel.Program{Path: h.spelled(full)}, nil
				}
			default:
				if _, ok := h.lookup(full); ok {
					return psmodel.Program{Path: full}, nil
				}
			}
		}
	}
	return psmodel.Program{}, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
}

// psWriter marks the script's own output writers, which take bytes
// already encoded; a program started from the script gets the pipe
// beneath.
type psWriter struct{ w io.Writer }

func (w psWriter) Write(b []byte) (int, error) {
	rawWrite(w.w, b)
	return len(b), nil
}

func unwrapPS(w io.Writer) io.Writer {
	if pw, ok := w.(psWriter); ok {
		return pw.w
	}
	return w
}

// Run implements psmodel.Process: .bat and .cmd files run under cmd.exe
// as CreateProcess hands them over, programs run as themselves.
func (p *psHost) Run(ctx context.Context, prog psmodel.Program, line string, stdin io.Reader, stdout, stderr io.Writer) uint32 {
	h := p.h
	stdout, stderr = unwrapPS(stdout), unwrapPS(stderr)
	lower := strings.ToLower(prog.Path)
	if strings.HasSuffix(lower, ".bat") || strings.HasSuffix(lower, ".cmd") {
		return cmdexe.Run(ctx, line, p.env.Clone(), h.fsFor(p.ps), h.lookup, stdin, stdout, stderr)
	}
	run, path, ok := h.resolveProgram(prog.Path, p.env)
	if !ok {
		return 0x80070002
	}
	return run(ctx, &cmdexe.Proc{Name: path, CommandLine: line, Args: cmdexe.ParseArgs(line), Env: p.env.Clone(),
		Stdin: stdin, Stdout: stdout, Stderr: stderr})
}

// Encode implements psmodel.Process.
func (p *psHost) Encode(s string) []byte { return p.enc(s) }

// Decode implements psmodel.Process.
func (p *psHost) Decode(b []byte) string { return p.dec(b) }

// DecodeFile implements psmodel.Process.
func (p *psHost) DecodeFile(b []byte) string { return p.fileDec(b) }

// decodeWith reads bytes in a code page; bytes it cannot map become
// U+FFFD.
func decodeWith(enc encoding.Encoding, b []byte) string {
	if enc == nil {
		return string(b)
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return string(b)
	}
	return string(out)
}

// consoleDecoder reads what a program wrote in a console code page.
func consoleDecoder(codepage int) func([]byte) string {
	var enc encoding.Encoding
	switch codepage {
	case 932:
		enc = japanese.ShiftJIS
	case 437:
		enc = charmap.CodePage437
	case 850:
		enc = charmap.CodePage850
	case 1252:
		enc = charmap.Windows1252
	}
	if enc == nil {
		// UTF-8 (65001): each byte that is not part of a valid sequence
		// becomes U+FFFD, as .NET's UTF8Encoding decoder replaces it.
		return func(b []byte) string { return string([]rune(string(b))) }
	}
	return func(b []byte) string { return decodeWith(enc, b) }
}

// decodeHost reads text as the host's programs write it.
func (h *Host) decodeHost(b []byte) string {
	if h.cfg.OutputEncoding == "cp932" {
		return decodeWith(japanese.ShiftJIS, b)
	}
	return string(b)
}

// ReadFile implements psmodel.Files.
func (p *psHost) ReadFile(path string) ([]byte, error) { return p.h.fsFor(p.ps).ReadFile(path) }

// WriteFile implements psmodel.Files.
func (p *psHost) WriteFile(path string, data []byte, appendTo bool) error {
	return p.h.fsFor(p.ps).WriteFile(path, data, appendTo)
}

// Stat implements psmodel.Files. The file system keeps no times: every
// file was last written when the host started.
func (p *psHost) Stat(path string) (psmodel.FileInfo, error) {
	h := p.h
	if err := h.fsFor(p.ps).Access(path); err != nil {
		return psmodel.FileInfo{}, err
	}
	full := h.spelled(path)
	name := full[strings.LastIndexByte(strings.TrimRight(full, `\`), '\\')+1:]
	switch {
	case h.fs.IsDir(path):
		return psmodel.FileInfo{Path: strings.TrimRight(full, `\`) + rootSlash(full), Name: strings.TrimRight(name, `\`), Dir: true, ModTime: h.BootTime()}, nil
	default:
		size, ok := h.fs.Size(path)
		if !ok {
			return psmodel.FileInfo{}, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
		}
		return psmodel.FileInfo{Path: full, Name: name, Size: size, ModTime: h.BootTime()}, nil
	}
}

// rootSlash keeps the backslash of a drive root (C:\).
func rootSlash(p string) string {
	if len(strings.TrimRight(p, `\`)) == 2 {
		return `\`
	}
	return ""
}

// ReadDir implements psmodel.Files.
func (p *psHost) ReadDir(path string) ([]psmodel.FileInfo, error) {
	entries, ok, err := p.h.fsFor(p.ps).List(path)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	out := make([]psmodel.FileInfo, len(entries))
	for i, e := range entries {
		out[i] = psmodel.FileInfo{Path: e.Path, Name: e.Name, Dir: e.Dir, Size: e.Size, ModTime: p.h.BootTime()}
	}
	return out, nil
}

// Mkdir implements psmodel.Files.
func (p *psHost) Mkdir(path string) error {
	if err := p.h.fsFor(p.ps).Access(path); err != nil {
		return err
	}
	return p.h.fs.Mkdir(path)
}

// Remove implements psmodel.Files.
func (p *psHost) Remove(path string) error {
	if err := p.h.fsFor(p.ps).Access(path); err != nil {
		return err
	}
	return p.h.fs.Remove(path)
}

// spelled returns a path with the spelling it was first written with.
func (h *Host) spelled(path string) string {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if n, ok := h.fs.names[canonPath(path)]; ok {
		return n
	}
	return path
}

// RegistryKey implements psmodel.Machine.
func (p *psHost) RegistryKey(path string) ([]psmodel.RegValue, bool) {
	if i := strings.Index(strings.ToLower(path), "registry::"); i >= 0 {
		path = path[i:]
	}
	if strings.HasPrefix(strings.ToLower(path), "hkcu:") {
		return nil, false
	}
	_, vals, ok := p.h.machine.RegistryKey(path)
	if !ok {
		return nil, false
	}
	out := make([]psmodel.RegValue, len(vals))
	for i, v := range vals {
		out[i] = psmodel.RegValue{Name: v.Name, Type: v.Type, Data: v.Data, DWord: v.DWord}
	}
	return out, true
}

// Services implements psmodel.Machine.
func (p *psHost) Services() []psmodel.Service {
	svcs := p.h.machine.Services()
	out := make([]psmodel.Service, len(svcs))
	for i, s := range svcs {
		out[i] = psmodel.Service{Name: s.Name, DisplayName: s.DisplayName, Running: s.Running}
	}
	return out
}

// SetServiceRunning implements psmodel.Machine. Controlling a service
// needs an administrator: a Remote Management Users member (or a
// filtered token) is refused by the service control manager.
func (p *psHost) SetServiceRunning(name string, running bool) error {
	if p.ps.remote() && !p.h.cfg.Account.admin() {
		return fmt.Errorf("service %s: %w", name, fs.ErrPermission)
	}
	return p.h.machine.setRunning(name, running)
}

// setRunning starts or stops a service.
func (m *machine) setRunning(name string, running bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.services[strings.ToLower(name)]
	if !ok {
		return fmt.Errorf("service %s: %w", name, fs.ErrNotExist)
	}
	s.Running = running
	return nil
}

// Hotfixes implements psmodel.Machine.
func (p *psHost) Hotfixes() []psmodel.Hotfix {
	hfs := p.h.machine.Hotfixes()
	out := make([]psmodel.Hotfix, len(hfs))
	for i, hf := range hfs {
		out[i] = psmodel.Hotfix{ID: hf.ID, Description: hf.Description, InstalledBy: hf.InstalledBy, InstalledOn: hf.InstalledOn}
	}
	return out
}

// AvailableUpdates implements psmodel.Machine.
func (p *psHost) AvailableUpdates() []string { return p.h.machine.Available() }

// InstallUpdate implements psmodel.Machine: the servicing stack records
// the update and a pending restart.
func (p *psHost) InstallUpdate(kb string) bool { return p.h.machine.install(kb, p.h.clock.Now()) }
