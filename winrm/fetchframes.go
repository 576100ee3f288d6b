package winrm

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
)

// maxFetchHeader bounds one frame header of the fetch script: a path of
// Windows' longest (32,767 UTF-16 units) in UTF-8 and base64 fits.
const maxFetchHeader = 256 << 10

// fetchFrames reads the fetch script's stdout as it arrives, whatever the
// sizes of the pieces: F headers open a file in the sink, the bytes after
// them go to it and through a hash, and a file whose hash is the one its
// header announced is committed, any other aborted. It never holds more
// than one header line; file bytes pass straight through.
type fetchFrames struct {
	host string
	sink transport.FetchSink
	// max is the step's max_bytes: a host announcing more is refused.
	max int64

	line []byte

	// The file being received, while remaining > 0 or until it is
	// checked.
	open      bool
	path      string
	size      int64
	sha       string
	remaining int64
	w         transport.FetchWriter
	h         hash.Hash

	total    int64
	files    []transport.FileResult
	notFound bool
	end      bool
	err      error
}

func newFetchFrames(host string, spec *transport.FetchSpec) *fetchFrames {
	return &fetchFrames{host: host, sink: spec.Sink, max: spec.MaxBytes, h: sha256.New()}
}

// write consumes the next piece of the script's stdout. After an error it
// refuses everything.
func (f *fetchFrames) write(p []byte) error {
	for len(p) > 0 {
		if f.err != nil {
			return f.err
		}
		if f.remaining > 0 {
			k := min(int64(len(p)), f.remaining)
			if _, err := f.w.Write(p[:k]); err != nil {
				f.fail(&transport.Error{Class: transport.ClassInternal, Err: err,
					Message: fmt.Sprintf("%s: store fetched file %s: %v", f.host, f.path, err)})
				return f.err
			}
			f.h.Write(p[:k])
			f.remaining -= k
			p = p[k:]
			if f.remaining == 0 {
				f.check()
			}
			continue
		}
		if f.end || f.notFound {
			f.fail(f.protocol("bytes after the final frame"))
			return f.err
		}
		i := 0
		for i < len(p) && p[i] != '\n' {
			i++
		}
		if len(f.line)+i > maxFetchHeader {
			f.fail(f.protocol(fmt.Sprintf("a frame header longer than %d bytes", maxFetchHeader)))
			return f.err
		}
		f.line = append(f.line, p[:i]...)
		if i == len(p) {
			break
		}
		p = p[i+1:]
		line := string(f.line)
		f.line = f.line[:0]
		f.header(line)
	}
	return f.err
}

// header acts on one frame header.
func (f *fetchFrames) header(line string) {
	line = strings.TrimSuffix(line, "\r")
	switch {
	case line == "N" && len(f.files) == 0:
		f.notFound = true
	case line == "Z":
		f.end = true
	case strings.HasPrefix(line, "F "):
		parts := strings.Split(line, " ")
		if len(parts) != 4 {
			f.fail(f.protocol(fmt.Sprintf("malformed file frame %.80q", line)))
			return
		}
		size, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || size < 0 {
			f.fail(f.protocol(fmt.Sprintf("file frame %.80q: bad size", line)))
			return
		}
		if !launcher.IsSHA256(parts[2]) {
			f.fail(f.protocol(fmt.Sprintf("file frame %.80q: bad SHA-256", line)))
			return
		}
		raw, err := base64.StdEncoding.DecodeString(parts[3])
		if err != nil || len(raw) == 0 || !utf8.Valid(raw) {
			f.fail(f.protocol(fmt.Sprintf("file frame %.80q: the path is not base64 of UTF-8", line)))
			return
		}
		path := string(raw)
		if f.total+size > f.max || f.total+size < f.total {
			f.fail(f.protocol(fmt.Sprintf("the files sent hold more than max_bytes (%d)", f.max)))
			return
		}
		f.total += size
		name := path[strings.LastIndexAny(path, `\/`)+1:]
		w, err := f.sink.Create(path, name, size)
		if err != nil {
			f.fail(&transport.Error{Class: transport.ClassInternal, Err: err,
				Message: fmt.Sprintf("%s: store fetched file %s: %v", f.host, path, err)})
			return
		}
		f.open, f.path, f.size, f.sha, f.remaining, f.w = true, path, size, parts[2], size, w
		f.h.Reset()
		if size == 0 {
			f.check()
		}
	default:
		f.fail(f.protocol(fmt.Sprintf("unexpected frame %.80q", line)))
	}
}

// check ends the current file: committed when its bytes hash to what the
// host announced, else aborted with a hash_mismatch error.
func (f *fetchFrames) check() {
	got := hex.EncodeToString(f.h.Sum(nil))
	w := f.w
	f.open, f.w = false, nil
	if got != f.sha {
		w.Abort()
		f.fail(&transport.Error{Class: transport.ClassHashMismatch,
			Message: fmt.Sprintf("%s: fetched file %s: the bytes that arrived have SHA-256 %s, the host announced %s (the file changed while it was read?); nothing was kept", f.host, f.path, got, f.sha),
			Hint:    "fetch files that are no longer being written, or run the step again"})
		return
	}
	local, err := w.Commit(got)
	if err != nil {
		f.fail(&transport.Error{Class: transport.ClassInternal, Err: err,
			Message: fmt.Sprintf("%s: keep fetched file %s: %v", f.host, f.path, err)})
		return
	}
	f.files = append(f.files, transport.FileResult{Path: f.path, Local: local, Size: f.size, SHA256: got, Sent: f.size})
}

// finish reports whether the stream ended where it may: after Z or N.
func (f *fetchFrames) finish() error {
	switch {
	case f.err != nil:
		return f.err
	case f.open:
		f.fail(f.protocol(fmt.Sprintf("the output ended with %d bytes of %s missing", f.remaining, f.path)))
	case len(f.line) > 0:
		f.fail(f.protocol(fmt.Sprintf("the output ended inside a frame header %.40q", f.line)))
	case !f.end && !f.notFound:
		f.fail(f.protocol("the output ended without its final frame"))
	}
	return f.err
}

// fail records the first error and aborts the file being received.
func (f *fetchFrames) fail(err error) {
	if f.err == nil {
		f.err = err
	}
	f.abort()
}

// abort drops the file being received, if any.
func (f *fetchFrames) abort() {
	if f.open {
		f.open = false
		f.w.Abort()
		f.w = nil
	}
}

func (f *fetchFrames) protocol(what string) *transport.Error {
	return &transport.Error{Class: transport.ClassProtocol,
		Message: fmt.Sprintf("%s: the fetch script's output: %s", f.host, what)}
}
