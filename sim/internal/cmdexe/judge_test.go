package cmdexe

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/internal/testneeds"
)

// TestParseArgsAgainstWine checks ParseArgs against a real C runtime: a
// launcher (testdata/judge/launch.c) starts echoargs.exe with exact
// command lines through CreateProcess, and echoargs prints the argv its
// runtime built. It needs x86_64-w64-mingw32-gcc and wine (Debian:
// gcc-mingw-w64-x86-64, wine): without them it skips, or fails under
// FLEETRUN_REQUIRE_WINE=1; -short skips it.
// The runtime is Wine's msvcrt, an independent implementation of the same
// rules; the corpus is ASCII so that code pages play no part.
//
// One known difference is left out of the corpus: for a program name such
// as `"C:\dir\" a`, Wine applies the argument rules (backslash escapes the
// quote) while the Microsoft runtime's own source (UCRT
// startup/argv_parsing.cpp) takes backslashes in the program name
// literally; ParseArgs follows Microsoft.
func TestParseArgsAgainstWine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts wine")
	}
	gcc, wine := testneeds.Wine(t)
	dir := t.TempDir()
	for _, name := range []string{"echoargs", "launch"} {
		out, err := exec.CommandContext(t.Context(), gcc, "-O", "-o", filepath.Join(dir, name+".exe"), filepath.Join("testdata", "judge", name+".c")).CombinedOutput()
		if err != nil {
			t.Fatalf("compile %s: %v\n%s", name, err, out)
		}
	}

	cases := []string{
		`p "a b c" d e`, `p "ab\"c" "\\" d`, `p a\\\b d"e f"g h`, `p a\\\"b c d`, `p a\\\\"b c" d e`,
		`p a"b"" c d`, `"C:\Program Files\x.exe" "a b" c`, `C:\my"dir x"\p.exe a`,
		`p "" b`, `p "C:\dir\\"`, `p "C:\dir\" a`, "p\ta\t\tb", " p a", `p "a b`, "p a   ", `p a" "b`, `p a\`,
		`p @{MaxMemoryPerShellMB="1024"}`, `p "a"" b"`, `p """a"`, `p """"""`, `p \"\"`,
	}
	// Random lines over the characters that matter.
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = `ab "\` + "\t"
	for range 300 {
		var b strings.Builder
		b.WriteString("p ")
		for range rng.IntN(10) {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		cases = append(cases, b.String())
	}
	var input strings.Builder
	for _, c := range cases {
		input.WriteString(hex.EncodeToString([]byte(c)) + "\n")
	}
	casesFile := filepath.Join(dir, "cases.txt")
	if err := os.WriteFile(casesFile, []byte(input.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), wine, filepath.Join(dir, "launch.exe"), casesFile, filepath.Join(dir, "echoargs.exe"))
	cmd.Env = append(os.Environ(), "WINEDEBUG=-all")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("wine: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(stdout.String(), "\r\n", "\n"), "\n"), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("wine printed %d lines for %d cases:\n%s", len(lines), len(cases), stdout.String())
	}
	for i, c := range cases {
		var want []string
		for _, field := range strings.Fields(lines[i]) {
			b, err := hex.DecodeString(strings.Trim(field, "[]"))
			if err != nil {
				t.Fatalf("case %q: bad output %q", c, lines[i])
			}
			want = append(want, string(b))
		}
		if diff := cmp.Diff(want, ParseArgs(c)); diff != "" {
			t.Errorf("ParseArgs(%q) differs from the C runtime (-runtime +ParseArgs):\n%s", c, diff)
		}
	}
}
