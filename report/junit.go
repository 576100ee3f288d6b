package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fleetrun/fleetrun/runner"
)

// Limits on the host output copied into JUnit XML. CI systems show these
// texts inline; the full output belongs in --log-dir.
const (
	// junitTailLines and junitTailBytes bound the output tail inside a
	// <failure> or <error>.
	junitTailLines = 40
	junitTailBytes = 4 << 10
	// junitOutLines and junitOutBytes bound each <system-out> and
	// <system-err>.
	junitOutLines = 100
	junitOutBytes = 8 << 10
)

// junitConnectCase names the test case that stands for connecting to a host
// when the host failed before any step could fail (unreachable, or a
// connection-time fault).
const junitConnectCase = "connect"

// JUnit XML, in the shape of the common JUnit XSD (Jenkins / Ant /
// Maven surefire): testsuites > testsuite > testcase with failure, error,
// skipped, system-out and system-err.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Skipped   *junitSkipped `xml:"skipped"`
	Failure   *junitProblem `xml:"failure"`
	Error     *junitProblem `xml:"error"`
	SystemOut *junitText    `xml:"system-out"`
	SystemErr *junitText    `xml:"system-err"`
}

// junitText is element text kept readable in a CDATA section (encoding/xml
// splits the section around any "]]>").
type junitText struct {
	Text string `xml:",cdata"`
}

