package cmdexe

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FOR behaviour from `for /?`.
func TestFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		line  string
		want  result
	}{
		{"list of words on the command line uses single percent",
			nil, `for %i in (a "b c",d) do @echo [%i]`, result{Stdout: "[a]\r\n[\"b c\"]\r\n[d]\r\n"}},
		{"tilde strips quotes",
			nil, `for %i in ("b c") do @echo [%~i]`, result{Stdout: "[b c]\r\n"}},
		{"counting with /l",
			nil, `for /l %n in (1,2,7) do @echo %n`, result{Stdout: "1\r\n3\r\n5\r\n7\r\n"}},
		{"counting down",
			nil, `for /l %n in (3,-1,1) do @echo %n`, result{Stdout: "3\r\n2\r\n1\r\n"}},
		{"/f over a command's output with tokens",
			nil, `for /f "tokens=1,2 delims=-" %a in ('hostname') do @echo %b %a`, result{Stdout: "01 WEB\r\n"}},
		{"/f over a string with the rest in a star token",
			nil, `for /f "tokens=1*" %a in ("one two three") do @echo [%a] [%b]`, result{Stdout: "[one] [two three]\r\n"}},
		{"/f over a file skips the eol lines and empty lines",
			map[string]string{`C:\temp\list.txt`: "; comment\r\nalpha 1\r\n\r\nbeta 2\r\n"},
			`for /f %a in (C:\temp\list.txt) do @echo %a`, result{Stdout: "alpha\r\nbeta\r\n"}},
		{"/f skip and usebackq with a quoted file name",
			map[string]string{`C:\temp\my list.txt`: "header\r\nrow\r\n"},
			`for /f "usebackq skip=1" %a in ("C:\temp\my list.txt") do @echo %a`, result{Stdout: "row\r\n"}},
		{"body block and the variable in a redirection target",
			nil, `for %x in (a b) do (echo %x>C:\temp\%x.txt) & type C:\temp\b.txt`, result{Stdout: "b\r\n"}},
		{"batch files write double percent",
			map[string]string{`C:\temp\f.bat`: crlf("@echo off", "for %%i in (1 2) do echo %%i %%~nxi", "for %%f in (x) do echo %%~ff")},
			`C:\temp\f.bat`, result{Stdout: "1 1\r\n2 2\r\nC:\\Users\\admin\\x\r\n"}},
		{"delayed expansion accumulates inside a loop",
			map[string]string{`C:\temp\f.bat`: crlf("@echo off", "setlocal enabledelayedexpansion", "set L=", "for %%i in (a b c) do set L=!L!%%i", "echo !L!")},
			`C:\temp\f.bat`, result{Stdout: "abc\r\n"}},
		{"wildcards match nothing without a directory listing",
			nil, `for %i in (*.txt) do @echo %i`, result{}},
		{"goto leaves the loop",
			map[string]string{`C:\temp\f.bat`: crlf("@echo off", "for /l %%i in (1,1,5) do if %%i==3 goto out", "echo not here", ":out", "echo out")},
			`C:\temp\f.bat`, result{Stdout: "out\r\n"}},
		{"/d and /r are not modelled",
			nil, `for /d %i in (*) do @echo %i`, result{Stderr: "The syntax of the command is incorrect.\r\n", Code: 255}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := run(t, newFleet(tt.files), nil, tt.line, "")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Run(%q) mismatch (-want +got):\n%s", tt.line, diff)
			}
		})
	}
}
