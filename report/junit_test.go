package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

// The common JUnit XSD's shape (Jenkins junit-10.xsd / Ant), decoded
// independently of the writer's own structs.
type xsdTestsuites struct {
	XMLName  xml.Name       `xml:"testsuites"`
	Name     string         `xml:"name,attr"`
	Tests    string         `xml:"tests,attr"`
	Failures string         `xml:"failures,attr"`
	Errors   string         `xml:"errors,attr"`
	Skipped  string         `xml:"skipped,attr"`
	Time     string         `xml:"time,attr"`
	Suites   []xsdTestsuite `xml:"testsuite"`
}

type xsdTestsuite struct {
	Name       string        `xml:"name,attr"`
	Tests      string        `xml:"tests,attr"`
	Failures   string        `xml:"failures,attr"`
	Errors     string        `xml:"errors,attr"`
	Skipped    string        `xml:"skipped,attr"`
	Time       string        `xml:"time,attr"`
	Timestamp  string        `xml:"timestamp,attr"`
	Properties []xsdProperty `xml:"properties>property"`
	Cases      []xsdTestcase `xml:"testcase"`
	SystemOut  []string      `xml:"system-out"`
	SystemErr  []string      `xml:"system-err"`
}

type xsdProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type xsdTestcase struct {
	Name      string       `xml:"name,attr"`
	Classname string       `xml:"classname,attr"`
	Time      string       `xml:"time,attr"`
	Skipped   []xsdSkipped `xml:"skipped"`
	Failures  []xsdProblem `xml:"failure"`
	Errors    []xsdProblem `xml:"error"`
	SystemOut []string     `xml:"system-out"`
	SystemErr []string     `xml:"system-err"`
}

type xsdSkipped struct {
	Message string `xml:"message,attr"`
}

type xsdProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// parseJUnit decodes data strictly and checks the XSD's constraints the
// structs cannot express: required attributes, numeric counts and times,
// at most one outcome per test case, and counts that add up.
func parseJUnit(t testing.TB, data []byte) xsdTestsuites {
	t.Helper()
	if err := wellFormed(data); err != nil {
		t.Fatalf("not well-formed XML: %v\n%s", err, data)
	}
	var doc xsdTestsuites
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decode: %v", err)
	}
	num := func(what, s string) int {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			t.Errorf("%s = %q, want a count", what, s)
		}
		return n
	}
	timeRE := regexp.MustCompile(`^[0-9]+\.[0-9]{3}$`)
	stampRE := regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$`)
	var tests, failures, errs, skipped int
	for _, s := range doc.Suites {
		if s.Name == "" {
			t.Errorf("testsuite without a name")
		}
		if !timeRE.MatchString(s.Time) {
			t.Errorf("testsuite %q time = %q", s.Name, s.Time)
		}
		if s.Timestamp != "" && !stampRE.MatchString(s.Timestamp) {
			t.Errorf("testsuite %q timestamp = %q, want xs:dateTime without zone", s.Name, s.Timestamp)
		}
		var st, sf, se, ss int
		for _, c := range s.Cases {
			st++
			if c.Name == "" || c.Classname == "" {
				t.Errorf("testcase %q/%q lacks name or classname", c.Classname, c.Name)
			}
			if !timeRE.MatchString(c.Time) {
				t.Errorf("testcase %q/%q time = %q", c.Classname, c.Name, c.Time)
			}
			if n := len(c.Skipped) + len(c.Failures) + len(c.Errors); n > 1 {
				t.Errorf("testcase %q/%q has %d outcomes, want at most one", c.Classname, c.Name, n)
			}
			if len(c.SystemOut) > 1 || len(c.SystemErr) > 1 {
				t.Errorf("testcase %q/%q repeats system-out or system-err", c.Classname, c.Name)
			}
			for _, p := range append(c.Failures, c.Errors...) {
				if p.Type == "" || p.Message == "" {
					t.Errorf("testcase %q/%q: failure or error without type or message", c.Classname, c.Name)
				}
			}
			sf += len(c.Failures)
			se += len(c.Errors)
			ss += len(c.Skipped)
		}
		if got := [4]int{num("tests", s.Tests), num("failures", s.Failures), num("errors", s.Errors), num("skipped", s.Skipped)}; got != [4]int{st, sf, se, ss} {
			t.Errorf("testsuite %q counts tests/failures/errors/skipped = %v, its cases add up to %v", s.Name, got, [4]int{st, sf, se, ss})
		}
		tests, failures, errs, skipped = tests+st, failures+sf, errs+se, skipped+ss
	}
	if got := [4]int{num("tests", doc.Tests), num("failures", doc.Failures), num("errors", doc.Errors), num("skipped", doc.Skipped)}; got != [4]int{tests, failures, errs, skipped} {
		t.Errorf("testsuites counts = %v, suites add up to %v", got, [4]int{tests, failures, errs, skipped})
	}
	return doc
}

// wellFormed tokenizes data with a strict decoder, which rejects
// characters XML 1.0 forbids and malformed markup.
func wellFormed(data []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func TestWriteJUnit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		res  *runner.Result
	}{
		{"rollout with every outcome", rolloutScenario().res},
		{"simulated host writing hostile bytes", hostileScenario().res},
		{"empty run", &runner.Result{Playbook: "nothing", Status: runner.StatusOK}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := WriteJUnit(&buf, tt.res); err != nil {
				t.Fatal(err)
			}
			parseJUnit(t, buf.Bytes())
			golden(t, "junit/"+strings.ReplaceAll(tt.name, " ", "-")+".xml", buf.Bytes())
		})
	}
}

// TestWriteJUnitRoundTrip checks what CI systems read back: one case per
// host and step, outcomes, types and the stderr tail.
func TestWriteJUnitRoundTrip(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, rolloutScenario().res); err != nil {
		t.Fatal(err)
	}
	doc := parseJUnit(t, buf.Bytes())
	type row struct{ Suite, Class, Name, Outcome, Type, Message string }
	var got []row
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			r := row{Suite: s.Name, Class: c.Classname, Name: c.Name, Outcome: "passed"}
			switch {
			case len(c.Failures) > 0:
				r.Outcome, r.Type, r.Message = "failure", c.Failures[0].Type, c.Failures[0].Message
			case len(c.Errors) > 0:
				r.Outcome, r.Type, r.Message = "error", c.Errors[0].Type, c.Errors[0].Message
			case len(c.Skipped) > 0:
				r.Outcome, r.Message = "skipped", c.Skipped[0].Message
			}
			got = append(got, r)
		}
	}
	b1, b2, b3 := "monthly-patch batch 1 of 3", "monthly-patch batch 2 of 3", "monthly-patch batch 3 of 3"
	want := []row{
		{b1, "web-01", "stop service", "passed", "", ""},
		{b1, "web-01", "install patch", "passed", "", ""},
		{b1, "web-01", "start service", "passed", "", ""},
		{b1, "web-02", "stop service", "passed", "", ""},
		{b1, "web-02", "install patch", "failure", "unexpected_exit", "exit code 5, expected [0, 3010]"},
		{b1, "web-02", "start service", "skipped", "", "an earlier step failed"},
		{b1, "web-03", "connect", "error", "refused", "dial tcp 10.0.1.13:5985: connect: connection refused"},
		{b1, "web-03", "stop service", "skipped", "", "the host could not be reached"},
		{b1, "web-03", "install patch", "skipped", "", "the host could not be reached"},
		{b1, "web-03", "start service", "skipped", "", "the host could not be reached"},
		{b2, "web-04", "stop service", "passed", "", ""},
		{b2, "web-04", "install patch", "passed", "", ""},
		{b2, "web-04", "start service", "passed", "", ""}, // continue_on_error: the host is ok
		{b2, "web-05", "stop service", "failure", "timeout", "step did not finish within its timeout of 5m0s; it was terminated on the host"},
		{b2, "web-05", "install patch", "skipped", "", "an earlier step failed"},
		{b2, "web-05", "start service", "skipped", "", "an earlier step failed"},
		{b2, "web-06", "stop service", "skipped", "", notStartedWhy},
		{b2, "web-06", "install patch", "skipped", "", notStartedWhy},
		{b2, "web-06", "start service", "skipped", "", notStartedWhy},
		{b3, "db-01", "stop service", "skipped", "", notStartedWhy},
		{b3, "db-01", "install patch", "skipped", "", notStartedWhy},
		{b3, "db-01", "start service", "skipped", "", notStartedWhy},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("test cases (-want +got):\n%s", diff)
	}
	failure := doc.Suites[0].Cases[4].Failures[0].Text
	for _, part := range []string{"exit code: 5\n", "expected: [0, 3010]\n", "class: unexpected_exit\n", "stderr:\nInstall-WindowsUpdate : 0x80240017 Not applicable\nAt line:1 char:1\n"} {
		if !strings.Contains(failure, part) {
			t.Errorf("failure text lacks %q:\n%s", part, failure)
		}
	}
}

func TestWriteJUnitHostileOutputStaysReadable(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, hostileScenario().res); err != nil {
		t.Fatal(err)
	}
	doc := parseJUnit(t, buf.Bytes())
	c := doc.Suites[0].Cases[0]
	out := c.SystemOut[0]
	if want := "nul bell escred ]]> <![CDATA[ x ]]> \ufffd\ufffd bad utf8\n日本語 ok\n end\n"; out != want {
		t.Errorf("system-out = %q, want %q", out, want)
	}
	f := c.Failures[0]
	if f.Message != "exit code 3221225477, expected [0]" {
		t.Errorf("failure message = %q", f.Message)
	}
	if !strings.Contains(f.Text, "exit code: 3221225477 (0xC0000005)\n") {
		t.Errorf("failure text lacks the hex exit code:\n%s", f.Text)
	}
	// The tail keeps the last 40 lines of the 60 stderr lines.
	if n := strings.Count(f.Text, "stderr line "); n != junitTailLines {
		t.Errorf("failure text has %d stderr lines, want %d", n, junitTailLines)
	}
	if !strings.HasSuffix(f.Text, "stderr line H ]]> \n") {
		t.Errorf("failure text does not end with the last stderr line:\n%s", f.Text)
	}
	if !strings.HasPrefix(doc.Suites[0].Name, SimulatedPrefix) {
		t.Errorf("suite name %q does not say simulated", doc.Suites[0].Name)
	}
}

func TestWriteJUnitCapsLongOutput(t *testing.T) {
	t.Parallel()
	line := strings.Repeat("x", 99) + "\n"
	h := host("big", "10.0.0.1", 0)
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	code := uint32(1)
	h.Status = runner.StatusFailed
	h.Steps = []*runner.StepResult{{
		Name: "noisy", Kind: playbook.KindPowerShell, Status: runner.StatusFailed, ExitCode: &code, Expected: []uint32{0},
		Attempts: 1, Started: t0, Finished: t0.Add(time.Second),
		Stdout: strings.Repeat(line, 1000), Stderr: strings.Repeat(line, 1000),
		Err: &transport.Error{Class: transport.ClassUnexpectedExit, Message: "exit code 1, expected [0]"},
	}}
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, &runner.Result{Playbook: "p", Batches: 1, Hosts: []*runner.HostResult{h}}); err != nil {
		t.Fatal(err)
	}
	doc := parseJUnit(t, buf.Bytes())
	c := doc.Suites[0].Cases[0]
	if n := len(c.SystemOut[0]); n > junitOutBytes+200 {
		t.Errorf("system-out is %d bytes, want about %d", n, junitOutBytes)
	}
	if !strings.HasPrefix(c.SystemOut[0], "[") || !strings.Contains(c.SystemOut[0], "bytes omitted") {
		t.Errorf("system-out does not say output was omitted: %.100q", c.SystemOut[0])
	}
	if n := len(c.Failures[0].Text); n > junitTailBytes+400 {
		t.Errorf("failure text is %d bytes, want about %d", n, junitTailBytes)
	}
}

func FuzzWriteJUnitWellFormed(f *testing.F) {
	f.Add("plain", "out\n", "err\n", "msg")
	f.Add("a]]>b", "\x00\x01\x1b[31m]]>", "\xff\xfe\xfd", "\r\n\t")
	f.Add("日本", "\ufffe\uffff", "\xed\xa0\x80", "<&>\"'")
	f.Fuzz(func(t *testing.T, name, stdout, stderr, msg string) {
		code := uint32(7)
		h := &runner.HostResult{Name: name, Status: runner.StatusFailed, Steps: []*runner.StepResult{{
			Name: name, Status: runner.StatusFailed, ExitCode: &code, Stdout: stdout, Stderr: stderr, Attempts: 1,
			Err: &transport.Error{Class: transport.ClassUnexpectedExit, Message: msg, Hint: msg},
		}, {Name: msg, Status: runner.StatusSkipped, Reason: msg}}}
		var buf bytes.Buffer
		if err := WriteJUnit(&buf, &runner.Result{Playbook: name, Batches: 1, Hosts: []*runner.HostResult{h}}); err != nil {
			t.Fatal(err)
		}
		if err := wellFormed(buf.Bytes()); err != nil {
			t.Fatalf("not well-formed: %v\n%q", err, buf.Bytes())
		}
	})
}

func BenchmarkWriteJUnit(b *testing.B) {
	res := rolloutScenario().res
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteJUnit(io.Discard, res); err != nil {
			b.Fatal(err)
		}
	}
}
