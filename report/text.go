package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

// SimulatedPrefix starts every line the console and the summary write when
// the fleet is simulated, so nobody mistakes a demo for a real rollout.
const SimulatedPrefix = "[simulated] "

// SimulatedBanner is the first line written for a simulated fleet.
const SimulatedBanner = "SIMULATED FLEET — no real hosts contacted"

// ConcurrencyNote says, for people, when the failure budget is what
// bounds how many hosts run at once — "at most 2 hosts at once: max_fail
// 1" — and is empty otherwise (forks or the batch size bound it, which the
// plan and the console already show). maxFail is the resolved budget.
func ConcurrencyNote(c runner.Concurrency, maxFail int) string {
	if c.LimitedBy != runner.LimitedByMaxFail {
		return ""
	}
	return fmt.Sprintf("at most %s at once: max_fail %d", plural(c.Hosts, "host"), maxFail)
}

// IgnoredNote is how every human-facing output says that a host is ok
// although steps failed on it under continue_on_error: "1 failure
// ignored: continue_on_error" (n is the host's IgnoredFailures).
func IgnoredNote(n int) string {
	return plural(n, "failure") + " ignored: continue_on_error"
}

// BatchLabel is how every human-facing output numbers a batch: "batch 1
// of 3" for the first of three (batch is zero-based, as the JSON report
// keeps it).
func BatchLabel(batch, batches int) string {
	return fmt.Sprintf("batch %d of %d", batch+1, max(batches, batch+1))
}

// formatDuration renders d for people: "812ms", "4.2s", "1m3s", "2h5m".
func formatDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Truncate(100*time.Millisecond).Seconds(), 'f', -1, 64) + "s"
	case d < time.Hour:
		return d.Truncate(time.Second).String()
	}
	s := d.Truncate(time.Minute).String()
	return strings.TrimSuffix(s, "0s")
}

// formatExit renders an exit code; NTSTATUS-style codes (high bit set) also
// appear in hex, as Windows documents them: "3221225477 (0xC0000005)".
func formatExit(code uint32) string {
	if code >= 0x80000000 {
		return fmt.Sprintf("%d (0x%08X)", code, code)
	}
	return strconv.FormatUint(uint64(code), 10)
}

// formatCodes renders expected exit codes as "[0, 3010]".
func formatCodes(codes []uint32) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, c := range codes {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatUint(uint64(c), 10))
	}
	b.WriteByte(']')
	return b.String()
}

// errorText is "class: message" (with the fault code when there is one),
// the way transport.Error prints, made safe for one line of a terminal.
func errorText(te *transport.Error) string {
	if te == nil {
		return ""
	}
	return termLine(te.Error())
}

// Printable makes text from hosts, inventories and playbooks (host names,
// tags, messages) safe to print on a terminal: what a terminal would act
// on is escaped visibly, Go-style, rather than sent — C0 controls (the
// escape character, and line breaks and tabs, so that one value stays on
// one line and in one table cell), DEL, C1 controls, the Unicode
// bidirectional embeddings, overrides and isolates (which reorder what
// follows them) and the line and paragraph separators become \n, \r, \t,
// \xNN or \uNNNN, and bytes that are not UTF-8 become \xNN. Everything
// else, backslashes included, is kept, so Windows paths read as written.
// Every terminal output of fleetrun passes such text through it (the
// console and the summary through termLine).
func Printable(s string) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		writePrintable(&b, s[i:i+size], r)
		i += size
	}
	return b.String()
}

// writePrintable writes one rune (its bytes are raw) as Printable does.
func writePrintable(b *strings.Builder, raw string, r rune) {
	switch {
	case r == utf8.RuneError && len(raw) == 1:
		fmt.Fprintf(b, `\x%02x`, raw[0])
	case r == '\n':
		b.WriteString(`\n`)
	case r == '\r':
		b.WriteString(`\r`)
	case r == '\t':
		b.WriteString(`\t`)
	case r < 0x20 || r == 0x7f:
		fmt.Fprintf(b, `\x%02x`, r)
	case needsEscape(r):
		fmt.Fprintf(b, `\u%04x`, r)
	default:
		b.WriteString(raw)
	}
}

// needsEscape reports whether a rune from U+0080 up would act on a
// terminal or on how it shows the text: C1 controls, bidirectional
// formatting characters, line and paragraph separators.
func needsEscape(r rune) bool {
	return (r >= 0x80 && r < 0xa0) || r == 0x061c || r == 0x200e || r == 0x200f ||
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x2028 || r == 0x2029
}

// termLine is Printable for one line of the console or the summary: line
// breaks become " | ", tabs become spaces and trailing line breaks go;
// everything else Printable escapes is escaped (so an escape sequence that
// would let a host recolour or rewrite the operator's terminal shows as
// \x1b[...).
func termLine(s string) string {
	return flattenLines(s, func(b *strings.Builder, rest string, r rune, size int) int {
		writePrintable(b, rest[:size], r)
		return size
	})
}

// oneLine makes text from hosts safe for one line of a file (log header,
// JUnit message): line breaks become " | ", tabs become spaces, and other
// control characters (including the escape sequences that would let a host
// recolour or rewrite the terminal of whoever prints the file) are
// dropped. Invalid UTF-8 becomes U+FFFD.
func oneLine(s string) string {
	return flattenLines(s, func(b *strings.Builder, rest string, r rune, size int) int {
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r == 0x1b:
			return escapeLen(rest)
		case r < 0x20 || r == 0x7f || needsEscape(r):
			// other controls carry nothing readable
		default:
			b.WriteString(rest[:size])
		}
		return size
	})
}

