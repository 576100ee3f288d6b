package cmdexe

import (
	"encoding/base64"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The files in testdata/winrs-recordings are real Windows traffic recorded
// by pypsrp (MIT licence in the same folder). Each holds one WinRS command:
// what the client sent and the bytes and exit code Windows answered.

type recording struct {
	commandLine string // Command and Arguments joined by spaces, as WinRS does
	stdout      string
	stderr      string
	code        uint32
}

var (
	commandRe  = regexp.MustCompile(`<rsp:CommandLine><rsp:Command>(.*?)</rsp:Command>(.*?)</rsp:CommandLine>`)
	argumentRe = regexp.MustCompile(`<rsp:Arguments>(.*?)</rsp:Arguments>`)
	streamRe   = regexp.MustCompile(`<rsp:Stream Name="(stdout|stderr)" CommandId="[^"]*">([^<]*)</rsp:Stream>`)
	exitCodeRe = regexp.MustCompile(`<rsp:ExitCode>(\d+)</rsp:ExitCode>`)
)

func loadRecording(t *testing.T, name string) recording {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "winrs-recordings", name))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	m := commandRe.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("%s: no command line", name)
	}
	parts := []string{html.UnescapeString(m[1])}
	for _, a := range argumentRe.FindAllStringSubmatch(m[2], -1) {
		parts = append(parts, html.UnescapeString(a[1]))
	}
	rec := recording{commandLine: strings.Join(parts, " ")}
	for _, s := range streamRe.FindAllStringSubmatch(text, -1) {
		b, err := base64.StdEncoding.DecodeString(s[2])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s[1] == "stdout" {
			rec.stdout += string(b)
		} else {
			rec.stderr += string(b)
		}
	}
	em := exitCodeRe.FindStringSubmatch(text)
	if em == nil {
		t.Fatalf("%s: no exit code", name)
	}
	code, err := strconv.ParseUint(em[1], 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	rec.code = uint32(code)
	return rec
}

// varsOf parses `set` output back into variables.
func varsOf(listing string) []Var {
	var vars []Var
	for _, line := range strings.Split(strings.TrimSuffix(listing, "\r\n"), "\r\n") {
		name, value, _ := strings.Cut(line, "=")
		vars = append(vars, Var{Name: name, Value: value})
	}
	return vars
}

func withoutPrompt(vars []Var) []Var {
	var out []Var
	for _, v := range vars {
		if v.Name != "PROMPT" {
			out = append(out, v)
		}
	}
	return out
}

func TestRecordedCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		// env builds the host environment from the recording (nil: the
		// default test environment).
		env func(rec recording) *Env
	}{
		{file: "test_winrs_standard.yml"},
		{file: "test_winrs_stderr_rc.yml"},
		{
			// The environment block as WinRS built it (its own variables
			// first); cmd.exe inserts PROMPT after 1234 and before
			// "_-(){}...", where the upper-case ordered insertion puts it.
			file: "test_winrs_environment.yml",
			env: func(rec recording) *Env {
				return NewEnvList(withoutPrompt(varsOf(rec.stdout)), `C:\Users\vagrant`)
			},
		},
		{
			// From an unordered map: NewEnv's order and PROMPT's place
			// match what Windows listed.
			file: "test_winrs_noprofile.yml",
			env: func(rec recording) *Env {
				m := map[string]string{}
				for _, v := range withoutPrompt(varsOf(rec.stdout)) {
					m[v.Name] = v.Value
				}
				return NewEnv(m, `C:\Users\Default`)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			rec := loadRecording(t, tt.file)
			env := testEnv()
			if tt.env != nil {
				env = tt.env(rec)
			}
			f := newFleet(nil)
			var out, errb strings.Builder
			p := &Proc{CommandLine: rec.commandLine, Env: env, Stdout: &out, Stderr: &errb}
			code := Cmd(f.fs, f.lookup)(t.Context(), p)
			want := result{Stdout: rec.stdout, Stderr: rec.stderr, Code: rec.code}
			got := result{Stdout: out.String(), Stderr: errb.String(), Code: code}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: %q mismatch (-recorded +simulated):\n%s", tt.file, rec.commandLine, diff)
			}
		})
	}
}
