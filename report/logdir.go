package report

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fleetrun/fleetrun/runner"
)

// LogDir writes one log file per host into a folder (--log-dir): every
// step's full stdout and stderr as they arrive, between header lines that
// carry the time, the attempt, the exit code, the status, the error class
// and the hint.
//
// It is both a runner.OutputSink (the raw bytes) and a runner.Sink (the
// headers); register it as both. The file of a host is created (mode 0600,
// replacing a log of an earlier run) the first time the host appears in
// this run, held open while the host runs and closed when it finishes, so
// at most one file per running host is open. Output is streamed to the file
// as written, never held in memory.
//
// A failing log write never disturbs a step: the writers always report
// success, and Close returns the first error.
//
// # File format
//
// A file starts with comment lines ("# ..."). Header lines start with the
// event's time (RFC 3339, milliseconds) followed by what happened, e.g.
//
//	2024-05-01T10:00:00.100Z step 1 "install patch" attempt 1 started: kind=powershell
//	out| Installing KB5034441...
//	err| warning: restart pending
//	2024-05-01T10:00:00.912Z step 1 "install patch" finished: status=ok exit=3010 expected=[0, 3010] attempts=1 duration=812ms outcome=reboot_required
//
// Output lines start with "out| " (stdout) or "err| " (stderr) followed by
// the bytes exactly as the host sent them, up to and including the line's
// "\n". When one stream interrupts a line of the other, the interrupted
// line is ended in the file and its rest follows on a line starting with
// "out+ " or "err+ " (the line break before it is not part of the output).
// When a stream's output does not end with a line break, the marker line
// "out\ no newline at end" or "err\ no newline at end" follows, as diff
// does. So each stream can be reassembled byte for byte.
type LogDir struct {
	dir string

	mu      sync.Mutex
	hosts   map[string]*hostLog // by host name
	files   map[string]string   // lower-cased file name → host name
	batches int
	closed  bool
	err     error
}

// NewLogDir prepares dir for per-host logs, creating it (mode 0700) when
// it does not exist. An existing folder is used as it is.
func NewLogDir(dir string) (*LogDir, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("log dir: %s is not a folder", dir)
	}
	return &LogDir{dir: dir, hosts: make(map[string]*hostLog), files: make(map[string]string)}, nil
}

// Dir is the folder the logs are written to.
func (d *LogDir) Dir() string { return d.dir }

// Path returns the file the log of host is (or would be) written to.
func (d *LogDir) Path(host string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if h, ok := d.hosts[host]; ok {
		return h.path
	}
	return filepath.Join(d.dir, LogFileName(host))
}

// stream is one of a step's output streams.
type stream int

const (
	noStream stream = iota - 1
	streamOut
	streamErr
)

var streamTags = [2]string{"out", "err"}

// hostLog is one host's file. Its mutex orders the host goroutine's output
// writes against the header writes of the event goroutine.
type hostLog struct {
	d    *LogDir
	name string
	path string

	mu      sync.Mutex
	f       *os.File
	created bool
	done    bool // the host finished: later writes reopen the file briefly
	sealed  bool // the LogDir is closed: nothing more is written
	// cur is the stream whose line the file currently ends in the middle
	// of, or noStream when the file ends at a line break.
	cur stream
	// partial says a stream's output so far does not end with "\n".
	partial [2]bool
	buf     []byte
}

// host returns the log of host, choosing its file name on first sight.
func (d *LogDir) host(name string) *hostLog {
	d.mu.Lock()
	defer d.mu.Unlock()
	if h, ok := d.hosts[name]; ok {
		return h
	}
	file := LogFileName(name)
	base := strings.TrimSuffix(file, ".log")
	for n := 2; ; n++ {
		if other, taken := d.files[strings.ToLower(file)]; !taken || other == name {
			break
		}
		file = base + "~" + strconv.Itoa(n) + ".log"
	}
	d.files[strings.ToLower(file)] = name
	h := &hostLog{d: d, name: name, path: filepath.Join(d.dir, file), cur: noStream}
	d.hosts[name] = h
	return h
}

func (d *LogDir) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err == nil {
		d.err = err
	}
}

