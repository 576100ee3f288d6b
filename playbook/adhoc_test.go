package playbook_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/playbook"
)

func TestNewAdHocBuildsOneStep(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		in         playbook.AdHoc
		wantName   string
		wantKind   playbook.Kind
		wantArgv   []string
		wantLine   string
		wantScript string
		wantExit   []uint32
		wantTO     time.Duration
		wantRunAs  string
		wantBudget *playbook.Size
	}{
		{
			name:     "an argv body keeps every argument as given, numbers included",
			in:       playbook.AdHoc{Kind: playbook.KindCommand, Argv: []string{`C:\tools\exitcode.exe`, "3010"}, BodyFlag: "--"},
			wantName: `C:\tools\exitcode.exe 3010`, wantKind: playbook.KindCommand,
			wantArgv: []string{`C:\tools\exitcode.exe`, "3010"}, wantExit: []uint32{0},
		},
		{
			name:     "a cmd line with exit codes, a timeout, run_as and a budget",
			in:       playbook.AdHoc{Kind: playbook.KindCmd, Line: "ipconfig /all", BodyFlag: "--cmd", ExpectExit: "0, 3010", Timeout: "90s", RunAs: "system", MaxFail: "10%"},
			wantName: "ipconfig /all", wantKind: playbook.KindCmd, wantLine: "ipconfig /all",
			wantExit: []uint32{0, 3010}, wantTO: 90 * time.Second, wantRunAs: playbook.RunAsSystem, wantBudget: &playbook.Size{Percent: 10},
		},
		{
			name:     "a script is named by its first non-blank line, shortened",
			in:       playbook.AdHoc{Kind: playbook.KindPowerShell, Script: "\n  Get-Service W32Time | Select-Object -ExpandProperty Status -First 1 # a long first line\nexit 0", BodyFlag: "--ps", MaxFail: "2"},
			wantName: "Get-Service W32Time | Select-Object -ExpandProperty Statu...", wantKind: playbook.KindPowerShell,
			wantScript: "\n  Get-Service W32Time | Select-Object -ExpandProperty Status -First 1 # a long first line\nexit 0",
			wantExit:   []uint32{0}, wantBudget: &playbook.Size{Count: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pb, err := playbook.NewAdHoc(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if pb.Name != playbook.AdHocName || len(pb.Steps) != 1 {
				t.Fatalf("playbook %q with %d steps, want %q with 1", pb.Name, len(pb.Steps), playbook.AdHocName)
			}
			st := pb.Steps[0]
			got := []any{st.Name, st.Kind, st.Argv, st.Line, st.Script, st.ExpectExit, st.Timeout, st.RunAs, pb.MaxFail}
			want := []any{tt.wantName, tt.wantKind, tt.wantArgv, tt.wantLine, tt.wantScript, tt.wantExit, tt.wantTO, tt.wantRunAs, tt.wantBudget}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("step (-want +got):\n%s", diff)
			}
			if len(pb.Source) == 0 {
				t.Error("Source is empty; journals hash it")
			}
		})
	}
}

func TestNewAdHocNamesTheFlagOfEveryProblem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   playbook.AdHoc
		want []string
	}{
		{
			name: "exit codes that are not integers",
			in:   playbook.AdHoc{Kind: playbook.KindCmd, Line: "ver", BodyFlag: "--cmd", ExpectExit: "0,abc,-1"},
			want: []string{
				`--expect-exit "0,abc,-1": expected an exit code (an integer 0..4294967295), found the string "abc"`,
				`--expect-exit "0,abc,-1": exit code -1 is negative; Windows reports exit codes as unsigned 32-bit numbers (write 4294967295)`,
			},
		},
		{
			name: "a timeout that is not a duration",
			in:   playbook.AdHoc{Kind: playbook.KindCmd, Line: "ver", BodyFlag: "--cmd", Timeout: "soon"},
			want: []string{`--timeout "soon": invalid duration "soon"; use Go syntax such as "90s", "10m" or "1h30m"`},
		},
		{
			name: "a timeout without a unit",
			in:   playbook.AdHoc{Kind: playbook.KindCmd, Line: "ver", BodyFlag: "--cmd", Timeout: "30"},
			want: []string{`--timeout "30": duration 30 has no unit; write it like "30s" or "30m"`},
		},
		{
			name: "an unknown run_as and a budget above 100%",
			in:   playbook.AdHoc{Kind: playbook.KindCmd, Line: "ver", BodyFlag: "--cmd", RunAs: "admin", MaxFail: "150%"},
			want: []string{
				`--max-fail "150%": percentage 150% is out of range; expected 0 and at most 100%`,
				`--run-as "admin": run_as is "admin"; expected system (a scheduled task as SYSTEM) or login (the inventory's account, the default)`,
			},
		},
		{
			name: "an empty cmd line",
			in:   playbook.AdHoc{Kind: playbook.KindCmd, Line: "  ", BodyFlag: "--cmd"},
			want: []string{`--cmd: cmd line is empty`},
		},
		{
			name: "a batch file as an argv program",
			in:   playbook.AdHoc{Kind: playbook.KindCommand, Argv: []string{`C:\scripts\x.bat`}, BodyFlag: "--"},
			want: []string{`--: program "C:\\scripts\\x.bat": batch files (.bat, .cmd) cannot take exact arguments in a command step, because cmd.exe re-parses their command line; run them with a cmd: step instead`},
		},
		{
			name: "an empty script file",
			in:   playbook.AdHoc{Kind: playbook.KindPowerShell, Script: "\n", BodyFlag: "--ps-file empty.ps1"},
			want: []string{`--ps-file empty.ps1: powershell script is empty`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := playbook.NewAdHoc(tt.in)
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.Split(err.Error(), "\n")
			if len(got) != len(tt.want) {
				t.Fatalf("%d problems, want %d:\n%s", len(got), len(tt.want), err)
			}
			for i, w := range tt.want {
				if got[i] != w {
					t.Errorf("problem %d:\n got %s\nwant %s", i, got[i], w)
				}
			}
		})
	}
}
