package cmdexe

import (
	"errors"
	"strings"
)

// The parser is cmd.exe's "phase 2" (see the description of cmd.exe's
// parsing phases in the answer to "How does the Windows Command Interpreter
// (CMD.EXE) parse scripts?", stackoverflow.com/q/4094699, and `cmd /?`):
// it runs on text whose %VAR% references are already expanded, honours
// quotes and carets, splits on & && || | and newlines (inside parenthesised
// blocks read from a batch file), pulls redirections out of each command and
// recognises the forms that change how the rest is read: ( ... ), IF and
// REM. Precedence, loosest first: & and newline, then && and ||, then |.

// node is one parsed piece of a command line.
type node interface{ isNode() }

// cmdNode is a simple command: its text with carets removed and
// redirections cut out (quotes kept, surrounding spaces kept), as the
// command or program will see it.
type cmdNode struct {
	text   string
	redirs []redir
}

// blockNode is a parenthesised command list with redirections that apply
// to all of it.
type blockNode struct {
	body   node // may be nil for ()
	redirs []redir
}

type ifKind int

const (
	ifCompare ifKind = iota
	ifErrorlevel
	ifExist
	ifDefined
	ifCmdExtVersion
)

// ifNode is IF [/I] [NOT] condition command [ELSE command].
type ifNode struct {
	ci, not bool
	kind    ifKind
	a, op   string
	b       string
	then    node
	els     node
}

// binNode joins two commands with &, &&, || or |.
type binNode struct {
	op   string
	l, r node
}

func (*cmdNode) isNode()   {}
func (*blockNode) isNode() {}
func (*ifNode) isNode()    {}
func (*binNode) isNode()   {}

// redir is one redirection: fd op target, or fd>&dup / fd<&dup.
type redir struct {
	fd     int
	op     string // ">", ">>" or "<"
	target string // with quotes as written; empty when dup >= 0
	dup    int    // handle to duplicate, or -1
}

// errIncomplete says the text ended inside a parenthesised block; a batch
// reader appends the next line and parses again.
var errIncomplete = errors.New("more input needed to close a parenthesised block")

// syntaxError is a parse failure reported the way cmd.exe reports it.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return e.msg }

func unexpected(tok string) *syntaxError {
	return &syntaxError{msg: tok + " was unexpected at this time."}
}

var errSyntax = &syntaxError{msg: "The syntax of the command is incorrect."}

type parser struct {
	s     string
	i     int
	depth int
	// lenient treats the end of the text as closing every open block
	// instead of failing with errIncomplete.
	lenient bool
}

// parseLine parses one logical line (batch lines of a multi-line block are
// joined with "\n"). A nil node with a nil error means there is nothing to
// run.
func parseLine(s string, lenient bool) (node, error) {
	p := &parser{s: s, lenient: lenient}
	n, err := p.parseSeq(false)
	if err != nil {
		return nil, err
	}
	if p.i < len(p.s) {
		// parseSeq stops early only at text it cannot place, such as an
		// ELSE after a block that no IF owns.
		end := p.i
		for end < len(p.s) && !isDelim(p.s[end]) && p.s[end] != '\n' {
			end++
		}
		return nil, unexpected(p.s[p.i:end])
	}
	return n, nil
}

func (p *parser) eof() bool { return p.i >= len(p.s) }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.i]
}

func (p *parser) hasPrefix(s string) bool { return strings.HasPrefix(p.s[p.i:], s) }

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// isDelim reports cmd.exe's token delimiters (`cmd /?`: "The special
// characters that require quotes are ... ;,=" and the parsing phases
// answer): they separate a command name from its arguments and are skipped
// before a command.
func isDelim(c byte) bool {
	return c == ' ' || c == '\t' || c == ',' || c == ';' || c == '=' || c == '\v' || c == '\f'
}

func (p *parser) skipSpace() {
	for !p.eof() && isSpace(p.s[p.i]) {
		p.i++
	}
}

// atListEnd reports whether the current command list ends here: end of
// text, a ")" closing an open block, or (for IF bodies) a newline.
func (p *parser) atListEnd(stopAtNewline bool) bool {
	if p.eof() {
		return true
	}
	c := p.s[p.i]
	return (c == ')' && p.depth > 0) || (c == '\n' && stopAtNewline)
}