func (d *LogDir) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// StepOutput implements runner.OutputSink: writers that append the
// attempt's stdout and stderr to the host's file. They may be used from
// any goroutine; each Write is copied to the file before it returns.
func (d *LogDir) StepOutput(host string, step int, attempt int) (stdout, stderr io.Writer) {
	h := d.host(host)
	return &streamWriter{h: h, s: streamOut}, &streamWriter{h: h, s: streamErr}
}

type streamWriter struct {
	h *hostLog
	s stream
}

// Write copies p to the log. It always reports success: a log problem
// must not fail the step; LogDir.Close reports it.
func (w *streamWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	w.h.writeOutput(w.s, p)
	return len(p), nil
}

// writeOutput frames p as lines of stream s. The caller holds h.mu.
func (h *hostLog) writeOutput(s stream, p []byte) {
	b := h.buf[:0]
	for len(p) > 0 {
		if h.cur != s {
			if h.cur != noStream {
				b = append(b, '\n') // the other stream's line continues later with "+"
			}
			b = append(b, streamTags[s]...)
			if h.partial[s] {
				b = append(b, "+ "...)
			} else {
				b = append(b, "| "...)
			}
			h.cur = s
		}
		i := indexNewline(p)
		if i < 0 {
			b = append(b, p...)
			h.partial[s] = true
			break
		}
		b = append(b, p[:i+1]...)
		p = p[i+1:]
		h.partial[s] = false
		h.cur = noStream
	}
	h.write(b)
	// Keep the framing buffer for the next chunk unless one huge write
	// grew it: a thousand hosts must not each hold a megabyte.
	if cap(b) <= maxKeptBuffer {
		h.buf = b[:0]
	} else {
		h.buf = nil
	}
}

// maxKeptBuffer bounds the framing buffer a host keeps between writes.
const maxKeptBuffer = 64 << 10

func indexNewline(p []byte) int {
	for i, c := range p {
		if c == '\n' {
			return i
		}
	}
	return -1
}

// endOutput closes the framing of an attempt's output: it ends a line cut
// short and marks streams whose output did not end with a line break. The
// caller holds h.mu.
func (h *hostLog) endOutput() {
	var b []byte
	if h.cur != noStream {
		b = append(b, '\n')
		h.cur = noStream
	}
	for s := streamOut; s <= streamErr; s++ {
		if h.partial[s] {
			b = append(b, streamTags[s]...)
			b = append(b, "\\ no newline at end\n"...)
			h.partial[s] = false
		}
	}
	if len(b) > 0 {
		h.write(b)
	}
}

// write appends b to the file, opening it when needed. The caller holds
// h.mu.
func (h *hostLog) write(b []byte) {
	if h.sealed {
		return
	}
	if h.f == nil {
		if !h.open() {
			return
		}
		if h.done {
			// Output arriving after the host finished (a transport still
			// draining): append it, then close again to keep files bounded.
			defer h.close()
		}
	}
	if _, err := h.f.Write(b); err != nil {
		h.d.fail(fmt.Errorf("log of %s: %w", h.name, err))
	}
}

// open opens the host's file: created afresh the first time in this run,
// appended to afterwards. The caller holds h.mu.
func (h *hostLog) open() bool {
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if !h.created {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(h.path, flags, 0o600)
	if err != nil {
		h.d.fail(fmt.Errorf("log of %s: %w", h.name, err))
		return false
	}
	if !h.created {
		// O_TRUNC keeps the mode of a log left by an earlier run.
		if err := f.Chmod(0o600); err != nil {
			h.d.fail(fmt.Errorf("log of %s: %w", h.name, err))
		}
		h.created = true
		h.f = f
		h.write([]byte("# fleetrun log of host " + oneLine(h.name) + "\n" + logFormatComment))
		return h.f != nil
	}
	h.f = f
	return true
}

const logFormatComment = `# "out| " stdout, "err| " stderr, "out+ "/"err+ " rest of a line the other stream cut, "out\ "/"err\ " no newline at end
`

// close closes the host's file. The caller holds h.mu.
func (h *hostLog) close() {
	if h.f == nil {
		return
	}
	if err := h.f.Close(); err != nil {
		h.d.fail(fmt.Errorf("log of %s: %w", h.name, err))
	}
	h.f = nil
	h.buf = nil
}

// header writes one header line per text, each starting with t.
func (h *hostLog) header(t time.Time, lines ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.endOutput()
	ts := t.UTC().Format(TimeFormat)
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(ts)
		b.WriteByte(' ')
		b.WriteString(l)
		b.WriteByte('\n')
	}
	h.write([]byte(b.String()))
}

