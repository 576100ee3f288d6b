package sim

import (
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"
)

// vfs is a host's small virtual file system: batch files, patches and
// whatever programs write. Paths compare case-insensitively, as on NTFS.
type vfs struct {
	mu    sync.Mutex
	files map[string]*vfile // key: canonical lower-case path
	// store holds the content of large files (chunks.go), shared with
	// the other hosts of the fleet.
	store *chunkStore
	dirs  map[string]bool
	// names keeps the first spelling of each path, for listings.
	names map[string]string
	// private marks folders whose ACL admits SYSTEM and Administrators
	// only (fleetrun's task folder); the simulator records, not enforces,
	// it: every process it runs is one of them or a filtered token that
	// WinRM refused already.
	private map[string]bool
	// mtimes are last-write times, for listings: a file's when it was
	// written, a directory's when an entry was added or removed.
	mtimes map[string]time.Time
	now    func() time.Time
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

// newVFS builds a host's file system; now dates what is written (the
// default and extra files are dated when the host is built).
func newVFS(extra map[string]string, now func() time.Time, store *chunkStore) *vfs {
	if store == nil {
		store = newChunkStore()
	}
	v := &vfs{store: store, files: map[string]*vfile{}, dirs: map[string]bool{}, names: map[string]string{}, private: map[string]bool{}, mtimes: map[string]time.Time{}, now: now}
	for _, d := range defaultDirs {
		v.mkdirLocked(d)
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
	v.putFileLocked(p, &vfile{data: data})
}

// putFileLocked makes f the content of path p, releasing what p held.
func (v *vfs) putFileLocked(p string, f *vfile) {
	c := canonPath(p)
	v.remember(p)
	old, existed := v.files[c]
	if existed {
		v.dropLocked(old)
	}
	v.files[c] = f
	now := v.stamp()
	v.mtimes[c] = now
	for i := strings.LastIndexByte(c, '\\'); i > 0; i = strings.LastIndexByte(c[:i], '\\') {
		d := c[:i]
		if len(d) == 2 { // "c:" → "c:\"
			d += `\`
		}
		if !v.dirs[d] || (!existed && i == strings.LastIndexByte(c, '\\')) {
			v.mtimes[d] = now // a new directory, or the parent of a new file
		}
		v.dirs[d] = true
	}
}

// stamp is the time a change is dated with.
func (v *vfs) stamp() time.Time {
	if v.now == nil {
		return time.Time{}
	}
	return v.now()
}

// touchParentLocked dates the directory holding canonical path c.
func (v *vfs) touchParentLocked(c string) {
	if i := strings.LastIndexByte(c, '\\'); i > 0 {
		d := c[:i]
		if len(d) == 2 {
			d += `\`
		}
		v.mtimes[d] = v.stamp()
	}
}

// ReadFile returns a copy of a file's content.
func (v *vfs) ReadFile(path string) ([]byte, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f, ok := v.files[canonPath(path)]
	if !ok {
		return nil, fmt.Errorf("read %s: %w", path, fs.ErrNotExist)
	}
	return f.bytes(), nil
}

// WriteFile creates or replaces a file, or appends to it.
func (v *vfs) WriteFile(path string, data []byte, appendTo bool) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := canonPath(path)
	if v.dirs[c] {
		return fmt.Errorf("write %s: is a directory: %w", path, fs.ErrInvalid)
	}
	if old, ok := v.files[c]; appendTo && ok {
		if old.big == nil {
			// ReadFile and ReadAt hand out copies, so appending in place
			// is safe and keeps a growing log linear.
			data = append(old.data, data...)
			old.data = nil // moved to the new entry
		} else {
			data = append(old.big.bytes(), data...)
		}
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

// Entry is one item of a directory listing.
type Entry struct {
	Name    string // as first written
	Dir     bool
	Size    int64
	Path    string // full path, as first written
	ModTime time.Time
	lower   string
}

// List returns the files and directories directly inside dir, sorted by
// name (case-insensitively); ok is false when dir is not a directory.
func (v *vfs) List(dir string) ([]Entry, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := canonPath(dir)
	if !v.dirs[c] {
		return nil, false
	}
	prefix := c
	if !strings.HasSuffix(prefix, `\`) {
		prefix += `\`
	}
	seen := map[string]bool{}
	var out []Entry
	add := func(p string, isDir bool, size int64) {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok || rest == "" || strings.Contains(rest, `\`) || seen[rest] {
			return
		}
		seen[rest] = true
		name := rest
		if orig, ok := v.names[p]; ok {
			name = orig[strings.LastIndexByte(orig, '\\')+1:]
		}
		out = append(out, Entry{Name: name, Dir: isDir, Size: size, Path: strings.TrimRight(dir, `\`) + `\` + name, ModTime: v.mtimes[p], lower: rest})
	}
	for p := range v.dirs {
		add(p, true, 0)
	}
	for p, f := range v.files {
		add(p, false, f.size())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].lower < out[j].lower })
	return out, true
}

func (v *vfs) setPrivate(dir string) {
	v.mu.Lock()
	v.private[canonPath(dir)] = true
	v.mu.Unlock()
}

// Private reports whether dir was created readable by SYSTEM and
// Administrators only.
func (v *vfs) Private(dir string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.private[canonPath(dir)]
}

// IsDir reports whether path is a directory.
func (v *vfs) IsDir(path string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.dirs[canonPath(path)]
}

// Mkdir creates a directory and its parents.
func (v *vfs) Mkdir(path string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := canonPath(path)
	if _, ok := v.files[c]; ok {
		return fmt.Errorf("mkdir %s: a file of that name exists: %w", path, fs.ErrExist)
	}
	v.mkdirLocked(path)
	return nil
}

func (v *vfs) mkdirLocked(path string) {
	c := canonPath(path)
	v.remember(path)
	if !v.dirs[c] {
		v.mtimes[c] = v.stamp()
		v.touchParentLocked(c)
	}
	v.dirs[c] = true
	for i := strings.LastIndexByte(c, '\\'); i > 0; i = strings.LastIndexByte(c[:i], '\\') {
		d := c[:i]
		if len(d) == 2 {
			d += `\`
		}
		if !v.dirs[d] {
			v.mtimes[d] = v.stamp()
		}
		v.dirs[d] = true
	}
}

// Remove deletes a file, or an empty directory.
func (v *vfs) Remove(path string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := canonPath(path)
	if f, ok := v.files[c]; ok {
		v.dropLocked(f)
		delete(v.files, c)
		delete(v.names, c)
		delete(v.mtimes, c)
		v.touchParentLocked(c)
		return nil
	}
	if !v.dirs[c] {
		return fmt.Errorf("remove %s: %w", path, fs.ErrNotExist)
	}
	prefix := c + `\`
	for p := range v.files {
		if strings.HasPrefix(p, prefix) {
			return fmt.Errorf("remove %s: the directory is not empty: %w", path, fs.ErrInvalid)
		}
	}
	for p := range v.dirs {
		if strings.HasPrefix(p, prefix) {
			return fmt.Errorf("remove %s: the directory is not empty: %w", path, fs.ErrInvalid)
		}
	}
	delete(v.dirs, c)
	delete(v.names, c)
	delete(v.mtimes, c)
	v.touchParentLocked(c)
	return nil
}

// Size returns a file's size; ok is false when it does not exist.
func (v *vfs) Size(path string) (int64, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f, ok := v.files[canonPath(path)]
	if !ok {
		return 0, false
	}
	return f.size(), true
}

// ReadAt returns up to n bytes of a file from offset off (fewer at its
// end); ok is false when it does not exist.
func (v *vfs) ReadAt(path string, off int64, n int) ([]byte, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f, ok := v.files[canonPath(path)]
	if !ok {
		return nil, false
	}
	if off >= f.size() || n <= 0 {
		return nil, true
	}
	if f.big != nil {
		return f.big.readAt(off, n), true
	}
	end := min(int64(len(f.data)), off+int64(n))
	return append([]byte(nil), f.data[off:end]...), true
}

// remember keeps the first spelling of a path for listings.
func (v *vfs) remember(p string) {
	c := canonPath(p)
	if _, ok := v.names[c]; !ok {
		v.names[c] = strings.ReplaceAll(p, "/", `\`)
	}
}

// isUNC reports whether p names a file on another machine
// (\\server\share\...).
func isUNC(p string) bool {
	return strings.HasPrefix(strings.ReplaceAll(p, "/", `\`), `\\`) && !strings.HasPrefix(p, `\\?\`) && !strings.HasPrefix(p, `\\.\`)
}

// ErrAccessDenied is what a process meets on a file share it may not
// reach: from a WinRS shell, another machine's share is out of reach unless
// credentials were delegated (the "second hop").
var ErrAccessDenied = fmt.Errorf("access is denied: %w", fs.ErrPermission)

// procFS is the file system as one process sees it: the host's, with file
// shares on other machines denied to a network logon without delegated
// credentials.
type procFS struct {
	v    *vfs
	deny bool // shares are out of reach
	host *Host
}

// fsFor returns the file system as a process sees it.
func (h *Host) fsFor(ps *procState) *procFS {
	return &procFS{v: h.fs, deny: ps.remote() && !h.cfg.Delegation, host: h}
}

func (p *procFS) check(path string) error {
	if p.deny && isUNC(path) {
		return fmt.Errorf("%s: %w", path, ErrAccessDenied)
	}
	return nil
}

// IsDir reports whether path is a folder the process can reach.
func (p *procFS) IsDir(path string) bool {
	return p.check(path) == nil && p.v.IsDir(path)
}

// ReadFile implements cmdexe.FS.
func (p *procFS) ReadFile(path string) ([]byte, error) {
	if err := p.check(path); err != nil {
		return nil, err
	}
	return p.v.ReadFile(path)
}

// WriteFile implements cmdexe.FS.
func (p *procFS) WriteFile(path string, data []byte, appendTo bool) error {
	if err := p.check(path); err != nil {
		return err
	}
	return p.v.WriteFile(path, data, appendTo)
}

// Exists implements cmdexe.FS; a share out of reach does not exist for
// the process.
func (p *procFS) Exists(path string) bool {
	return p.check(path) == nil && p.v.Exists(path)
}

// Access reports whether the process may reach path at all (nil), or
// ErrAccessDenied.
func (p *procFS) Access(path string) error { return p.check(path) }

// List lists a directory the process may reach.
func (p *procFS) List(dir string) ([]Entry, bool, error) {
	if err := p.check(dir); err != nil {
		return nil, false, err
	}
	e, ok := p.v.List(dir)
	return e, ok, nil
}
