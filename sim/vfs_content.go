package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// vfile is one file's content: small files written by programs and
// scripts inline, large ones (copy and download steps) in the fleet's
// chunk store.
type vfile struct {
	data []byte
	big  *bigContent
}

func (f *vfile) size() int64 {
	if f.big != nil {
		return f.big.size
	}
	return int64(len(f.data))
}

// bytes returns a copy of the content.
func (f *vfile) bytes() []byte {
	if f.big != nil {
		return f.big.bytes()
	}
	return append([]byte(nil), f.data...)
}

// dropLocked gives back the chunks a file entry held; v.mu is held.
func (v *vfs) dropLocked(f *vfile) {
	if f.big != nil {
		v.store.release(f.big.chunks)
	}
}

// parentFileLocked returns the first ancestor of canonical path c that is
// a file (a path under a file cannot be written), or "".
func (v *vfs) parentFileLocked(c string) string {
	for i := strings.LastIndexByte(c, '\\'); i > 0; i = strings.LastIndexByte(c[:i], '\\') {
		if _, ok := v.files[c[:i]]; ok {
			return c[:i]
		}
	}
	return ""
}

// checkWritableLocked says why path cannot hold a file, if it cannot.
func (v *vfs) checkWritableLocked(path string) error {
	c := canonPath(path)
	if v.dirs[c] {
		return fmt.Errorf("%s is a folder", path)
	}
	if p := v.parentFileLocked(c); p != "" {
		return fmt.Errorf("%s: %s is a file, not a folder", path, v.names[p])
	}
	return nil
}

// CheckWritable says why a file cannot be written at path (a folder of
// that name, a file where a parent folder should be), or nil.
func (v *vfs) CheckWritable(path string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.checkWritableLocked(path)
}

// placeholder is the entry of a file being written: empty until its
// content is put in place, so listings show it as Windows shows a file
// that is still being written.
func (v *vfs) createPlaceholder(path string) (*vfile, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.checkWritableLocked(path); err != nil {
		return nil, err
	}
	f := &vfile{}
	v.putFileLocked(path, f)
	return f, nil
}

// fillPlaceholder puts content into a placeholder made by
// createPlaceholder, taking over the content's chunk references; false
// (and the references released) when the placeholder is no longer at
// path (someone replaced or removed it).
func (v *vfs) fillPlaceholder(path string, f *vfile, content *bigContent) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.files[canonPath(path)] != f {
		v.store.release(content.chunks)
		return false
	}
	f.big = content
	v.mtimes[canonPath(path)] = v.stamp()
	return true
}

// removeIf removes the file at path only if it is still entry f.
func (v *vfs) removeIf(path string, f *vfile) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := canonPath(path)
	if v.files[c] != f {
		return
	}
	v.dropLocked(f)
	delete(v.files, c)
	delete(v.names, c)
	delete(v.mtimes, c)
	v.touchParentLocked(c)
}

// renameIf moves entry f from one path to another, replacing a file
// there, as MoveFileEx with MOVEFILE_REPLACE_EXISTING does; it fails when
// f is no longer at from or to cannot hold a file.
func (v *vfs) renameIf(from, to string, f *vfile) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	cf := canonPath(from)
	if v.files[cf] != f {
		return fmt.Errorf("rename %s: the file was replaced or removed while it was written: %w", from, fs.ErrNotExist)
	}
	if err := v.checkWritableLocked(to); err != nil {
		return err
	}
	delete(v.files, cf)
	delete(v.names, cf)
	delete(v.mtimes, cf)
	v.touchParentLocked(cf)
	v.putFileLocked(to, f)
	return nil
}

// Stat returns a file's size and SHA-256; ok is false when path is no
// file.
func (v *vfs) Stat(path string) (size int64, sum string, ok bool) {
	v.mu.Lock()
	f, ok := v.files[canonPath(path)]
	var data []byte
	if ok {
		size = f.size()
		if f.big != nil {
			sum = f.big.sum
		} else {
			data = f.data // hashed outside the lock; inline data is never changed in place by others
		}
	}
	v.mu.Unlock()
	if ok && sum == "" {
		s := sha256.Sum256(data)
		sum = hex.EncodeToString(s[:])
	}
	return size, sum, ok
}

// openContent returns a file's content for reading without copying it
// whole: the chunk list of a stored file (whose references the caller
// must give back with release) or the inline bytes.
func (v *vfs) openContent(path string) (r *contentReader, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f, ok := v.files[canonPath(path)]
	if !ok {
		return nil, false
	}
	if f.big != nil {
		v.store.retain(f.big.chunks)
		return &contentReader{store: v.store, big: f.big}, true
	}
	return &contentReader{inline: append([]byte(nil), f.data...)}, true
}

// contentReader writes one file's bytes; close gives back its chunks.
type contentReader struct {
	store  *chunkStore
	big    *bigContent
	inline []byte
}

// sha256 is the lower-case hex SHA-256 of the bytes writeTo writes.
func (r *contentReader) sha256() string {
	if r.big != nil {
		return r.big.sum
	}
	sum := sha256.Sum256(r.inline)
	return hex.EncodeToString(sum[:])
}

func (r *contentReader) size() int64 {
	if r.big != nil {
		return r.big.size
	}
	return int64(len(r.inline))
}

// writeTo writes the content to w in pieces of at most one chunk.
func (r *contentReader) writeTo(w io.Writer) error {
	if r.big == nil {
		_, err := w.Write(r.inline)
		return err
	}
	for _, c := range r.big.chunks {
		if _, err := w.Write(c.data); err != nil {
			return err
		}
	}
	return nil
}

func (r *contentReader) close() {
	if r.big != nil {
		r.store.release(r.big.chunks)
		r.big = nil
	}
}

// FileInfo is a file of a simulated host as tests see it.
type FileInfo struct {
	Size   int64
	SHA256 string // lower-case hex, computed from the file's bytes
}

// File returns a file's size and SHA-256; ok is false when path names no
// file.
func (h *Host) File(path string) (info FileInfo, ok bool) {
	size, sum, ok := h.fs.Stat(path)
	return FileInfo{Size: size, SHA256: sum}, ok
}

// ReadFile returns a copy of a file's bytes.
func (h *Host) ReadFile(path string) ([]byte, error) {
	data, err := h.fs.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", h.cfg.Name, err)
	}
	return data, nil
}

// WriteFile creates or replaces a file (and its folders) with data, as a
// test's setup; large data is kept in the fleet's chunk store.
func (h *Host) WriteFile(path string, data []byte) error {
	if len(data) < chunkSize {
		if err := h.fs.WriteFile(path, data, false); err != nil {
			return fmt.Errorf("host %s: %w", h.cfg.Name, err)
		}
		return nil
	}
	w := newChunkWriter(h.fs.store)
	_, _ = w.Write(data) // writes to the store never fail
	content := w.Finish()
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.fs.checkWritableLocked(path); err != nil {
		h.fs.store.release(content.chunks)
		return fmt.Errorf("host %s: %w", h.cfg.Name, err)
	}
	h.fs.putFileLocked(path, &vfile{big: content})
	return nil
}

// Exists reports whether a file or folder exists on the host.
func (h *Host) Exists(path string) bool { return h.fs.Exists(path) }
