package runner

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/transport"
)

// Bounds of one copy source, when Options do not say.
const (
	// DefaultMaxCopyFiles bounds the files of one copy source (a folder
	// tree).
	DefaultMaxCopyFiles = 10000
	// DefaultMaxCopyBytes bounds the total size of one copy source (16 GiB).
	DefaultMaxCopyBytes int64 = 16 << 30
)

// blob is one source file, opened and hashed once per run and read by
// every host's transfer: *os.File's ReadAt is safe for concurrent use.
type blob struct {
	f    *os.File
	size int64
	sum  string
}

var _ transport.Blob = (*blob)(nil)

func (b *blob) ReadAt(p []byte, off int64) (int, error) { return b.f.ReadAt(p, off) }
func (b *blob) Size() int64                             { return b.size }
func (b *blob) SHA256() string                          { return b.sum }

// sourceFile is one file of a copy source: rel is its path under a folder
// source (slash-separated; "" for a file source), local its path on the
// controller.
type sourceFile struct {
	rel, local string
	blob       *blob
}

// source is a copy step's src resolved: its files, or why it cannot be
// copied.
type source struct {
	dir   bool
	files []sourceFile
	err   error
}

// sources opens and hashes copy sources for one run. A source file is
// opened and hashed once however many steps, hosts and expanded src
// values name it; every host then reads the same open file.
type sources struct {
	pb       *playbook.Playbook
	maxFiles int
	maxBytes int64
	blobs    map[string]*blob   // cleaned local path → blob
	blobErr  map[string]error   // cleaned local path → why it cannot be read
	roots    map[string]*source // local path of a src → its files
}

func newSources(pb *playbook.Playbook, maxFiles int, maxBytes int64) *sources {
	if maxFiles <= 0 {
		maxFiles = DefaultMaxCopyFiles
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxCopyBytes
	}
	return &sources{pb: pb, maxFiles: maxFiles, maxBytes: maxBytes, blobs: map[string]*blob{}, blobErr: map[string]error{}, roots: map[string]*source{}}
}

// Close closes every source file.
func (s *sources) Close() error {
	var errs []error
	for _, b := range s.blobs {
		errs = append(errs, b.f.Close())
	}
	clear(s.blobs)
	return errors.Join(errs...)
}