// parseSeq parses commands joined by & (and by newlines unless
// stopAtNewline).
func (p *parser) parseSeq(stopAtNewline bool) (node, error) {
	left, err := p.parseCond(stopAtNewline)
	if err != nil {
		return nil, err
	}
	for !p.atListEnd(stopAtNewline) {
		c := p.s[p.i]
		if c != '&' && c != '\n' {
			// A ")" at depth 0 that parseCond left behind.
			return left, nil
		}
		p.i++
		right, err := p.parseCond(stopAtNewline)
		if err != nil {
			return nil, err
		}
		left = join("&", left, right)
	}
	return left, nil
}

func join(op string, l, r node) node {
	if l == nil {
		return r
	}
	if r == nil {
		return l
	}
	return &binNode{op: op, l: l, r: r}
}

// parseCond parses commands joined by && and ||.
func (p *parser) parseCond(stopAtNewline bool) (node, error) {
	left, err := p.parsePipe(stopAtNewline)
	if err != nil {
		return nil, err
	}
	for p.hasPrefix("&&") || p.hasPrefix("||") {
		op := p.s[p.i : p.i+2]
		if left == nil {
			return nil, unexpected(op)
		}
		p.i += 2
		right, err := p.parsePipe(stopAtNewline)
		if err != nil {
			return nil, err
		}
		if right == nil {
			return nil, errSyntax
		}
		left = &binNode{op: op, l: left, r: right}
	}
	return left, nil
}

// parsePipe parses commands joined by a single |.
func (p *parser) parsePipe(stopAtNewline bool) (node, error) {
	left, err := p.parseCommand(stopAtNewline)
	if err != nil {
		return nil, err
	}
	for p.peek() == '|' && !p.hasPrefix("||") {
		if left == nil {
			return nil, unexpected("|")
		}
		p.i++
		right, err := p.parseCommand(stopAtNewline)
		if err != nil {
			return nil, err
		}
		if right == nil {
			return nil, errSyntax
		}
		left = &binNode{op: "|", l: left, r: right}
	}
	return left, nil
}

// keyword reports whether the text at the cursor is word (case-insensitive)
// followed by a delimiter, the end, or one of the extra bytes in after.
func (p *parser) keyword(word, after string) bool {
	rest := p.s[p.i:]
	if len(rest) < len(word) || !strings.EqualFold(rest[:len(word)], word) {
		return false
	}
	if len(rest) == len(word) {
		return true
	}
	c := rest[len(word)]
	return isDelim(c) || c == '\n' || strings.IndexByte(after, c) >= 0
}

// parseCommand parses one command: a block, an IF, a REM or a simple
// command. It returns nil when there is no command before the next
// operator.
func (p *parser) parseCommand(stopAtNewline bool) (node, error) {
	for !p.eof() && (isDelim(p.s[p.i]) || p.s[p.i] == '@') {
		p.i++
	}
	if p.eof() {
		return nil, nil
	}
	switch c := p.s[p.i]; {
	case c == '(':
		return p.parseBlock()
	case c == ')' && p.depth == 0:
		// A stray ")" where a command starts: cmd.exe skips the rest of
		// the line.
		p.skipToLineEnd()
		return nil, nil
	case p.keyword("if", ""):
		return p.parseIf()
	case p.keyword("for", ""):
		return p.parseFor()
	case p.keyword("rem", "/"):
		// REM ends at the end of the line and hides every operator on it,
		// including a ")" meant to close a block.
		start := p.i
		p.skipToLineEnd()
		return &cmdNode{text: p.s[start:p.i]}, nil
	}
	return p.parseSimple()
}

func (p *parser) skipToLineEnd() {
	if j := strings.IndexByte(p.s[p.i:], '\n'); j >= 0 {
		p.i += j
	} else {
		p.i = len(p.s)
	}
}

