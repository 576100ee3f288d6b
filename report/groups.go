package report

import (
	"html"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/fleetrun/fleetrun/runner"
)

// FailureGroup is a set of hosts that failed for the same cause: the same
// error class, exit code and first meaningful error line once the parts
// that differ from host to host (names, addresses, GUIDs, numbers, user
// profile folders) are replaced by placeholders.
type FailureGroup struct {
	Class string
	// ExitCode is the failed step's exit code, nil when there was none.
	ExitCode *uint32
	// Cause is the normalised first meaningful line of stderr, or of the
	// error message when stderr held nothing.
	Cause string
	// Step is the sample host's failed step ("connect" for hosts that
	// failed before any step ran).
	Step string
	// Hint is the sample host's hint, empty when it had none.
	Hint  string
	Count int
	// Hosts are every host of the group, in inventory order.
	Hosts []string
	// Sample is the first host of the group; Tail is its last output
	// lines (at most TailLines).
	Sample string
	Tail   string
}

// TailLines is how many output lines a group's Tail keeps.
const TailLines = 10

// FailureGroups groups the failed and unreachable hosts of r by cause,
// largest group first, then by cause, class and exit code. Steps that
// failed under continue_on_error on hosts that went on are not failures
// of their host and are left out. It returns nil when no host failed.
func FailureGroups(r *runner.Result) []FailureGroup {
	type key struct {
		class, cause string
		exit         int64 // -1 when there is no exit code
	}
	index := map[key]int{}
	var groups []FailureGroup
	for _, h := range r.Hosts {
		if h.Status != runner.StatusFailed && h.Status != runner.StatusUnreachable {
			continue
		}
		g := hostFailure(h)
		k := key{class: g.Class, cause: g.Cause, exit: -1}
		if g.ExitCode != nil {
			k.exit = int64(*g.ExitCode)
		}
		if i, ok := index[k]; ok {
			groups[i].Count++
			groups[i].Hosts = append(groups[i].Hosts, h.Name)
			continue
		}
		index[k] = len(groups)
		groups = append(groups, g)
	}
	sort.SliceStable(groups, func(i, j int) bool {
		a, b := groups[i], groups[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Cause != b.Cause {
			return a.Cause < b.Cause
		}
		if a.Class != b.Class {
			return a.Class < b.Class
		}
		return exitOrder(a.ExitCode) < exitOrder(b.ExitCode)
	})
	return groups
}

func exitOrder(c *uint32) int64 {
	if c == nil {
		return -1
	}
	return int64(*c)
}

// hostFailure is a one-host group for a failed or unreachable host.
func hostFailure(h *runner.HostResult) FailureGroup {
	g := FailureGroup{Class: "-", Step: junitConnectCase, Count: 1, Hosts: []string{h.Name}, Sample: h.Name}
	var stdout, stderr, message string
	if s := h.FailedStep(); s != nil && h.Status == runner.StatusFailed {
		g.Step = s.Name
		g.ExitCode = s.ExitCode
		stdout, stderr = s.Stdout, s.Stderr
		if s.Err != nil {
			g.Class, g.Hint, message = string(s.Err.Class), s.Err.Hint, s.Err.Message
		}
	} else if h.Err != nil {
		g.Class, g.Hint, message = string(h.Err.Class), h.Err.Hint, h.Err.Message
	} else {
		message = h.Reason
	}
	g.Cause = NormalizeCause(CauseLine(stderr, message), h.Name, h.Address)
	g.Tail = outputTail(stdout, stderr, message, TailLines)
	return g
}

// CauseLine is the first meaningful line of stderr: blank lines are
// skipped and PowerShell's CLIXML stream (as Windows PowerShell writes it
// when its output is redirected) is read for its error records, leaving
// out progress records. When stderr has no such line it is the first
// non-blank line of message.
func CauseLine(stderr, message string) string {
	if line := firstLine(plainStderr(stderr)); line != "" {
		return line
	}
	return firstLine(message)
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

const clixmlHeader = "#< CLIXML"

var (
	clixmlRecord = regexp.MustCompile(`(?s)<S S="([A-Za-z]+)">(.*?)</S>`)
	clixmlEscape = regexp.MustCompile(`_x([0-9A-Fa-f]{4})_`)
)

// plainStderr turns stderr into plain text: text around a CLIXML block is
// kept, and the block is replaced by its error, warning and information
// records, decoded; progress records are dropped.
func plainStderr(stderr string) string {
	stderr = strings.ReplaceAll(stderr, "\r\n", "\n")
	i := strings.Index(stderr, clixmlHeader)
	if i < 0 {
		return stderr
	}
	before, block := stderr[:i], stderr[i+len(clixmlHeader):]
	after := ""
	if end := strings.Index(block, "</Objs>"); end >= 0 {
		block, after = block[:end], block[end+len("</Objs>"):]
	}
	var b strings.Builder
	b.WriteString(before)
	for _, m := range clixmlRecord.FindAllStringSubmatch(block, -1) {
		b.WriteString(decodeCLIXML(m[2]))
		if !strings.HasSuffix(b.String(), "\n") {
			b.WriteString("\n")
		}
	}
	b.WriteString(after)
	return strings.ReplaceAll(b.String(), "\r\n", "\n")
}

// decodeCLIXML undoes PowerShell's serialiser escapes: _xHHHH_ for
// control characters, then XML entities.
func decodeCLIXML(s string) string {
	s = clixmlEscape.ReplaceAllStringFunc(s, func(m string) string {
		n, err := strconv.ParseUint(m[2:6], 16, 32)
		if err != nil {
			return m
		}
		return string(rune(n))
	})
	return html.UnescapeString(s)
}

// outputTail is the last n non-blank lines of stdout then stderr (stderr
// as plain text), or of message when both are empty.
func outputTail(stdout, stderr, message string, n int) string {
	var lines []string
	for _, s := range []string{strings.ReplaceAll(stdout, "\r\n", "\n"), plainStderr(stderr)} {
		for _, l := range strings.Split(s, "\n") {
			if l = strings.TrimRight(l, " \t\r"); strings.TrimSpace(l) != "" {
				lines = append(lines, termLine(l))
			}
		}
	}
	if len(lines) == 0 {
		for _, l := range strings.Split(message, "\n") {
			if strings.TrimSpace(l) != "" {
				lines = append(lines, termLine(strings.TrimRight(l, " \t\r")))
			}
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var (
	profilePath = regexp.MustCompile(`(?i)\b([a-z]:\\users\\)[^\\/\s"':;,]+`)
	guidPattern = regexp.MustCompile(`(?i)\{?\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b\}?`)
	ipv4Pattern = regexp.MustCompile(`\b(?:\d{1,3}\.){3}\d{1,3}\b`)
	// ipv6Candidate finds runs of hex digits and colons with at least two
	// colons; net.ParseIP decides whether one is an address (so times
	// such as 10:33:22 stay as they are).
	ipv6Candidate = regexp.MustCompile(`(?i)[0-9a-f:]*:[0-9a-f]*:[0-9a-f:.]*(?:%[0-9a-z]+)?`)
	// numberPattern is a word of hex digits with at least one decimal
	// digit (decimal numbers, 80070005, 1f3a) or a 0x number.
	numberPattern = regexp.MustCompile(`(?i)\b(?:0x[0-9a-f]+|[0-9a-f]*[0-9][0-9a-f]*)\b`)
)

// Placeholders that NormalizeCause writes.
const (
	PlaceholderHost    = "<host>"
	PlaceholderAddress = "<ip>"
	PlaceholderGUID    = "<guid>"
	PlaceholderNumber  = "<n>"
	PlaceholderUser    = "<user>"
)

// NormalizeCause replaces the parts of line that differ from host to host,
// in this order: the host's own name (the full name, then its first label)
// and address become <host>; the folder under C:\Users (any drive) becomes
// <user>; GUIDs become <guid>; other IPv4 and IPv6 addresses become <ip>;
// numbers (decimal, 0x hex, and words of hex digits holding a digit)
// become <n>. Name and address matches ignore case. Runs of white space
// become one space and the line is trimmed.
func NormalizeCause(line, host, address string) string {
	line = ReplaceHost(strings.Join(strings.Fields(line), " "), host, address)
	line = profilePath.ReplaceAllString(line, "${1}"+PlaceholderUser)
	line = guidPattern.ReplaceAllString(line, PlaceholderGUID)
	line = replaceIPv6(line)
	line = ipv4Pattern.ReplaceAllString(line, PlaceholderAddress)
	line = numberPattern.ReplaceAllString(line, PlaceholderNumber)
	return line
}

// ReplaceHost replaces a host's own name, the first label of a dotted
// name (not of an IP address) and its address in text by <host>: ignoring
// case and as whole words only (web-1 in web-10 and web-1x stays).
func ReplaceHost(text, host, address string) string {
	if text == "" {
		return text
	}
	names := make([]string, 0, 3)
	for _, n := range []string{host, address} {
		if n != "" {
			names = append(names, n)
		}
	}
	if short, _, ok := strings.Cut(host, "."); ok && short != "" && net.ParseIP(host) == nil {
		names = append(names, short)
	}
	lower := strings.ToLower(text)
	for _, n := range names {
		if !strings.Contains(lower, strings.ToLower(n)) {
			continue // most texts hold no name: no pattern to build
		}
		re := regexp.MustCompile(`(?i)(^|[^0-9A-Za-z_.-])` + regexp.QuoteMeta(n) + `($|[^0-9A-Za-z_-])`)
		// Two passes: adjacent matches share the separator between them.
		for range 2 {
			text = re.ReplaceAllString(text, "${1}"+PlaceholderHost+"${2}")
		}
		lower = strings.ToLower(text)
	}
	return text
}

// replaceIPv6 replaces IPv6 addresses (with an optional zone) by <ip>. A
// candidate counts only as a whole word, with at least one hex digit, so
// PowerShell's [Type]::Method and Value::Parse stay as they are.
func replaceIPv6(line string) string {
	var b strings.Builder
	last := 0
	for _, loc := range ipv6Candidate.FindAllStringIndex(line, -1) {
		m := line[loc[0]:loc[1]]
		addr, _, _ := strings.Cut(m, "%")
		whole := (loc[0] == 0 || !isWordByte(line[loc[0]-1])) && (loc[1] == len(line) || !isWordByte(line[loc[1]]))
		if !whole || !strings.ContainsAny(addr, "0123456789abcdefABCDEF") || strings.Count(addr, ":") < 2 || net.ParseIP(addr) == nil {
			continue
		}
		b.WriteString(line[last:loc[0]])
		b.WriteString(PlaceholderAddress)
		last = loc[1]
	}
	b.WriteString(line[last:])
	return b.String()
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
