package cmdexe

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// crlf turns a readable listing into a batch file with CRLF line ends.
func crlf(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n" }

// TestBatchExit9999 is the field-notes case: a batch file ending with
// `exit 9999` makes cmd.exe, and so the WinRS command, exit 9999, and
// nothing after it runs, not even in the caller (`exit /?`: without /B,
// EXIT quits CMD.EXE).
func TestBatchExit9999(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		`C:\temp\job.bat`: crlf("@echo off", "echo working", "exit 9999", "echo never"),
	}
	for _, line := range []string{
		`C:\temp\job.bat`,
		`call C:\temp\job.bat & echo not after a call either`,
		`cmd /c C:\temp\job.bat`,
		`cd C:\temp & job`,
	} {
		got := run(t, newFleet(files), nil, line, "")
		want := result{Stdout: "working\r\n", Code: 9999}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Run(%q) mismatch (-want +got):\n%s", line, diff)
		}
	}
}

func TestBatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		line  string
		want  result
	}{
		{"parameters split on cmd delimiters and keep their quotes",
			map[string]string{`C:\temp\p.bat`: crlf("@echo off", "echo [%0] [%1] [%2] [%3] [%~1] [%*]")},
			`C:\temp\p.bat "a b",c  d`,
			result{Stdout: "[C:\\temp\\p.bat] [\"a b\"] [c] [d] [a b] [\"a b\",c  d]\r\n"}},
		{"path modifiers of the batch file and of an argument",
			map[string]string{`C:\temp\p.bat`: crlf("@echo off", "echo %~dp0 %~nx0 %~f1 %~n1 %~x1")},
			`C:\temp\p.bat x.txt`,
			result{Stdout: "C:\\temp\\ p.bat C:\\Users\\admin\\x.txt x .txt\r\n"}},
		{"double percent is one percent and undefined variables are empty",
			map[string]string{`C:\temp\p.bat`: crlf("@echo off", "echo 100%% [%NOPE%]")},
			`C:\temp\p.bat`, result{Stdout: "100% []\r\n"}},
		{"exit /b sets the errorlevel and returns to the caller",
			map[string]string{`C:\temp\b.bat`: crlf("@echo off", "exit /b 3", "echo never")},
			`C:\temp\b.bat && echo ok || echo failed`, result{Stdout: "failed\r\n", Code: 3}},
		{"goto loops until a condition holds",
			map[string]string{`C:\temp\l.bat`: crlf("@echo off", "set N=0", ":loop", "set /a N+=1", "if %N% LSS 3 goto loop", "echo done %N%")},
			`C:\temp\l.bat`, result{Stdout: "done 3\r\n"}},
		{"call of a label passes arguments and returns its exit /b code",
			map[string]string{`C:\temp\c.bat`: crlf("@echo off", "call :greet world", "echo back %ERRORLEVEL%", "goto :eof", ":greet", "echo hello %1 from %0", "exit /b 4")},
			`C:\temp\c.bat`, result{Stdout: "hello world from :greet\r\nback 4\r\n", Code: 4}},
		{"endlocal restores variables and directory",
			map[string]string{`C:\temp\s.bat`: crlf("@echo off", "set A=outer", "setlocal", "set A=inner", `cd C:\temp`, "endlocal", "echo %A% %CD%")},
			`C:\temp\s.bat`, result{Stdout: "outer C:\\Users\\admin\r\n"}},
		{"setlocal ends with the batch file",
			map[string]string{`C:\temp\s.bat`: crlf("@echo off", "setlocal", "set A=inner")},
			`C:\temp\s.bat & set A`, result{Stderr: "Environment variable A not defined\r\n", Code: 1}},
		{"delayed expansion sees changes inside a block that percent does not",
			map[string]string{`C:\temp\d.bat`: crlf("@echo off", "setlocal enabledelayedexpansion", "set V=before", "if 1==1 (", "  set V=after", "  echo %V% !V!", ")")},
			`C:\temp\d.bat`, result{Stdout: "before after\r\n"}},
		{"multi-line if else block",
			map[string]string{`C:\temp\i.bat`: crlf("@echo off", `if exist C:\nope (`, "  echo yes", ") else (", "  echo no", ")", "echo end")},
			`C:\temp\i.bat`, result{Stdout: "no\r\nend\r\n"}},
		{"echo on shows each command after a blank line and the prompt",
			map[string]string{`C:\temp\e.bat`: crlf("echo hi", "@echo bye", "rem note")},
			`C:\temp\e.bat`, result{Stdout: "\r\nC:\\Users\\admin>echo hi\r\nhi\r\nbye\r\n\r\nC:\\Users\\admin>rem note\r\n"}},
		{"labels and double-colon comments are skipped",
			map[string]string{`C:\temp\c.bat`: crlf(":: comment", "@echo off", ":label", "echo x")},
			`C:\temp\c.bat`, result{Stdout: "x\r\n"}},
		{"a batch file started without call does not return",
			map[string]string{`C:\temp\a.bat`: crlf("@echo off", `C:\temp\b.bat`, "echo not reached"), `C:\temp\b.bat`: crlf("echo in b")},
			`C:\temp\a.bat`, result{Stdout: "in b\r\n"}},
		{"a batch file restarting itself without call loops instead of recursing",
			map[string]string{`C:\temp\r.bat`: crlf("@echo off", "set /a N+=1", "if %N% LSS 300 %0", "echo done %N%")},
			`C:\temp\r.bat`, result{Stdout: "done 300\r\n"}},
		{"a called batch file returns",
			map[string]string{`C:\temp\a.bat`: crlf("@echo off", `call C:\temp\b.bat x`, "echo back"), `C:\temp\b.bat`: crlf("echo in b %1")},
			`C:\temp\a.bat`, result{Stdout: "in b x\r\nback\r\n"}},
		{"the current directory is searched before PATH and .bat before nothing",
			map[string]string{`C:\Users\admin\hostname.bat`: crlf("@echo batch hostname")},
			`hostname`, result{Stdout: "batch hostname\r\n"}},
		{"within a directory .EXE comes before .BAT",
			map[string]string{`C:\tools\exitcode.bat`: crlf("@echo batch")},
			`exitcode 5`, result{Code: 5}},
		{"shift moves the parameters down",
			map[string]string{`C:\temp\s.bat`: crlf("@echo off", "shift", "echo %0 %1")},
			`C:\temp\s.bat a b`, result{Stdout: "a b\r\n"}},
		{"a trailing caret joins the next line",
			map[string]string{`C:\temp\j.bat`: crlf("@echo off", "echo a^", "b")},
			`C:\temp\j.bat`, result{Stdout: "ab\r\n"}},
		{"a syntax error ends the batch file",
			map[string]string{`C:\temp\x.bat`: crlf("@echo off", "echo a", "| x", "echo b")},
			`C:\temp\x.bat`, result{Stdout: "a\r\n", Stderr: "| was unexpected at this time.\r\n", Code: 255}},
		{"goto to a missing label ends the batch file",
			map[string]string{`C:\temp\g.bat`: crlf("@echo off", "goto nowhere", "echo b")},
			`C:\temp\g.bat`, result{Stderr: "The system cannot find the batch label specified - nowhere\r\n", Code: 1}},
		{"call expands percent twice",
			map[string]string{`C:\temp\c.bat`: crlf("@echo off", "set X=1", "call echo %%X%%")},
			`C:\temp\c.bat`, result{Stdout: "1\r\n"}},
		{"set /a prints nothing in a batch file",
			map[string]string{`C:\temp\a.bat`: crlf("@echo off", "set /a 1+1", "echo x")},
			`C:\temp\a.bat`, result{Stdout: "x\r\n"}},
		{"block output redirected to a file",
			map[string]string{`C:\temp\r.bat`: crlf("@echo off", `(`, "echo one", "echo two", `) > C:\temp\out.txt`, `type C:\temp\out.txt`)},
			`C:\temp\r.bat`, result{Stdout: "one\r\ntwo\r\n"}},
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

func TestBatchGuardsStopRunawayScripts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		files      map[string]string
		line       string
		wantStderr string
	}{
		{"endless goto loop", map[string]string{`C:\temp\l.bat`: crlf(":a", "goto a")}, `C:\temp\l.bat`, "step limit"},
		{"endless call recursion", map[string]string{`C:\temp\r.bat`: crlf("@call C:\\temp\\r.bat")}, `C:\temp\r.bat`, "R E C U R S I O N"},
		{"batch file starting cmd on itself", map[string]string{`C:\temp\s.bat`: crlf("@cmd /c C:\\temp\\s.bat")}, `C:\temp\s.bat`, "too many nested cmd.exe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := run(t, newFleet(tt.files), nil, tt.line, "")
			if !strings.Contains(got.Stderr, tt.wantStderr) || got.Code == 0 {
				t.Errorf("Run(%q) = code %d, stderr %q; want failure mentioning %q", tt.line, got.Code, got.Stderr, tt.wantStderr)
			}
		})
	}
}
