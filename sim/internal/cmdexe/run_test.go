package cmdexe

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Expected outputs below come from documented or recorded Windows
// behaviour; each row says where from. "cmd /?", "set /?", "if /?" and
// "exit /?" are cmd.exe's own help texts.
func TestRun(t *testing.T) {
	t.Parallel()
	const notRecognized = " is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
	tests := []struct {
		name  string
		line  string
		stdin string
		want  result
	}{
		// Recordings: test_winrs_stderr_rc.yml sends `cmd.exe` with the
		// argument `/c echo out && echo err>&2 && exit 1` and receives
		// stdout b3V0IA0K ("out \r\n"), stderr ZXJyIA0K ("err \r\n") and
		// ExitCode 1; test_winrs_standard.yml runs `echo hi` and receives
		// aGkNCg== ("hi\r\n").
		{"recorded echo out and err with exit 1 keeps the spaces before &&",
			"echo out && echo err>&2 && exit 1", "", result{"out \r\n", "err \r\n", 1}},
		{"recorded echo hi", "echo hi", "", result{"hi\r\n", "", 0}},

		// Operators are live outside quotes (cmd /?: "The special
		// characters that require quotes are: <space> &()[]{}^=;!'+,`~").
		{"unescaped ampersand from a pywinrm-style argument runs b as a command",
			"echo a&b", "", result{"a\r\n", "'b'" + notRecognized, 9009}},
		{"escaped ampersand is literal", "echo a ^& b", "", result{"a & b\r\n", "", 0}},
		{"quoted ampersand is literal and the quotes are printed", `echo "a & b"`, "", result{"\"a & b\"\r\n", "", 0}},
		{"caret escapes a caret", "echo a ^^ b", "", result{"a ^ b\r\n", "", 0}},
		{"caret inside quotes is literal", `echo "a ^& b"`, "", result{"\"a ^& b\"\r\n", "", 0}},
		{"trailing caret is dropped", "echo a^", "", result{"a\r\n", "", 0}},
		{"pipe and redirection characters escaped", "echo ^<tag^> ^| x", "", result{"<tag> | x\r\n", "", 0}},
		{"double ampersand runs the right side only after success",
			"exitcode 1 && echo no", "", result{"", "", 1}},
		{"double bar runs the right side only after failure",
			"exitcode 1 || echo yes", "", result{"yes\r\n", "", 1}},
		{"single ampersand runs both and the last errorlevel wins",
			"exitcode 3 & hostname", "", result{"WEB-01\r\n", "", 0}},
		{"and-or chain reads left to right",
			"exitcode 0 && echo ok || echo failed", "", result{"ok \r\n", "", 0}},

		// Percent expansion happens on the whole line before it runs
		// (Raymond Chen, The Old New Thing 2006-08-23), inside quotes
		// too (docs/winrm-reference.md §8).
		{"PATH expands inside quotes", `echo "%PATH%"`, "",
			result{"\"C:\\Windows\\system32;C:\\Windows;C:\\tools\"\r\n", "", 0}},
		{"undefined variable stays literal on a command line", "echo %NOPE% x", "", result{"%NOPE% x\r\n", "", 0}},
		{"variable names are case-insensitive", "echo %computername%", "", result{"WEB-01\r\n", "", 0}},
		{"set and use on one line sees the old value", "set X=1 & echo [%X%]", "", result{"[%X%]\r\n", "", 0}},
		{"errorlevel is expanded before the line runs", "exitcode 3 & echo %ERRORLEVEL%", "", result{"0\r\n", "", 3}},
		{"CD expands to the current directory", "echo %CD%", "", result{"C:\\Users\\admin\r\n", "", 0}},
		{"substring modifier", "echo %COMPUTERNAME:~0,3%", "", result{"WEB\r\n", "", 0}},
		{"replace modifier is case-insensitive", "echo %COMPUTERNAME:web=app%", "", result{"app-01\r\n", "", 0}},
		{"double percent is not special on a command line", "echo 100%%", "", result{"100%%\r\n", "", 0}},

		// ECHO (echo /?; ss64.com ECHO).
		{"echo alone reports the state", "echo", "", result{"ECHO is on.\r\n", "", 0}},
		{"echo dot prints an empty line", "echo.", "", result{"\r\n", "", 0}},
		{"echo off then echo reports off", "echo off & echo", "", result{"ECHO is off.\r\n", "", 0}},
		{"echo keeps inner and trailing spaces", "echo  a  b  ", "", result{" a  b  \r\n", "", 0}},
		{"at sign before a command is dropped", "@echo hi", "", result{"hi\r\n", "", 0}},
		{"closing parenthesis outside a block is text", "echo a)", "", result{"a)\r\n", "", 0}},

		// Redirection that fails or discards.
		{"stderr to nul", "stderr.exe boom 2>nul", "", result{"", "", 2}},
		{"stdout and stderr to nul in order", "stderr.exe boom >nul 2>&1", "", result{"", "", 2}},
		{"stderr to old stdout before stdout to nul", "stderr.exe boom 2>&1 >nul", "", result{"boom\r\n", "", 2}},
		{"stdout to stderr", "echo x 1>&2", "", result{"", "x \r\n", 0}},
		{"digit glued to a word is text not a handle", "echo x2>nul", "", result{"", "", 0}},
		{"digit after a space is a handle", "echo x 2>nul", "", result{"x \r\n", "", 0}},
		{"missing input file stops the command", "upper < C:\\temp\\none.txt || echo failed", "",
			result{"failed\r\n", "The system cannot find the file specified.\r\n", 0}},
		{"output into a missing directory stops the command", "echo x > C:\\nope\\o.txt", "",
			result{"", "The system cannot find the path specified.\r\n", 0}},

		// Pipes: the left side's stdout feeds the right side's stdin and
		// the errorlevel is the right side's.
		{"pipe feeds the right side", "echo hello| upper", "", result{"HELLO\r\n", "", 0}},
		{"pipe errorlevel is the right side's", "exitcode 5 | exitcode 4", "", result{"", "", 4}},
		{"pipe sides cannot change the shell's variables", "set X=1 | exitcode 0 & set X", "",
			result{"", "Environment variable X not defined\r\n", 1}},
		{"program reads the shell's stdin", "upper", "abc\r\n", result{"ABC\r\n", "", 0}},

		// Blocks.
		{"block output redirected as a whole", "(echo a & echo b) >nul & echo c", "", result{"c\r\n", "", 0}},
		{"block groups and joins", "(echo a&echo b)", "", result{"a\r\nb\r\n", "", 0}},
		{"else without if is a syntax error", "(echo a) else echo b", "", result{"", "else was unexpected at this time.\r\n", 255}},

		// IF (if /?).
		{"if compare with else takes the else block", `if "a"=="b" (echo same) else (echo different)`, "", result{"different\r\n", "", 0}},
		{"if compare includes the quotes", `if "a"==a echo same`, "", result{"", "", 0}},
		{"if /i ignores case", `if /i "ABC"=="abc" echo eq`, "", result{"eq\r\n", "", 0}},
		{"if not exist", `if not exist C:\nope echo missing`, "", result{"missing\r\n", "", 0}},
		{"if exist directory", `if exist C:\temp echo there`, "", result{"there\r\n", "", 0}},
		{"if errorlevel is at least", "exitcode 2 & if errorlevel 2 echo two", "", result{"two\r\n", "", 2}},
		{"if errorlevel false below", "exitcode 1 & if errorlevel 2 echo two", "", result{"", "", 1}},
		{"if defined", "if defined PATH echo yes", "", result{"yes\r\n", "", 0}},
		{"if command runs to the end of the line", "if 1==2 echo a & echo b", "", result{"", "", 0}},
		{"if block does not swallow what follows", "if 1==2 (echo a) & echo b", "", result{"b\r\n", "", 0}},
		{"if numeric comparison", "if 10 GTR 9 echo num", "", result{"num\r\n", "", 0}},
		{"if quoted numbers compare as strings", `if "10" GTR "9" echo str`, "", result{"", "", 0}},
		{"if else on a plain command is text", "if 1==1 echo a else echo b", "", result{"a else echo b\r\n", "", 0}},
		{"nested if binds else to the inner if", "if 1==1 if 1==2 (echo x) else (echo y)", "", result{"y\r\n", "", 0}},

		// Unknown commands and resolution.
		{"unknown program gives 9009", "nosuchprog a b", "", result{"", "'nosuchprog'" + notRecognized, 9009}},
		{"quoted unknown program is named with its quotes", `"C:\no such\x.exe" a`, "",
			result{"", "'\"C:\\no such\\x.exe\"'" + notRecognized, 9009}},
		{"unquoted path with a space splits at the space", `C:\Program Files\App\x.exe`, "",
			result{"", "'C:\\Program'" + notRecognized, 9009}},
		{"forward slash ends the command name", "C:/tools/exitcode.exe 3", "", result{"", "'C:'" + notRecognized, 9009}},
		{"program found by PATHEXT and PATH", "hostname", "", result{"WEB-01\r\n", "", 0}},
		{"program with extension in any case", "HOSTNAME.EXE", "", result{"WEB-01\r\n", "", 0}},
		{"program by full path without extension", `C:\Windows\System32\hostname`, "", result{"WEB-01\r\n", "", 0}},
		{"switch glued to the program name", "exitcode.exe/x", "", result{"", "", 0}},

		// EXIT (exit /?), numbers parsed as decimal and wrapped to 32 bits.
		{"exit minus one is 4294967295", "exit -1", "", result{"", "", 4294967295}},
		{"exit above 2^31 keeps the DWORD", "exit 3221225477", "", result{"", "", 3221225477}},
		{"exit 2^31 wraps to the same DWORD", "exit 2147483648", "", result{"", "", 2147483648}},
		{"exit stops the line", "exit 7 & echo not here", "", result{"", "", 7}},
		{"exit without a number keeps the errorlevel", "exitcode 4 & exit", "", result{"", "", 4}},
		{"exit reads decimal digits only", "exit 12abc", "", result{"", "", 12}},
		{"exit hex is not read", "exit 0x10", "", result{"", "", 0}},
		{"exit /b outside a batch file ends cmd", "exit /b 5 & echo not here", "", result{"", "", 5}},
		{"program exit codes pass through as DWORDs", "exitcode 3221225477", "", result{"", "", 3221225477}},
		{"3010 passes through", "exitcode 3010", "", result{"", "", 3010}},

		// SET (set /?).
		{"set name=value keeps trailing text", "set X=a b  & set X", "", result{"X=a b  \r\n", "", 0}},
		{"set quoted form ignores text after the last quote", `set "X=a & b" junk & set X`, "", result{"X=a & b\r\n", "", 0}},
		{"set lists by prefix", "set USER", "", result{"USERNAME=admin\r\n", "", 0}},
		{"set of an undefined prefix fails", "set NOPE", "", result{"", "Environment variable NOPE not defined\r\n", 1}},
		{"set with nothing before = is a syntax error", "set =x", "", result{"", "The syntax of the command is incorrect.\r\n", 1}},
		{"set /a prints the value without a newline on a command line", "set /a 1+2*3", "", result{"7", "", 0}},
		{"set /a assigns", "set /a X=5*2 >nul & set X", "", result{"X=10\r\n", "", 0}},
		{"set /a divide by zero", "set /a 1/0", "", result{"", "Divide by zero error.\r\n", 1073750993}},
		{"set /p reads a line", "set /p X=name? & set X", "bob\r\nrest", result{"name? X=bob\r\n", "", 0}},

		// Other built-ins.
		{"cd prints the directory", "cd", "", result{"C:\\Users\\admin\r\n", "", 0}},
		{"cd changes directory for later commands", "cd C:\\temp & cd", "", result{"C:\\temp\r\n", "", 0}},
		{"cd dot dot", "cd.. & cd", "", result{"C:\\Users\r\n", "", 0}},
		{"cd to a missing directory fails", "cd C:\\nope", "", result{"", "The system cannot find the path specified.\r\n", 1}},
		{"rem hides operators", "rem a & echo b", "", result{"", "", 0}},
		{"ver prints a blank line and the version", "ver", "", result{"\r\nMicrosoft Windows [Version 10.0.17763.1]\r\n", "", 0}},
		{"type a missing file", "type C:\\none.txt", "", result{"", "The system cannot find the file specified.\r\n", 1}},
		{"goto outside a batch file", "goto nowhere", "", result{"", "The system cannot find the batch label specified - nowhere\r\n", 1}},
		{"call runs a program", "call exitcode 6", "", result{"", "", 6}},

		// Syntax errors.
		{"leading pipe is a syntax error", "| echo x", "", result{"", "| was unexpected at this time.\r\n", 255}},
		{"leading double ampersand is a syntax error", "&& echo x", "", result{"", "&& was unexpected at this time.\r\n", 255}},
		{"redirection without a target is a syntax error", "echo x >", "", result{"", "The syntax of the command is incorrect.\r\n", 255}},
		{"line longer than 8191 characters is refused", "echo " + strings.Repeat("x", 8187), "", result{"", "The command line is too long.\r\n", 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := run(t, nil, nil, tt.line, tt.stdin)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Run(%q) mismatch (-want +got):\n%s", tt.line, diff)
			}
		})
	}
}

