package cmdexe

import (
	"context"
	"io"
	"strings"
	"testing"
)

// FuzzRun feeds arbitrary command lines, and an arbitrary batch file they
// may call, to Run with a fake lookup: it must never panic and must always
// end (loops and recursion are bounded by the simulation guards).
func FuzzRun(f *testing.F) {
	seeds := [][2]string{
		{"echo out && echo err>&2 && exit 1", ""},
		{"echo a&b", ""},
		{`if "a"=="b" (echo x) else (echo y) & echo %PATH:~0,3%`, ""},
		{`C:\temp\f.bat a "b c",d`, "@echo off\r\n:loop\r\nset /a N+=1\r\nif %N% LSS 5 goto loop\r\ncall :sub %*\r\nexit /b 3\r\n:sub\r\necho %~1 %~dp0\r\ngoto :eof\r\n"},
		{`cmd /v:on /d /s /c "set X=1& echo !X:1=2! | upper > C:\temp\o.txt 2>&1"`, ""},
		{`C:\temp\f.bat`, "setlocal enabledelayedexpansion\r\n(\r\necho !X!\r\n) else (\r\n"},
		{"set /a (1+2)*3<<2, x=7%%3, y^=~x", ""},
		{`"C:\Program Files\App\x.exe" "a b" c ^& %%`, ""},
		{"(((echo a) & (echo b)) > nul", ""},
		{`for /f "tokens=1,2* delims=-, skip=1 eol=# usebackq" %a in (` + "`hostname`" + `) do @echo %~nxa %b %c`, ""},
		{`C:\temp\f.bat`, "for /l %%i in (1,0,2) do (for %%j in (a b) do echo %%i%%~fj)\r\n"},
		{`call :x & goto :eof & exit /b -1 & shift /3 & pushd C:\temp & popd & cd.. & ver & type nul`, ""},
		{`dir /b C:\temp\*.b?t & dir "C:\Program Files" /z & dir/b & dir C:\te*\x & dir \\fs01\share\*`, ""},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, line, batch string) {
		fl := newFleet(map[string]string{`C:\temp\f.bat`: batch})
		fl.progs[`c:\tools\x.exe`] = func(context.Context, *Proc) uint32 { return 0 }
		env := testEnv()
		// A small budget keeps endless loops cheap to explore.
		ctx := withStepBudget(context.Background(), 5000)
		Run(ctx, line, env, fl.fs, fl.lookup, strings.NewReader("input\r\n"), io.Discard, io.Discard)
		seen := map[string]bool{}
		for _, v := range env.Vars() {
			key := strings.ToUpper(v.Name)
			if seen[key] {
				t.Fatalf("variable %q listed twice after %q", v.Name, line)
			}
			seen[key] = true
		}
	})
}

// FuzzCmd feeds arbitrary cmd.exe command lines (switches, /C quoting) to
// the Cmd program.
func FuzzCmd(f *testing.F) {
	for _, s := range []string{
		`cmd.exe /c echo hi`,
		`"cmd.exe" /d /s /c "echo "quoted" & exit 7"`,
		`cmd /c "C:\Program Files\App\x.exe" "a b"`,
		`cmd /v:on /e:off /t:0f /q /k "echo !PATH!"`,
		`cmd /c"`,
		`cmd`,
	} {
		f.Add(s, "echo a\r\nexit 3\r\n")
	}
	f.Fuzz(func(t *testing.T, commandLine, stdin string) {
		fl := newFleet(nil)
		p := &Proc{CommandLine: commandLine, Env: testEnv(), Stdin: strings.NewReader(stdin)}
		Cmd(fl.fs, fl.lookup)(withStepBudget(context.Background(), 5000), p)
	})
}

func BenchmarkRunRecordedLine(b *testing.B) {
	fl := newFleet(nil)
	b.ReportAllocs()
	for b.Loop() {
		Run(context.Background(), "echo out && echo err>&2 && exit 1", testEnv(), fl.fs, fl.lookup, nil, io.Discard, io.Discard)
	}
}

func BenchmarkRunProgram(b *testing.B) {
	fl := newFleet(nil)
	fl.progs[`c:\program files\app\x.exe`] = func(context.Context, *Proc) uint32 { return 0 }
	b.ReportAllocs()
	for b.Loop() {
		Run(context.Background(), `"C:\Program Files\App\x.exe" "a b" c`, testEnv(), fl.fs, fl.lookup, nil, io.Discard, io.Discard)
	}
}

func BenchmarkCmdLauncherLine(b *testing.B) {
	fl := newFleet(nil)
	prog := Cmd(fl.fs, fl.lookup)
	b.ReportAllocs()
	for b.Loop() {
		prog(context.Background(), &Proc{CommandLine: `"cmd.exe" /d /s /c "hostname & exit 3010"`, Env: testEnv(), Stdout: io.Discard})
	}
}
