package cmdexe

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
)

// FOR (`for /?`), in the forms that need no directory listing: a list of
// words, /L counting and /F over a string, a file's lines or a command's
// output. Words with wildcards match nothing here (the FS cannot list
// directories), and /D and /R are not modelled.

// forNode is FOR [/L|/F ["options"]] %v IN (set) DO command.
type forNode struct {
	kind     byte // 0, 'l' or 'f'
	options  string
	variable byte
	set      string
	body     node
}

func (*forNode) isNode() {}

// parseFor parses a FOR command at the cursor (on "for").
func (p *parser) parseFor() (node, error) {
	p.i += 3
	n := &forNode{}
	for {
		p.skipSpace()
		if p.peek() != '/' || p.i+1 >= len(p.s) {
			break
		}
		sw := p.s[p.i+1] | 0x20
		switch sw {
		case 'l', 'f':
			n.kind = sw
		case 'd', 'r':
			return nil, errSyntax
		default:
			return nil, unexpected(p.s[p.i : p.i+2])
		}
		p.i += 2
		if sw == 'f' {
			p.skipSpace()
			if p.peek() == '"' {
				end := strings.IndexByte(p.s[p.i+1:], '"')
				if end < 0 {
					return nil, errSyntax
				}
				n.options = p.s[p.i+1 : p.i+1+end]
				p.i += end + 2
			}
		}
	}
	if p.peek() != '%' || p.i+1 >= len(p.s) {
		return nil, unexpected(p.ifToken())
	}
	n.variable = p.s[p.i+1]
	p.i += 2
	p.skipSpace()
	if !p.keyword("in", "(") {
		return nil, unexpected(p.ifToken())
	}
	p.i += 2
	p.skipSpace()
	if p.peek() != '(' {
		return nil, errSyntax
	}
	p.i++
	var set strings.Builder
	inQuotes := false
	for {
		if p.eof() {
			return nil, errSyntax
		}
		c := p.s[p.i]
		p.i++
		if c == '"' {
			inQuotes = !inQuotes
		} else if !inQuotes && c == '^' && !p.eof() {
			c = p.s[p.i]
			p.i++
		} else if !inQuotes && c == ')' {
			break
		}
		set.WriteByte(c)
	}
	n.set = set.String()
	p.skipSpace()
	if !p.keyword("do", "(") {
		return nil, unexpected(p.ifToken())
	}
	p.i += 2
	for !p.eof() && isDelim(p.s[p.i]) {
		p.i++
	}
	var err error
	if p.peek() == '(' {
		n.body, err = p.parseBlock()
	} else {
		n.body, err = p.parseSeq(true)
	}
	if err != nil {
		return nil, err
	}
	if n.body == nil {
		return nil, errSyntax
	}
	return n, nil
}

// execFor runs the body once per value with the FOR variable set.
func (sh *shell) execFor(ctx context.Context, n *forNode, std stdio) (int32, control) {
	set := sh.expandDelayed(sh.expandForVars(n.set))
	var rows [][]string
	switch n.kind {
	case 'l':
		nums := strings.FieldsFunc(set, func(r rune) bool { return r < 0x80 && isDelim(byte(r)) })
		vals := []int{0, 0, 0}
		for i := range vals {
			if i < len(nums) {
				vals[i], _ = parseCmdNumber(nums[i])
			}
		}
		start, step, end := vals[0], vals[1], vals[2]
		for i := start; (step > 0 && i <= end) || (step < 0 && i >= end) || (step == 0 && i <= end); i += step {
			rows = append(rows, []string{strconv.Itoa(i)})
			if int64(len(rows)) > maxSteps {
				break
			}
		}
	case 'f':
		var ok bool
		rows, ok = sh.forFRows(ctx, n, set, std)
		if !ok {
			return 1, control{}
		}
	default:
		for _, w := range forWords(set) {
			if !strings.ContainsAny(w, "*?") {
				rows = append(rows, []string{w})
			}
		}
	}
	if sh.forVars == nil {
		sh.forVars = map[byte]string{}
	}
	defer func() {
		for i := range len(rowsWidth(rows)) {
			delete(sh.forVars, n.variable+byte(i))
		}
	}()
	var rc int32
	for _, row := range rows {
		if ctl, ok := sh.step(ctx, std); !ok {
			return 1, ctl
		}
		for i, v := range row {
			sh.forVars[n.variable+byte(i)] = v
		}
		var ctl control
		rc, ctl = sh.exec(ctx, n.body, std)
		if ctl.kind != ctlNone {
			return rc, ctl
		}
	}
	return rc, control{}
}