// copySpec resolves an expanded copy step into the files a host receives.
// Problems are positioned at the step's src (or sha256).
func (s *sources) copySpec(st *playbook.Step, c *playbook.Copy) (*transport.CopySpec, error) {
	local := s.pb.LocalPath(c.Src)
	src := s.resolve(local)
	if src.err != nil {
		return nil, s.pb.StepError(st, "copy.src", "%s: %v", c.Src, src.err)
	}
	if c.SHA256 != "" {
		if src.dir {
			return nil, s.pb.StepError(st, "copy.sha256", "sha256 pins one file, but src %s is a folder; leave sha256 out or copy the file itself", c.Src)
		}
		if got := src.files[0].blob.sum; got != c.SHA256 {
			return nil, s.pb.StepError(st, "copy.sha256", "%s has SHA-256 %s, not the %s the playbook pins; the source changed (update sha256 if the change is intended)", c.Src, got, c.SHA256)
		}
	}
	spec := &transport.CopySpec{}
	seen := map[string]string{} // lower-case dest → source, Windows paths being case-insensitive
	for _, f := range src.files {
		dest := c.Dest
		switch {
		case src.dir:
			dest = strings.TrimRight(c.Dest, `\`) + `\` + strings.ReplaceAll(f.rel, "/", `\`)
		case strings.HasSuffix(c.Dest, `\`):
			dest = c.Dest + filepath.Base(f.local)
		}
		if other, dup := seen[strings.ToLower(dest)]; dup {
			return nil, s.pb.StepError(st, "copy.src", "%s and %s would both be written to %s (Windows file names ignore case); rename one", other, f.local, dest)
		}
		seen[strings.ToLower(dest)] = f.local
		spec.Files = append(spec.Files, transport.CopyFile{Dest: dest, Src: f.blob, Origin: f.local})
	}
	return spec, nil
}

// resolve reads the source at local once: a file, or a folder tree whose
// files are copied with their relative paths.
func (s *sources) resolve(local string) *source {
	if src, ok := s.roots[local]; ok {
		return src
	}
	src := &source{}
	s.roots[local] = src
	fi, err := os.Stat(local)
	if err != nil {
		src.err = pathError(err)
		return src
	}
	switch {
	case fi.Mode().IsRegular():
		b, err := s.open(local)
		if err != nil {
			src.err = err
			return src
		}
		if b.size > s.maxBytes {
			src.err = fmt.Errorf("%s is larger than the %s a copy source may hold", playbook.FormatBytes(b.size), playbook.FormatBytes(s.maxBytes))
			return src
		}
		src.files = []sourceFile{{local: local, blob: b}}
	case fi.IsDir():
		// A src that is itself a link to a folder was named on purpose:
		// follow it (links inside the tree are another matter, see walk).
		root, err := filepath.EvalSymlinks(local)
		if err != nil {
			src.err = pathError(err)
			return src
		}
		src.dir = true
		src.files, src.err = s.walk(root)
	default:
		src.err = fmt.Errorf("not a regular file or a folder (%s)", fi.Mode().Type())
	}
	return src
}

// walk lists a folder source's files. Links to files are followed; links
// to folders are refused (a link cycle could otherwise never end, and a
// link out of the tree would copy what nobody meant to).
func (s *sources) walk(root string) ([]sourceFile, error) {
	var files []sourceFile
	var total int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return pathError(err)
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.Type()&fs.ModeSymlink != 0 {
			fi, err := os.Stat(p)
			if err != nil {
				return fmt.Errorf("%s: the link's target: %w", rel, pathError(err))
			}
			if fi.IsDir() {
				return fmt.Errorf("%s is a link to a folder; fleetrun follows links to files only (copy that folder as a step of its own)", rel)
			}
		} else if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file (%s)", rel, d.Type())
		}
		if err := windowsName(rel); err != nil {
			return err
		}
		if len(files) == s.maxFiles {
			return fmt.Errorf("the folder holds more than %d files, the most one copy step sends; copy a smaller folder or an archive", s.maxFiles)
		}
		b, err := s.open(p)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		total += b.size
		if total > s.maxBytes {
			return fmt.Errorf("the folder holds more than the %s a copy source may hold; copy a smaller folder", playbook.FormatBytes(s.maxBytes))
		}
		files = append(files, sourceFile{rel: rel, local: p, blob: b})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("the folder holds no files")
	}
	return files, nil
}

// open opens and hashes one file, once per run.
func (s *sources) open(local string) (*blob, error) {
	key := filepath.Clean(local)
	if b, ok := s.blobs[key]; ok {
		return b, nil
	}
	if err, ok := s.blobErr[key]; ok {
		return nil, err
	}
	b, err := hashFile(key)
	if err != nil {
		s.blobErr[key] = err
		return nil, err
	}
	s.blobs[key] = b
	return b, nil
}

func hashFile(path string) (*blob, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, pathError(err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	var n int64
	h := sha256.New()
	if err == nil {
		n, err = io.Copy(h, f)
	}
	if err == nil && n != fi.Size() {
		err = fmt.Errorf("the file changed while it was read (%d bytes read, %d expected)", n, fi.Size())
	}
	if err != nil {
		_ = f.Close() // the read error is the one to report
		return nil, err
	}
	return &blob{f: f, size: n, sum: hex.EncodeToString(h.Sum(nil))}, nil
}

// pathError drops the path an *fs.PathError repeats: messages name the
// source already.
func pathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

var reservedNames = []string{"con", "prn", "aux", "nul",
	"com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8", "com9",
	"lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9"}

// windowsName refuses a relative path Windows cannot hold as written: a
// backslash or colon inside a name would change the destination's
// folders, and Windows drops trailing dots and spaces.
func windowsName(rel string) error {
	for _, e := range strings.Split(rel, "/") {
		for _, r := range e {
			if r < 0x20 || strings.ContainsRune(`\:*?"<>|`, r) {
				return fmt.Errorf("%s: the name %q holds %q, which Windows does not allow in a file name; rename it", rel, e, r)
			}
		}
		if strings.HasSuffix(e, ".") || strings.HasSuffix(e, " ") {
			return fmt.Errorf("%s: the name %q ends with a dot or a space, which Windows drops; rename it", rel, e)
		}
		base, _, _ := strings.Cut(strings.ToLower(e), ".")
		if slices.Contains(reservedNames, base) {
			return fmt.Errorf("%s: %q is a device name on Windows and cannot be a file name; rename it", rel, e)
		}
	}
	return nil
}

// Sources are a run's copy sources, opened and hashed once, for a caller
// that must know they are sound before it contacts any host (pre-flight
// checks): Options.Sources hands them to Run, which then reads no source
// again.
type Sources struct{ s *sources }