// TestRunProgramCommandLine checks what a program receives: cmd.exe
// removes carets and redirections and passes the rest, quotes kept, and the
// C runtime splits it.
func TestRunProgramCommandLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		line string
		want procRecord
	}{
		{"quoted program path with spaces and quoted arguments",
			`"C:\Program Files\App\x.exe" "a b" c`,
			procRecord{`C:\Program Files\App\x.exe`, `"C:\Program Files\App\x.exe" "a b" c`, []string{`C:\Program Files\App\x.exe`, "a b", "c"}}},
		{"hashtable literal reaches the program intact",
			`args.exe set winrm/config/winrs @{MaxMemoryPerShellMB="1024"}`,
			procRecord{`C:\tools\args.exe`, `args.exe set winrm/config/winrs @{MaxMemoryPerShellMB="1024"}`, []string{"args.exe", "set", "winrm/config/winrs", "@{MaxMemoryPerShellMB=1024}"}}},
		{"carets are removed and redirections cut out",
			`args a^&b ^"c d^" >nul e`,
			procRecord{`C:\tools\args.exe`, `args a&b "c d"  e`, []string{"args", "a&b", "c d", "e"}}},
		{"percent references expand before the program sees them",
			`args %USERNAME% "%NOPE%"`,
			procRecord{`C:\tools\args.exe`, `args admin "%NOPE%"`, []string{"args", "admin", "%NOPE%"}}},
		{"semicolons in a classpath are one argument",
			`args -cp a.jar;b.jar Main`,
			procRecord{`C:\tools\args.exe`, `args -cp a.jar;b.jar Main`, []string{"args", "-cp", "a.jar;b.jar", "Main"}}},
		{"program found in the PATH gets its extension in lower case",
			`ARGS x`,
			procRecord{`C:\tools\ARGS.exe`, `ARGS x`, []string{"ARGS", "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFleet(nil)
			got := run(t, f, nil, tt.line, "")
			if got.Code != 0 || got.Stderr != "" {
				t.Fatalf("Run(%q) = %+v", tt.line, got)
			}
			if diff := cmp.Diff([]procRecord{tt.want}, f.records()); diff != "" {
				t.Errorf("program saw (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunRedirectionToFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		line      string
		wantOut   string
		wantFiles map[string]string
	}{
		{"greater-than creates the file with echo's text",
			`echo hi>C:\temp\o.txt`, "", map[string]string{`C:\temp\o.txt`: "hi\r\n"}},
		{"redirection in the middle leaves both spaces",
			`echo a >C:\temp\o.txt b`, "", map[string]string{`C:\temp\o.txt`: "a  b\r\n"}},
		{"double greater-than appends",
			`echo one>C:\temp\o.txt & echo two>>C:\temp\o.txt`, "", map[string]string{`C:\temp\o.txt`: "one \r\ntwo\r\n"}},
		{"relative names resolve against the current directory",
			`cd C:\temp & echo x>o.txt`, "", map[string]string{`C:\temp\o.txt`: "x\r\n"}},
		{"quoted target with spaces",
			`echo x>"C:\Program Files\App\log file.txt"`, "", map[string]string{`C:\Program Files\App\log file.txt`: "x\r\n"}},
		{"both streams into one file",
			`stderr.exe boom >C:\temp\o.txt 2>&1`, "", map[string]string{`C:\temp\o.txt`: "boom\r\n"}},
		{"redirection before the command",
			`>C:\temp\o.txt echo x`, "", map[string]string{`C:\temp\o.txt`: "x\r\n"}},
		{"redirection alone creates an empty file",
			`>C:\temp\o.txt`, "", map[string]string{`C:\temp\o.txt`: ""}},
		{"input from a file written earlier on the line",
			`echo abc>C:\temp\o.txt& upper < C:\temp\o.txt`, "ABC\r\n", map[string]string{`C:\temp\o.txt`: "abc\r\n"}},
		{"type prints the bytes",
			`echo x>C:\temp\o.txt & type C:\temp\o.txt`, "x \r\n", map[string]string{`C:\temp\o.txt`: "x \r\n"}},
		{"digit glued to a word goes to the file",
			`echo x2>C:\temp\o.txt`, "", map[string]string{`C:\temp\o.txt`: "x2\r\n"}},
		{"handle digit after a space takes stderr",
			`echo x 2>C:\temp\o.txt`, "x \r\n", map[string]string{`C:\temp\o.txt`: ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFleet(nil)
			got := run(t, f, nil, tt.line, "")
			if got.Stdout != tt.wantOut || got.Stderr != "" {
				t.Errorf("Run(%q) = %+v, want stdout %q", tt.line, got, tt.wantOut)
			}
			for path, want := range tt.wantFiles {
				data, ok := f.fs.file(path)
				if !ok {
					t.Errorf("%s was not written", path)
					continue
				}
				if data != want {
					t.Errorf("%s = %q, want %q", path, data, want)
				}
			}
		})
	}
}

func TestRunUpdatesEnv(t *testing.T) {
	t.Parallel()
	env := testEnv()
	run(t, nil, env, `exitcode 3 & set NEW=1& set PATH=C:\x& cd C:\temp`, "")
	if v, _ := env.Get("new"); v != "1" {
		t.Errorf("NEW = %q, want 1", v)
	}
	if v, _ := env.Get("Path"); v != `C:\x` {
		t.Errorf("PATH = %q, want C:\\x", v)
	}
	if env.Cwd() != `C:\temp` {
		t.Errorf("cwd = %q, want C:\\temp", env.Cwd())
	}
	// set and cd leave the errorlevel alone.
	if env.ErrorLevel() != 3 {
		t.Errorf("errorlevel = %d, want 3", env.ErrorLevel())
	}
}

func TestRunProgramsGetACopyOfTheEnvironment(t *testing.T) {
	t.Parallel()
	got := run(t, nil, nil, `cd C:\temp & printenv USERNAME`, "")
	want := result{Stdout: "USERNAME=admin\r\ncwd=C:\\temp\r\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestRunCanceledContextStopsBeforeTheNextCommand(t *testing.T) {
	t.Parallel()
	f := newFleet(nil)
	ctx, cancel := context.WithCancel(context.Background())
	var out strings.Builder
	f.progs[`c:\tools\cancel.exe`] = func(context.Context, *Proc) uint32 {
		cancel()
		return 0
	}
	code := Run(ctx, "cancel & echo not here", testEnv(), f.fs, f.lookup, nil, &out, nil)
	if code != ExitCanceled || out.String() != "" {
		t.Errorf("Run = %d, stdout %q; want %d and nothing", code, out.String(), uint32(ExitCanceled))
	}
}

func TestRunProgramHonoursContext(t *testing.T) {
	t.Parallel()
	f := newFleet(nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	code := Run(ctx, "waitctx", testEnv(), f.fs, f.lookup, nil, nil, nil)
	if code != ExitCanceled {
		t.Errorf("Run = %d, want %d", code, uint32(ExitCanceled))
	}
}

func TestRunNilArguments(t *testing.T) {
	t.Parallel()
	if code := Run(context.Background(), "echo hi & nosuch & exit 3", nil, nil, nil, nil, nil, nil); code != 3 {
		t.Errorf("Run with nil env, fs, lookup and streams = %d, want 3", code)
	}
}

func TestDelayedExpansion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		commandLine string
		want        result
	}{
		{"bang variables expand when the command runs",
			`cmd.exe /v:on /c "set X=1& echo !X!"`, result{"1\r\n", "", 0}},
		{"the space before & belongs to the value",
			`cmd.exe /v:on /c "set X=1 & echo [!X!]"`, result{"[1 ]\r\n", "", 0}},
		{"errorlevel with bangs sees the last program",
			`cmd /v:on /c "exitcode 3221225477 & echo !ERRORLEVEL!"`, result{"-1073741819\r\n", "", 3221225477}},
		{"without /v:on bangs are text",
			`cmd /c "set X=1 & echo !X!"`, result{"!X!\r\n", "", 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := runCmd(t, nil, tt.commandLine, "")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