func rowsWidth(rows [][]string) []struct{} {
	w := 0
	for _, r := range rows {
		w = max(w, len(r))
	}
	return make([]struct{}, w)
}

// forWords splits a plain FOR set on delimiters; quoted words stay whole.
func forWords(set string) []string {
	var words []string
	i := 0
	for i < len(set) {
		for i < len(set) && isDelim(set[i]) {
			i++
		}
		start := i
		inQuotes := false
		for i < len(set) && (inQuotes || !isDelim(set[i])) {
			if set[i] == '"' {
				inQuotes = !inQuotes
			}
			i++
		}
		if i > start {
			words = append(words, set[start:i])
		}
	}
	return words
}

// forFOptions are FOR /F's parsing options.
type forFOptions struct {
	tokens   []int // 1-based, ascending
	star     bool  // the remainder after the last token goes to one more variable
	delims   string
	skip     int
	eol      byte
	noEOL    bool
	usebackq bool
}

func parseForFOptions(s string) (forFOptions, bool) {
	o := forFOptions{tokens: []int{1}, delims: " \t", eol: ';'}
	for s != "" {
		s = strings.TrimLeft(s, " \t")
		low := strings.ToLower(s)
		switch {
		case strings.HasPrefix(low, "delims="):
			// delims= runs to the end or the next option after a space.
			v := s[len("delims="):]
			o.delims = v
			s = ""
			for _, opt := range []string{" tokens=", " skip=", " eol=", " usebackq"} {
				if k := strings.Index(strings.ToLower(v), opt); k >= 0 {
					o.delims, s = v[:k], v[k:]
					break
				}
			}
		case strings.HasPrefix(low, "tokens="):
			v, rest, _ := strings.Cut(s[len("tokens="):], " ")
			s = rest
			o.tokens = nil
			if strings.HasSuffix(v, "*") {
				o.star = true
				v = v[:len(v)-1]
			}
			for _, part := range strings.Split(v, ",") {
				if part == "" {
					continue
				}
				lo, hi, isRange := strings.Cut(part, "-")
				a, err := strconv.Atoi(lo)
				if err != nil || a < 1 || a > 31 {
					return o, false
				}
				b := a
				if isRange {
					if b, err = strconv.Atoi(hi); err != nil || b < a || b > 31 {
						return o, false
					}
				}
				for t := a; t <= b; t++ {
					o.tokens = append(o.tokens, t)
				}
			}
		case strings.HasPrefix(low, "skip="):
			v, rest, _ := strings.Cut(s[len("skip="):], " ")
			s = rest
			n, ok := parseCmdNumber(v)
			if !ok || n < 0 {
				return o, false
			}
			o.skip = n
		case strings.HasPrefix(low, "eol="):
			v := s[len("eol="):]
			if v == "" {
				o.noEOL = true
				s = ""
			} else {
				o.eol = v[0]
				s = v[1:]
			}
		case strings.HasPrefix(low, "usebackq"):
			o.usebackq = true
			s = s[len("usebackq"):]
		default:
			return o, false
		}
	}
	return o, true
}