func (p *parser) parseBlock() (node, error) {
	p.i++ // (
	p.depth++
	body, err := p.parseSeq(false)
	if err != nil {
		return nil, err
	}
	p.depth--
	if p.eof() {
		if !p.lenient {
			return nil, errIncomplete
		}
	} else {
		p.i++ // )
	}
	b := &blockNode{body: body}
	// Redirections may follow the closing parenthesis; other text there is
	// ignored.
	for !p.eof() {
		c := p.s[p.i]
		switch {
		case isDelim(c):
			p.i++
			continue
		case c == '>' || c == '<':
			r, err := p.parseRedir(-1)
			if err != nil {
				return nil, err
			}
			b.redirs = append(b.redirs, r)
			continue
		case c >= '0' && c <= '9' && p.i+1 < len(p.s) && (p.s[p.i+1] == '>' || p.s[p.i+1] == '<'):
			p.i++
			r, err := p.parseRedir(int(c - '0'))
			if err != nil {
				return nil, err
			}
			b.redirs = append(b.redirs, r)
			continue
		}
		if c == '&' || c == '|' || c == '\n' || (c == ')' && p.depth > 0) {
			break
		}
		if p.keyword("else", "(") {
			break
		}
		p.i++
	}
	return b, nil
}

// parseSimple reads a simple command up to the next operator, removing
// escaping carets and cutting redirections out of the text.
func (p *parser) parseSimple() (node, error) {
	var text strings.Builder
	var redirs []redir
	inQuotes := false
	// lastPlain is the length of text just after the last byte that was
	// written unquoted and unescaped, so a digit there may name a handle.
	lastPlain := -1
	for !p.eof() {
		c := p.s[p.i]
		if c == '\n' {
			break
		}
		if inQuotes {
			if c == '"' {
				inQuotes = false
			}
			text.WriteByte(c)
			p.i++
			continue
		}
		switch c {
		case '"':
			inQuotes = true
			text.WriteByte(c)
			p.i++
			continue
		case '^':
			p.i++
			if !p.eof() && p.s[p.i] != '\n' {
				text.WriteByte(p.s[p.i])
				p.i++
			}
			continue
		case '&', '|':
			return simple(text.String(), redirs), nil
		case ')':
			if p.depth > 0 {
				return simple(text.String(), redirs), nil
			}
		case '<', '>':
			fd := -1
			t := text.String()
			// A single digit right before the operator, itself at the start
			// of a token, names the handle: `echo x 2>nul` but not
			// `echo x2>nul` (which writes "x2").
			if n := len(t); n > 0 && lastPlain == n && t[n-1] >= '0' && t[n-1] <= '9' && (n == 1 || isDelim(t[n-2])) {
				fd = int(t[n-1] - '0')
				text.Reset()
				text.WriteString(t[:n-1])
			}
			r, err := p.parseRedir(fd)
			if err != nil {
				return nil, err
			}
			redirs = append(redirs, r)
			lastPlain = -1
			continue
		}
		text.WriteByte(c)
		p.i++
		lastPlain = text.Len()
	}
	return simple(text.String(), redirs), nil
}

func simple(text string, redirs []redir) node {
	if strings.TrimLeft(text, " \t,;=") == "" && len(redirs) == 0 {
		return nil
	}
	return &cmdNode{text: text, redirs: redirs}
}

// parseRedir parses a redirection operator at the cursor and its target.
// fd < 0 means the operator's default handle.
func (p *parser) parseRedir(fd int) (redir, error) {
	r := redir{dup: -1}
	switch {
	case p.hasPrefix(">>"):
		r.op = ">>"
		p.i += 2
	case p.peek() == '>':
		r.op = ">"
		p.i++
	default:
		r.op = "<"
		p.i++
	}
	r.fd = fd
	if fd < 0 {
		r.fd = 1
		if r.op == "<" {
			r.fd = 0
		}
	}
	if p.peek() == '&' && p.i+1 < len(p.s) && p.s[p.i+1] >= '0' && p.s[p.i+1] <= '9' {
		r.dup = int(p.s[p.i+1] - '0')
		p.i += 2
		return r, nil
	}
	p.skipSpace()
	var t strings.Builder
	inQuotes := false
	for !p.eof() {
		c := p.s[p.i]
		if c == '\n' {
			break
		}
		if inQuotes {
			if c == '"' {
				inQuotes = false
			}
			t.WriteByte(c)
			p.i++
			continue
		}
		if c == '"' {
			inQuotes = true
		} else if c == '^' {
			p.i++
			if !p.eof() && p.s[p.i] != '\n' {
				t.WriteByte(p.s[p.i])
				p.i++
			}
			continue
		} else if isSpace(c) || c == '&' || c == '|' || c == '<' || c == '>' || (c == ')' && p.depth > 0) {
			break
		}
		t.WriteByte(c)
		p.i++
	}
	if t.Len() == 0 {
		return r, errSyntax
	}
	r.target = t.String()
	return r, nil
}

