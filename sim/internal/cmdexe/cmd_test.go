package cmdexe

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCmd runs cmd.exe itself as a program. Quote handling follows the
// two rules of `cmd /?` for the text after /C.
func TestCmd(t *testing.T) {
	t.Parallel()
	const notRecognized = " is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
	tests := []struct {
		name        string
		commandLine string
		stdin       string
		want        result
		wantProcs   []procRecord
	}{
		{"WinRS joins command and arguments with spaces",
			`cmd.exe /c echo hi`, "", result{Stdout: "hi\r\n"}, nil},
		{"the launcher's cmd step form strips exactly the outer quotes",
			`"cmd.exe" /d /s /c "echo "quoted" & exit 7"`, "", result{Stdout: "\"quoted\" \r\n", Code: 7}, nil},
		{"rule 1 keeps the quotes around a single executable path with spaces",
			`cmd /c "C:\Program Files\App\x.exe"`, "", result{},
			[]procRecord{{`C:\Program Files\App\x.exe`, `"C:\Program Files\App\x.exe"`, []string{`C:\Program Files\App\x.exe`}}}},
		{"rule 2 strips the first and last quote and breaks a quoted path",
			`cmd /c "C:\Program Files\App\x.exe" "a b"`, "", result{Stderr: "'C:\\Program'" + notRecognized, Code: 9009}, nil},
		{"an extra pair of quotes survives rule 2",
			`cmd /c ""C:\Program Files\App\x.exe" "a b""`, "", result{},
			[]procRecord{{`C:\Program Files\App\x.exe`, `"C:\Program Files\App\x.exe" "a b"`, []string{`C:\Program Files\App\x.exe`, "a b"}}}},
		{"/s always strips",
			`cmd /s /c "C:\Program Files\App\x.exe"`, "", result{Stderr: "'C:\\Program'" + notRecognized, Code: 9009}, nil},
		{"a special character between two quotes means rule 2",
			`cmd /c "echo a&b"`, "", result{Stdout: "a\r\n", Stderr: "'b'" + notRecognized, Code: 9009}, nil},
		{"rule 2 keeps text after the last quote",
			`cmd /c "echo a" b`, "", result{Stdout: "a b\r\n"}, nil},
		{"blanks after /c are skipped",
			"cmd /c   echo x", "", result{Stdout: "x\r\n"}, nil},
		{"switches may be glued together and to the command",
			"cmd /d/q/cecho x", "", result{Stdout: "x\r\n"}, nil},
		{"nested cmd returns its exit code",
			`cmd.exe /d /s /c "cmd /c exit 5"`, "", result{Code: 5}, nil},
		{"a child cmd cannot change the parent's variables",
			`cmd /c "cmd /c set X=1& set X"`, "", result{Stderr: "Environment variable X not defined\r\n", Code: 1}, nil},
		{"without /c cmd reads commands from stdin after its banner",
			"cmd", "echo a\r\nexit 3\r\n",
			result{Stdout: "Microsoft Windows [Version 10.0.17763.1]\r\n(c) Microsoft Corporation. All rights reserved.\r\n\r\nC:\\Users\\admin>a\r\n\r\nC:\\Users\\admin>", Code: 3}, nil},
		{"/k runs the command and then reads stdin",
			"cmd /k echo a", "exit 2\r\n", result{Stdout: "a\r\n\r\nC:\\Users\\admin>", Code: 2}, nil},
		{"interactive cmd ends at end of input with the errorlevel",
			"cmd /q", "exitcode 4\r\n", result{Stdout: "Microsoft Windows [Version 10.0.17763.1]\r\n(c) Microsoft Corporation. All rights reserved.\r\n", Code: 4}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFleet(nil)
			got := runCmd(t, f, tt.commandLine, tt.stdin)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("cmd %q mismatch (-want +got):\n%s", tt.commandLine, diff)
			}
			if diff := cmp.Diff(tt.wantProcs, f.records()); diff != "" {
				t.Errorf("programs run (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCmdQuietTurnsBatchEchoOff(t *testing.T) {
	t.Parallel()
	f := newFleet(map[string]string{`C:\temp\e.bat`: crlf("echo hi")})
	got := runCmd(t, f, `cmd /q /c C:\temp\e.bat`, "")
	if diff := cmp.Diff(result{Stdout: "hi\r\n"}, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}
