package cmdexe

import (
	"context"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/internal/hostile"
	"github.com/fleetrun/fleetrun/winquote"
)

// The package's model of cmd.exe judges fleetrun's cmd.exe quoting (the
// cmdquote template function of cmd: steps). Only this test imports
// winquote; the model itself never does, so a shared bug cannot hide.

// cmdArgCases are values an EC2 tag or inventory variable could carry into
// a cmd: step, beyond the hostile-argument corpus.
var cmdArgCases = []string{
	`x" & del /q C:\data & echo "`,
	`%COMPUTERNAME%`, `%COMPUTERNAME:WEB=&hostname&%`, `%COMPUTERNAME:~0,3%`,
	`%PATH:C=&hostname&%x`, `%COMPUTERNAME:01=X%&hostname`, `50%`, `%`, `%%`, `%^COMPUTERNAME%`, `^%COMPUTERNAME^%`,
	`a^`, `^`, `(x)`, `)`, `<in >out 2>&1|more`, `!COMPUTERNAME!`, `"&hostname&"`,
	`\"&hostname`, `C:\dir\`, `C:\a b\`, ``, ` `, `a"b"c&d`, `"`, `""`, `日本語 & x`,
}

// runArgs runs `args.exe <token>` as a cmd /c line and returns what the
// program received and what cmd.exe said.
func runArgs(t *testing.T, token string) ([]procRecord, result) {
	t.Helper()
	f := newFleet(nil)
	var out, errb strings.Builder
	code := Run(context.Background(), "args.exe "+token, testEnv(), f.fs, f.lookup, strings.NewReader(""), &out, &errb)
	return f.records(), result{out.String(), errb.String(), code}
}

// TestCmdArgSurvivesTheCmdExeModel checks that winquote.CmdArg's token on a
// cmd.exe line reaches the program as exactly the one argument it quotes,
// with nothing run, redirected or expanded on the way.
func TestCmdArgSurvivesTheCmdExeModel(t *testing.T) {
	t.Parallel()
	values := append(append([]string(nil), cmdArgCases...), hostile.Args(t)...)
	tested := 0
	for _, s := range values {
		token, err := winquote.CmdArg(s)
		if strings.ContainsAny(s, "\r\n\x00") {
			if err == nil {
				t.Errorf("CmdArg(%q) = %q, want an error", s, token)
			}
			continue
		}
		if err != nil {
			t.Errorf("CmdArg(%q): %v", s, err)
			continue
		}
		if tooLong("args.exe " + token) {
			continue // cmd.exe refuses the line; nothing runs
		}
		tested++
		procs, res := runArgs(t, token)
		want := []procRecord{{Name: `C:\tools\args.exe`, CommandLine: "args.exe " + token, Args: []string{"args.exe", s}}}
		// The command line is what cmd.exe passes on: its escapes removed.
		if len(procs) == 1 {
			want[0].CommandLine = procs[0].CommandLine
		}
		if diff := cmp.Diff(want, procs); diff != "" || res != (result{}) {
			t.Errorf("CmdArg(%.80q) = %.80s: programs run (-want +got):\n%s\ncmd.exe: %+v", s, token, diff, res)
		}
	}
	if tested < 400 {
		t.Errorf("only %d values tested", tested)
	}
}

// TestCmdQuoteFallsToAReplaceModifier shows why cmd: steps do not use
// winquote.CmdQuote: its ^% leaves %NAME:old=new^% to percent expansion,
// whose result here ends in the ^ meant for the closing %, which then
// escapes the ^ meant for the &.
func TestCmdQuoteFallsToAReplaceModifier(t *testing.T) {
	t.Parallel()
	procs, res := runArgs(t, winquote.CmdQuote(`%COMPUTERNAME:01=X%&hostname`))
	if res.Stdout != "WEB-01\r\n" {
		t.Errorf("CmdQuote's token ran %+v, %+v; want hostname run by the injected &", procs, res)
	}
}

// FuzzCmdArg checks winquote.CmdArg against the model for any text: its
// token reaches the program as exactly that one argument.
func FuzzCmdArg(f *testing.F) {
	for _, s := range cmdArgCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		token, err := winquote.CmdArg(s)
		if err != nil || tooLong("args.exe "+token) || !utf8.ValidString(s) {
			return
		}
		procs, res := runArgs(t, token)
		if len(procs) != 1 || !slices.Equal(procs[0].Args, []string{"args.exe", s}) || res != (result{}) {
			t.Fatalf("CmdArg(%q) = %s: programs run %+v, cmd.exe %+v", s, token, procs, res)
		}
	})
}
