package winquote

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/fleetrun/fleetrun/internal/hostile"
	"github.com/fleetrun/fleetrun/internal/testneeds"
)

// TestCRuntimeJudge checks the quoting against a real Microsoft C runtime:
// testdata/echoargs.c, built with mingw-w64 and run under Wine, prints the
// command line it received and the argv its C runtime parsed from it, and
// testdata/spawn.c starts it with command lines chosen byte for byte
// (CreateProcessW, no shell in between). It checks that
//
//   - every corpus argument, packed into command lines by CommandLine,
//     comes back in argv exactly, and so do random groups of them;
//   - every line of the SplitCommandLine table splits as SplitCommandLine
//     says.
//
// It needs x86_64-w64-mingw32-gcc and wine (Debian: gcc-mingw-w64-x86-64,
// wine) and is skipped without them or with -short.
func TestCRuntimeJudge(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the C runtime judge (builds and runs Windows programs under Wine) in -short mode")
	}
	gcc, wine := testneeds.Wine(t)
	t.Parallel()

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	echo := filepath.Join(dir, "echoargs.exe")
	spawn := filepath.Join(dir, "spawn.exe")
	run(ctx, t, exec.CommandContext(ctx, gcc, "-O2", "-municode", "-o", echo, "testdata/echoargs.c"))
	run(ctx, t, exec.CommandContext(ctx, gcc, "-O2", "-o", spawn, "testdata/spawn.c"))

	// Lines to judge, each with the argv it must produce.
	type judged struct {
		line string
		want []string
	}
	var cases []judged
	corpus := hostile.Args(t)
	const file = `C:\Program Files\fleetrun judge\echo args.exe`
	var pack []string
	flush := func() {
		line, err := CommandLine(file, pack)
		if err != nil {
			t.Fatalf("CommandLine of %d corpus arguments: %v", len(pack), err)
		}
		cases = append(cases, judged{line, append([]string{file}, pack...)})
		pack = nil
	}
	for _, arg := range corpus {
		// Pack arguments into lines well under the 32,766-unit limit, so
		// that a few processes judge the whole corpus.
		if _, err := CommandLine(file, append(pack, arg)); err != nil || len(pack) == 60 {
			flush()
		}
		pack = append(pack, arg)
	}
	flush()
	// Wine's msvcrt (checked with Wine 8) splits the program name by the
	// argument rules, so a \" there is an escaped quote to Wine but not to
	// Microsoft's runtimes ("Parsing C command-line arguments": the later
	// rules do not apply to argv[0]). Program names ending in a backslash
	// are therefore judged by the table tests only.
	var programs []string
	for _, p := range testPrograms {
		if !strings.HasSuffix(p, `\`) {
			programs = append(programs, p)
		}
	}
	rng := rand.New(rand.NewPCG(7, 2024))
	for range 60 {
		prog := programs[rng.IntN(len(programs))]
		argv := make([]string, rng.IntN(10))
		for j := range argv {
			argv[j] = corpus[rng.IntN(len(corpus))]
		}
		line, err := CommandLine(prog, argv)
		if err != nil {
			continue // too long for one command line
		}
		cases = append(cases, judged{line, append([]string{prog}, argv...)})
	}
	for _, tt := range splitTests {
		switch tt.name {
		case "empty line gives an empty program name":
			continue // CreateProcessW replaces an empty line by the program path
		case "program name backslash before quote is literal":
			continue // Wine's argv[0] deviation, see above
		}
		cases = append(cases, judged{tt.line, tt.want})
	}

	var stdin bytes.Buffer
	for _, c := range cases {
		for _, u := range utf16.Encode([]rune(c.line)) {
			fmt.Fprintf(&stdin, "%04x", u)
		}
		stdin.WriteByte('\n')
	}
	cmd := exec.CommandContext(ctx, wine, spawn, echo)
	cmd.Dir = dir
	// A private Wine prefix keeps the test hermetic; creating it takes a
	// few seconds. Wine's own diagnostics are silenced.
	cmd.Env = append(cmd.Environ(), "WINEPREFIX="+filepath.Join(dir, "prefix"), "WINEDEBUG=-all")
	t.Cleanup(func() {
		// wineserver outlives the programs by a few seconds; stop it so
		// that it no longer writes into the prefix being removed.
		kill := exec.Command("wineserver", "-k")
		kill.Env = cmd.Env
		_ = kill.Run() // it may already have exited, which is fine
	})
	cmd.Stdin = &stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("wine spawn.exe: %v\n%s", err, stderr.Bytes())
	}

	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<22)
	i := 0
	for sc.Scan() {
		if i == len(cases) {
			t.Fatalf("echoargs printed more than %d results; extra: %.200s", len(cases), sc.Text())
		}
		var got struct {
			Cmdline string   `json:"cmdline"`
			Argv    []string `json:"argv"`
		}
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatalf("result %d: %v: %.200s", i, err, sc.Text())
		}
		c := cases[i]
		i++
		if line := decodeUTF16Hex(t, got.Cmdline); line != c.line {
			t.Errorf("case %d: the child received command line %.200q, want %.200q", i-1, line, c.line)
			continue
		}
		argv := make([]string, len(got.Argv))
		for j, h := range got.Argv {
			argv[j] = decodeUTF16Hex(t, h)
		}
		if diff := argvDiff(c.want, argv); diff != "" {
			t.Errorf("case %d: C runtime split %.200q differently: %s", i-1, c.line, diff)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(cases) {
		t.Errorf("echoargs printed %d results, want %d", i, len(cases))
	}
	if t.Failed() {
		t.Fatalf("Wine's standard error:\n%s", stderr.Bytes())
	}
	t.Logf("the C runtime under Wine agreed on %d command lines", len(cases))
}

func run(ctx context.Context, t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	if ctx.Err() != nil {
		t.Fatal(ctx.Err())
	}
}

// decodeUTF16Hex decodes UTF-16 code units written as four hex digits each.
func decodeUTF16Hex(t *testing.T, s string) string {
	t.Helper()
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw)%2 != 0 {
		t.Fatalf("bad UTF-16 hex %.80q: %v", s, err)
	}
	units := make([]uint16, len(raw)/2)
	for i := range units {
		units[i] = uint16(raw[2*i])<<8 | uint16(raw[2*i+1])
	}
	return string(utf16.Decode(units))
}
