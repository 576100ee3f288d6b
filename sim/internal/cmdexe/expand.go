package cmdexe

import (
	"strconv"
	"strings"
)

// Percent expansion is cmd.exe's "phase 1": it runs over the whole line
// before the line is parsed, inside quotes too, so `set X=1 & echo %X%`
// prints the old value (Raymond Chen, "Environment variable expansion
// occurs when the command is read", The Old New Thing, 2006-08-23).

// batchFrame is the batch context percent expansion needs.
type batchFrame struct {
	path  string   // full path of the batch file
	args  []string // %0, %1, ... as written (quotes kept)
	rest  string   // %*
	lines []string
	pc    int // index of the next line to read
}

// expandPercent performs phase 1 on s. With b == nil it follows the
// command-line rules: a reference to an undefined variable stays as
// written, and %% is not special. With a batch frame it follows the batch
// rules: %% becomes %, %0-%9, %* and %~f0-style references expand, an
// undefined variable becomes empty and a lone % disappears.
func (sh *shell) expandPercent(s string, b *batchFrame) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	var out strings.Builder
	i := 0
	for i < len(s) {
		c := s[i]
		if c != '%' {
			out.WriteByte(c)
			i++
			continue
		}
		if b != nil && i+1 < len(s) {
			switch n := s[i+1]; {
			case n == '%':
				out.WriteByte('%')
				i += 2
				continue
			case n >= '0' && n <= '9':
				out.WriteString(b.arg(int(n - '0')))
				i += 2
				continue
			case n == '*':
				out.WriteString(b.rest)
				i += 2
				continue
			case n == '~':
				if v, next, ok := sh.expandTilde(s, i, b); ok {
					out.WriteString(v)
					i = next
					continue
				}
			}
		}
		j := strings.IndexByte(s[i+1:], '%')
		if j < 0 || strings.IndexByte(s[i+1:i+1+j], '\n') >= 0 {
			if b == nil {
				out.WriteByte('%')
			}
			i++
			continue
		}
		name := s[i+1 : i+1+j]
		if name == "" {
			// Command line: "%%" is a literal % and the second one may open
			// a reference.
			out.WriteByte('%')
			i++
			continue
		}
		if v, ok := sh.expandVar(name); ok {
			out.WriteString(v)
			i += j + 2
			continue
		}
		if b != nil {
			i += j + 2
			continue
		}
		// Command line, undefined: keep "%name" and let the closing % start
		// the next reference.
		out.WriteByte('%')
		out.WriteString(name)
		i += j + 1
	}
	return out.String()
}

// arg returns %n.
func (b *batchFrame) arg(n int) string {
	if n < len(b.args) {
		return b.args[n]
	}
	return ""
}

// expandTilde expands %~[fdpnxsatz]N at s[i:]. ok is false when the text is
// not such a reference (then the caller treats the % normally).
func (sh *shell) expandTilde(s string, i int, b *batchFrame) (v string, next int, ok bool) {
	j := i + 2
	var mods []byte
	for j < len(s) && strings.IndexByte("fdpnxsatzFDPNXSATZ", s[j]) >= 0 {
		mods = append(mods, s[j]|0x20)
		j++
	}
	if j >= len(s) || s[j] < '0' || s[j] > '9' {
		return "", 0, false
	}
	n := int(s[j] - '0')
	raw := b.arg(n)
	plain := strings.ReplaceAll(raw, `"`, "")
	if len(mods) == 0 {
		return trimQuotes(raw), j + 1, true
	}
	if plain == "" {
		return "", j + 1, true
	}
	full := b.path
	if n != 0 {
		full = resolvePath(sh.env.Cwd(), plain)
	}
	has := func(m byte) bool { return strings.IndexByte(string(mods), m) >= 0 }
	if has('f') {
		return full, j + 1, true
	}
	drive, dir, name, ext := splitPath(full)
	var out strings.Builder
	if has('d') {
		out.WriteString(drive)
	}
	if has('p') {
		out.WriteString(dir)
	}
	if has('n') {
		out.WriteString(name)
	}
	if has('x') {
		out.WriteString(ext)
	}
	return out.String(), j + 1, true
}

