// Package report turns runner results and events into what people and
// machines read: the JSON report and dry-run plan, JUnit XML, per-host logs,
// the live console display and the closing summary table.
//
// It knows nothing about how hosts are reached; it only reads runner
// results.
package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

// TimeFormat is RFC 3339 with milliseconds, as reports write times.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// Document is the JSON report (and, with status "planned", the dry-run
// plan). Fields are only ever added, never renamed.
type Document struct {
	Playbook   string `json:"playbook"`
	Status     string `json:"status"`
	StopReason string `json:"stop_reason,omitempty"`
	StartedAt  string `json:"started_at"`
	FinishedAt string `json:"finished_at"`
	DurationMS int64  `json:"duration_ms"`
	Forks      int    `json:"forks,omitempty"`
	Batches    int    `json:"batches"`
	MaxFail    *int   `json:"max_fail,omitempty"`
	// Concurrency is the most hosts in flight at once and what bounds it
	// (forks, batch or max_fail); left out for a run without hosts.
	Concurrency *Concurrency `json:"concurrency,omitempty"`
	Summary     Summary      `json:"summary"`
	Hosts       []Host       `json:"hosts"`
	// FailureGroups are the failed and unreachable hosts grouped by cause
	// (see FailureGroups), left out when no host failed.
	FailureGroups []JSONFailureGroup `json:"failure_groups,omitempty"`
}

// Concurrency is the document's concurrency: hosts at once and what
// bounds them.
type Concurrency struct {
	Hosts     int    `json:"hosts"`
	LimitedBy string `json:"limited_by"`
}

// JSONFailureGroup is one entry of failure_groups.
type JSONFailureGroup struct {
	Class    string   `json:"class"`
	ExitCode *uint32  `json:"exit_code,omitempty"`
	Cause    string   `json:"cause"`
	Step     string   `json:"step"`
	Hint     string   `json:"hint,omitempty"`
	Count    int      `json:"count"`
	Hosts    []string `json:"hosts"`
	Sample   string   `json:"sample"`
	Tail     string   `json:"tail"`
}

// Summary counts hosts by status.
type Summary struct {
	Hosts       int `json:"hosts"`
	OK          int `json:"ok"`
	Failed      int `json:"failed"`
	Unreachable int `json:"unreachable"`
	Skipped     int `json:"skipped"`
}

// Host is one host's entry.
type Host struct {
	Name       string `json:"name"`
	Address    string `json:"address"`
	Batch      int    `json:"batch"`
	Status     string `json:"status"`
	Reason     string `json:"reason,omitempty"`
	Transport  string `json:"transport,omitempty"`
	Simulated  bool   `json:"simulated,omitempty"`
	StartedAt  string `json:"started_at,omitempty"`
	FinishedAt string `json:"finished_at,omitempty"`
	Error      *Error `json:"error,omitempty"`
	// IgnoredFailures counts the steps that failed on a host that went
	// on (continue_on_error); the host is ok. Left out when none did.
	IgnoredFailures int    `json:"ignored_failures,omitempty"`
	Steps           []Step `json:"steps"`
}

// Step is one step's entry on one host.
type Step struct {
	Name            string   `json:"name"`
	Kind            string   `json:"kind"`
	Status          string   `json:"status"`
	ExitCode        *uint32  `json:"exit_code,omitempty"`
	Expected        []uint32 `json:"expected_exit_codes"`
	Outcome         string   `json:"outcome,omitempty"`
	Rebooted        bool     `json:"rebooted,omitempty"`
	Attempts        int      `json:"attempts"`
	DurationMS      int64    `json:"duration_ms"`
	StartedAt       string   `json:"started_at,omitempty"`
	FinishedAt      string   `json:"finished_at,omitempty"`
	Stdout          string   `json:"stdout"`
	Stderr          string   `json:"stderr"`
	OutputTruncated bool     `json:"output_truncated"`
	Reason          string   `json:"reason,omitempty"`
	Error           *Error   `json:"error,omitempty"`
	RemoteCommand   []string `json:"remote_command,omitempty"`
	CommandLine     string   `json:"command_line,omitempty"`
	// Argv (argv steps), CmdLine (cmd steps: the line cmd.exe parses)
	// and Script (powershell steps, after template expansion) are, in
	// plans, what the step's program receives, decoded.
	Argv    []string `json:"argv,omitempty"`
	CmdLine string   `json:"cmd_line,omitempty"`
	Script  string   `json:"script,omitempty"`
	// RunAs is "system" for steps with run_as: system; Task names the
	// scheduled task the step ran as; Note says, in plans, how a step
	// reaches the host when that is not plain.
	RunAs string `json:"run_as,omitempty"`
	Task  string `json:"task,omitempty"`
	Note  string `json:"note,omitempty"`
	// Files are what a file step (copy, download, fetch) moved or found,
	// one per file; in plans, a copy's files with their sources as local.
	Files []File `json:"files,omitempty"`
}

