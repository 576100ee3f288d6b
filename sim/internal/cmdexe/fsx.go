package cmdexe

import (
	"errors"
	iofs "io/fs"
	"time"
)

// The FS interface is all a shell needs to run commands; two optional
// interfaces extend it. An FS that lacks them keeps working: DIR then
// refuses loudly, and nothing is ever out of reach.

// DirEntry is one item of a directory listing.
type DirEntry struct {
	Name    string // as stored, e.g. "Report.class"
	Dir     bool
	Size    int64 // files only
	ModTime time.Time
}

// Volume is what DIR says about the volume a directory is on.
type Volume struct {
	// Label is the volume label; empty means "has no label".
	Label string
	// Serial is the volume serial number, shown as XXXX-XXXX.
	Serial uint32
	// FreeBytes is the free space DIR's last line reports.
	FreeBytes uint64
}

// DirLister is an optional FS interface: directory listings, which DIR
// needs.
type DirLister interface {
	// ListDir returns a directory's own entry (its ModTime dates the "."
	// and ".." lines) and the entries directly inside it, in the order
	// DIR prints them (NTFS keeps names sorted case-insensitively). The
	// error wraps fs.ErrNotExist when dir is not a directory and
	// fs.ErrPermission when the process may not read it.
	ListDir(dir string) (self DirEntry, entries []DirEntry, err error)
	// Volume describes the volume that holds path.
	Volume(path string) Volume
}

// AccessChecker is an optional FS interface for paths a process may not
// reach at all, such as a file share on another machine from a network
// logon that has no credentials to pass on (the "second hop").
type AccessChecker interface {
	// Access returns an error wrapping fs.ErrPermission when the process
	// may not reach path, nil otherwise (whether or not path exists).
	Access(path string) error
}

// accessDenied reports whether err is a refusal rather than a missing
// file.
func accessDenied(err error) bool { return errors.Is(err, iofs.ErrPermission) }

// denied reports whether the shell's FS refuses path outright.
func (sh *shell) denied(path string) bool {
	ac, ok := sh.fs.(AccessChecker)
	return ok && accessDenied(ac.Access(path))
}

// msgAccessDenied is the system message for ERROR_ACCESS_DENIED (5), which
// cmd.exe prints for a file, directory or program it may not open.
const msgAccessDenied = "Access is denied.\r\n"
