package sim

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// FuzzParseScenario checks the scenario parser never panics and that every
// error it reports carries the file name.
func FuzzParseScenario(f *testing.F) {
	example, err := os.ReadFile("testdata/scenarios/example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte("defaults: {faults: {hang: 3}}\n"))
	f.Add([]byte("groups:\n  - {name: a, count: 2, rules: [{regex: 'x+', exit: -1}]}\n"))
	f.Add([]byte("host_settings: {sim-0001: {quotas: {idle_timeout: 1m}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := ParseScenario("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Errorf("error without the file name: %v", err)
			}
			return
		}
		names := []string{"sim-0001", "sim-0002", "sim-0003"}
		resolveConfigs(sc, FleetOptions{}, names, []string{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"}, "pw")
	})
}

// FuzzParseLauncher checks launcher recognition never panics on any
// script text or stdin.
func FuzzParseLauncher(f *testing.F) {
	f.Add(launcherText("eyJ2IjoxLCJraW5kIjoic2NyaXB0Iiwic2NyaXB0IjoiZXhpdCAxIn0="), "")
	f.Add(launcherText(""), "eyJ2IjoxLCJraW5kIjoiYXJndiIsImZpbGUiOiJ4IiwiY29tbWFuZF9saW5lIjoieCJ9")
	f.Fuzz(func(t *testing.T, script, stdin string) {
		pl, err := parseLauncher(script, strings.NewReader(stdin))
		if err == nil && pl.Kind != "argv" && pl.Kind != "script" {
			t.Errorf("accepted kind %q", pl.Kind)
		}
	})
}

// FuzzParsePSArgs checks powershell.exe's command-line parser never
// panics. The scripts themselves are fuzzed in psmodel (FuzzParse).
func FuzzParsePSArgs(f *testing.F) {
	for _, s := range []string{"-NoProfile -Command Write-Output 'x'; exit 3", "-enc " + encodeCommand("exit 1"), "-File C:\\x.ps1 a b", "-ExecutionPolicy", "-", "-bogus"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		_ = parsePSArgs(strings.Fields(line))
	})
}

// payloadStatementRE is what payloadStatements must find, written as the
// regular expression it replaced.
var payloadStatementRE = regexp.MustCompile(`(?m)^[ \t]*\$fleetrunPayload[ \t]*=[ \t]*'([A-Za-z0-9+/=\s]*)'`)

// FuzzPayloadStatements holds the hand-written scan to the regular
// expression on any text.
func FuzzPayloadStatements(f *testing.F) {
	for _, s := range payloadStatementCases {
		f.Add(s)
	}
	f.Add(launcherText("eyJ2IjoxfQ=="))
	f.Fuzz(func(t *testing.T, script string) {
		checkPayloadStatements(t, script)
	})
}

// checkPayloadStatements compares payloadStatements with the regular
// expression on one text.
func checkPayloadStatements(t *testing.T, script string) {
	t.Helper()
	var want []string
	for _, m := range payloadStatementRE.FindAllStringSubmatch(script, -1) {
		want = append(want, m[1])
	}
	if got := payloadStatements(script); !slices.Equal(got, want) {
		t.Errorf("payloadStatements(%q) = %q, the regular expression finds %q", script, got, want)
	}
}
