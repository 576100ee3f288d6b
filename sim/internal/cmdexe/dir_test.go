package cmdexe

import (
	"context"
	"fmt"
	iofs "io/fs"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// memStamp dates every entry of a memFS listing.
var memStamp = time.Date(2024, 3, 1, 14, 5, 0, 0, time.UTC)

// ListDir makes memFS a DirLister; names come back in lower case, as
// memFS keeps them.
func (m *memFS) ListDir(dir string) (DirEntry, []DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := strings.ToLower(dir)
	if !m.dirs[key] && !isRoot(dir) {
		return DirEntry{}, nil, fmt.Errorf("list %s: %w", dir, iofs.ErrNotExist)
	}
	prefix := strings.TrimSuffix(key, `\`) + `\`
	var out []DirEntry
	for name, data := range m.files {
		if rest, ok := strings.CutPrefix(name, prefix); ok && !strings.Contains(rest, `\`) {
			out = append(out, DirEntry{Name: rest, Size: int64(len(data)), ModTime: memStamp})
		}
	}
	for name := range m.dirs {
		if rest, ok := strings.CutPrefix(name, prefix); ok && rest != "" && !strings.Contains(rest, `\`) {
			out = append(out, DirEntry{Name: rest, Dir: true, ModTime: memStamp})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return DirEntry{Name: dir, Dir: true, ModTime: memStamp}, out, nil
}

func (m *memFS) Volume(string) Volume {
	return Volume{Serial: 0x1234ABCD, FreeBytes: 10_737_418_240}
}

// shareFS is a memFS seen from a network logon without delegated
// credentials: every \\server\share path is refused.
type shareFS struct{ *memFS }

func (s shareFS) deny(path string) error {
	if strings.HasPrefix(path, `\\`) {
		return fmt.Errorf("%s: access is denied: %w", path, iofs.ErrPermission)
	}
	return nil
}

func (s shareFS) Access(path string) error { return s.deny(path) }

func (s shareFS) ReadFile(path string) ([]byte, error) {
	if err := s.deny(path); err != nil {
		return nil, err
	}
	return s.memFS.ReadFile(path)
}

func (s shareFS) WriteFile(path string, data []byte, appendTo bool) error {
	if err := s.deny(path); err != nil {
		return err
	}
	return s.memFS.WriteFile(path, data, appendTo)
}

func (s shareFS) Exists(path string) bool { return s.deny(path) == nil && s.memFS.Exists(path) }

func (s shareFS) ListDir(dir string) (DirEntry, []DirEntry, error) {
	if err := s.deny(dir); err != nil {
		return DirEntry{}, nil, err
	}
	return s.memFS.ListDir(dir)
}

// plainFS hides memFS's optional interfaces.
type plainFS struct{ FS }

func runOn(t *testing.T, f *fleet, fs FS, line string) result {
	t.Helper()
	var out, errb strings.Builder
	code := Run(context.Background(), line, testEnv(), fs, f.lookup, strings.NewReader(""), &out, &errb)
	return result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// TestDir checks DIR's layout (`dir /?`; the column widths and totals
// lines of Windows Server's cmd.exe in the en-US locale).
func TestDir(t *testing.T) {
	t.Parallel()
	const header = " Volume in drive C has no label.\r\n Volume Serial Number is 1234-ABCD\r\n\r\n"
	const stamp = "03/01/2024  02:05 PM"
	files := map[string]string{
		`C:\temp\a.txt`:                "hello",
		`C:\temp\big.bin`:              strings.Repeat("x", 1_234_567),
		`C:\Program Files\App\app.exe`: "MZ",
	}
	tests := []struct {
		name string
		line string
		fs   func(*memFS) FS
		want result
	}{
		{"a directory lists dot, dot-dot, its entries and the totals", `dir C:\temp`, nil, result{Stdout: header +
			" Directory of C:\\temp\r\n\r\n" +
			stamp + "    <DIR>          .\r\n" +
			stamp + "    <DIR>          ..\r\n" +
			stamp + "                 5 a.txt\r\n" +
			stamp + "         1,234,567 big.bin\r\n" +
			stamp + "    <DIR>          sub\r\n" +
			"               2 File(s)      1,234,572 bytes\r\n" +
			"               3 Dir(s)  10,737,418,240 bytes free\r\n"}},
		{"the current directory by default, and a quoted path with a space", `cd "C:\Program Files\App" & dir`, nil, result{Stdout: header +
			" Directory of C:\\Program Files\\App\r\n\r\n" +
			stamp + "    <DIR>          .\r\n" +
			stamp + "    <DIR>          ..\r\n" +
			stamp + "                 2 app.exe\r\n" +
			"               1 File(s)              2 bytes\r\n" +
			"               2 Dir(s)  10,737,418,240 bytes free\r\n"}},
		{"an empty directory still has dot and dot-dot", `dir C:\temp\sub`, nil, result{Stdout: header +
			" Directory of C:\\temp\\sub\r\n\r\n" +
			stamp + "    <DIR>          .\r\n" +
			stamp + "    <DIR>          ..\r\n" +
			"               0 File(s)              0 bytes\r\n" +
			"               2 Dir(s)  10,737,418,240 bytes free\r\n"}},
		{"a file lists itself from its directory", `dir "C:\Program Files\App\APP.EXE"`, nil, result{Stdout: header +
			" Directory of C:\\Program Files\\App\r\n\r\n" +
			stamp + "                 2 app.exe\r\n" +
			"               1 File(s)              2 bytes\r\n" +
			"               0 Dir(s)  10,737,418,240 bytes free\r\n"}},
		{"/b prints bare names without dot and dot-dot", `dir /b C:\temp`, nil, result{Stdout: "a.txt\r\nbig.bin\r\nsub\r\n"}},
		{"/b glued to the command and a pattern in the current directory", `cd C:\temp & dir/b *.txt`, nil, result{Stdout: "a.txt\r\n"}},
		{"? matches one character", `dir /B C:\temp\?.txt`, nil, result{Stdout: "a.txt\r\n"}},
		{"*.* matches everything", `dir /b C:\temp\*.*`, nil, result{Stdout: "a.txt\r\nbig.bin\r\nsub\r\n"}},
		{"a missing name is File Not Found after the header", `dir C:\temp\nope.txt || echo failed`, nil,
			result{Stdout: header + " Directory of C:\\temp\r\n\r\nfailed\r\n", Stderr: "File Not Found\r\n", Code: 1}},
		{"the errorlevel after File Not Found is 1", `dir C:\nope`, nil,
			result{Stdout: header + " Directory of C:\\\r\n\r\n", Stderr: "File Not Found\r\n", Code: 1}},
		{"a bare listing of nothing is File Not Found alone", `dir /b C:\temp\*.doc`, nil, result{Stderr: "File Not Found\r\n", Code: 1}},
		{"a bare listing of an empty directory is File Not Found", `dir /b C:\temp\sub`, nil, result{Stderr: "File Not Found\r\n", Code: 1}},
		{"success sets errorlevel 0", `exitcode 3 & dir /b C:\temp\a.txt && echo ok`, nil, result{Stdout: "a.txt\r\nok\r\n"}},
		{"a wildcard in a directory part is a syntax error", `dir C:\te*\a.txt`, nil,
			result{Stderr: "The filename, directory name, or volume label syntax is incorrect.\r\n", Code: 1}},
		{"an unknown switch is refused as cmd.exe refuses it", `dir /z`, nil, result{Stderr: "Invalid switch - \"z\".\r\n", Code: 1}},
		{"a documented switch that is not modelled is refused loudly", `dir /s C:\temp`, nil,
			result{Stderr: "simulated host: dir /s is not modelled\r\n", Code: 1}},
		{"several paths are not modelled", `dir C:\temp C:\tools`, nil,
			result{Stderr: "simulated host: dir with several paths (C:\\temp C:\\tools) is not modelled\r\n", Code: 1}},
		{"a file system that cannot list directories refuses loudly", `dir C:\temp`, func(m *memFS) FS { return plainFS{m} },
			result{Stderr: "simulated host: dir is not modelled on this file system\r\n", Code: 1}},
		{"a share out of reach is Access is denied", `dir \\fs01\share`, func(m *memFS) FS { return shareFS{m} },
			result{Stderr: "Access is denied.\r\n", Code: 1}},
		{"a redirection opens its file before DIR lists the directory", `dir /b C:\temp > C:\temp\list.txt & type C:\temp\list.txt`, nil,
			result{Stdout: "a.txt\r\nbig.bin\r\nlist.txt\r\nsub\r\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFleet(files)
			f.fs.dirs[`c:\temp\sub`] = true
			var fs FS = f.fs
			if tt.fs != nil {
				fs = tt.fs(f.fs)
			}
			got := runOn(t, f, fs, tt.line)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s: (-want +got):\n%s", tt.line, diff)
			}
		})
	}
}

// TestAccessDenied checks what cmd.exe says about a file share the process
// may not reach (a network logon without delegated credentials): "Access
// is denied." (ERROR_ACCESS_DENIED's message) where a missing file would
// be "cannot find", and IF EXIST is simply false.
func TestAccessDenied(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		line string
		want result
	}{
		{"type", `type \\fs01\share\x.txt`, result{Stderr: "Access is denied.\r\n", Code: 1}},
		{"output redirection", `echo hi > \\fs01\share\o.txt`, result{Stderr: "Access is denied.\r\n"}},
		{"input redirection", `upper < \\fs01\share\in.txt`, result{Stderr: "Access is denied.\r\n"}},
		{"if exist is false", `if exist \\fs01\share\x.txt (echo yes) else (echo no)`, result{Stdout: "no\r\n"}},
		{"a program on the share", `\\fs01\share\tool.exe /q`, result{Stderr: "Access is denied.\r\n", Code: 1}},
		{"a batch file on the share", `"\\fs01\share\run.bat"`, result{Stderr: "Access is denied.\r\n", Code: 1}},
		{"the errorlevel is 1", `\\fs01\share\tool.exe || echo failed`, result{Stdout: "failed\r\n", Stderr: "Access is denied.\r\n", Code: 1}},
		{"local files are unaffected", `type C:\temp\x.txt`, result{Stdout: "local"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFleet(map[string]string{`C:\temp\x.txt`: "local", `\\fs01\share\x.txt`: "remote", `\\fs01\share\run.bat`: "@echo ran\r\n"})
			got := runOn(t, f, shareFS{f.fs}, tt.line)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s: (-want +got):\n%s", tt.line, diff)
			}
		})
	}
	// Without an AccessChecker the same lines are about missing files.
	f := newFleet(nil)
	got := runOn(t, f, f.fs, `type \\fs01\share\x.txt`)
	if diff := cmp.Diff(result{Stderr: "The system cannot find the file specified.\r\n", Code: 1}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestThousandsAndWildMatch(t *testing.T) {
	t.Parallel()
	for n, want := range map[uint64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", 42949672960: "42,949,672,960"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
	for _, tt := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "a.txt", true}, {"*.txt", "A.TXT", true}, {"*.txt", "a.txt.bak", false}, {"a?c", "abc", true},
		{"a?c", "ac", false}, {"*.*", "noext", true}, {"*b*", "abc", true}, {"*x", "abc", false}, {"", "a", false},
		{"a*b*c", "aXbYbZc", true}, {"report", "Report", true},
	} {
		if got := wildMatch(tt.pattern, tt.name); got != tt.want {
			t.Errorf("wildMatch(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}
