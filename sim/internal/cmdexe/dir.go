package cmdexe

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// dirSwitches are the switch letters `dir /?` documents; of them only /B
// is modelled.
const dirSwitches = "abcdlnopqrstwx4"

// biDir is DIR [path] [/B] (`dir /?`). The listing has the layout of
// Windows Server's cmd.exe: the volume header, " Directory of ...",
// one line per entry (date and time in the en-US short format, <DIR> or
// the size with thousands separators, the name), "." and ".." first
// outside a drive root, and the File(s) and Dir(s) totals. /B prints bare
// names without "." and "..". A path that matches nothing prints "File
// Not Found" on stderr with errorlevel 1 (after the header, without /B).
// Other switches, several paths and the DIRCMD variable are not modelled
// and are refused loudly.
func (sh *shell) biDir(_ context.Context, args string, std stdio) (int32, control) {
	fail := func(msg string) (int32, control) {
		fmt.Fprint(std.err, msg)
		sh.env.errorLevel = 1
		return 1, control{}
	}
	if v, ok := sh.env.Get("DIRCMD"); ok && v != "" {
		return fail("simulated host: dir with DIRCMD=" + v + " is not modelled\r\n")
	}
	bare := false
	var paths []string
	for _, w := range dirWords(args) {
		if !strings.HasPrefix(w, "/") {
			paths = append(paths, strings.ReplaceAll(w, `"`, ""))
			continue
		}
		sw := strings.ToLower(strings.TrimPrefix(w, "/"))
		switch {
		case sw == "b":
			bare = true
		case sw == "" || sw == "-" || !strings.ContainsRune(dirSwitches, rune(strings.TrimPrefix(sw, "-")[0])):
			// cmd.exe names the bad switch without its slash.
			return fail(`Invalid switch - "` + strings.TrimPrefix(w, "/") + `".` + "\r\n")
		default:
			return fail("simulated host: dir " + w + " is not modelled\r\n")
		}
	}
	if len(paths) > 1 {
		return fail("simulated host: dir with several paths (" + strings.Join(paths, " ") + ") is not modelled\r\n")
	}
	lister, ok := sh.fs.(DirLister)
	if !ok {
		return fail("simulated host: dir is not modelled on this file system\r\n")
	}
	arg := "."
	if len(paths) == 1 {
		arg = paths[0]
	}
	target := resolvePath(sh.env.cwd, arg)
	if sh.denied(target) {
		return fail(msgAccessDenied)
	}

	// What to list: a directory's whole content, or the entries of its
	// parent that match the last component (a file name or a pattern).
	dir, pattern := target, "*"
	self, entries, err := lister.ListDir(target)
	if err != nil && !accessDenied(err) {
		dir, pattern = splitLast(target)
		if strings.ContainsAny(dir, "*?") {
			return fail("The filename, directory name, or volume label syntax is incorrect.\r\n")
		}
		self, entries, err = lister.ListDir(dir)
	}
	if accessDenied(err) {
		return fail(msgAccessDenied)
	}
	var shown []DirEntry
	if err == nil {
		if !isRoot(dir) {
			dot := DirEntry{Name: ".", Dir: true, ModTime: self.ModTime}
			dotdot := DirEntry{Name: "..", Dir: true, ModTime: self.ModTime}
			entries = append([]DirEntry{dot, dotdot}, entries...)
		}
		for _, e := range entries {
			if bare && (e.Name == "." || e.Name == "..") {
				continue
			}
			if wildMatch(pattern, e.Name) {
				shown = append(shown, e)
			}
		}
	}

	if bare {
		if len(shown) == 0 {
			return fail("File Not Found\r\n")
		}
		for _, e := range shown {
			fmt.Fprintf(std.out, "%s\r\n", e.Name)
		}
		sh.env.errorLevel = 0
		return 0, control{}
	}

	vol := lister.Volume(dir)
	drive := strings.TrimSuffix(pathPrefix(dir), ":")
	if vol.Label == "" {
		fmt.Fprintf(std.out, " Volume in drive %s has no label.\r\n", drive)
	} else {
		fmt.Fprintf(std.out, " Volume in drive %s is %s\r\n", drive, vol.Label)
	}
	fmt.Fprintf(std.out, " Volume Serial Number is %04X-%04X\r\n\r\n", vol.Serial>>16, vol.Serial&0xFFFF)
	fmt.Fprintf(std.out, " Directory of %s\r\n\r\n", dir)
	if len(shown) == 0 {
		return fail("File Not Found\r\n")
	}
	var files, dirs int
	var bytes int64
	for _, e := range shown {
		stamp := e.ModTime.Format("01/02/2006  03:04 PM")
		if e.Dir {
			dirs++
			fmt.Fprintf(std.out, "%s    <DIR>          %s\r\n", stamp, e.Name)
			continue
		}
		files++
		bytes += e.Size
		fmt.Fprintf(std.out, "%s %17s %s\r\n", stamp, thousands(uint64(e.Size)), e.Name)
	}
	fmt.Fprintf(std.out, "%16d File(s) %14s bytes\r\n", files, thousands(uint64(bytes)))
	fmt.Fprintf(std.out, "%16d Dir(s) %15s bytes free\r\n", dirs, thousands(vol.FreeBytes))
	sh.env.errorLevel = 0
	return 0, control{}
}

// dirWords splits DIR's arguments at blanks and at every "/" outside
// quotes (so `dir/b` and `dir C:\x/b` work as they do in cmd.exe).
func dirWords(args string) []string {
	var words []string
	var b strings.Builder
	inQuotes := false
	flush := func() {
		if b.Len() > 0 {
			words = append(words, b.String())
			b.Reset()
		}
	}
	for i := 0; i < len(args); i++ {
		c := args[i]
		switch {
		case c == '"':
			inQuotes = !inQuotes
			b.WriteByte(c)
		case !inQuotes && (isDelim(c)):
			flush()
		case !inQuotes && c == '/':
			flush()
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	flush()
	return words
}

// splitLast splits a full path into its directory and last component.
func splitLast(p string) (dir, name string) {
	k := strings.LastIndexByte(p, '\\')
	dir, name = p[:k], p[k+1:]
	if len(dir) == 2 && dir[1] == ':' {
		dir += `\`
	}
	return dir, name
}

// wildMatch matches a file name against a DIR pattern, case-insensitively:
// "*" is any run of characters, "?" any one, and "*.*" everything. (The
// 8.3 short-name matches of real Windows, where "*.htm" also finds
// ".html" files, are not modelled.)
func wildMatch(pattern, name string) bool {
	if pattern == "*.*" {
		pattern = "*"
	}
	p, n := strings.ToLower(pattern), strings.ToLower(name)
	// Iterative matching with one backtrack point for the last "*".
	pi, ni, star, mark := 0, 0, -1, 0
	for ni < len(n) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == n[ni]):
			pi++
			ni++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ni
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ni = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// thousands formats n with "," between groups of three digits, as the
// en-US locale shows sizes.
func thousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	lead := len(s) % 3
	if lead > 0 {
		b.WriteString(s[:lead])
	}
	for i := lead; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}