// File is one file of a file step: its path on the host, size and
// SHA-256, whether the destination already held it, how many bytes
// crossed the connection, and where a fetched file was stored.
type File struct {
	Path      string `json:"path"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
	Unchanged bool   `json:"unchanged"`
	Sent      int64  `json:"sent"`
	Local     string `json:"local,omitempty"`
}

// Error is a classified failure.
type Error struct {
	Class   string `json:"class"`
	Code    uint32 `json:"code,omitempty"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(TimeFormat)
}

// NewDocument converts a runner result into the report document.
func NewDocument(r *runner.Result) *Document {
	s := r.Summarize()
	doc := &Document{
		Playbook:   r.Playbook,
		Status:     string(r.Status),
		StopReason: r.StopReason,
		StartedAt:  formatTime(r.Started),
		FinishedAt: formatTime(r.Finished),
		Forks:      r.Forks,
		Batches:    r.Batches,
		Summary:    Summary{Hosts: s.Hosts, OK: s.OK, Failed: s.Failed, Unreachable: s.Unreachable, Skipped: s.Skipped},
		Hosts:      make([]Host, 0, len(r.Hosts)),
	}
	if !r.Started.IsZero() && !r.Finished.IsZero() {
		doc.DurationMS = r.Finished.Sub(r.Started).Milliseconds()
	}
	if r.MaxFail >= 0 {
		mf := r.MaxFail
		doc.MaxFail = &mf
	}
	if c := r.Concurrency; c.Hosts > 0 {
		doc.Concurrency = &Concurrency{Hosts: c.Hosts, LimitedBy: c.LimitedBy}
	}
	for _, h := range r.Hosts {
		hd := Host{
			Name: h.Name, Address: h.Address, Batch: h.Batch, Status: string(h.Status), Reason: h.Reason,
			Transport: h.Transport, Simulated: h.Simulated,
			StartedAt: formatTime(h.Started), FinishedAt: formatTime(h.Finished),
			Error: convertError(h.Err), IgnoredFailures: h.IgnoredFailures(), Steps: make([]Step, 0, len(h.Steps)),
		}
		for _, st := range h.Steps {
			hd.Steps = append(hd.Steps, Step{
				Name: st.Name, Kind: string(st.Kind), Status: string(st.Status),
				ExitCode: st.ExitCode, Expected: nonNil(st.Expected), Outcome: st.Outcome, Rebooted: st.Rebooted,
				Attempts: st.Attempts, DurationMS: st.Duration().Milliseconds(),
				StartedAt: formatTime(st.Started), FinishedAt: formatTime(st.Finished),
				Stdout: st.Stdout, Stderr: st.Stderr, OutputTruncated: st.OutputTruncated,
				Reason: st.Reason, Error: convertError(st.Err),
				RemoteCommand: st.RemoteCommand, CommandLine: st.CommandLine, Argv: st.Argv, CmdLine: st.CmdLine, Script: st.Script,
				RunAs: st.RunAs, Task: st.Task, Note: st.Note, Files: convertFiles(st.Files),
			})
		}
		doc.Hosts = append(doc.Hosts, hd)
	}
	if r.Status != runner.StatusPlanned {
		for _, g := range FailureGroups(r) {
			doc.FailureGroups = append(doc.FailureGroups, JSONFailureGroup(g))
		}
	}
	return doc
}

func convertFiles(fs []transport.FileResult) []File {
	if len(fs) == 0 {
		return nil
	}
	out := make([]File, len(fs))
	for i, f := range fs {
		out[i] = File{Path: f.Path, Size: f.Size, SHA256: f.SHA256, Unchanged: f.Unchanged, Sent: f.Sent, Local: f.Local}
	}
	return out
}

func nonNil(c []uint32) []uint32 {
	if c == nil {
		return []uint32{}
	}
	return c
}

func convertError(te *transport.Error) *Error {
	if te == nil {
		return nil
	}
	return &Error{Class: string(te.Class), Code: te.Code, Message: te.Message, Hint: te.Hint}
}

