package cmdexe

import "strings"

// Windows path handling for the virtual file system: cmd.exe hands the
// file system absolute paths, so relative names are resolved here against
// the current directory.

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// pathPrefix returns the root part of an absolute path: "C:" or
// `\\server\share`.
func pathPrefix(p string) string {
	if len(p) >= 2 && p[1] == ':' && isLetter(p[0]) {
		return p[:2]
	}
	if strings.HasPrefix(p, `\\`) {
		parts := strings.SplitN(p[2:], `\`, 3)
		if len(parts) >= 2 {
			return `\\` + parts[0] + `\` + parts[1]
		}
		return p
	}
	return ""
}

// resolvePath makes p (quotes already removed) absolute against cwd and
// normalises it: forward slashes become backslashes, "." and ".." are
// folded, repeated separators collapse.
func resolvePath(cwd, p string) string {
	p = strings.ReplaceAll(p, "/", `\`)
	var abs string
	switch {
	case len(p) >= 2 && p[1] == ':' && isLetter(p[0]):
		if len(p) >= 3 && p[2] == '\\' {
			abs = p
		} else if strings.EqualFold(p[:2], pathPrefix(cwd)) {
			abs = cwd + `\` + p[2:]
		} else {
			abs = p[:2] + `\` + p[2:]
		}
	case strings.HasPrefix(p, `\\`):
		abs = p
	case strings.HasPrefix(p, `\`):
		abs = pathPrefix(cwd) + p
	default:
		abs = cwd + `\` + p
	}
	return cleanPath(abs)
}

// cleanPath normalises an absolute Windows path.
func cleanPath(p string) string {
	prefix := pathPrefix(p)
	var comps []string
	for _, c := range strings.Split(p[len(prefix):], `\`) {
		switch c {
		case "", ".":
		case "..":
			if len(comps) > 0 {
				comps = comps[:len(comps)-1]
			}
		default:
			comps = append(comps, c)
		}
	}
	return prefix + `\` + strings.Join(comps, `\`)
}

// splitPath splits a full path into the pieces %~d, %~p, %~n and %~x give.
func splitPath(full string) (drive, dir, name, ext string) {
	drive = pathPrefix(full)
	rest := full[len(drive):]
	k := strings.LastIndexByte(rest, '\\')
	dir, base := rest[:k+1], rest[k+1:]
	if d := strings.LastIndexByte(base, '.'); d >= 0 {
		return drive, dir, base[:d], base[d:]
	}
	return drive, dir, base, ""
}

// isRoot reports whether p is a drive root such as `C:\`.
func isRoot(p string) bool {
	return len(p) == 3 && p[1] == ':' && p[2] == '\\' && isLetter(p[0])
}

// isNulDevice reports whether a redirection target names the NUL device.
func isNulDevice(target string) bool {
	t := strings.ToLower(strings.TrimSpace(target))
	if k := strings.LastIndexAny(t, `\/`); k >= 0 {
		t = t[k+1:]
	}
	t = strings.TrimSuffix(t, ":")
	return t == "nul"
}

// ResolvePath makes p absolute against the directory cwd, as cmd.exe does
// for a file name (quotes removed first): drive-relative, root-relative and
// UNC forms are honoured, "." and ".." folded.
func ResolvePath(cwd, p string) string { return resolvePath(cwd, strings.ReplaceAll(p, `"`, "")) }