func cdata(s string) *junitText {
	if s == "" {
		return nil
	}
	return &junitText{Text: s}
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

// WriteJUnit writes r as JUnit XML for CI systems.
//
// There is one <testsuite> per batch (named "PLAYBOOK batch N of M", with
// the playbook, batch and run status as properties) holding, host by host
// in inventory order, one <testcase classname="HOST" name="STEP"> per
// step; time is the step's duration in seconds. Failed steps carry
// <failure type="CLASS"> with the exit code against the expected codes,
// the message, the hint and the tail of stderr (of stdout when stderr is
// empty): the last 40 lines, at most 4 KiB. Skipped steps carry
// <skipped message="REASON">. A host that failed before any step could
// (unreachable, or a fault while connecting) gets one extra test case named
// "connect" with an <error>; a failed step on an unreachable host is an
// <error> too, as JUnit reserves <failure> for checks that ran and did not
// pass. Each test case's <system-out> and <system-err> hold the tail of the
// step's output (100 lines, 8 KiB). A step that failed under
// continue_on_error on a host that went on (the host is ok, the run can
// exit 0) is a passed test case whose <system-out> starts with "failure
// ignored (continue_on_error)" and the failure's exit code, class, message
// and hint.
//
// The XML is well-formed whatever bytes the hosts wrote: characters XML 1.0
// forbids (NUL and the other control characters but tab, CR and LF) and
// terminal escape sequences are removed, invalid UTF-8 becomes U+FFFD, and
// element text sits in CDATA sections, split wherever the text holds
// "]]>", so it stays readable and cannot end a section early.
// When the fleet is simulated every suite's name starts with
// "[simulated] " and carries the property simulated=true.
func WriteJUnit(w io.Writer, r *runner.Result) error {
	doc := junitDocument(r)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	return nil
}

func junitDocument(r *runner.Result) *junitSuites {
	simulated := AnySimulated(r)
	name := r.Playbook
	if simulated {
		name = SimulatedPrefix + name
	}
	doc := &junitSuites{Name: xmlText(name), Time: seconds(runDuration(r))}
	batches := r.Batches
	for _, h := range r.Hosts {
		batches = max(batches, h.Batch+1)
	}
	for b := range batches {
		suite := junitSuite{
			Name: xmlText(fmt.Sprintf("%s batch %d of %d", name, b+1, batches)),
			Properties: []junitProperty{
				{Name: "playbook", Value: xmlText(r.Playbook)},
				{Name: "batch", Value: strconv.Itoa(b + 1)},
				{Name: "run_status", Value: string(r.Status)},
			},
		}
		if r.StopReason != "" {
			suite.Properties = append(suite.Properties, junitProperty{Name: "stop_reason", Value: xmlText(r.StopReason)})
		}
		if simulated {
			suite.Properties = append(suite.Properties, junitProperty{Name: "simulated", Value: "true"})
		}
		var first, last time.Time
		for _, h := range r.Hosts {
			if h.Batch != b {
				continue
			}
			if !h.Started.IsZero() && (first.IsZero() || h.Started.Before(first)) {
				first = h.Started
			}
			if h.Finished.After(last) {
				last = h.Finished
			}
			suite.Cases = append(suite.Cases, hostCases(h)...)
		}
		if !first.IsZero() {
			suite.Timestamp = first.UTC().Format("2006-01-02T15:04:05")
		}
		if !first.IsZero() && last.After(first) {
			suite.Time = seconds(last.Sub(first))
		} else {
			suite.Time = seconds(0)
		}
		for _, c := range suite.Cases {
			suite.Tests++
			switch {
			case c.Failure != nil:
				suite.Failures++
			case c.Error != nil:
				suite.Errors++
			case c.Skipped != nil:
				suite.Skipped++
			}
		}
		doc.Tests += suite.Tests
		doc.Failures += suite.Failures
		doc.Errors += suite.Errors
		doc.Skipped += suite.Skipped
		doc.Suites = append(doc.Suites, suite)
	}
	return doc
}

func runDuration(r *runner.Result) time.Duration {
	if r.Started.IsZero() || r.Finished.IsZero() {
		return 0
	}
	return r.Finished.Sub(r.Started)
}

// hostCases turns one host into its test cases.
func hostCases(h *runner.HostResult) []junitCase {
	class := xmlText(h.Name)
	var cases []junitCase
	if h.Err != nil && h.FailedStep() == nil {
		cases = append(cases, junitCase{
			Name: junitConnectCase, Classname: class, Time: seconds(hostDuration(h)),
			Error: &junitProblem{Message: xmlText(oneLine(h.Err.Message)), Type: string(h.Err.Class), Text: xmlText(connectText(h))},
		})
	}
	for _, s := range h.Steps {
		c := junitCase{Name: xmlText(s.Name), Classname: class, Time: seconds(s.Duration())}
		switch s.Status {
		case runner.StatusOK, runner.StatusUnchanged:
		case runner.StatusFailed:
			if h.Status == runner.StatusOK {
				// Failed under continue_on_error on a host that went on:
				// a passed test case, as the run's exit status 0 says
				// (Ansible's junit callback does the same by default,
				// JUNIT_FAIL_ON_IGNORE=false); system-out says what was
				// ignored.
				break
			}
			p := &junitProblem{Message: xmlText(failureMessage(s)), Type: failureType(s), Text: xmlText(failureText(h, s))}
			if h.Status == runner.StatusUnreachable {
				c.Error = p
			} else {
				c.Failure = p
			}
		case runner.StatusSkipped:
			c.Skipped = &junitSkipped{Message: xmlText(oneLine(s.Reason))}
		case runner.StatusPlanned:
			c.Skipped = &junitSkipped{Message: "planned (dry run): not run"}
		default:
			c.Skipped = &junitSkipped{Message: "not run"}
		}
		switch {
		case s.Kind.IsFile() && s.Status != runner.StatusSkipped && s.Status != runner.StatusPlanned:
			// A file step has no output: system-out says what it moved.
			c.SystemOut = cdata(fileStepText(s))
		case s.Status == runner.StatusOK || s.Status == runner.StatusFailed:
			c.SystemOut = cdata(capOutput(s.Stdout, s.OutputTruncated))
			c.SystemErr = cdata(capOutput(s.Stderr, s.OutputTruncated))
		}
		if s.Status == runner.StatusFailed && h.Status == runner.StatusOK {
			out := ""
			if c.SystemOut != nil {
				out = "\n" + c.SystemOut.Text
			}
			c.SystemOut = cdata(xmlText(ignoredText(h, s)) + out)
		}
		cases = append(cases, c)
	}
	if len(cases) == 0 {
		// A host with no steps still appears, so CI counts it.
		c := junitCase{Name: "host", Classname: class, Time: seconds(hostDuration(h))}
		switch {
		case h.Status == runner.StatusOK:
		case h.Status == "":
			c.Skipped = &junitSkipped{Message: "not finished"}
		case h.Reason == "":
			c.Skipped = &junitSkipped{Message: string(h.Status)}
		default:
			c.Skipped = &junitSkipped{Message: xmlText(oneLine(string(h.Status) + ": " + h.Reason))}
		}
		cases = append(cases, c)
	}
	return cases
}

func failureType(s *runner.StepResult) string {
	if s.Err == nil {
		return "failed"
	}
	return string(s.Err.Class)
}

// failureMessage is the one-line message attribute of a failed step.
func failureMessage(s *runner.StepResult) string {
	switch {
	case s.Err != nil && s.Err.Message != "":
		return oneLine(s.Err.Message)
	case s.ExitCode != nil:
		return fmt.Sprintf("exit code %s, expected %s", formatExit(*s.ExitCode), formatCodes(s.Expected))
	}
	return "failed"
}

// failureText is the body of a <failure> or <error> for a failed step.
func failureText(h *runner.HostResult, s *runner.StepResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "step %q failed on %s after %s\n", s.Name, h.Name, plural(max(s.Attempts, 1), "attempt"))
	switch {
	case s.Kind.IsFile():
		// A file step runs no program of the user's: no exit code to show.
	case s.ExitCode != nil:
		fmt.Fprintf(&b, "exit code: %s\n", formatExit(*s.ExitCode))
		fmt.Fprintf(&b, "expected: %s\n", formatCodes(s.Expected))
	default:
		b.WriteString("exit code: none (the process did not finish)\n")
		fmt.Fprintf(&b, "expected: %s\n", formatCodes(s.Expected))
	}
	if s.Err != nil {
		fmt.Fprintf(&b, "class: %s\n", s.Err.Class)
		if s.Err.Code != 0 {
			fmt.Fprintf(&b, "code: %d\n", s.Err.Code)
		}
		fmt.Fprintf(&b, "message: %s\n", oneLine(s.Err.Message))
		if s.Err.Hint != "" {
			fmt.Fprintf(&b, "hint: %s\n", oneLine(s.Err.Hint))
		}
	}
	label, out := "stderr", s.Stderr
	if strings.TrimSpace(out) == "" {
		label, out = "stdout", s.Stdout
	}
	if strings.TrimSpace(out) != "" {
		t, omitted := tail(normalizeNewlines(out), junitTailLines, junitTailBytes)
		if omitted > 0 {
			fmt.Fprintf(&b, "\n%s (last lines, %d bytes before them omitted):\n%s\n", label, omitted, t)
		} else {
			fmt.Fprintf(&b, "\n%s:\n%s\n", label, t)
		}
	}
	return b.String()
}