// flattenLines puts s on one line: trailing line breaks go, other line
// breaks become " | " and tabs spaces; every other rune r (size bytes at the
// start of rest, the text not yet written) goes to other, which writes what
// stands for it and returns how many bytes of rest it consumed.
func flattenLines(s string, other func(b *strings.Builder, rest string, r rune, size int) int) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	s = strings.TrimRight(s, "\r\n")
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\r' && i+1 < len(s) && s[i+1] == '\n':
			// the \n that follows writes the separator
		case r == '\n' || r == '\r':
			b.WriteString(" | ")
		case r == '\t':
			b.WriteByte(' ')
		default:
			i += other(&b, s[i:], r, size)
			continue
		}
		i += size
	}
	return b.String()
}

// isPlain reports whether s is valid UTF-8 without anything Printable
// escapes.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c >= 0x80 {
			if c < 0x80 {
				return false
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			if (r == utf8.RuneError && size == 1) || needsEscape(r) {
				return false
			}
			i += size - 1
		}
	}
	return true
}

// escapeLen is the length of the ANSI escape sequence at the start of s
// (which starts with ESC): a CSI sequence "ESC [ params final", an OSC
// sequence ending in BEL or ESC \, or ESC and one more character.
func escapeLen(s string) int {
	if len(s) < 2 {
		return len(s)
	}
	switch s[1] {
	case '[':
		for i := 2; i < len(s); i++ {
			if s[i] >= 0x40 && s[i] <= 0x7e {
				return i + 1
			}
			if s[i] < 0x20 || s[i] > 0x7e {
				return i // not a well-formed sequence: drop only what we read
			}
		}
		return len(s)
	case ']':
		for i := 2; i < len(s); i++ {
			if s[i] == 0x07 {
				return i + 1
			}
			if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
		}
		return len(s)
	}
	return 2
}

// tail returns the end of s: at most maxLines lines and maxBytes bytes,
// cut at a line start when possible and always at a UTF-8 boundary, and
// how many bytes were left out.
func tail(s string, maxLines, maxBytes int) (string, int) {
	s = strings.TrimRight(s, "\r\n")
	start := 0
	if len(s) > maxBytes {
		start = len(s) - maxBytes
		// Prefer to start at a line boundary inside the window.
		if nl := strings.IndexByte(s[start:], '\n'); nl >= 0 && nl < len(s)-start-1 {
			start += nl + 1
		}
		for start < len(s) && !utf8.RuneStart(s[start]) {
			start++
		}
	}
	lines := 0
	for i := len(s) - 1; i >= start; i-- {
		if s[i] == '\n' {
			lines++
			if lines == maxLines {
				start = i + 1
				break
			}
		}
	}
	return s[start:], start
}

// hostCounts is a host's step tally.
type hostCounts struct{ ok, unchanged, failed, skipped int }

func countSteps(h *runner.HostResult) hostCounts {
	var c hostCounts
	for _, s := range h.Steps {
		switch s.Status {
		case runner.StatusOK:
			c.ok++
		case runner.StatusUnchanged:
			c.unchanged++
		case runner.StatusFailed:
			c.failed++
		case runner.StatusSkipped:
			c.skipped++
		}
	}
	return c
}

// hostDuration is how long a host ran, zero when it did not.
func hostDuration(h *runner.HostResult) time.Duration {
	if h.Started.IsZero() || h.Finished.IsZero() {
		return 0
	}
	return h.Finished.Sub(h.Started)
}

// AnySimulated reports whether any host of r is simulated.
func AnySimulated(r *runner.Result) bool {
	for _, h := range r.Hosts {
		if h.Simulated {
			return true
		}
	}
	return false
}

// plural returns "1 host" or "3 hosts" ("1 batch", "3 batches").
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "ch") || strings.HasSuffix(word, "s") {
		return strconv.Itoa(n) + " " + word + "es"
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// ANSI colours for terminals; callers decide whether colour is wanted.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiDim    = "\x1b[2m"
)

func paint(on bool, color, s string) string {
	if !on || s == "" {
		return s
	}
	return color + s + ansiReset
}

// fileLine is one file of a file step: "C:\patches\kb.msu 3.1 KiB
// sha256 3f7a... sent" (or unchanged, or where a fetched file was
// stored).
func fileLine(f transport.FileResult) string {
	line := fmt.Sprintf("%s %s sha256 %s", oneLine(f.Path), FormatBytes(f.Size), f.SHA256)
	switch {
	case f.Local != "":
		line += " fetched to " + oneLine(f.Local)
	case f.Unchanged:
		line += " unchanged"
	case f.Sent > 0:
		line += " sent"
	}
	return line
}

// filesSummary is "2 files, 3.1 KiB sent" for a finished file step.
func filesSummary(s *runner.StepResult) string {
	var sent int64
	for _, f := range s.Files {
		sent += f.Sent
	}
	out := plural(len(s.Files), "file")
	if sent > 0 {
		verb := "sent"
		if s.Kind == "fetch" {
			verb = "fetched"
		}
		out += ", " + FormatBytes(sent) + " " + verb
	}
	return out
}

// FormatBytes writes n with a binary unit: 512 B, 3.1 KiB, 100 MiB.
func FormatBytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, unit := float64(n)/1024, 0
	for v >= 1024 && unit < 4 {
		v /= 1024
		unit++
	}
	return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0") + " " + string("KMGTP"[unit]) + "iB"
}
