package sim

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
)

// fleetrun's file steps (docs/design.md, "Files to and from hosts"): the
// copy, download and fetch scripts arrive as powershell.exe
// -EncodedCommand (over WinRM) or through the SSM agent. The simulator
// recognises the marker on the script's first line, decodes the payload
// of its single $fleetrunPayload statement and does what the script does
// with the host's file system; it never reads the rest of the script.

// Markers of fleetrun's file scripts.
const (
	copyMarker     = "# fleetrun-copy v1"
	downloadMarker = "# fleetrun-download v1"
	fetchMarker    = "# fleetrun-fetch v1"
)

// Exit codes of the file scripts (docs/design.md).
const (
	fileExitBadPayload = 2 // bad payload, or a path the script cannot write
	fileExitShort      = 3 // copy: stdin ended before size bytes
	fileExitMismatch   = 4 // the bytes' SHA-256 is not the one required
	fileExitTooLarge   = 5 // fetch: the matching files exceed max_bytes
	fileExitTries      = 6 // download: every try failed
)

// exitStopped is STATUS_CONTROL_C_EXIT, what a process stopped while it
// waited ends with.
const exitStopped = 0xC000013A

// fileScript runs one of fleetrun's file scripts: ok is false when the
// script's first line is none of their markers.
func (h *Host) fileScript(ctx context.Context, p *cmdexe.Proc, script string) (code uint32, ok bool) {
	first, _, _ := strings.Cut(script, "\n")
	switch strings.TrimSpace(first) {
	case copyMarker:
		h.stats.count(&h.stats.programs, "fleetrun-copy")
		return h.copyScript(ctx, p, script), true
	case downloadMarker:
		h.stats.count(&h.stats.programs, "fleetrun-download")
		return h.downloadScript(ctx, p, script), true
	case fetchMarker:
		h.stats.count(&h.stats.programs, "fleetrun-fetch")
		return h.fetchScript(ctx, p, script), true
	}
	return 0, false
}

// fileOp is one run of a file script: where it writes and how it fails.
type fileOp struct {
	h      *Host
	fsys   *procFS
	what   string // "copy", "download", "fetch"
	stdout io.Writer
	stderr io.Writer
}

func (h *Host) newFileOp(ctx context.Context, p *cmdexe.Proc, what string) *fileOp {
	return &fileOp{h: h, fsys: h.fsFor(procFrom(ctx)), what: what, stdout: rawWriter(p.Stdout), stderr: rawWriter(p.Stderr)}
}

// rawWriter is the pipe under a console writer: the scripts write bytes
// (frames of binary file content) that no code page may touch.
func rawWriter(w io.Writer) io.Writer {
	if cw, ok := w.(*consoleWriter); ok {
		return cw.w
	}
	return w
}

// line writes one ASCII answer line ending in LF.
func (o *fileOp) line(format string, args ...any) {
	_, _ = fmt.Fprintf(o.stdout, format+"\n", args...) // the command's pipes never fail
}

// fail writes the script's one line on stderr and returns code.
func (o *fileOp) fail(code uint32, format string, args ...any) uint32 {
	_, _ = fmt.Fprintf(o.stderr, "fleetrun-%s: %s\r\n", o.what, fmt.Sprintf(format, args...)) // the command's pipes never fail
	return code
}

// errInlineOnly is what a file script's empty payload literal meets: its
// stdin carries file bytes, never the payload.
var errInlineOnly = errors.New("the payload must be inline: a file script's stdin carries file bytes")

// checkTransferPayload checks what the copy and download payloads share;
// it returns what is wrong, or "".
func checkTransferPayload(v int, dest, tmp, sha string) string {
	switch {
	case v != 1:
		return fmt.Sprintf("version %d, expected 1", v)
	case dest == "" || tmp == "":
		return "dest and tmp are required"
	case !sha256RE.MatchString(sha):
		return fmt.Sprintf("sha256 %q is not 64 lower-case hex digits", sha)
	}
	return ""
}

type inlineOnly struct{}

func (inlineOnly) Read([]byte) (int, error) { return 0, errInlineOnly }

var sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// checkTarget says why a destination (or its temporary name) cannot be
// written by this process, or nil.
func (o *fileOp) checkTarget(path string) error {
	if path == "" {
		return errors.New("empty path")
	}
	if err := o.fsys.Access(path); err != nil {
		return err
	}
	if strings.ContainsAny(path[min(len(path), 2):], `*?"<>|`) {
		return fmt.Errorf("%s: illegal characters in path", path)
	}
	return o.h.fs.CheckWritable(path)
}