// parseIf parses IF [/I] [NOT] condition command [ELSE command] (`if /?`).
func (p *parser) parseIf() (node, error) {
	p.i += 2
	p.skipSpace()
	n := &ifNode{}
	if p.keyword("/i", "") {
		n.ci = true
		p.i += 2
		p.skipSpace()
	}
	if p.keyword("not", "") {
		n.not = true
		p.i += 3
		p.skipSpace()
	}
	switch {
	case p.keyword("errorlevel", ""):
		n.kind = ifErrorlevel
		p.i += len("errorlevel")
	case p.keyword("exist", ""):
		n.kind = ifExist
		p.i += len("exist")
	case p.keyword("defined", ""):
		n.kind = ifDefined
		p.i += len("defined")
	case p.keyword("cmdextversion", ""):
		n.kind = ifCmdExtVersion
		p.i += len("cmdextversion")
	default:
		n.kind = ifCompare
	}
	p.skipSpace()
	n.a = p.ifToken()
	if n.a == "" {
		return nil, errSyntax
	}
	if n.kind == ifCompare {
		p.skipSpace()
		if p.hasPrefix("==") {
			n.op = "=="
			for p.peek() == '=' {
				p.i++
			}
		} else {
			start := p.i
			for !p.eof() && !isDelim(p.s[p.i]) && p.s[p.i] != '\n' {
				p.i++
			}
			n.op = strings.ToUpper(p.s[start:p.i])
			switch n.op {
			case "EQU", "NEQ", "LSS", "LEQ", "GTR", "GEQ":
			case "":
				return nil, errSyntax
			default:
				return nil, unexpected(p.s[start:p.i])
			}
		}
		p.skipSpace()
		n.b = p.ifToken()
		if n.b == "" {
			return nil, errSyntax
		}
	}
	var err error
	n.then, n.els, err = p.parseIfBodies()
	if err != nil {
		return nil, err
	}
	if n.then == nil {
		return nil, errSyntax
	}
	return n, nil
}

// ifToken reads one IF operand: quoted parts keep their delimiters and
// quotes; carets outside quotes escape.
func (p *parser) ifToken() string {
	var t strings.Builder
	inQuotes := false
	for !p.eof() {
		c := p.s[p.i]
		if c == '\n' {
			break
		}
		if inQuotes {
			if c == '"' {
				inQuotes = false
			}
			t.WriteByte(c)
			p.i++
			continue
		}
		switch {
		case c == '"':
			inQuotes = true
		case c == '^':
			p.i++
			if !p.eof() && p.s[p.i] != '\n' {
				t.WriteByte(p.s[p.i])
				p.i++
			}
			continue
		case isDelim(c) || c == '&' || c == '|' || c == '<' || c == '>' || c == '(' || (c == ')' && p.depth > 0):
			return t.String()
		}
		t.WriteByte(c)
		p.i++
	}
	return t.String()
}

// parseIfBodies parses the command of an IF and its ELSE. A command that is
// not a parenthesised block runs to the end of the line, operators
// included, so `if 1==2 echo a & echo b` prints nothing; ELSE is only
// recognised after a block.
func (p *parser) parseIfBodies() (then, els node, err error) {
	for !p.eof() && isDelim(p.s[p.i]) {
		p.i++
	}
	if p.peek() != '(' {
		then, err = p.parseSeq(true)
		return then, nil, err
	}
	then, err = p.parseBlock()
	if err != nil {
		return nil, nil, err
	}
	save := p.i
	p.skipSpace()
	if !p.keyword("else", "(") {
		p.i = save
		return then, nil, nil
	}
	p.i += len("else")
	for !p.eof() && isDelim(p.s[p.i]) {
		p.i++
	}
	if p.peek() == '(' {
		els, err = p.parseBlock()
	} else {
		els, err = p.parseSeq(true)
	}
	if err != nil {
		return nil, nil, err
	}
	if els == nil {
		return nil, nil, errSyntax
	}
	return then, els, nil
}
