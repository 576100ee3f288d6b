package psmodel

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

// fakeHost is a small machine for the model's tests: files in a map, a
// few services and updates, and two programs (cmd /c exit N and
// hostname).
type fakeHost struct {
	facts    Facts
	env      map[string]string
	dir      string
	files    map[string][]byte // lower-case path
	dirs     map[string]bool
	names    map[string]string
	services []Service
	hotfixes []Hotfix
	avail    []string
	reg      map[string][]RegValue
	slept    time.Duration
	now      time.Time
	denied   bool // shares are out of reach
	admin    bool
}

func newFakeHost() *fakeHost {
	h := &fakeHost{
		facts: Facts{ComputerName: "sim-0001", UserName: "fleetrun", UserDomain: "SIM-0001", PSVersion: "5.1.17763.1",
			Is64BitProcess: true, Is64BitOS: true, OSCaption: "Microsoft Windows Server 2019 Datacenter", OSVersion: "10.0.17763", OSBuild: "17763",
			LastBoot:          time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
			ExecutionPolicies: map[string]string{"Process": "Bypass", "LocalMachine": "RemoteSigned"},
			SystemDrive:       "C:", DiskFreeBytes: 40 << 30, DiskTotalBytes: 100 << 30, NetworkLogon: true},
		env:   map[string]string{"COMPUTERNAME": "SIM-0001", "USERPROFILE": `C:\Users\fleetrun`, "TEMP": `C:\Users\fleetrun\AppData\Local\Temp`, "Path": `C:\Windows\system32;C:\Windows`},
		dir:   `C:\Users\fleetrun`,
		files: map[string][]byte{}, dirs: map[string]bool{}, names: map[string]string{},
		services: []Service{{Name: "Schedule", DisplayName: "Task Scheduler", Running: true}, {Name: "WinRM", DisplayName: "Windows Remote Management (WS-Management)", Running: true},
			{Name: "wuauserv", DisplayName: "Windows Update", Running: true}, {Name: "TrustedInstaller", DisplayName: "Windows Modules Installer"}},
		hotfixes: []Hotfix{{ID: "KB5005030", Description: "Update", InstalledBy: `NT AUTHORITY\SYSTEM`, InstalledOn: time.Date(2023, 12, 1, 10, 0, 0, 0, time.UTC)}},
		avail:    []string{"KB5034439"},
		reg: map[string][]RegValue{
			`hklm\software\microsoft\windows nt\currentversion`: {{Name: "CurrentBuild", Type: "REG_SZ", Data: "17763"}, {Name: "ProductName", Type: "REG_SZ", Data: "Windows Server 2019 Datacenter"}},
		},
		now:   time.Date(2024, 3, 4, 15, 4, 5, 0, time.UTC),
		admin: true,
	}
	for _, d := range []string{`C:\`, `C:\Users`, `C:\Users\fleetrun`, `C:\Windows`, `C:\Windows\system32`, `C:\scripts`, `C:\tools`} {
		h.dirs[strings.ToLower(d)] = true
		h.names[strings.ToLower(d)] = d
	}
	h.put(`C:\scripts\a.txt`, "one\r\ntwo\r\n")
	h.put(`C:\scripts\b.log`, "log\r\n")
	return h
}

func (h *fakeHost) put(p, data string) {
	h.files[strings.ToLower(p)] = []byte(data)
	h.names[strings.ToLower(p)] = p
}

func (h *fakeHost) Facts() Facts   { return h.facts }
func (h *fakeHost) Now() time.Time { return h.now }
func (h *fakeHost) Sleep(ctx context.Context, d time.Duration) error {
	h.slept += d
	return ctx.Err()
}
func (h *fakeHost) Getenv(n string) (string, bool) {
	for k, v := range h.env {
		if strings.EqualFold(k, n) {
			return v, true
		}
	}
	return "", false
}
func (h *fakeHost) Setenv(n, v string) { h.Unsetenv(n); h.env[n] = v }
func (h *fakeHost) Unsetenv(n string) {
	for k := range h.env {
		if strings.EqualFold(k, n) {
			delete(h.env, k)
		}
	}
}
func (h *fakeHost) Dir() string      { return h.dir }
func (h *fakeHost) Chdir(dir string) { h.dir = dir }

func (h *fakeHost) FindProgram(name string) (Program, error) {
	if h.denied && strings.HasPrefix(name, `\\`) {
		return Program{}, fs.ErrPermission
	}
	switch strings.ToLower(strings.TrimSuffix(strings.ToLower(name), ".exe")) {
	case "cmd", `c:\windows\system32\cmd`:
		return Program{Path: `C:\Windows\system32\cmd.exe`}, nil
	case "hostname":
		return Program{Path: `C:\Windows\system32\hostname.exe`}, nil
	}
	if strings.HasSuffix(strings.ToLower(name), ".ps1") {
		if _, ok := h.files[strings.ToLower(name)]; ok {
			return Program{Path: name, Script: true}, nil
		}
	}
	return Program{}, fs.ErrNotExist
}

func (h *fakeHost) Run(_ context.Context, p Program, line string, stdin io.Reader, stdout, stderr io.Writer) uint32 {
	switch {
	case strings.HasSuffix(p.Path, "hostname.exe"):
		fmt.Fprint(stdout, h.facts.ComputerName+"\r\n")
		return 0
	case strings.HasSuffix(p.Path, "cmd.exe"):
		rest := strings.TrimPrefix(line, `"`+p.Path+`"`)
		rest = strings.TrimSpace(rest)
		switch {
		case strings.HasPrefix(rest, "/c exit "):
			n, _ := strconv.Atoi(strings.TrimPrefix(rest, "/c exit ")) // a bad number exits 0, as cmd's exit does
			return uint32(n)
		case strings.HasPrefix(rest, "/c echo "):
			fmt.Fprint(stdout, strings.TrimPrefix(rest, "/c echo ")+"\r\n")
			return 0
		case strings.HasPrefix(rest, "/c err "):
			fmt.Fprint(stderr, strings.TrimPrefix(rest, "/c err ")+"\r\n")
			return 1
		case rest == "/c more":
			data, _ := io.ReadAll(stdin)
			_, _ = stdout.Write(data) // a test buffer does not fail
			return 0
		}
		fmt.Fprint(stdout, "cmdline="+line+"\r\n")
		return 0
	}
	return 1
}

func (h *fakeHost) Encode(s string) []byte { return []byte(s) }
func (h *fakeHost) Decode(b []byte) string { return string(b) }

func (h *fakeHost) DecodeFile(b []byte) string { return string(b) }

func (h *fakeHost) check(p string) error {
	if h.denied && strings.HasPrefix(p, `\\`) {
		return fs.ErrPermission
	}
	return nil
}

func (h *fakeHost) ReadFile(p string) ([]byte, error) {
	if err := h.check(p); err != nil {
		return nil, err
	}
	d, ok := h.files[strings.ToLower(p)]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return bytes.Clone(d), nil
}

func (h *fakeHost) WriteFile(p string, data []byte, appendTo bool) error {
	if err := h.check(p); err != nil {
		return err
	}
	k := strings.ToLower(p)
	if appendTo {
		data = append(bytes.Clone(h.files[k]), data...)
	}
	h.files[k] = bytes.Clone(data)
	if _, ok := h.names[k]; !ok {
		h.names[k] = p
	}
	return nil
}

func (h *fakeHost) Stat(p string) (FileInfo, error) {
	if err := h.check(p); err != nil {
		return FileInfo{}, err
	}
	k := strings.ToLower(strings.TrimRight(p, `\`))
	if len(k) == 2 {
		k += `\`
	}
	if h.dirs[k] {
		n := h.names[k]
		return FileInfo{Path: n, Name: leafName(n), Dir: true, ModTime: h.now}, nil
	}
	if d, ok := h.files[k]; ok {
		n := h.names[k]
		return FileInfo{Path: n, Name: leafName(n), Size: int64(len(d)), ModTime: h.now}, nil
	}
	return FileInfo{}, fs.ErrNotExist
}

func (h *fakeHost) ReadDir(p string) ([]FileInfo, error) {
	if err := h.check(p); err != nil {
		return nil, err
	}
	k := strings.ToLower(strings.TrimRight(p, `\`))
	if !h.dirs[k] && !h.dirs[k+`\`] {
		return nil, fs.ErrNotExist
	}
	var out []FileInfo
	for path := range h.names {
		if parentPath(path) == k || parentPath(path) == k+`\` {
			if path == k {
				continue
			}
			fi, err := h.Stat(h.names[path])
			if err == nil {
				out = append(out, fi)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out, nil
}

func (h *fakeHost) Mkdir(p string) error {
	for d := p; len(d) > 3; d = parentPath(d) {
		h.dirs[strings.ToLower(d)] = true
		if _, ok := h.names[strings.ToLower(d)]; !ok {
			h.names[strings.ToLower(d)] = d
		}
	}
	return nil
}

func (h *fakeHost) Remove(p string) error {
	k := strings.ToLower(p)
	if _, ok := h.files[k]; ok {
		delete(h.files, k)
		delete(h.names, k)
		return nil
	}
	if h.dirs[k] {
		delete(h.dirs, k)
		delete(h.names, k)
		return nil
	}
	return fs.ErrNotExist
}

func (h *fakeHost) RegistryKey(p string) ([]RegValue, bool) {
	k := strings.ToLower(regProviderPath(p))
	k = strings.Replace(k, "hkey_local_machine", "hklm", 1)
	v, ok := h.reg[k]
	return v, ok
}

func (h *fakeHost) Services() []Service { return append([]Service(nil), h.services...) }
func (h *fakeHost) SetServiceRunning(name string, running bool) error {
	if !h.admin {
		return fs.ErrPermission
	}
	for i := range h.services {
		if strings.EqualFold(h.services[i].Name, name) {
			h.services[i].Running = running
			return nil
		}
	}
	return fs.ErrNotExist
}
func (h *fakeHost) Hotfixes() []Hotfix { return append([]Hotfix(nil), h.hotfixes...) }
func (h *fakeHost) AvailableUpdates() []string {
	var out []string
	for _, kb := range h.avail {
		installed := false
		for _, hf := range h.hotfixes {
			if strings.EqualFold(hf.ID, kb) {
				installed = true
			}
		}
		if !installed {
			out = append(out, kb)
		}
	}
	return out
}
func (h *fakeHost) InstallUpdate(kb string) bool {
	for _, hf := range h.hotfixes {
		if strings.EqualFold(hf.ID, kb) {
			return false
		}
	}
	h.hotfixes = append(h.hotfixes, Hotfix{ID: strings.ToUpper(kb), Description: "Update", InstalledBy: `NT AUTHORITY\SYSTEM`, InstalledOn: h.now})
	return true
}

func runOn(h *fakeHost, script string, mode Mode) (stdout, stderr string, code uint32) {
	var out, errOut bytes.Buffer
	code = Run(context.Background(), h, script, Options{Mode: mode, Stdout: &out, Stderr: &errOut, Limits: Limits{Steps: 100000}})
	return out.String(), errOut.String(), code
}