// ignoredText opens the system-out of a step that failed under
// continue_on_error on a host that went on: what was ignored, without the
// output (system-out and system-err carry it).
func ignoredText(h *runner.HostResult, s *runner.StepResult) string {
	facts := failureText(h, &runner.StepResult{Name: s.Name, Kind: s.Kind, Attempts: s.Attempts, ExitCode: s.ExitCode, Expected: s.Expected, Err: s.Err})
	return fmt.Sprintf("failure ignored (continue_on_error): %s went on and is ok\n%s", h.Name, facts)
}

// connectText is the body of the "connect" test case's <error>.
func connectText(h *runner.HostResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s could not be used: %s\n", h.Name, h.Status)
	if h.Address != "" {
		fmt.Fprintf(&b, "address: %s\n", h.Address)
	}
	fmt.Fprintf(&b, "class: %s\n", h.Err.Class)
	if h.Err.Code != 0 {
		fmt.Fprintf(&b, "code: %d\n", h.Err.Code)
	}
	fmt.Fprintf(&b, "message: %s\n", oneLine(h.Err.Message))
	if h.Err.Hint != "" {
		fmt.Fprintf(&b, "hint: %s\n", oneLine(h.Err.Hint))
	}
	return b.String()
}

// capOutput keeps the tail of one output stream for <system-out> or
// <system-err>, saying what was left out.
func capOutput(s string, truncated bool) string {
	if s == "" {
		return ""
	}
	t, omitted := tail(normalizeNewlines(s), junitOutLines, junitOutBytes)
	switch {
	case omitted > 0:
		t = fmt.Sprintf("[%d bytes omitted; the full output is in the per-host logs (--log-dir)]\n%s\n", omitted, t)
	case truncated:
		t = "[output was capped in memory; the full output is in the per-host logs (--log-dir)]\n" + t + "\n"
	default:
		t += "\n"
	}
	return xmlText(t)
}

func normalizeNewlines(s string) string {
	return strings.ReplaceAll(s, "\r\n", "\n")
}

// seconds renders d as JUnit's time attribute, in seconds.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

// xmlText removes what XML 1.0 cannot carry: characters outside its Char
// production (all C0 controls but tab, LF and CR; U+FFFE, U+FFFF;
// surrogates) and terminal escape sequences, whose ESC is such a
// character. It also drops DEL and the C1 controls (U+007F–U+009F), which
// XML 1.0 discourages and CI pages cannot show. Invalid UTF-8 becomes
// U+FFFD. encoding/xml escapes the rest.
func xmlText(s string) string {
	clean := true
	for _, r := range s {
		if !xmlChar(r) || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == 0x1b:
			i += escapeLen(s[i:])
			continue
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case xmlChar(r):
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// xmlChar reports whether r matches XML 1.0's Char production, less the
// discouraged controls U+007F–U+009F.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		(r >= 0x20 && r < 0x7F) || (r >= 0xA0 && r <= 0xD7FF) ||
		(r >= 0xE000 && r <= 0xFFFD) ||
		(r >= 0x10000 && r <= 0x10FFFF)
}

// fileStepText is a file step's system-out: "unchanged" when every
// destination already held its bytes, then one line per file.
func fileStepText(s *runner.StepResult) string {
	var b strings.Builder
	if s.Status == runner.StatusUnchanged {
		b.WriteString("unchanged: every destination already held the required bytes\n")
	}
	for _, f := range s.Files {
		b.WriteString(fileLine(f) + "\n")
	}
	return b.String()
}
