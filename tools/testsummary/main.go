// Command testsummary runs `go test -json` with the arguments it is given,
// prints the usual per-package lines (ok, FAIL, ?) and the output of every
// failing test, then one closing line with the number of tests passed,
// failed and skipped and the reasons for the skips. It exits 1 when go test
// fails or any test fails.
//
//	go run ./tools/testsummary -race -timeout 20m ./...
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
)

// event is one line of `go test -json` (test2json's TestEvent).
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// summary accumulates the events of one run.
type summary struct {
	out      io.Writer
	output   map[string][]string // package + "\x00" + test → output lines
	passed   int
	failed   []string
	skipped  int
	reasons  map[string]int
	pkgFails int
}

func newSummary(out io.Writer) *summary {
	return &summary{out: out, output: map[string][]string{}, reasons: map[string]int{}}
}

// logLine matches the file:line prefix testing puts before t.Log output.
var logLine = regexp.MustCompile(`^\s*[\w.-]+\.go:\d+: `)

func (s *summary) add(e event) {
	key := e.Package + "\x00" + e.Test
	switch e.Action {
	case "output":
		s.output[key] = append(s.output[key], e.Output)
	case "pass":
		if e.Test == "" {
			fmt.Fprintf(s.out, "ok  \t%s\t%.1fs\n", e.Package, e.Elapsed)
		} else {
			s.passed++
		}
		delete(s.output, key)
	case "skip":
		if e.Test == "" {
			fmt.Fprintf(s.out, "?   \t%s\t[no test files]\n", e.Package)
		} else {
			s.skipped++
			s.reasons[skipReason(s.output[key])]++
		}
		delete(s.output, key)
	case "fail":
		if e.Test == "" {
			s.pkgFails++
			// Output outside any test: a panic, a timeout, a build error.
			// go test's own verdict lines are replaced by the one below.
			for _, l := range s.output[key] {
				if l == "FAIL\n" || l == "PASS\n" || strings.HasPrefix(l, "FAIL\t") || strings.HasPrefix(l, "ok  \t") {
					continue
				}
				fmt.Fprint(s.out, l)
			}
			fmt.Fprintf(s.out, "FAIL\t%s\t%.1fs\n", e.Package, e.Elapsed)
		} else {
			s.failed = append(s.failed, e.Package+" "+e.Test)
			fmt.Fprint(s.out, strings.Join(s.output[key], ""))
		}
		delete(s.output, key)
	}
}

// skipReason is the last message a skipped test logged, without its
// file:line prefix.
func skipReason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- ") {
			continue
		}
		return strings.TrimSpace(logLine.ReplaceAllString(lines[i], ""))
	}
	return "(no reason given)"
}

// close prints the closing lines and reports whether the run passed.
func (s *summary) close() bool {
	if len(s.failed) > 0 {
		fmt.Fprintln(s.out, "failed tests:")
		for _, f := range s.failed {
			fmt.Fprintf(s.out, "  %s\n", f)
		}
	}
	if len(s.reasons) > 0 {
		fmt.Fprintln(s.out, "skipped tests, by reason:")
		reasons := make([]string, 0, len(s.reasons))
		for r := range s.reasons {
			reasons = append(reasons, r)
		}
		sort.Slice(reasons, func(i, j int) bool {
			if s.reasons[reasons[i]] != s.reasons[reasons[j]] {
				return s.reasons[reasons[i]] > s.reasons[reasons[j]]
			}
			return reasons[i] < reasons[j]
		})
		for _, r := range reasons {
			fmt.Fprintf(s.out, "  %4d  %s\n", s.reasons[r], r)
		}
	}
	fmt.Fprintf(s.out, "tests: %d passed, %d failed, %d skipped\n", s.passed, len(s.failed), s.skipped)
	return len(s.failed) == 0 && s.pkgFails == 0
}

// read feeds every event of r to s; a line that is not JSON (go test's own
// messages) is printed as it is.
func (s *summary) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintln(s.out, sc.Text())
			continue
		}
		s.add(e)
	}
	return sc.Err()
}

func main() {
	// This is a command, as those under cmd/ are: it owns the process.
	os.Exit(run(os.Args[1:], os.Getenv("GO"), os.Stdout, os.Stderr)) //nolint:forbidigo // a command owns the process
}

// run runs go test -json with args (goCmd, or go when empty) and returns
// the exit status: 0 when every package and test passed.
func run(args []string, goCmd string, stdout, stderr io.Writer) int {
	if goCmd == "" {
		goCmd = "go"
	}
	cmd := exec.Command(goCmd, append([]string{"test", "-json"}, args...)...)
	cmd.Stderr = stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(stderr, "testsummary:", err)
		return 2
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "testsummary:", err)
		return 2
	}
	s := newSummary(stdout)
	readErr := s.read(pipe)
	waitErr := cmd.Wait()
	ok := s.close()
	switch {
	case readErr != nil:
		fmt.Fprintln(stderr, "testsummary: reading go test's output:", readErr)
		return 1
	case waitErr != nil:
		fmt.Fprintln(stderr, "testsummary: go test:", waitErr)
		return 1
	case !ok:
		return 1
	}
	return 0
}