// OpenSources expands pb for hosts and reads every copy step's source: a
// missing source, one that differs from its pinned sha256 or breaks the
// bounds (maxFiles, maxBytes; zero for the defaults) is a positioned
// error. Close the Sources after the run.
func OpenSources(pb *playbook.Playbook, hosts []*inventory.Host, extra map[string]string, maxFiles int, maxBytes int64) (*Sources, error) {
	r := &run{pb: pb, sources: newSources(pb, maxFiles, maxBytes)}
	for _, h := range hosts {
		steps, err := pb.Expand(HostData(h), extra)
		if err != nil {
			_ = r.sources.Close() // read-only files
			return nil, err
		}
		r.steps = append(r.steps, steps)
	}
	if err := r.prepareCopies(); err != nil {
		_ = r.sources.Close() // read-only files
		return nil, err
	}
	return &Sources{s: r.sources}, nil
}

// Close closes the source files.
func (s *Sources) Close() error { return s.s.Close() }

// CheckSources reads the sources of pb's copy steps that name their files
// without a host: src and dest literal, or templated with the playbook's
// own vars only (the others need a host to expand them; OpenSources checks
// them), so that a playbook checked alone reports a missing or changed
// source too.
func CheckSources(pb *playbook.Playbook) error {
	srcs := newSources(pb, 0, 0)
	defer func() { _ = srcs.Close() }() // read-only files
	// Expanded for no host, templates see the playbook's vars alone; a
	// playbook whose templates need more is checked step by step below
	// only where nothing is templated.
	expanded, expandErr := pb.Expand(playbook.HostData{}, nil)
	var problems []error
	for i, st := range pb.Steps {
		if st.Copy == nil {
			continue
		}
		c := st.Copy
		templated := strings.Contains(c.Src, "{{") || strings.Contains(c.Dest, "{{")
		if templated {
			if expandErr != nil || strings.Contains(c.Src+c.Dest, ".host") {
				continue
			}
			c = expanded[i].Copy
		}
		if _, err := srcs.copySpec(st, c); err != nil {
			problems = append(problems, err)
		}
	}
	if len(problems) > 0 {
		return joinErrors(problems)
	}
	return nil
}

// prepareCopies resolves every copy step of every host before any host
// starts: each distinct source is read once; a missing source or a pinned
// sha256 that differs fails the run. The specs are indexed like r.steps.
func (r *run) prepareCopies() error {
	r.copies = make([][]*transport.CopySpec, len(r.steps))
	var problems []error
	seen := map[string]bool{}
	for i, steps := range r.steps {
		r.copies[i] = make([]*transport.CopySpec, len(steps))
		for j, e := range steps {
			if e.Copy == nil {
				continue
			}
			spec, err := r.sources.copySpec(e.Step, e.Copy)
			if err != nil {
				if msg := err.Error(); !seen[msg] {
					seen[msg] = true
					problems = append(problems, err)
				}
				continue
			}
			r.copies[i][j] = spec
		}
	}
	if len(problems) > 0 {
		return joinErrors(problems)
	}
	return nil
}

// fetchSink stores one host's fetched files under dir (dest_dir/<host>),
// each written to a temporary name and renamed once its SHA-256 checks.
type fetchSink struct {
	dir   string
	mu    sync.Mutex
	names map[string]bool // lower-case names created for this attempt
}

var _ transport.FetchSink = (*fetchSink)(nil)

func newFetchSink(destDir, host string) *fetchSink {
	return &fetchSink{dir: filepath.Join(destDir, LocalHostName(host)), names: map[string]bool{}}
}

// Create implements transport.FetchSink.
func (s *fetchSink) Create(path, name string, size int64) (transport.FetchWriter, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return nil, &transport.Error{Class: transport.ClassProtocol, Message: fmt.Sprintf("the host sent the file %q under the name %q, which cannot be stored safely", path, name)}
	}
	if size < 0 {
		return nil, &transport.Error{Class: transport.ClassProtocol, Message: fmt.Sprintf("the host sent the file %q with a negative size", path)}
	}
	s.mu.Lock()
	dup := s.names[strings.ToLower(name)]
	s.names[strings.ToLower(name)] = true
	s.mu.Unlock()
	if dup {
		return nil, &transport.Error{Class: transport.ClassProtocol, Message: fmt.Sprintf("two matched files are named %q; fetch stores files by name, so narrow src to one folder", name)}
	}
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return nil, &transport.Error{Class: transport.ClassInternal, Message: fmt.Sprintf("creating %s: %v", s.dir, pathError(err)), Err: err}
	}
	f, err := os.CreateTemp(s.dir, "."+name+".*.fleetrun-tmp")
	if err != nil {
		return nil, &transport.Error{Class: transport.ClassInternal, Message: fmt.Sprintf("storing %s in %s: %v", name, s.dir, pathError(err)), Err: err}
	}
	return &fetchWriter{f: f, final: filepath.Join(s.dir, name), path: path, size: size, h: sha256.New()}, nil
}

