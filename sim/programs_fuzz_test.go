package sim

import (
	"strings"
	"testing"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
)

// argvOf splits a free-form command line as the C runtime would, after a
// program name.
func argvOf(line string) []string { return cmdexe.ParseArgs("prog " + line)[1:] }

// FuzzParseRegArgs checks reg.exe's argument parser never panics and only
// accepts a QUERY of an HKLM key without a trailing backslash.
func FuzzParseRegArgs(f *testing.F) {
	for _, s := range []string{`query "HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion" /v ProductName`, `query HKLM /ve /reg:64`,
		`add HKLM\x /v y /t REG_SZ /d z /f`, `query HKCU\x /s`, `query \\host\HKLM\x`, `query HKLM\ /v`, `QUERY hklm\a\\ -V x -ve`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := argvOf(line)
		q, res := parseRegArgs(args)
		if res != regOK {
			return
		}
		if !strings.EqualFold(args[0], "query") || strings.HasSuffix(q.key, `\`) {
			t.Errorf("accepted %q as %+v", args, q)
		}
		if !q.valueSet && q.value != "" {
			t.Errorf("a value name without /v: %+v", q)
		}
	})
}

// FuzzParseScArgs checks sc.exe's argument parser never panics and only
// accepts the modelled verbs.
func FuzzParseScArgs(f *testing.F) {
	for _, s := range []string{"query", "query WinRM", "queryex type= service state= all", "start Spooler", "stop x y", `\\h query`, "query state=all", "config x start= auto"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, ok := parseScArgs(argvOf(line))
		if !ok {
			return
		}
		switch c.verb {
		case "query", "queryex":
		case "start", "stop":
			if c.name == "" {
				t.Errorf("%q without a service accepted", c.verb)
			}
		default:
			t.Errorf("verb %q accepted", c.verb)
		}
	})
}

// FuzzParseDismArgs checks DISM's argument parser never panics and only
// accepts an online add-package with packages or an online get-packages.
func FuzzParseDismArgs(f *testing.F) {
	for _, s := range []string{`/online /add-package /packagepath:C:\x.cab /quiet /norestart`, `/Online /Get-Packages`, `/add-package /packagepath:x`,
		`/online /cleanup-image /restorehealth`, `/image:C:\m /add-package`, `/online /add-pakage`, `x`, `/`, `/packagepath:`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, res, _ := parseDismArgs(argvOf(line))
		if res != dismOK {
			return
		}
		if (c.op == "add-package") == (len(c.packages) == 0) || (c.op != "add-package" && c.op != "get-packages") {
			t.Errorf("accepted %+v", c)
		}
	})
}

// FuzzParseJavaArgs checks the java launcher's parser never panics, never
// leaves a negative heap, and keeps the arguments after the main class.
func FuzzParseJavaArgs(f *testing.F) {
	for _, s := range []string{`-Xmx512m -cp a;b;c\* com.example.Report --title "x y"`, `-jar app.jar a b`, `-cp`, `-Xmx99999999999g x`, `-version`, `-Dx=y -ea:com... Main -Xmx1g`} {
		f.Add(s, "-Xmx128m")
	}
	f.Fuzz(func(t *testing.T, line, toolOptions string) {
		args := argvOf(line)
		c := parseJavaArgs(args, strings.Fields(toolOptions))
		if c.heapMB < 0 {
			t.Errorf("negative heap for %q", args)
		}
		if c.fatal == "" && c.mainClass != "" {
			i := len(args) - len(c.args) - 1
			if i < 0 || args[i] != c.mainClass {
				t.Errorf("main class %q and arguments %q do not come from %q", c.mainClass, c.args, args)
			}
		}
	})
}

// FuzzToolArgs checks the program-token split of tools that read their own
// command line.
func FuzzToolArgs(f *testing.F) {
	for _, s := range []string{"ipconfig/all", `C:\Windows\System32\ipconfig.exe/all x`, "reg", "/x", `C:/a/b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		p := &cmdexe.Proc{Name: "x", Args: cmdexe.ParseArgs(line)}
		got := toolArgs(p)
		switch len(got) - len(p.Args) {
		case 0:
			if strings.Join(got, "\x00") != strings.Join(p.Args, "\x00") {
				t.Errorf("toolArgs(%q) = %q", p.Args, got)
			}
		case 1:
			// The program token was split at a slash; nothing else moves.
			if got[0]+got[1] != p.Args[0] || !strings.HasPrefix(got[1], "/") ||
				strings.Join(got[2:], "\x00") != strings.Join(p.Args[1:], "\x00") {
				t.Errorf("toolArgs(%q) = %q", p.Args, got)
			}
		default:
			t.Errorf("toolArgs(%q) = %q", p.Args, got)
		}
	})
}