// prepare creates dest's parent folders and checks that dest and tmp can
// be written.
func (o *fileOp) prepare(dest, tmp string) error {
	for _, p := range []string{dest, tmp} {
		if err := o.checkTarget(p); err != nil {
			return fmt.Errorf("cannot write %s: %w", p, err)
		}
	}
	if parent := parentDir(dest); parent != "" {
		if err := o.h.fs.Mkdir(parent); err != nil {
			return fmt.Errorf("cannot create the folder %s: %w", parent, err)
		}
	}
	if parent := parentDir(tmp); parent != "" {
		if err := o.h.fs.Mkdir(parent); err != nil {
			return fmt.Errorf("cannot create the folder %s: %w", parent, err)
		}
	}
	return nil
}

// parentDir is the folder holding path ("" for a root).
func parentDir(path string) string {
	p := strings.TrimRight(strings.ReplaceAll(path, "/", `\`), `\`)
	i := strings.LastIndexByte(p, '\\')
	if i < 0 {
		return ""
	}
	if i == 2 && p[1] == ':' {
		return p[:3]
	}
	return p[:i]
}

// unchanged reports whether dest already holds the required bytes (size
// < 0: any size).
func (o *fileOp) unchanged(dest, sum string, size int64) bool {
	if o.fsys.Access(dest) != nil {
		return false
	}
	got, gotSum, ok := o.h.fs.Stat(dest)
	return ok && gotSum == sum && (size < 0 || got == size)
}

// copyPayload is the copy script's payload.
type copyPayload struct {
	V      int    `json:"v"`
	Dest   string `json:"dest"`
	Tmp    string `json:"tmp"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// copyScript: U when dest holds the bytes; else W, exactly size bytes of
// stdin into tmp, hash, rename onto dest, D <sha256>.
func (h *Host) copyScript(ctx context.Context, p *cmdexe.Proc, script string) uint32 {
	o := h.newFileOp(ctx, p, "copy")
	var pl copyPayload
	if err := decodePayload("copy script", script, inlineOnly{}, &pl); err != nil {
		return o.fail(fileExitBadPayload, "bad payload: %v", err)
	}
	switch msg := checkTransferPayload(pl.V, pl.Dest, pl.Tmp, pl.SHA256); {
	case msg != "":
		return o.fail(fileExitBadPayload, "bad payload: %s", msg)
	case pl.Size < 0:
		return o.fail(fileExitBadPayload, "bad payload: size %d is negative", pl.Size)
	}
	if o.unchanged(pl.Dest, pl.SHA256, pl.Size) {
		h.stats.add(&h.stats.filesUnchanged, 1)
		o.line("U")
		return 0
	}
	if err := o.prepare(pl.Dest, pl.Tmp); err != nil {
		return o.fail(fileExitBadPayload, "%v", err)
	}
	ph, err := h.fs.createPlaceholder(pl.Tmp)
	if err != nil {
		return o.fail(fileExitBadPayload, "cannot write %s: %v", pl.Tmp, err)
	}
	o.line("W")
	stdin := p.Stdin
	if stdin == nil {
		stdin = strings.NewReader("") // a process without stdin reads its end at once
	}
	w := newChunkWriter(h.fs.store)
	n, err := io.CopyN(w, stdin, pl.Size)
	if err != nil {
		w.Abort()
		h.fs.removeIf(pl.Tmp, ph)
		if ctx.Err() != nil {
			return exitStopped
		}
		return o.fail(fileExitShort, "stdin ended after %d of %d bytes; %s removed", n, pl.Size, pl.Tmp)
	}
	content := w.Finish()
	if content.sum != pl.SHA256 {
		h.fs.store.release(content.chunks)
		h.fs.removeIf(pl.Tmp, ph)
		return o.fail(fileExitMismatch, "hash mismatch: the %d bytes received have SHA-256 %s, expected %s; %s removed", pl.Size, content.sum, pl.SHA256, pl.Tmp)
	}
	return o.commit(pl.Tmp, pl.Dest, ph, content, "D "+content.sum)
}

// commit puts the content into the temporary file and renames it onto
// dest, then answers done.
func (o *fileOp) commit(tmp, dest string, ph *vfile, content *bigContent, done string) uint32 {
	h := o.h
	if !h.fs.fillPlaceholder(tmp, ph, content) {
		return o.fail(fileExitBadPayload, "cannot write %s: it was replaced or removed while it was written", tmp)
	}
	if err := h.fs.renameIf(tmp, dest, ph); err != nil {
		h.fs.removeIf(tmp, ph)
		return o.fail(fileExitBadPayload, "cannot replace %s: %v", dest, err)
	}
	h.stats.add(&h.stats.filesWritten, 1)
	o.line("%s", done)
	return 0
}

// fetchPayload is the fetch script's payload.
type fetchPayload struct {
	V        int    `json:"v"`
	Src      string `json:"src"`
	MaxBytes int64  `json:"max_bytes"`
}

// fetchScript: N when nothing matches; exit 5 over max_bytes; else an F
// frame and the raw bytes per file, then Z.
func (h *Host) fetchScript(ctx context.Context, p *cmdexe.Proc, script string) uint32 {
	o := h.newFileOp(ctx, p, "fetch")
	var pl fetchPayload
	if err := decodePayload("fetch script", script, inlineOnly{}, &pl); err != nil {
		return o.fail(fileExitBadPayload, "bad payload: %v", err)
	}
	switch {
	case pl.V != 1:
		return o.fail(fileExitBadPayload, "bad payload: version %d, expected 1", pl.V)
	case pl.Src == "":
		return o.fail(fileExitBadPayload, "bad payload: src is required")
	case pl.MaxBytes <= 0:
		return o.fail(fileExitBadPayload, "bad payload: max_bytes %d must be positive", pl.MaxBytes)
	}
	paths, err := o.match(pl.Src)
	if err != nil {
		return o.fail(fileExitBadPayload, "%v", err)
	}
	if len(paths) == 0 {
		o.line("N")
		return 0
	}
	type opened struct {
		path string
		r    *contentReader
		sum  string
	}
	var files []opened
	defer func() {
		for _, f := range files {
			f.r.close()
		}
	}()
	total := int64(0)
	for _, path := range paths {
		r, ok := h.fs.openContent(path)
		if !ok {
			continue // removed since it was listed
		}
		files = append(files, opened{path: path, r: r, sum: r.sha256()})
		total += r.size()
	}
	if len(files) == 0 {
		o.line("N")
		return 0
	}
	if total > pl.MaxBytes {
		return o.fail(fileExitTooLarge, "the %d matching files total %d bytes, more than max_bytes %d; nothing was sent", len(files), total, pl.MaxBytes)
	}
	for _, f := range files {
		o.line("F %d %s %s", f.r.size(), f.sum, base64.StdEncoding.EncodeToString([]byte(f.path)))
		if err := f.r.writeTo(o.stdout); err != nil {
			if ctx.Err() != nil {
				return exitStopped
			}
			return o.fail(1, "sending %s: %v", f.path, err)
		}
		h.stats.add(&h.stats.fetchBytes, f.r.size())
	}
	o.line("Z")
	return 0
}

// match lists the files src names: one path, or the files of a folder
// whose names match the * and ? of src's last element (compared
// case-insensitively, as NTFS names are; * is any run of characters, ?
// exactly one). Each path is spelled as it was first written.
func (o *fileOp) match(src string) ([]string, error) {
	src = strings.ReplaceAll(src, "/", `\`)
	if err := o.fsys.Access(src); err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", src, err)
	}
	dir, pattern := parentDir(src), src[strings.LastIndexByte(src, '\\')+1:]
	if strings.ContainsAny(dir, "*?") {
		return nil, fmt.Errorf("%s: wildcards are allowed in the last element only", src)
	}
	if !strings.ContainsAny(pattern, "*?") {
		if o.h.fs.IsDir(src) {
			return nil, fmt.Errorf("%s is a folder: fetch takes a file or a pattern of files", src)
		}
		if _, _, ok := o.h.fs.Stat(src); !ok {
			return nil, nil
		}
		return []string{o.h.spelled(src)}, nil
	}
	entries, ok := o.h.fs.List(dir)
	if !ok {
		return nil, nil
	}
	re := globRE(pattern)
	var out []string
	for _, e := range entries {
		if !e.Dir && re.MatchString(e.Name) {
			out = append(out, o.h.spelled(dir)+sepAfter(o.h.spelled(dir))+e.Name)
		}
	}
	return out, nil
}

// sepAfter is the separator between a folder and a name in it.
func sepAfter(dir string) string {
	if strings.HasSuffix(dir, `\`) {
		return ""
	}
	return `\`
}

// globRE turns a pattern of * and ? into a case-insensitive expression.
func globRE(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?is)^`)
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}