// Event implements runner.Sink: it writes the header lines of hosts and
// steps.
func (d *LogDir) Event(e runner.Event) {
	if d.isClosed() {
		return
	}
	switch e.Kind {
	case runner.RunStarted:
		d.mu.Lock()
		d.batches = e.Batches
		d.mu.Unlock()
	case runner.HostStarted:
		h := d.host(e.Host.Name)
		h.mu.Lock()
		h.done = false
		h.mu.Unlock()
		h.header(e.Time, "host "+oneLine(e.Host.Name)+" started: "+d.hostAttrs(e.Host))
	case runner.StepStarted:
		d.host(e.Host.Name).header(e.Time, fmt.Sprintf("%s attempt %d started: kind=%s", stepLabel(e.Step), e.Step.Attempts, e.Step.Kind))
	case runner.StepRetrying:
		s := e.Step
		line := fmt.Sprintf("%s attempt %d failed: %s retry_in=%s", stepLabel(s), s.Attempts, exitAttrs(s), formatDuration(e.Delay))
		d.host(e.Host.Name).header(e.Time, append([]string{line}, errLines(s)...)...)
	case runner.StepFinished:
		d.host(e.Host.Name).header(e.Time, stepFinishedLines(e.Step)...)
	case runner.HostFinished:
		d.hostFinished(e)
	}
}

func (d *LogDir) hostAttrs(h *runner.HostResult) string {
	d.mu.Lock()
	batches := d.batches
	d.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "batch=%d/%d", h.Batch+1, max(batches, h.Batch+1))
	if h.Address != "" {
		fmt.Fprintf(&b, " address=%s", oneLine(h.Address))
	}
	if h.Transport != "" {
		fmt.Fprintf(&b, " transport=%s", oneLine(h.Transport))
	}
	if h.Simulated {
		b.WriteString(" simulated=true (a simulated host: no real machine was contacted)")
	}
	return b.String()
}

func stepLabel(s *runner.StepResult) string {
	return fmt.Sprintf("step %d %q", s.Index+1, oneLine(s.Name))
}

// exitAttrs is "exit=5 expected=[0] class=unexpected_exit".
func exitAttrs(s *runner.StepResult) string {
	var b strings.Builder
	if s.ExitCode != nil {
		fmt.Fprintf(&b, "exit=%s", formatExit(*s.ExitCode))
	} else {
		b.WriteString("exit=none")
	}
	fmt.Fprintf(&b, " expected=%s", formatCodes(s.Expected))
	if s.Err != nil {
		fmt.Fprintf(&b, " class=%s", s.Err.Class)
		if s.Err.Code != 0 {
			fmt.Fprintf(&b, " code=%d", s.Err.Code)
		}
	}
	return b.String()
}

func stepFinishedLines(s *runner.StepResult) []string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s finished: status=%s ", stepLabel(s), s.Status)
	if (s.Kind == "reboot" || s.Kind.IsFile()) && s.ExitCode == nil {
		fmt.Fprintf(&b, "attempts=%d duration=%s", s.Attempts, formatDuration(s.Duration()))
		if s.Err != nil {
			fmt.Fprintf(&b, " class=%s", s.Err.Class)
		}
	} else {
		fmt.Fprintf(&b, "%s attempts=%d duration=%s", exitAttrs(s), s.Attempts, formatDuration(s.Duration()))
	}
	if s.Outcome != "" {
		fmt.Fprintf(&b, " outcome=%s", s.Outcome)
	}
	if s.Rebooted {
		b.WriteString(" rebooted=true")
	}
	if s.OutputTruncated {
		b.WriteString(" output_capped_in_report=true")
	}
	lines := []string{b.String()}
	for _, f := range s.Files {
		lines = append(lines, "  "+fileLine(f))
	}
	return append(lines, errLines(s)...)
}

// errLines are the indented message and hint lines of a failed step.
func errLines(s *runner.StepResult) []string {
	if s.Err == nil {
		return nil
	}
	lines := []string{"  message: " + oneLine(s.Err.Message)}
	if s.Err.Hint != "" {
		lines = append(lines, "  hint: "+oneLine(s.Err.Hint))
	}
	return lines
}

