package sim

import (
	"fmt"
	"io/fs"
	"strings"
	"sync"
)

// vfs is a host's small virtual file system: batch files, patches and
// whatever programs write. Paths compare case-insensitively, as on NTFS.
type vfs struct {
	mu    sync.Mutex
	files map[string][]byte // key: canonical lower-case path
	dirs  map[string]bool
}

// defaultFiles exist on every simulated host.
var defaultFiles = map[string]string{
	`C:\scripts\exit9999.bat`: "@echo off\r\necho finishing\r\nexit 9999\r\n",
	// winrm is a batch file that hands its arguments to winrm.vbs.
	`C:\Windows\System32\winrm.cmd`: "@cscript //nologo \"%~dpn0.vbs\" %*\r\n",
}

// defaultDirs exist on every simulated host even when empty.
var defaultDirs = []string{
	`C:\`, `C:\Windows`, `C:\Windows\System32`, `C:\Windows\SysWOW64`,
	`C:\Windows\System32\WindowsPowerShell\v1.0`, `C:\Windows\Temp`,
	`C:\Program Files`, `C:\Program Files (x86)`, `C:\ProgramData`,
	`C:\Users`, `C:\tools`, `C:\scripts`, `C:\patches`,
}

func newVFS(extra map[string]string) *vfs {
	v := &vfs{files: map[string][]byte{}, dirs: map[string]bool{}}
	for _, d := range defaultDirs {
		v.dirs[canonPath(d)] = true
	}
	for p, data := range defaultFiles {
		v.putLocked(p, []byte(data))
	}
	for p, data := range extra {
		v.putLocked(p, []byte(data))
	}
	return v
}

// canonPath folds case and separators: `c:/Scripts\\x.bat` and
// `C:\scripts\x.bat` are the same file.
func canonPath(p string) string {
	p = strings.ReplaceAll(p, "/", `\`)
	for strings.Contains(p, `\\`) {
		p = strings.ReplaceAll(p, `\\`, `\`)
	}
	if len(p) > 3 {
		p = strings.TrimRight(p, `\`)
	}
	return strings.ToLower(p)
}

func (v *vfs) putLocked(p string, data []byte) {
	c := canonPath(p)
	v.files[c] = data
	for i := strings.LastIndexByte(c, '\\'); i > 0; i = strings.LastIndexByte(c[:i], '\\') {
		d := c[:i]
		if len(d) == 2 { // "c:" → "c:\"
			d += `\`
		}
		v.dirs[d] = true
	}
}

// ReadFile returns a copy of a file's content.
func (v *vfs) ReadFile(path string) ([]byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	data, ok := v.files[canonPath(path)]
	if !ok {
		return nil, fmt.Errorf("read %s: %w", path, fs.ErrNotExist)
	}
	return append([]byte(nil), data...), nil
}

// WriteFile creates or replaces a file, or appends to it.
func (v *vfs) WriteFile(path string, data []byte, appendTo bool) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := canonPath(path)
	if v.dirs[c] {
		return fmt.Errorf("write %s: is a directory: %w", path, fs.ErrInvalid)
	}
	if appendTo {
		data = append(append([]byte(nil), v.files[c]...), data...)
	} else {
		data = append([]byte(nil), data...)
	}
	v.putLocked(path, data)
	return nil
}

// Exists reports whether a file or directory exists.
func (v *vfs) Exists(path string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := canonPath(path)
	_, ok := v.files[c]
	return ok || v.dirs[c]
}