// fetchWriter is one fetched file on its way to disk.
type fetchWriter struct {
	f       *os.File
	final   string
	path    string
	size, n int64
	h       hash.Hash
	done    bool
}

func (w *fetchWriter) Write(p []byte) (int, error) {
	if w.n+int64(len(p)) > w.size {
		return 0, &transport.Error{Class: transport.ClassProtocol, Message: fmt.Sprintf("the host sent more than the %d bytes it announced for %s", w.size, w.path)}
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if err != nil {
		return n, &transport.Error{Class: transport.ClassInternal, Message: fmt.Sprintf("writing %s: %v", w.final, pathError(err)), Err: err}
	}
	return n, nil
}

// Commit implements transport.FetchWriter: the bytes written must be the
// announced size with the SHA-256 the host sent; only then does the file
// take its name.
func (w *fetchWriter) Commit(sum string) (string, error) {
	if w.done {
		return "", errors.New("fetch: the file was already committed or aborted")
	}
	got := hex.EncodeToString(w.h.Sum(nil))
	var err error
	switch {
	case w.n != w.size:
		err = &transport.Error{Class: transport.ClassProtocol, Message: fmt.Sprintf("%s: %d bytes arrived, the host announced %d", w.path, w.n, w.size)}
	case got != strings.ToLower(sum):
		err = &transport.Error{Class: transport.ClassHashMismatch, Message: fmt.Sprintf("%s: the bytes that arrived have SHA-256 %s, the host sent %s", w.path, got, sum)}
	}
	if err != nil {
		w.Abort()
		return "", err
	}
	w.done = true
	if err := w.f.Close(); err != nil {
		_ = os.Remove(w.f.Name()) // the close error is the one to report
		return "", &transport.Error{Class: transport.ClassInternal, Message: fmt.Sprintf("writing %s: %v", w.final, pathError(err)), Err: err}
	}
	if err := os.Rename(w.f.Name(), w.final); err != nil {
		_ = os.Remove(w.f.Name()) // the rename error is the one to report
		return "", &transport.Error{Class: transport.ClassInternal, Message: fmt.Sprintf("storing %s: %v", w.final, err), Err: err}
	}
	return w.final, nil
}

// Abort implements transport.FetchWriter.
func (w *fetchWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	_ = w.f.Close()           // the file is thrown away
	_ = os.Remove(w.f.Name()) // best effort: a leftover temporary name starts with a dot
}

const safeNameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

// LocalHostName is the folder a fetch stores a host's files in: the host's
// name when it is a safe file name (letters, digits, . _ -, not . or ..),
// else the name with every other character replaced by _ and a short hash
// of the real name, so two hosts never share a folder.
func LocalHostName(host string) string {
	safe := []byte(host)
	changed := host == "" || host == "." || host == ".."
	for i := range safe {
		if !strings.ContainsRune(safeNameChars, rune(safe[i])) {
			safe[i] = '_'
			changed = true
		}
	}
	if !changed {
		return host
	}
	sum := sha256.Sum256([]byte(host))
	s := strings.ReplaceAll(string(safe), ".", "_")
	if len(s) > 64 {
		s = s[:64]
	}
	return s + "-" + hex.EncodeToString(sum[:4])
}

// fileHint says what to do about the failures only file steps have, when
// the transport gave no hint of its own.
func fileHint(te *transport.Error) *transport.Error {
	if te == nil || te.Hint != "" {
		return te
	}
	out := *te
	switch te.Class {
	case transport.ClassHashMismatch:
		out.Hint = "the bytes that arrived are not the ones required: for a download, check the URL and the sha256 the playbook gives; for a copy or fetch, a file changed while it was sent (run again)"
	case transport.ClassNotFound:
		out.Hint = "no file on the host matched fetch src; check the path, or set optional: true if having none is fine"
	case transport.ClassConfig:
		out.Hint = "copy over SSM goes through an S3 bucket: give the inventory's ssm section a bucket, ssm: {transfer_bucket: BUCKET}; fetch is not supported over SSM yet"
	default:
		return te
	}
	return &out
}