// WriteJSON writes doc as indented JSON: exactly what an Encoder with
// SetIndent("", "  ") and SetEscapeHTML(false) writes for it, trailing
// newline included.
//
// It streams: the document's object is written here, field by field in
// Document's order and with its omitempty rules, and each value (each
// host on its own) is encoded apart, compact, then indented by
// appendIndented, so a report of many hosts is never held in memory whole
// (the encoder held it twice: encoded, then indented). A field added to
// Document must be added here too (TestWriteJSONWritesEveryField fails
// until it is). On an error, what was written so far may have reached w.
func WriteJSON(w io.Writer, doc *Document) error {
	jw := newJSONWriter(w)
	jw.raw("{")
	jw.field("playbook", doc.Playbook)
	jw.field("status", doc.Status)
	if doc.StopReason != "" {
		jw.field("stop_reason", doc.StopReason)
	}
	jw.field("started_at", doc.StartedAt)
	jw.field("finished_at", doc.FinishedAt)
	jw.field("duration_ms", doc.DurationMS)
	if doc.Forks != 0 {
		jw.field("forks", doc.Forks)
	}
	jw.field("batches", doc.Batches)
	if doc.MaxFail != nil {
		jw.field("max_fail", doc.MaxFail)
	}
	if doc.Concurrency != nil {
		jw.field("concurrency", doc.Concurrency)
	}
	jw.field("summary", &doc.Summary)
	jw.key("hosts")
	switch {
	case doc.Hosts == nil:
		jw.raw("null")
	case len(doc.Hosts) == 0:
		jw.raw("[]")
	default:
		jw.raw("[")
		for i := range doc.Hosts {
			if i > 0 {
				jw.raw(",")
			}
			jw.raw("\n    ")
			jw.value(&doc.Hosts[i], 2)
		}
		jw.raw("\n  ]")
	}
	if len(doc.FailureGroups) > 0 {
		jw.field("failure_groups", doc.FailureGroups)
	}
	jw.raw("\n}\n")
	return jw.flush()
}

// jsonWriter writes the document's object through a buffer, encoding the
// values inside it. It keeps the first error; after one it writes
// nothing more.
type jsonWriter struct {
	w     *bufio.Writer
	val   bytes.Buffer  // a value, compact, as enc writes it
	enc   *json.Encoder // into val
	ind   []byte        // the value indented
	first bool          // no field written yet
	err   error
}

func newJSONWriter(w io.Writer) *jsonWriter {
	jw := &jsonWriter{w: bufio.NewWriterSize(w, 32<<10), first: true}
	jw.enc = json.NewEncoder(&jw.val)
	jw.enc.SetEscapeHTML(false)
	return jw
}

func (jw *jsonWriter) raw(s string) {
	if jw.err == nil {
		_, jw.err = jw.w.WriteString(s)
	}
}

// key starts a field of the document: `"name": `, after a comma for all
// but the first.
func (jw *jsonWriter) key(name string) {
	if !jw.first {
		jw.raw(",")
	}
	jw.first = false
	jw.raw("\n  \"" + name + "\": ")
}

// field writes a field of the document.
func (jw *jsonWriter) field(name string, v any) {
	jw.key(name)
	jw.value(v, 1)
}

// value writes v, which starts depth levels deep in the document: 1 for
// a field's value, 2 for an element of an array among the fields.
func (jw *jsonWriter) value(v any, depth int) {
	if jw.err != nil {
		return
	}
	jw.val.Reset()
	if jw.err = jw.enc.Encode(v); jw.err != nil {
		return
	}
	// Encode ends the value with a newline; inside the document the next
	// comma or bracket follows instead. What it wrote is compact, also
	// where a type has its own MarshalJSON.
	compact := bytes.TrimSuffix(jw.val.Bytes(), []byte("\n"))
	jw.ind = appendIndented(jw.ind[:0], compact, depth)
	_, jw.err = jw.w.Write(jw.ind)
}

func (jw *jsonWriter) flush() error {
	if jw.err != nil {
		return jw.err
	}
	return jw.w.Flush()
}

// appendIndented appends src, compact JSON as encoding/json writes it
// (no space outside strings), indented as the Encoder's SetIndent writes
// it: each element of an object or array on a line of its own, two spaces
// a level, starting depth levels deep; a space after each colon; empty
// objects and arrays kept as {} and []. It does what encoding/json's
// indenting does for such input, but without running its validating
// scanner over every byte, which cost two thirds of writing a report.
func appendIndented(dst, src []byte, depth int) []byte {
	newline := func() {
		dst = append(dst, '\n')
		for range depth {
			dst = append(dst, "  "...)
		}
	}
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '"':
			end := stringEnd(src, i)
			dst = append(dst, src[i:end]...)
			i = end - 1
		case '{', '[':
			if i+1 < len(src) && (src[i+1] == '}' || src[i+1] == ']') {
				dst = append(dst, c, src[i+1])
				i++
				continue
			}
			dst = append(dst, c)
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			newline()
		case ':':
			dst = append(dst, ':', ' ')
		default: // numbers, true, false, null
			dst = append(dst, c)
		}
	}
	return dst
}

// stringEnd returns the index just past the JSON string that starts with
// the quote at src[start].
func stringEnd(src []byte, start int) int {
	i := start + 1
	for {
		q := bytes.IndexByte(src[i:], '"')
		if q < 0 {
			return len(src) // not from encoding/json, which closes its strings
		}
		i += q
		// The quote is escaped if an odd number of backslashes precede it.
		n := 0
		for src[i-1-n] == '\\' {
			n++
		}
		if n%2 == 0 {
			return i + 1
		}
		i++
	}
}

// WriteFile writes data to path atomically (a temporary file in the same
// folder, then a rename) with mode 0600, so a reader never sees half a
// report and other users cannot read host output.
func WriteFile(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()           // already failing; the write error matters more
			_ = os.Remove(f.Name()) // best effort: do not leave temp files behind
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = write(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