func (d *LogDir) hostFinished(e runner.Event) {
	hr := e.Host
	h := d.host(hr.Name)
	var lines []string
	if hr.Started.IsZero() {
		// The host never started (skipped, or done in an earlier run): its
		// log still says why.
		lines = append(lines, "host "+oneLine(hr.Name)+" did not run: "+d.hostAttrs(hr))
	}
	c := countSteps(hr)
	line := fmt.Sprintf("host %s finished: status=%s steps=%d ok=%d failed=%d skipped=%d", oneLine(hr.Name), hr.Status, len(hr.Steps), c.ok, c.failed, c.skipped)
	if c.unchanged > 0 {
		line += fmt.Sprintf(" unchanged=%d", c.unchanged)
	}
	if dur := hostDuration(hr); dur > 0 {
		line += " duration=" + formatDuration(dur)
	}
	lines = append(lines, line)
	if hr.Reason != "" {
		lines = append(lines, "  reason: "+oneLine(hr.Reason))
	}
	if hr.Err != nil {
		lines = append(lines, fmt.Sprintf("  error: class=%s", hr.Err.Class))
		if hr.Err.Code != 0 {
			lines[len(lines)-1] += fmt.Sprintf(" code=%d", hr.Err.Code)
		}
		lines = append(lines, "  message: "+oneLine(hr.Err.Message))
		if hr.Err.Hint != "" {
			lines = append(lines, "  hint: "+oneLine(hr.Err.Hint))
		}
	}
	for _, s := range hr.Steps {
		if s.Status == runner.StatusSkipped || (s.Status.Succeeded() && s.Reason != "") {
			lines = append(lines, fmt.Sprintf("  %s %s: %s", stepLabel(s), s.Status, oneLine(s.Reason)))
		}
	}
	h.header(e.Time, lines...)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.done = true
	h.close()
}

// Close closes every open file and returns the first error met while
// writing logs. Writes after Close are dropped. Close is safe to call more
// than once.
func (d *LogDir) Close() error {
	d.mu.Lock()
	d.closed = true
	hosts := make([]*hostLog, 0, len(d.hosts))
	for _, h := range d.hosts {
		hosts = append(hosts, h)
	}
	d.mu.Unlock()
	for _, h := range hosts {
		h.mu.Lock()
		h.endOutput()
		h.close()
		h.sealed = true
		h.mu.Unlock()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// LogFileName returns the log file name for a host: the name itself plus
// ".log" when it is made only of ASCII letters, digits, '.', '-' and '_',
// does not start with '.', is at most 100 bytes and is not a name Windows
// reserves for devices (CON, NUL, COM1, ...). Any other name has its other
// bytes replaced by '_', is clipped to 100 bytes and gets "-" and 8 hex
// digits of its SHA-256 appended, so different hosts keep different files:
// "web/01" → "web_01-<hash>.log", "" → "_-<hash>.log". When two hosts of
// one run still map to the same file (names differing only in case, on
// case-insensitive file systems), the later one gets "~2", "~3", ....
func LogFileName(host string) string {
	const maxBase = 100
	safe := host != "" && len(host) <= maxBase && host[0] != '.' && !reservedDeviceName(host)
	var b strings.Builder
	for i := 0; i < len(host) && b.Len() < maxBase; i++ {
		c := host[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '-' || c == '_' || (c == '.' && i > 0) {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
			safe = false
		}
	}
	if safe {
		return host + ".log"
	}
	sum := sha256.Sum256([]byte(host))
	if b.Len() == 0 {
		b.WriteByte('_')
	}
	return b.String() + "-" + hex.EncodeToString(sum[:4]) + ".log"
}

// reservedDeviceName reports whether Windows treats name (before its first
// dot) as a device, whatever the extension.
func reservedDeviceName(name string) bool {
	base, _, _ := strings.Cut(name, ".")
	switch strings.ToUpper(base) {
	case "CON", "PRN", "AUX", "NUL",
		"COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
		"LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9":
		return true
	}
	return false
}

var (
	_ runner.Sink       = (*LogDir)(nil)
	_ runner.OutputSink = (*LogDir)(nil)
)