// forFRows reads FOR /F's source and splits it into rows of token values.
func (sh *shell) forFRows(ctx context.Context, n *forNode, set string, std stdio) ([][]string, bool) {
	o, ok := parseForFOptions(n.options)
	if !ok {
		fmt.Fprintf(std.err, "%s was unexpected at this time.\r\n", n.options)
		sh.env.errorLevel = 1
		return nil, false
	}
	src := strings.TrimSpace(set)
	strQ, cmdQ := byte('"'), byte('\'')
	if o.usebackq {
		strQ, cmdQ = '\'', '`'
	}
	var text string
	switch {
	case len(src) >= 2 && src[0] == cmdQ && src[len(src)-1] == cmdQ:
		var buf bytes.Buffer
		child := sh.sub()
		child.batch = nil
		ctl := child.runLine(ctx, src[1:len(src)-1], stdio{in: std.in, out: &buf, err: std.err})
		if ctl.kind == ctlAbort {
			return nil, false
		}
		text = buf.String()
	case len(src) >= 2 && src[0] == strQ && src[len(src)-1] == strQ:
		text = src[1 : len(src)-1]
	default:
		var b strings.Builder
		for _, name := range forWords(src) {
			data, err := sh.fs.ReadFile(resolvePath(sh.env.cwd, strings.ReplaceAll(name, `"`, "")))
			if err != nil {
				fmt.Fprintf(std.err, "The system cannot find the file %s.\r\n", name)
				sh.env.errorLevel = 1
				return nil, false
			}
			b.Write(data)
			b.WriteByte('\n')
		}
		text = b.String()
	}
	var rows [][]string
	skip := o.skip
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		if !o.noEOL && line[0] == o.eol {
			continue
		}
		if row := splitForFLine(line, o); row != nil {
			rows = append(rows, row)
		}
	}
	return rows, true
}

// splitForFLine returns the values for one line, or nil when the line has
// none of the requested tokens.
func splitForFLine(line string, o forFOptions) []string {
	isD := func(c byte) bool { return strings.IndexByte(o.delims, c) >= 0 }
	type span struct{ start, end int }
	var toks []span
	for i := 0; i < len(line); {
		for i < len(line) && isD(line[i]) {
			i++
		}
		start := i
		for i < len(line) && !isD(line[i]) {
			i++
		}
		if i > start {
			toks = append(toks, span{start, i})
		}
	}
	if len(toks) == 0 {
		return nil
	}
	var row []string
	last := 0
	for _, t := range o.tokens {
		if t <= len(toks) {
			row = append(row, line[toks[t-1].start:toks[t-1].end])
		} else {
			row = append(row, "")
		}
		last = t
	}
	if o.star {
		rest := ""
		if last < len(toks) {
			rest = line[toks[last].start:]
		}
		row = append(row, rest)
	}
	if strings.Join(row, "") == "" {
		return nil
	}
	return row
}

// expandForVars substitutes the active FOR variables (%v and %~[mods]v)
// in text; it runs on each command before delayed expansion.
func (sh *shell) expandForVars(s string) string {
	if len(sh.forVars) == 0 || strings.IndexByte(s, '%') < 0 {
		return s
	}
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 >= len(s) {
			out.WriteByte(s[i])
			continue
		}
		if v, ok := sh.forVars[s[i+1]]; ok {
			out.WriteString(v)
			i++
			continue
		}
		if s[i+1] == '~' {
			// Modifier letters, then the variable; a variable that is
			// itself a modifier letter ends the run (%~ff with %f).
			j := i + 2
			for j < len(s) && strings.IndexByte("fdpnxsatzFDPNXSATZ", s[j]) >= 0 {
				j++
			}
			if _, ok := sh.forVars[at(s, j)]; !ok && j > i+2 {
				if _, ok := sh.forVars[s[j-1]]; ok {
					j--
				}
			}
			if v, ok := sh.forVars[at(s, j)]; ok && j < len(s) {
				out.WriteString(sh.pathModifiers(v, strings.ToLower(s[i+2:j])))
				i = j
				continue
			}
		}
		out.WriteByte('%')
	}
	return out.String()
}

func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// pathModifiers applies %~ modifiers (f, d, p, n, x; s, a, t and z give
// nothing here) to a value; no modifiers just removes surrounding quotes.
func (sh *shell) pathModifiers(raw, mods string) string {
	if mods == "" {
		return trimQuotes(raw)
	}
	plain := strings.ReplaceAll(raw, `"`, "")
	if plain == "" {
		return ""
	}
	full := resolvePath(sh.env.cwd, plain)
	if strings.Contains(mods, "f") {
		return full
	}
	drive, dir, name, ext := splitPath(full)
	var out strings.Builder
	if strings.Contains(mods, "d") {
		out.WriteString(drive)
	}
	if strings.Contains(mods, "p") {
		out.WriteString(dir)
	}
	if strings.Contains(mods, "n") {
		out.WriteString(name)
	}
	if strings.Contains(mods, "x") {
		out.WriteString(ext)
	}
	return out.String()
}