// trimQuotes removes one pair of surrounding quotes, as %~1 does.
func trimQuotes(s string) string {
	if strings.HasPrefix(s, `"`) {
		s = strings.TrimSuffix(s[1:], `"`)
	}
	return s
}

// expandVar resolves a reference body: NAME, NAME:~start,len or
// NAME:old=new (`set /?`).
func (sh *shell) expandVar(ref string) (string, bool) {
	name, mod, hasMod := strings.Cut(ref, ":")
	v, ok := sh.env.lookup(name, sh.cmdline)
	if !ok {
		return "", false
	}
	if !hasMod {
		return v, true
	}
	if strings.HasPrefix(mod, "~") {
		return substring(v, mod[1:])
	}
	old, repl, found := strings.Cut(mod, "=")
	if !found || old == "" || old == "*" {
		return "", false
	}
	return replaceFold(v, old, repl), true
}

// substring applies a :~start[,length] modifier; offsets count bytes.
func substring(v, spec string) (string, bool) {
	startS, lenS, hasLen := strings.Cut(spec, ",")
	start, ok := parseCmdNumber(strings.TrimSpace(startS))
	if !ok {
		return "", false
	}
	n := len(v)
	if start < 0 {
		start += n
		if start < 0 {
			start = 0
		}
	}
	if start > n {
		start = n
	}
	end := n
	if hasLen {
		l, ok := parseCmdNumber(strings.TrimSpace(lenS))
		if !ok {
			return "", false
		}
		if l < 0 {
			end = n + l
		} else if start+l < n {
			end = start + l
		}
	}
	if end < start {
		return "", true
	}
	return v[start:end], true
}

// replaceFold replaces every case-insensitive (ASCII) occurrence of old in
// v by repl; an old of "*text" replaces everything up to and including the
// first occurrence of text.
func replaceFold(v, old, repl string) string {
	if strings.HasPrefix(old, "*") {
		k := indexFold(v, old[1:])
		if k < 0 {
			return v
		}
		return repl + v[k+len(old)-1:]
	}
	var out strings.Builder
	for {
		k := indexFold(v, old)
		if k < 0 {
			out.WriteString(v)
			return out.String()
		}
		out.WriteString(v[:k])
		out.WriteString(repl)
		v = v[k+len(old):]
	}
}

func indexFold(s, sub string) int {
	if sub == "" {
		return -1
	}
	for k := 0; k+len(sub) <= len(s); k++ {
		if strings.EqualFold(s[k:k+len(sub)], sub) {
			return k
		}
	}
	return -1
}

// parseCmdNumber parses a number the way cmd.exe does in IF comparisons and
// substring offsets: optional sign, then decimal, 0x hexadecimal or
// 0-prefixed octal, as a 32-bit value (dbenham, "Rules for how CMD.EXE
// parses numbers", dostips.com forum t=3758).
func parseCmdNumber(s string) (int, bool) {
	neg := false
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	base := 10
	switch {
	case len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X"):
		base, s = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, s = 8, s[1:]
	}
	u, err := strconv.ParseUint(s, base, 32)
	if err != nil {
		return 0, false
	}
	v := int(int32(uint32(u)))
	if neg {
		v = -v
	}
	return v, true
}

// expandDelayed performs phase 5, !VAR! expansion, on text that contains a
// "!" (`cmd /?`, /V:ON; `setlocal /?`). In that phase a caret escapes the
// next character, quotes are not special, and a "!" without a partner is
// removed. An undefined variable becomes empty in a batch file and stays as
// written on the command line (the latter is unverified).
func (sh *shell) expandDelayed(s string) string {
	if !sh.delayed || strings.IndexByte(s, '!') < 0 {
		return s
	}
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '^':
			if i+1 < len(s) {
				i++
				out.WriteByte(s[i])
			}
		case '!':
			j := strings.IndexByte(s[i+1:], '!')
			if j < 0 {
				continue
			}
			name := s[i+1 : i+1+j]
			if v, ok := sh.expandVar(name); ok && name != "" {
				out.WriteString(v)
			} else if sh.batch == nil && name != "" {
				out.WriteString(s[i : i+j+2])
			}
			i += j + 1
		default:
			out.WriteByte(c)
		}
	}
	return out.String()
}
