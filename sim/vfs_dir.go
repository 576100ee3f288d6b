package sim

import (
	"fmt"
	"hash/fnv"
	"io/fs"
	"time"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
)

// The file system as cmd.exe's DIR sees it: procFS implements
// cmdexe.DirLister on top of its List, so every cmd.exe a host runs (from
// WinRS, a batch file, PowerShell or a task) can list directories.

var _ cmdexe.DirLister = (*procFS)(nil)
var _ cmdexe.AccessChecker = (*procFS)(nil)

// ListDir implements cmdexe.DirLister. Times are shown in UTC, the time
// zone every simulated host is set to (systeminfo says so too).
func (p *procFS) ListDir(dir string) (cmdexe.DirEntry, []cmdexe.DirEntry, error) {
	entries, ok, err := p.List(dir)
	if err != nil {
		return cmdexe.DirEntry{}, nil, err
	}
	if !ok {
		return cmdexe.DirEntry{}, nil, fmt.Errorf("list %s: %w", dir, fs.ErrNotExist)
	}
	self := cmdexe.DirEntry{Name: dir, Dir: true, ModTime: p.v.modTime(dir).UTC()}
	out := make([]cmdexe.DirEntry, len(entries))
	for i, e := range entries {
		out[i] = cmdexe.DirEntry{Name: e.Name, Dir: e.Dir, Size: e.Size, ModTime: e.ModTime.UTC()}
	}
	return self, out, nil
}

// Volume implements cmdexe.DirLister: drive C: has no label, a serial
// number of its own on every host, and the free space preflight reports.
func (p *procFS) Volume(string) cmdexe.Volume {
	h := fnv.New32a()
	_, _ = h.Write([]byte(p.host.cfg.Name)) // hash writes never fail
	free := p.host.cfg.Preflight.DiskFreeBytes
	if free < 0 {
		free = 0
	}
	return cmdexe.Volume{Serial: h.Sum32(), FreeBytes: uint64(free)}
}

// modTime is a path's last-write time (zero when unknown).
func (v *vfs) modTime(path string) time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.mtimes[canonPath(path)]
}
