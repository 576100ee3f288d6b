package psmodel

import (
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxParseDepth bounds nesting (parentheses, blocks, strings in
// strings), so that no input makes the parser recurse without end.
const maxParseDepth = 200

// Parse parses a whole script. A syntax error PowerShell would report is
// returned as a *ParseError with PowerShell's message; text the model
// does not handle is a *ParseError with NotModelled set.
func Parse(script string) (sb *ScriptBlock, err error) {
	src := newSource(script)
	p := &parser{src: script, source: src}
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(*ParseError)
			if !ok {
				panic(r)
			}
			pe.src = src
			sb, err = nil, pe
		}
	}()
	sb = p.parseScriptBody(0, len(script))
	p.skipSeparators()
	if p.pos < len(p.src) {
		p.unexpected()
	}
	sb.src = src
	return sb, nil
}

type parser struct {
	src    string
	source *Source
	pos    int
	depth  int
	// noComma stops expressions at a comma: in method arguments and
	// parameter defaults a comma separates, it builds no array.
	noComma bool
}

// noCommaExpr parses an expression that ends at a comma.
func (p *parser) noCommaExpr() Expr {
	saved := p.noComma
	p.noComma = true
	x := p.parseBinary(0)
	p.noComma = saved
	return x
}

// --- errors ---

func (p *parser) fail(msg, id string, start, end int) {
	panic(&ParseError{Msg: msg, ID: id, Extent: Extent{start, max(end, start)}})
}

// notModelled refuses the construct at off.
func (p *parser) notModelled(off int) {
	panic(&ParseError{Msg: notModelledPrefix + p.source.trimmedLine(off), ID: "NotModelled", Extent: Extent{off, off + 1}, NotModelled: true})
}

// unexpected reports the token at the current position as PowerShell's
// "Unexpected token" error.
func (p *parser) unexpected() {
	start := p.pos
	tok := p.tokenText()
	p.fail("Unexpected token '"+tok+"' in expression or statement.", "UnexpectedToken", start, start+len(tok))
}

// tokenText is roughly the token at the current position, for messages.
func (p *parser) tokenText() string {
	if p.pos >= len(p.src) {
		return ""
	}
	i := p.pos
	c := p.src[i]
	switch {
	case c == '\'' || c == '"':
		j := strings.IndexByte(p.src[i+1:], c)
		if j >= 0 {
			return p.src[i : i+j+2]
		}
	case isWordChar(c) || c == '-' || c == '$':
		j := i + 1
		for j < len(p.src) && (isWordChar(p.src[j]) || p.src[j] == '-' || p.src[j] == ':' || p.src[j] == '.' || p.src[j] == '\\') {
			j++
		}
		return p.src[i:j]
	}
	_, n := utf8.DecodeRuneInString(p.src[i:])
	return p.src[i : i+n]
}

func (p *parser) enter() {
	p.depth++
	if p.depth > maxParseDepth {
		p.notModelled(p.pos)
	}
}

func (p *parser) leave() { p.depth-- }

// --- characters ---

func (p *parser) peek() byte { return p.peekAt(0) }

func (p *parser) peekAt(n int) byte {
	if p.pos+n < len(p.src) && p.pos+n >= 0 {
		return p.src[p.pos+n]
	}
	return 0
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func isWordChar(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\f' || c == '\v' }

// skipSpace skips blanks, comments and line continuations, not newlines.
func (p *parser) skipSpace() {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case isSpace(c):
			p.pos++
		case c == 0xC2 && p.peekAt(1) == 0xA0: // no-break space
			p.pos += 2
		case c == '`' && (p.peekAt(1) == '\n' || p.peekAt(1) == '\r'):
			p.pos++
			if p.peek() == '\r' {
				p.pos++
			}
			if p.peek() == '\n' {
				p.pos++
			}
		case c == '<' && p.peekAt(1) == '#':
			end := strings.Index(p.src[p.pos+2:], "#>")
			if end < 0 {
				p.fail("Missing the terminator '#>' of a block comment.", "MissingTerminatorMultiLineComment", p.pos, len(p.src))
			}
			p.pos += end + 4
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' && p.src[p.pos] != '\r' {
				p.pos++
			}
		default:
			return
		}
	}
}

// skipNewlines skips blanks, comments and newlines.
func (p *parser) skipNewlines() {
	for {
		p.skipSpace()
		if c := p.peek(); c == '\n' || c == '\r' {
			p.pos++
			continue
		}
		return
	}
}

// skipSeparators skips blanks, newlines and semicolons.
func (p *parser) skipSeparators() {
	for {
		p.skipNewlines()
		if p.peek() == ';' {
			p.pos++
			continue
		}
		return
	}
}

// wordAt returns the identifier-like word (letters, digits, _ and -)
// starting at the current position.
func (p *parser) wordAt() string {
	i := p.pos
	for i < len(p.src) && (isWordChar(p.src[i]) || p.src[i] == '-') {
		i++
	}
	return p.src[p.pos:i]
}

// keyword reports whether the statement keyword kw (lower case) starts
// at the current position.
func (p *parser) keyword(kw string) bool {
	if len(p.src)-p.pos < len(kw) || !strings.EqualFold(p.src[p.pos:p.pos+len(kw)], kw) {
		return false
	}
	next := p.peekAt(len(kw))
	return !isWordChar(next) && next != '-' && next != '.' && next != '\\' && next != ':'

}

// --- statements ---

// parseScriptBody parses a param() block and statements up to end or a
// closing '}'.
func (p *parser) parseScriptBody(start, end int) *ScriptBlock {
	sb := &ScriptBlock{Extent: Extent{start, end}}
	p.skipSeparators()
	if p.keyword("param") {
		save := p.pos
		p.pos += len("param")
		p.skipSpace()
		if p.peek() == '(' {
			sb.Params = p.parseParamList()
		} else {
			p.pos = save
		}
	}
	for _, kw := range []string{"begin", "process", "end", "dynamicparam"} {
		p.skipSeparators()
		if p.keyword(kw) {
			save := p.pos
			p.pos += len(kw)
			p.skipNewlines()
			if p.peek() == '{' {
				p.notModelled(save)
			}
			p.pos = save
		}
	}
	sb.Body = p.parseStatements()
	sb.End = p.pos
	return sb
}

// parseStatements parses statements until '}', ')' or the end.
func (p *parser) parseStatements() []Stmt {
	var out []Stmt
	for {
		p.skipSeparators()
		if p.eof() || p.peek() == '}' || p.peek() == ')' {
			return out
		}
		out = append(out, p.parseStatement())
		p.skipSpace()
		switch c := p.peek(); {
		case c == 0 || c == ';' || c == '\n' || c == '\r' || c == '}' || c == ')':
		case c == '&' && p.peekAt(1) == '&', c == '|' && p.peekAt(1) == '|':
			p.fail("The token '"+p.src[p.pos:p.pos+2]+"' is not a valid statement separator in this version.", "InvalidEndOfLine", p.pos, p.pos+2)
		default:
			p.unexpected()
		}
	}
}

func (p *parser) parseStatement() Stmt {
	p.enter()
	defer p.leave()
	start := p.pos
	switch {
	case p.keyword("if"):
		return p.parseIf()
	case p.keyword("foreach"):
		return p.parseForeach()
	case p.keyword("for"):
		return p.parseFor()
	case p.keyword("while"):
		p.pos += len("while")
		cond := p.parseCondition("while")
		body := p.parseBlockAfter("while")
		return &WhileStmt{Extent: Extent{start, p.pos}, Cond: cond, Body: body}
	case p.keyword("do"):
		return p.parseDo()
	case p.keyword("try"):
		return p.parseTry()
	case p.keyword("switch"):
		return p.parseSwitch()
	case p.keyword("function"):
		return p.parseFunction()
	case p.keyword("throw"), p.keyword("exit"), p.keyword("return"):
		kind := strings.ToLower(p.wordAt())
		p.pos += len(kind)
		p.skipSpace()
		st := &FlowStmt{Kind: kind}
		if !p.endOfStatement() {
			st.Value = p.parsePipeline()
		}
		st.Extent = Extent{start, p.pos}
		return st
	case p.keyword("break"), p.keyword("continue"):
		kind := strings.ToLower(p.wordAt())
		p.pos += len(kind)
		p.skipSpace()
		if !p.endOfStatement() {
			p.notModelled(start) // labelled break and continue
		}
		return &FlowStmt{Extent: Extent{start, p.pos}, Kind: kind}
	case p.keyword("filter"), p.keyword("trap"), p.keyword("class"), p.keyword("enum"),
		p.keyword("using"), p.keyword("data"), p.keyword("configuration"), p.keyword("workflow"),
		p.keyword("parallel"), p.keyword("sequence"), p.keyword("inlinescript"), p.keyword("param"),
		p.keyword("begin"), p.keyword("process"), p.keyword("end"), p.keyword("dynamicparam"):
		p.notModelled(start)
	case p.peek() == ':' && isWordChar(p.peekAt(1)):
		p.notModelled(start) // loop labels
	case p.keyword("else"), p.keyword("elseif"), p.keyword("catch"), p.keyword("finally"),
		p.keyword("until"), p.keyword("in"):
		p.unexpected()
	}
	return p.parsePipeline()
}

// endOfStatement reports whether the statement ends here.
func (p *parser) endOfStatement() bool {
	c := p.peek()
	return c == 0 || c == ';' || c == '\n' || c == '\r' || c == '}' || c == ')'
}

// parseCondition parses "( pipeline )" after a keyword.
func (p *parser) parseCondition(kw string) Stmt {
	p.skipSpace()
	if p.peek() != '(' {
		p.fail("Missing opening '(' after keyword '"+kw+"'.", "MissingOpenParenthesisAfterKeyword", p.pos, p.pos+1)
	}
	p.pos++
	p.skipNewlines()
	if p.peek() == ')' {
		p.fail("Missing condition in "+kw+" statement after '"+kw+" ('.", "IfStatementMissingCondition", p.pos, p.pos+1)
	}
	cond := p.parsePipelineOrAssign()
	p.skipNewlines()
	if p.peek() != ')' {
		p.fail("Missing closing ')' after expression in '"+kw+"' statement.", "MissingEndParenthesisAfterStatement", p.pos, p.pos+1)
	}
	p.pos++
	return cond
}

// parseBlockAfter parses the { } a keyword needs.
func (p *parser) parseBlockAfter(what string) []Stmt {
	p.skipNewlines()
	if p.peek() != '{' {
		msg := "Missing statement block after " + what + " ( condition )."
		switch what {
		case "else", "try", "finally", "catch":
			msg = "Missing statement block after '" + what + "'."
		case "do":
			msg = "Missing statement block in do loop."
		}
		p.fail(msg, "MissingStatementBlock", p.pos, p.pos+1)
	}
	return p.parseBlock()
}

// parseBlock parses { statements }.
func (p *parser) parseBlock() []Stmt {
	open := p.pos
	p.pos++
	p.enter()
	body := p.parseStatements()
	p.leave()
	if p.peek() != '}' {
		if p.peek() == ')' {
			p.unexpected()
		}
		p.fail("Missing closing '}' in statement block or type definition.", "MissingEndCurlyBrace", open, open+1)
	}
	p.pos++
	return body
}

// peekKeywordAfterNewlines looks past newlines for kw, and moves there
// only when it is found.
func (p *parser) peekKeywordAfterNewlines(kw string) bool {
	save := p.pos
	p.skipNewlines()
	if p.keyword(kw) {
		return true
	}
	p.pos = save
	return false
}

func (p *parser) parseIf() Stmt {
	st := &IfStmt{Extent: Extent{Start: p.pos}}
	p.pos += len("if")
	st.Conds = append(st.Conds, p.parseCondition("if"))
	st.Bodies = append(st.Bodies, p.parseBlockAfter("if"))
	for {
		if p.peekKeywordAfterNewlines("elseif") {
			p.pos += len("elseif")
			st.Conds = append(st.Conds, p.parseCondition("elseif"))
			st.Bodies = append(st.Bodies, p.parseBlockAfter("elseif"))
			continue
		}
		if p.peekKeywordAfterNewlines("else") {
			p.pos += len("else")
			p.skipSpace()
			if p.keyword("if") {
				p.notModelled(p.pos) // "else if" is a syntax error in PowerShell; not worth modelling
			}
			st.Else = p.parseBlockAfter("else")
			st.HasEls = true
		}
		break
	}
	st.End = p.pos
	return st
}

func (p *parser) parseForeach() Stmt {
	start := p.pos
	p.pos += len("foreach")
	p.skipSpace()
	if p.peek() == '-' {
		p.notModelled(start) // foreach -parallel
	}
	if p.peek() != '(' {
		p.fail("Missing opening '(' after keyword 'foreach'.", "MissingOpenParenthesisAfterKeyword", p.pos, p.pos+1)
	}
	p.pos++
	p.skipNewlines()
	if p.peek() != '$' {
		p.fail("Missing variable name after foreach.", "MissingVariableNameAfterForeach", p.pos, p.pos+1)
	}
	v, ok := p.parseVariable().(*VarExpr)
	if !ok || v.Scope != "" {
		p.notModelled(start)
	}
	p.skipNewlines()
	if !p.keyword("in") {
		p.fail("Missing 'in' after variable in foreach loop.", "MissingInInForeach", p.pos, p.pos+1)
	}
	p.pos += 2
	p.skipNewlines()
	in := p.parsePipelineOrAssign()
	p.skipNewlines()
	if p.peek() != ')' {
		p.fail("Missing closing ')' after expression in 'foreach' statement.", "MissingEndParenthesisAfterForeach", p.pos, p.pos+1)
	}
	p.pos++
	body := p.parseBlockAfter("foreach")
	return &ForeachStmt{Extent: Extent{start, p.pos}, Var: v.Name, In: in, Body: body}
}

func (p *parser) parseFor() Stmt {
	start := p.pos
	p.pos += len("for")
	p.skipSpace()
	if p.peek() != '(' {
		p.fail("Missing opening '(' after keyword 'for'.", "MissingOpenParenthesisAfterKeyword", p.pos, p.pos+1)
	}
	p.pos++
	st := &ForStmt{}
	parts := []*Stmt{&st.Init, &st.Cond, &st.Iter}
	for i, part := range parts {
		p.skipNewlines()
		if p.peek() != ';' && p.peek() != ')' {
			*part = p.parsePipelineOrAssign()
			p.skipNewlines()
		}
		if i < 2 && p.peek() == ';' {
			p.pos++
			continue
		}
		if p.peek() != ')' {
			p.fail("Missing closing ')' after expression in 'for' statement.", "MissingEndParenthesisAfterStatement", p.pos, p.pos+1)
		}
		if i < 2 {
			break
		}
	}
	if p.peek() != ')' {
		p.fail("Missing closing ')' after expression in 'for' statement.", "MissingEndParenthesisAfterStatement", p.pos, p.pos+1)
	}
	p.pos++
	st.Body = p.parseBlockAfter("for")
	st.Extent = Extent{start, p.pos}
	return st
}

func (p *parser) parseDo() Stmt {
	start := p.pos
	p.pos += len("do")
	body := p.parseBlockAfter("do")
	st := &WhileStmt{Body: body, Do: true}
	p.skipNewlines()
	switch {
	case p.keyword("while"):
		p.pos += len("while")
	case p.keyword("until"):
		p.pos += len("until")
		st.Until = true
	default:
		p.fail("Missing while or until keyword in do loop.", "MissingWhileOrUntilInDoWhile", p.pos, p.pos+1)
	}
	st.Cond = p.parseCondition("while")
	st.Extent = Extent{start, p.pos}
	return st
}

func (p *parser) parseTry() Stmt {
	start := p.pos
	p.pos += len("try")
	st := &TryStmt{Body: p.parseBlockAfter("try")}
	for p.peekKeywordAfterNewlines("catch") {
		p.pos += len("catch")
		var c Catch
		for {
			p.skipSpace()
			if p.peek() != '[' {
				break
			}
			c.Types = append(c.Types, p.parseTypeName())
			p.skipSpace()
			if p.peek() != ',' {
				break
			}
			p.pos++
			p.skipNewlines()
		}
		c.Body = p.parseBlockAfter("catch")
		st.Catches = append(st.Catches, c)
	}
	if p.peekKeywordAfterNewlines("finally") {
		p.pos += len("finally")
		st.Finally = p.parseBlockAfter("finally")
		st.HasFin = true
	}
	if len(st.Catches) == 0 && !st.HasFin {
		p.fail("The Try statement is missing its Catch or Finally block.", "MissingCatchOrFinally", p.pos, p.pos+1)
	}
	st.Extent = Extent{start, p.pos}
	return st
}

func (p *parser) parseSwitch() Stmt {
	start := p.pos
	p.pos += len("switch")
	st := &SwitchStmt{}
	for {
		p.skipSpace()
		if p.peek() != '-' {
			break
		}
		p.pos++
		opt := strings.ToLower(p.wordAt())
		p.pos += len(opt)
		switch opt {
		case "wildcard":
			st.Wildcard = true
		case "regex":
			st.Regex = true
		case "exact":
		default:
			p.notModelled(start)
		}
	}
	st.Value = p.parseCondition("switch")
	p.skipNewlines()
	if p.peek() != '{' {
		p.fail("Missing condition in switch statement clause.", "MissingSwitchConditionExpression", p.pos, p.pos+1)
	}
	open := p.pos
	p.pos++
	for {
		p.skipSeparators()
		if p.peek() == '}' {
			p.pos++
			break
		}
		if p.eof() {
			p.fail("Missing closing '}' in statement block or type definition.", "MissingEndCurlyBrace", open, open+1)
		}
		if p.keyword("default") {
			p.pos += len("default")
			st.Default = p.parseBlockAfter("default")
			st.HasDef = true
			continue
		}
		var cond Expr
		switch p.peek() {
		case '{':
			bs := p.pos
			body := p.parseBlock()
			cond = &BlockExpr{Extent: Extent{bs, p.pos}, Block: &ScriptBlock{Extent: Extent{bs, p.pos}, Body: body}}
		case '\'', '"', '$', '(', '@':
			cond = p.parsePostfix(p.parsePrimary())
		default:
			cond = p.parseBareArg()
		}
		p.skipNewlines()
		st.Cases = append(st.Cases, SwitchCase{Cond: cond, Body: p.parseBlockAfter("switch")})
	}
	st.Extent = Extent{start, p.pos}
	return st
}

func (p *parser) parseFunction() Stmt {
	start := p.pos
	p.pos += len("function")
	p.skipSpace()
	nameStart := p.pos
	for p.pos < len(p.src) && !isSpace(p.src[p.pos]) && !strings.ContainsRune("(){};\r\n", rune(p.src[p.pos])) {
		p.pos++
	}
	name := p.src[nameStart:p.pos]
	if name == "" {
		p.fail("Missing name after function keyword.", "MissingNameAfterKeyword", p.pos, p.pos+1)
	}
	if strings.Contains(name, ":") {
		p.notModelled(start)
	}
	p.skipSpace()
	var params []*Param
	if p.peek() == '(' {
		params = p.parseParamList()
		p.skipNewlines()
	}
	if p.peek() != '{' {
		p.fail("Missing function body in function declaration.", "MissingFunctionBody", p.pos, p.pos+1)
	}
	open := p.pos
	p.pos++
	p.enter()
	body := p.parseScriptBody(open, p.pos)
	p.leave()
	if p.peek() != '}' {
		p.fail("Missing closing '}' in statement block or type definition.", "MissingEndCurlyBrace", open, open+1)
	}
	p.pos++
	body.Extent = Extent{open, p.pos}
	if len(params) > 0 {
		if len(body.Params) > 0 {
			p.notModelled(start)
		}
		body.Params = params
	}
	return &FunctionDef{Extent: Extent{start, p.pos}, Name: name, Body: body}
}

// parseParamList parses ( [type]$name = default, ... ).
func (p *parser) parseParamList() []*Param {
	open := p.pos
	p.pos++
	var out []*Param
	for {
		p.skipNewlines()
		if p.peek() == ')' {
			p.pos++
			return out
		}
		if p.eof() {
			p.fail("Missing ')' in function parameter list.", "MissingEndParenthesisInFunctionParameterList", open, open+1)
		}
		prm := &Param{Extent: Extent{Start: p.pos}}
		for p.peek() == '[' {
			typ := p.parseTypeName()
			if strings.Contains(typ, "(") {
				p.notModelled(prm.Start) // attributes such as [Parameter(Mandatory)]
			}
			if !strings.EqualFold(typ, "switch") && !strings.EqualFold(typ, "System.Management.Automation.SwitchParameter") {
				if _, ok := lookupType(typ); !ok {
					p.notModelled(prm.Start)
				}
				prm.Type = typ
			} else {
				prm.Switch = true
			}
			p.skipNewlines()
		}
		if p.peek() != '$' {
			p.unexpected()
		}
		v, ok := p.parseVariable().(*VarExpr)
		if !ok || v.Scope != "" {
			p.notModelled(prm.Start)
		}
		prm.Name = v.Name
		p.skipNewlines()
		if p.peek() == '=' {
			p.pos++
			p.skipNewlines()
			prm.Default = p.noCommaExpr()
			p.skipNewlines()
		}
		prm.End = p.pos
		out = append(out, prm)
		if p.peek() == ',' {
			p.pos++
			continue
		}
		if p.peek() != ')' {
			p.fail("Missing ')' in function parameter list.", "MissingEndParenthesisInFunctionParameterList", p.pos, p.pos+1)
		}
	}
}

// --- pipelines ---

// parsePipelineOrAssign parses a pipeline or an assignment.
func (p *parser) parsePipelineOrAssign() Stmt { return p.parsePipeline() }

// exprStart reports whether the text here starts an expression rather
// than a command.
func (p *parser) exprStart() bool {
	c := p.peek()
	switch {
	case c == '$', c == '(', c == '\'', c == '"', c == '[', c == '!', c == ',', c == '{':
		return true
	case c == '@':
		n := p.peekAt(1)
		return n == '(' || n == '{' || n == '\'' || n == '"'
	case c >= '0' && c <= '9':
		_, _, ok := p.scanNumber(p.pos)
		return ok
	case c == '.':
		return p.peekAt(1) >= '0' && p.peekAt(1) <= '9'
	case c == '-' || c == '+':
		n := p.peekAt(1)
		if n >= '0' && n <= '9' || n == '$' || n == '(' || n == '.' {
			if c == '-' && n == '.' {
				return false
			}
			return true
		}
		if c == '-' && n == '-' || c == '+' && n == '+' {
			return p.peekAt(2) == '$'
		}
		if c == '-' {
			save := p.pos
			p.pos++
			w := strings.ToLower(p.wordAt())
			p.pos = save
			return w == "not" || w == "bnot" || w == "split" || w == "join"
		}
	}
	return false
}

// parsePipeline parses an assignment or a pipeline.
func (p *parser) parsePipeline() Stmt {
	start := p.pos
	var first PipeElem
	if p.exprStart() {
		x := p.parseExpr()
		afterExpr := p.pos
		p.skipSpace()
		if op := p.assignOp(); op != "" {
			if !assignable(x) {
				p.fail("The assignment expression is not valid. The input to an assignment operator must be an object that is able to accept assignments, such as a variable or a property.", "InvalidLeftHandSide", x.extent().Start, x.extent().End)
			}
			p.pos += len(op)
			p.skipNewlines()
			if p.endOfStatement() {
				p.fail("You must provide a value expression following the '"+op+"' operator.", "ExpectedValueExpression", p.pos, p.pos+1)
			}
			var v Stmt
			switch {
			case p.keyword("if"), p.keyword("foreach"), p.keyword("for"), p.keyword("while"), p.keyword("do"),
				p.keyword("switch"), p.keyword("try"):
				v = p.parseStatement()
			default:
				v = p.parsePipeline()
			}
			return &AssignStmt{Extent: Extent{start, p.pos}, Target: x, Op: op, Value: v}
		}
		p.pos = afterExpr
		el := &ExprElem{X: x}
		el.Redirs = p.parseRedirs()
		el.Extent = Extent{start, p.pos}
		first = el
	} else {
		first = p.parseCommand()
	}
	pl := &Pipeline{Elems: []PipeElem{first}}
	for {
		save := p.pos
		p.skipSpace()
		if p.peek() != '|' || p.peekAt(1) == '|' {
			p.pos = save
			break
		}
		bar := p.pos
		p.pos++
		p.skipNewlines()
		if p.endOfStatement() {
			p.fail("An empty pipe element is not allowed.", "EmptyPipeElement", bar, bar+1)
		}
		if p.exprStart() && p.peek() != '{' {
			if c := p.peek(); c != '-' && c != '+' && c != ',' && c != '!' {
				s := p.pos
				p.parseExpr()
				p.fail("Expressions are only allowed as the first element of a pipeline.", "ExpressionsMustBeFirstInPipeline", s, p.pos)
			}
		}
		pl.Elems = append(pl.Elems, p.parseCommand())
	}
	pl.Extent = Extent{start, p.pos}
	return pl
}

func (p *parser) assignOp() string {
	c := p.peek()
	switch {
	case c == '=' && p.peekAt(1) != '=':
		return "="
	case (c == '+' || c == '-' || c == '*' || c == '/' || c == '%') && p.peekAt(1) == '=':
		return p.src[p.pos : p.pos+2]
	}
	return ""
}

func assignable(x Expr) bool {
	switch x := x.(type) {
	case *VarExpr, *MemberExpr, *IndexExpr:
		return true
	case *CastExpr:
		_, ok := x.X.(*VarExpr)
		return ok
	case *ArrayLit:
		for _, e := range x.Elems {
			if _, ok := e.(*VarExpr); !ok {
				return false
			}
		}
		return true
	}
	return false
}

// parseRedirs parses redirections after a pipeline element.
func (p *parser) parseRedirs() []Redir {
	var out []Redir
	for {
		save := p.pos
		p.skipSpace()
		r, ok := p.parseRedir()
		if !ok {
			p.pos = save
			return out
		}
		out = append(out, r)
	}
}

// parseRedir parses one redirection here, if there is one.
func (p *parser) parseRedir() (Redir, bool) {
	start := p.pos
	c := p.peek()
	from := byte('1')
	switch {
	case c == '>':
	case (c >= '1' && c <= '6' || c == '*') && p.peekAt(1) == '>':
		from = c
		p.pos++
	case c == '<':
		p.fail("The '<' operator is reserved for future use.", "RedirectionNotSupported", p.pos, p.pos+1)
	default:
		return Redir{}, false
	}
	p.pos++ // '>'
	r := Redir{From: from}
	if p.peek() == '>' {
		r.Append = true
		p.pos++
	}
	if !r.Append && p.peek() == '&' {
		p.pos++
		if p.peek() != '1' {
			p.notModelled(start)
		}
		p.pos++
		r.Merge = true
		r.Extent = Extent{start, p.pos}
		return r, true
	}
	p.skipSpace()
	if p.endOfStatement() || p.peek() == '|' {
		p.fail("Missing file specification after redirection operator.", "MissingFileSpecification", p.pos, p.pos+1)
	}
	r.To = p.parseArgValue()
	r.Extent = Extent{start, p.pos}
	return r, true
}

// --- commands ---

// parseCommand parses a command and its arguments.
func (p *parser) parseCommand() *Command {
	p.enter()
	defer p.leave()
	start := p.pos
	c := &Command{}
	if ch := p.peek(); (ch == '&' || ch == '.') && (isSpace(p.peekAt(1)) || strings.IndexByte("'\"$({", p.peekAt(1)) >= 0) {
		c.Invoke = ch
		p.pos++
		p.skipSpace()
	}
	nameStart := p.pos
	switch ch := p.peek(); ch {
	case '\'', '"', '$', '(', '{', '@':
		if c.Invoke == 0 {
			p.unexpected()
		}
		x := p.parsePostfix(p.parsePrimary())
		if s, ok := x.(*StringLit); ok {
			c.Name = s.Value
		} else {
			c.NameExpr = x
		}
	default:
		if p.endOfStatement() || ch == '|' {
			if c.Invoke != 0 {
				p.fail("Missing expression after '"+string(c.Invoke)+"' in pipeline element.", "MissingExpression", p.pos, p.pos+1)
			}
			p.unexpected()
		}
		x := p.parseBareWord(true)
		if s, ok := x.(*StringLit); ok {
			c.Name = s.Value
		} else {
			c.NameExpr = x
		}
	}
	c.NameExtent = Extent{nameStart, p.pos}
	end := p.pos
	for {
		p.skipSpace()
		ch := p.peek()
		if p.endOfStatement() || ch == '|' {
			break
		}
		if ch == '&' {
			if p.peekAt(1) == '&' {
				break
			}
			p.fail("The ampersand (&) character is not allowed. The & operator is reserved for future use; wrap an ampersand in double quotation marks (\"&\") to pass it as part of a string.", "AmpersandNotAllowed", p.pos, p.pos+1)
		}
		if r, ok := p.parseRedir(); ok {
			c.Redirs = append(c.Redirs, r)
			end = p.pos
			continue
		}
		c.Args = append(c.Args, p.parseArg())
		end = p.pos
	}
	p.pos = end
	c.Extent = Extent{start, p.pos}
	return c
}

// parseArg parses one command argument: -Param, -Param:value, or a
// value.
func (p *parser) parseArg() *Arg {
	start := p.pos
	if p.peek() == '-' && p.peekAt(1) != '-' {
		if n := p.peekAt(1); n == '_' || n == '?' || n >= 'a' && n <= 'z' || n >= 'A' && n <= 'Z' || n >= 0x80 {
			p.pos++
			ns := p.pos
			for p.pos < len(p.src) && !isSpace(p.src[p.pos]) && strings.IndexByte(":;|&(){},\r\n'\"$<>`", p.src[p.pos]) < 0 {
				p.pos++
			}
			a := &Arg{Param: p.src[ns:p.pos]}
			if p.peek() == ':' {
				p.pos++
				a.Colon = true
				p.skipSpace()
				if p.endOfStatement() || p.peek() == '|' {
					p.fail("Missing an argument for parameter '"+a.Param+"'. Specify a parameter of type 'System.Object' and try again.", "MissingArgument", start, p.pos)
				}
				a.Value = p.parseArgValue()
			}
			a.Raw = p.src[start:p.pos]
			a.Extent = Extent{start, p.pos}
			return a
		}
	}
	v := p.parseArgValue()
	a := &Arg{Value: v, Extent: Extent{start, p.pos}, Raw: p.src[start:p.pos]}
	return a
}

// parseArgValue parses a value in argument mode, with a trailing comma
// list making an array.
func (p *parser) parseArgValue() Expr {
	start := p.pos
	first := p.parseArgPrimary()
	save := p.pos
	p.skipSpace()
	if p.peek() != ',' {
		p.pos = save
		return first
	}
	elems := []Expr{first}
	for p.peek() == ',' {
		p.pos++
		p.skipNewlines()
		if p.endOfStatement() || p.peek() == '|' {
			p.fail("Missing argument in parameter list.", "MissingArgument", p.pos, p.pos+1)
		}
		elems = append(elems, p.parseArgPrimary())
		save = p.pos
		p.skipSpace()
		if p.peek() != ',' {
			p.pos = save
		}
	}
	return &ArrayLit{Extent: Extent{start, p.pos}, Elems: elems}
}

// parseArgPrimary parses one value in argument mode.
func (p *parser) parseArgPrimary() Expr {
	switch c := p.peek(); {
	case c == '\'' || c == '"' || c == '$' || c == '(' || c == '{':
		return p.parsePostfix(p.parsePrimary())
	case c == '@' && strings.IndexByte("({'\"", p.peekAt(1)) >= 0:
		return p.parsePostfix(p.parsePrimary())
	case c == '@':
		p.notModelled(p.pos) // splatting
	}
	return p.parseBareArg()
}

// parseBareArg parses a bare word argument: a number when it reads as
// one, else a string (expandable when it holds $ or a backtick).
func (p *parser) parseBareArg() Expr {
	start := p.pos
	x := p.parseBareWord(false)
	text := p.src[start:p.pos]
	if s, ok := x.(*StringLit); ok && s.Value == text {
		if v, n, ok := p.scanNumber(start); ok && n == len(text) {
			return &NumberLit{Extent: Extent{start, p.pos}, Value: v, Text: text}
		}
	}
	return x
}

// parseBareWord reads a generic token: everything up to a blank or one
// of ;|&(){},<> and newline, with quoted parts, $variables and backtick
// escapes expanded.
func (p *parser) parseBareWord(commandName bool) Expr {
	start := p.pos
	var parts []Expr
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, &StringLit{Value: lit.String()})
			lit.Reset()
		}
	}
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if isSpace(c) || strings.IndexByte(";|&(){}\r\n<>", c) >= 0 || (c == ',' && !commandName) {
			break
		}
		if c == '>' {
			break
		}
		if c >= '1' && c <= '6' && p.peekAt(1) == '>' && p.pos > start {
			break
		}
		switch {
		case c == '`':
			p.pos++
			if p.pos >= len(p.src) {
				break
			}
			r, n := utf8.DecodeRuneInString(p.src[p.pos:])
			lit.WriteString(backtickEscape(r))
			p.pos += n
		case c == '\'':
			s := p.parseSingleQuoted()
			lit.WriteString(s.Value)
		case c == '"':
			flush()
			x := p.parseDoubleQuoted()
			if s, ok := x.(*StringLit); ok {
				lit.WriteString(s.Value)
			} else {
				parts = append(parts, x.(*ExpandString).Parts...)
			}
		case c == '$' && p.varStartAt(p.pos+1):
			flush()
			parts = append(parts, p.parseVariable())
		default:
			_, n := utf8.DecodeRuneInString(p.src[p.pos:])
			lit.WriteString(p.src[p.pos : p.pos+n])
			p.pos += n
		}
	}
	if p.pos == start {
		p.unexpected()
	}
	flush()
	ext := Extent{start, p.pos}
	if len(parts) == 1 {
		if s, ok := parts[0].(*StringLit); ok {
			return &StringLit{Extent: ext, Value: s.Value, Bare: true}
		}
	}
	if len(parts) == 0 {
		return &StringLit{Extent: ext, Bare: true}
	}
	return &ExpandString{Extent: ext, Parts: parts}
}

// varStartAt reports whether a variable name (or ${ or $( ) starts at i,
// just after a $.
func (p *parser) varStartAt(i int) bool {
	if i >= len(p.src) {
		return false
	}
	c := p.src[i]
	return isWordChar(c) || c == '{' || c == '(' || c == '?' || c == '^' || c == '$'
}

// --- expressions ---

func (p *parser) parseExpr() Expr {
	p.enter()
	defer p.leave()
	return p.parseBinary(0)
}

// binaryLevels lists the binary operators from the loosest to the
// tightest, as about_Operator_Precedence orders them.
var binaryLevels = [][]string{
	{"and", "or", "xor"},
	{"band", "bor", "bxor"},
	{"eq", "ne", "gt", "ge", "lt", "le", "like", "notlike", "match", "notmatch", "contains", "notcontains",
		"in", "notin", "replace", "split", "join", "is", "isnot", "as", "shl", "shr"},
	{"+", "-"},
	{"*", "/", "%"},
	{"f"},
	{".."},
}

// caseVariants are the operators that take an i (insensitive) or c
// (sensitive) prefix.
var caseVariants = map[string]bool{
	"eq": true, "ne": true, "gt": true, "ge": true, "lt": true, "le": true, "like": true, "notlike": true,
	"match": true, "notmatch": true, "contains": true, "notcontains": true, "in": true, "notin": true,
	"replace": true, "split": true,
}

// binaryOpAt returns the binary operator at the current position (its
// canonical name and length) if it belongs to level.
func (p *parser) binaryOpAt(level int) (string, int) {
	c := p.peek()
	ops := binaryLevels[level]
	switch {
	case c == '-' && (p.peekAt(1) >= 'a' && p.peekAt(1) <= 'z' || p.peekAt(1) >= 'A' && p.peekAt(1) <= 'Z'):
		i := p.pos + 1
		for i < len(p.src) && (p.src[i] >= 'a' && p.src[i] <= 'z' || p.src[i] >= 'A' && p.src[i] <= 'Z') {
			i++
		}
		if i < len(p.src) && (isWordChar(p.src[i]) || p.src[i] == '-') {
			return "", 0
		}
		word := strings.ToLower(p.src[p.pos+1 : i])
		base := word
		if len(word) > 1 && (word[0] == 'i' || word[0] == 'c') && caseVariants[word[1:]] {
			base = word[1:]
		}
		for _, op := range ops {
			if op == base {
				return word, i - p.pos
			}
		}
	case c == '.' && p.peekAt(1) == '.':
		if ops[0] == ".." {
			return "..", 2
		}
	case c == '+' || c == '*' || c == '/' || c == '%':
		if p.peekAt(1) == '=' || c == '+' && p.peekAt(1) == '+' {
			return "", 0
		}
		for _, op := range ops {
			if op == string(c) {
				return op, 1
			}
		}
	case c == '-':
		n := p.peekAt(1)
		if n == '=' || n == '-' {
			return "", 0
		}
		if ops[0] == "+" {
			return "-", 1
		}
	}
	return "", 0
}

func (p *parser) parseBinary(level int) Expr {
	if level == len(binaryLevels) {
		return p.parseArrayLit()
	}
	left := p.parseBinary(level + 1)
	for {
		save := p.pos
		p.skipSpace()
		op, n := p.binaryOpAt(level)
		if n == 0 {
			p.pos = save
			return left
		}
		opStart := p.pos
		p.pos += n
		p.skipNewlines()
		if p.endOfStatement() || p.peek() == '|' {
			p.fail("You must provide a value expression following the '"+p.src[opStart:opStart+n]+"' operator.", "ExpectedValueExpression", p.pos, p.pos+1)
		}
		right := p.parseBinary(level + 1)
		left = &BinaryExpr{Extent: Extent{left.extent().Start, p.pos}, Op: op, L: left, R: right, OpExtent: Extent{opStart, opStart + n}}
	}
}

// parseArrayLit parses unary (, unary)*.
func (p *parser) parseArrayLit() Expr {
	start := p.pos
	first := p.parseUnary()
	save := p.pos
	p.skipSpace()
	if p.peek() != ',' || p.noComma {
		p.pos = save
		return first
	}
	elems := []Expr{first}
	for {
		save = p.pos
		p.skipSpace()
		if p.peek() != ',' {
			p.pos = save
			break
		}
		p.pos++
		p.skipNewlines()
		if p.endOfStatement() || p.peek() == '|' {
			p.fail("Missing expression after ','.", "MissingExpressionAfterToken", p.pos, p.pos+1)
		}
		elems = append(elems, p.parseUnary())
	}
	return &ArrayLit{Extent: Extent{start, p.pos}, Elems: elems}
}

func (p *parser) parseUnary() Expr {
	p.enter()
	defer p.leave()
	start := p.pos
	c := p.peek()
	switch {
	case c == '!':
		p.pos++
		p.skipNewlines()
		x := p.parseUnary()
		return &UnaryExpr{Extent: Extent{start, p.pos}, Op: "not", X: x}
	case c == ',':
		p.pos++
		p.skipNewlines()
		x := p.parseUnary()
		return &UnaryExpr{Extent: Extent{start, p.pos}, Op: ",", X: x}
	case (c == '+' && p.peekAt(1) == '+') || (c == '-' && p.peekAt(1) == '-'):
		p.pos += 2
		x := p.parseUnary()
		if _, ok := x.(*VarExpr); !ok {
			p.notModelled(start)
		}
		return &UnaryExpr{Extent: Extent{start, p.pos}, Op: string(c) + string(c), X: x}
	case c == '-' && (p.peekAt(1) >= 'a' && p.peekAt(1) <= 'z' || p.peekAt(1) >= 'A' && p.peekAt(1) <= 'Z'):
		p.pos++
		w := strings.ToLower(p.wordAt())
		switch w {
		case "not", "bnot", "split", "join", "isplit", "csplit":
			p.pos += len(w)
			p.skipNewlines()
			x := p.parseUnary()
			return &UnaryExpr{Extent: Extent{start, p.pos}, Op: w, X: x}
		}
		p.pos = start
		p.unexpected()
	case c == '-' || c == '+':
		p.pos++
		p.skipNewlines()
		x := p.parseUnary()
		if n, ok := x.(*NumberLit); ok && c == '-' {
			if v, ok := negate(n.Value); ok {
				return &NumberLit{Extent: Extent{start, p.pos}, Value: v, Text: "-" + n.Text}
			}
		}
		return &UnaryExpr{Extent: Extent{start, p.pos}, Op: string(c), X: x}
	case c == '[':
		typ := p.parseTypeName()
		if p.peek() == ':' && p.peekAt(1) == ':' {
			return p.parsePostfix(&TypeExpr{Extent: Extent{start, p.pos}, Name: typ})
		}
		save := p.pos
		p.skipSpace()
		switch n := p.peek(); {
		case n == '$' || n == '(' || n == '\'' || n == '"' || n == '[' || n == '@' || n == '!' || n >= '0' && n <= '9' || n == '{':
			x := p.parseUnary()
			return &CastExpr{Extent: Extent{start, p.pos}, Type: typ, X: x}
		case n == '-' && (p.peekAt(1) >= '0' && p.peekAt(1) <= '9' || p.peekAt(1) == '$' || p.peekAt(1) == '('):
			x := p.parseUnary()
			return &CastExpr{Extent: Extent{start, p.pos}, Type: typ, X: x}
		}
		p.pos = save
		return p.parsePostfix(&TypeExpr{Extent: Extent{start, p.pos}, Name: typ})
	}
	x := p.parsePostfix(p.parsePrimary())
	if (p.peek() == '+' && p.peekAt(1) == '+') || (p.peek() == '-' && p.peekAt(1) == '-') {
		if _, ok := x.(*VarExpr); ok {
			op := p.src[p.pos : p.pos+2]
			p.pos += 2
			return &UnaryExpr{Extent: Extent{start, p.pos}, Op: op, X: x, Post: true}
		}
	}
	return x
}

func negate(v any) (any, bool) {
	switch v := v.(type) {
	case int:
		return -v, true
	case int64:
		if v == math.MinInt64 {
			return nil, false
		}
		if -v >= math.MinInt32 && -v <= math.MaxInt32 {
			return int(-v), true
		}
		return -v, true
	case float64:
		return -v, true
	}
	return nil, false
}

// parseTypeName parses [name] and returns name.
func (p *parser) parseTypeName() string {
	open := p.pos
	p.pos++
	depth := 1
	start := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch c {
		case '[':
			depth++
		case ']':
			depth--
			if depth == 0 {
				name := strings.TrimSpace(p.src[start:p.pos])
				p.pos++
				if name == "" {
					p.fail("Missing type name after '['.", "MissingTypename", open, open+1)
				}
				return name
			}
		case '\n', '\r':
			p.fail("Missing ] at end of type token.", "EndSquareBracketExpectedAtEndOfType", p.pos, p.pos+1)
		}
		p.pos++
	}
	p.fail("Missing ] at end of type token.", "EndSquareBracketExpectedAtEndOfType", open, open+1)
	return ""
}

// parsePostfix parses member access, method calls and indexing written
// directly after x.
func (p *parser) parsePostfix(x Expr) Expr {
	for {
		start := x.extent().Start
		switch c := p.peek(); {
		case c == '.' && p.peekAt(1) != '.':
			static := false
			p.pos++
			x = p.parseMember(x, start, static)
		case c == ':' && p.peekAt(1) == ':':
			p.pos += 2
			x = p.parseMember(x, start, true)
		case c == '[':
			open := p.pos
			p.pos++
			p.skipNewlines()
			if p.peek() == ']' {
				p.fail("Array index expression is missing or not valid.", "MissingArrayIndexExpression", open, p.pos+1)
			}
			idx := p.parseExpr()
			p.skipNewlines()
			if p.peek() != ']' {
				p.fail("Missing ']' after array index expression.", "MissingEndSquareBracket", open, open+1)
			}
			p.pos++
			x = &IndexExpr{Extent: Extent{start, p.pos}, X: x, Index: idx}
		default:
			return x
		}
	}
}

// parseMember parses the name after . or :: and a method call's
// arguments.
func (p *parser) parseMember(x Expr, start int, static bool) Expr {
	var name string
	var nameExpr Expr
	switch c := p.peek(); {
	case isWordChar(c):
		ns := p.pos
		for p.pos < len(p.src) && isWordChar(p.src[p.pos]) {
			p.pos++
		}
		name = p.src[ns:p.pos]
	case c == '\'' || c == '"' || c == '$' || c == '(':
		nameExpr = p.parsePrimary()
		if s, ok := nameExpr.(*StringLit); ok {
			name, nameExpr = s.Value, nil
		}
	default:
		p.fail("Missing property name after reference operator.", "MissingPropertyName", p.pos, p.pos+1)
	}
	if p.peek() == '(' && nameExpr == nil {
		open := p.pos
		p.pos++
		var args []Expr
		for {
			p.skipNewlines()
			if p.peek() == ')' {
				p.pos++
				break
			}
			if p.eof() {
				p.fail("Missing ')' in method call.", "MissingEndParenthesisInMethodCall", open, open+1)
			}
			args = append(args, p.noCommaExpr())
			p.skipNewlines()
			if p.peek() == ',' {
				p.pos++
				continue
			}
			if p.peek() != ')' {
				p.fail("Missing ')' in method call.", "MissingEndParenthesisInMethodCall", p.pos, p.pos+1)
			}
		}
		return &InvokeExpr{Extent: Extent{start, p.pos}, X: x, Name: name, Args: args, Static: static}
	}
	return &MemberExpr{Extent: Extent{start, p.pos}, X: x, Name: name, NameExpr: nameExpr, Static: static}
}

// parsePrimary parses a value: variable, string, number, (...), $(...),
// @(...), @{...} or { }.
func (p *parser) parsePrimary() Expr {
	p.enter()
	defer p.leave()
	saved := p.noComma
	p.noComma = false
	defer func() { p.noComma = saved }()
	start := p.pos
	c := p.peek()
	switch {
	case c == '$':
		return p.parseVariable()
	case c == '\'':
		return p.parseSingleQuoted()
	case c == '"':
		return p.parseDoubleQuoted()
	case c == '@' && (p.peekAt(1) == '\'' || p.peekAt(1) == '"'):
		return p.parseHereString()
	case c == '@' && p.peekAt(1) == '(':
		p.pos += 2
		body := p.parseStatements()
		if p.peek() != ')' {
			p.fail("Missing closing ')' in subexpression.", "MissingEndParenthesisInSubexpression", start, start+2)
		}
		p.pos++
		return &SubExpr{Extent: Extent{start, p.pos}, Body: body, Array: true}
	case c == '@' && p.peekAt(1) == '{':
		return p.parseHash()
	case c == '(':
		p.pos++
		p.skipNewlines()
		if p.peek() == ')' {
			p.fail("An expression was expected after '('.", "ExpectedExpression", p.pos, p.pos+1)
		}
		var body Stmt
		if p.keyword("if") || p.keyword("foreach") || p.keyword("for") || p.keyword("while") || p.keyword("switch") || p.keyword("try") || p.keyword("do") {
			p.notModelled(p.pos)
		}
		body = p.parsePipeline()
		p.skipNewlines()
		if p.peek() != ')' {
			if p.eof() {
				p.fail("Missing closing ')' in expression.", "MissingEndParenthesisInExpression", p.pos, p.pos)
			}
			p.fail("Missing closing ')' in expression.", "MissingEndParenthesisInExpression", p.pos, p.pos+1)
		}
		p.pos++
		return &ParenExpr{Extent: Extent{start, p.pos}, Body: body}
	case c == '{':
		p.pos++
		p.enter()
		sb := p.parseScriptBody(start, p.pos)
		p.leave()
		if p.peek() != '}' {
			p.fail("Missing closing '}' in statement block or type definition.", "MissingEndCurlyBrace", start, start+1)
		}
		p.pos++
		sb.Extent = Extent{start, p.pos}
		return &BlockExpr{Extent: Extent{start, p.pos}, Block: sb}
	case c >= '0' && c <= '9' || c == '.' && p.peekAt(1) >= '0' && p.peekAt(1) <= '9':
		v, n, ok := p.scanNumber(p.pos)
		if !ok {
			p.unexpected()
		}
		p.pos += n
		return &NumberLit{Extent: Extent{start, p.pos}, Value: v, Text: p.src[start:p.pos]}
	}
	p.unexpected()
	return nil
}

// parseVariable parses $name, ${name}, $scope:name, $( ) and the special
// variables $? $^ $$.
func (p *parser) parseVariable() Expr {
	saved := p.noComma
	p.noComma = false
	defer func() { p.noComma = saved }()
	start := p.pos
	p.pos++ // $
	c := p.peek()
	switch {
	case c == '(':
		p.pos++
		body := p.parseStatements()
		if p.peek() != ')' {
			p.fail("Missing closing ')' in subexpression.", "MissingEndParenthesisInSubexpression", start, start+2)
		}
		p.pos++
		return &SubExpr{Extent: Extent{start, p.pos}, Body: body}
	case c == '{':
		end := strings.IndexByte(p.src[p.pos:], '}')
		if end < 0 {
			p.fail("Missing '}' at end of variable name.", "MissingEndCurlyBrace", start, start+2)
		}
		name := p.src[p.pos+1 : p.pos+end]
		p.pos += end + 1
		return splitScope(Extent{start, p.pos}, name)
	case c == '?' || c == '^' || c == '$':
		p.pos++
		return &VarExpr{Extent: Extent{start, p.pos}, Name: string(c)}
	case isWordChar(c):
		ns := p.pos
		for p.pos < len(p.src) && isWordChar(p.src[p.pos]) {
			p.pos++
		}
		if p.peek() == ':' && p.peekAt(1) != ':' && (isWordChar(p.peekAt(1)) || p.peekAt(1) == '{') {
			p.pos++
			for p.pos < len(p.src) && isWordChar(p.src[p.pos]) {
				p.pos++
			}
		}
		return splitScope(Extent{start, p.pos}, p.src[ns:p.pos])
	}
	p.fail("Variable reference is not valid. '$' was not followed by a valid variable name character. Consider using ${} to delimit the name.", "InvalidVariableReference", start, start+1)
	return nil
}

func splitScope(ext Extent, name string) *VarExpr {
	if i := strings.IndexByte(name, ':'); i > 0 {
		scope := strings.ToLower(name[:i])
		return &VarExpr{Extent: ext, Scope: scope, Name: name[i+1:]}
	}
	return &VarExpr{Extent: ext, Name: name}
}

// parseSingleQuoted parses a single-quoted string, in which two quotes
// stand for one.
func (p *parser) parseSingleQuoted() *StringLit {
	start := p.pos
	p.pos++
	var b strings.Builder
	for {
		if p.pos >= len(p.src) {
			p.fail("The string is missing the terminator: '.", "TerminatorExpectedAtEndOfString", start, len(p.src))
		}
		c := p.src[p.pos]
		if c == '\'' {
			if p.peekAt(1) == '\'' {
				b.WriteByte('\'')
				p.pos += 2
				continue
			}
			p.pos++
			break
		}
		b.WriteByte(c)
		p.pos++
	}
	return &StringLit{Extent: Extent{start, p.pos}, Value: b.String()}
}

// parseDoubleQuoted parses "..." with "" for a quote, backtick escapes,
// $variables and $( ) subexpressions.
func (p *parser) parseDoubleQuoted() Expr {
	start := p.pos
	p.pos++
	parts := p.parseExpandable(func() bool {
		if p.peek() == '"' {
			if p.peekAt(1) == '"' {
				return false
			}
			p.pos++
			return true
		}
		return false
	}, true, start)
	return makeExpand(Extent{start, p.pos}, parts)
}

func makeExpand(ext Extent, parts []Expr) Expr {
	if len(parts) == 0 {
		return &StringLit{Extent: ext}
	}
	if len(parts) == 1 {
		if s, ok := parts[0].(*StringLit); ok {
			return &StringLit{Extent: ext, Value: s.Value}
		}
	}
	return &ExpandString{Extent: ext, Parts: parts}
}

// parseExpandable reads the body of an expandable string until done
// reports its end; quoteDoubling makes "" a quote.
func (p *parser) parseExpandable(done func() bool, quoteDoubling bool, start int) []Expr {
	p.enter()
	defer p.leave()
	var parts []Expr
	var lit strings.Builder
	for !done() {
		if p.pos >= len(p.src) {
			p.fail("The string is missing the terminator: \".", "TerminatorExpectedAtEndOfString", start, len(p.src))
		}
		c := p.src[p.pos]
		switch {
		case c == '`' && p.pos+1 < len(p.src):
			p.pos++
			r, n := utf8.DecodeRuneInString(p.src[p.pos:])
			lit.WriteString(backtickEscape(r))
			p.pos += n
		case quoteDoubling && c == '"' && p.peekAt(1) == '"':
			lit.WriteByte('"')
			p.pos += 2
		case c == '$' && p.varStartAt(p.pos+1):
			if lit.Len() > 0 {
				parts = append(parts, &StringLit{Value: lit.String()})
				lit.Reset()
			}
			parts = append(parts, p.parseVariable())
		default:
			lit.WriteByte(c)
			p.pos++
		}
	}
	if lit.Len() > 0 {
		parts = append(parts, &StringLit{Value: lit.String()})
	}
	return parts
}

// backtickEscape is the character a backtick escape stands for
// (about_Special_Characters).
func backtickEscape(r rune) string {
	switch r {
	case '0':
		return "\x00"
	case 'a':
		return "\a"
	case 'b':
		return "\b"
	case 'f':
		return "\f"
	case 'n':
		return "\n"
	case 'r':
		return "\r"
	case 't':
		return "\t"
	case 'v':
		return "\v"
	}
	return string(r)
}

// parseHereString parses @'...'@ and @"..."@: the text between the
// line after the header and the line that starts with the terminator.
func (p *parser) parseHereString() Expr {
	start := p.pos
	quote := p.src[p.pos+1]
	p.pos += 2
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
	switch {
	case p.peek() == '\r' && p.peekAt(1) == '\n':
		p.pos += 2
	case p.peek() == '\n' || p.peek() == '\r':
		p.pos++
	default:
		p.fail("No characters are allowed after a here-string header but before the end of the line.", "UnexpectedCharactersAfterHereStringHeader", start, start+2)
	}
	term := "\n" + string(quote) + "@"
	bodyStart := p.pos
	// The terminator is at the start of a line: find "\n'@" (or the body
	// is empty and the terminator follows the header at once).
	end := -1
	if strings.HasPrefix(p.src[bodyStart:], string(quote)+"@") {
		end = bodyStart
	} else if i := strings.Index(p.src[bodyStart:], term); i >= 0 {
		end = bodyStart + i
	}
	if end < 0 {
		p.fail("The string is missing the terminator: "+string(quote)+"@.", "TerminatorExpectedAtEndOfString", start, len(p.src))
	}
	bodyEnd := end
	if bodyEnd > bodyStart && p.src[bodyEnd-1] == '\r' {
		bodyEnd--
	}
	closeAt := end
	if end != bodyStart || !strings.HasPrefix(p.src[bodyStart:], string(quote)+"@") {
		closeAt = end + 1
	}
	if quote == '\'' {
		p.pos = closeAt + 2
		return &StringLit{Extent: Extent{start, p.pos}, Value: p.src[bodyStart:max(bodyEnd, bodyStart)]}
	}
	p.pos = bodyStart
	limit := max(bodyEnd, bodyStart)
	parts := p.parseExpandable(func() bool { return p.pos >= limit }, false, start)
	if p.pos != limit {
		p.notModelled(start)
	}
	p.pos = closeAt + 2
	return makeExpand(Extent{start, p.pos}, parts)
}

// parseHash parses @{ key = value; ... }.
func (p *parser) parseHash() Expr {
	start := p.pos
	p.pos += 2
	h := &HashLit{}
	for {
		p.skipSeparators()
		if p.peek() == '}' {
			p.pos++
			break
		}
		if p.eof() {
			p.fail("Missing closing '}' in hash literal.", "MissingEndCurlyBrace", start, start+2)
		}
		var key Expr
		switch c := p.peek(); {
		case c == '\'' || c == '"' || c == '$' || c == '(':
			key = p.parsePostfix(p.parsePrimary())
		case c >= '0' && c <= '9':
			key = p.parsePrimary()
		default:
			ks := p.pos
			for p.pos < len(p.src) && (isWordChar(p.src[p.pos]) || p.src[p.pos] == '-' || p.src[p.pos] == '.') {
				p.pos++
			}
			if p.pos == ks {
				p.fail("Missing key before '=' in hash literal.", "MissingEqualsInHashLiteral", p.pos, p.pos+1)
			}
			key = &StringLit{Extent: Extent{ks, p.pos}, Value: p.src[ks:p.pos]}
		}
		p.skipSpace()
		if p.peek() != '=' {
			p.fail("Missing '=' operator after key in hash literal.", "MissingEqualsInHashLiteral", p.pos, p.pos+1)
		}
		p.pos++
		p.skipNewlines()
		if p.peek() == '}' || p.eof() {
			p.fail("Missing statement after '=' in hash literal.", "MissingStatementInHashLiteral", p.pos, p.pos+1)
		}
		h.Keys = append(h.Keys, key)
		h.Values = append(h.Values, p.parsePipeline())
		p.skipSpace()
		if c := p.peek(); c != ';' && c != '\n' && c != '\r' && c != '}' {
			p.fail("Missing closing '}' in hash literal.", "MissingEndCurlyBrace", start, start+2)
		}
	}
	h.Extent = Extent{start, p.pos}
	return h
}

// scanNumber reads a number literal at i: decimal or 0x hex, a fraction
// and exponent, an l or d suffix and a KB..PB multiplier. n is its
// length; ok is false when the text there is no number (or goes on with
// letters, which makes it a word).
func (p *parser) scanNumber(i int) (v any, n int, ok bool) {
	s := p.src[i:]
	j := 0
	hex := false
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		hex = true
		j = 2
		for j < len(s) && isHexDigit(s[j]) {
			j++
		}
		if j == 2 {
			return nil, 0, false
		}
	} else {
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j < len(s) && s[j] == '.' && j+1 < len(s) && s[j+1] >= '0' && s[j+1] <= '9' {
			j++
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
		}
		if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
			k := j + 1
			if k < len(s) && (s[k] == '+' || s[k] == '-') {
				k++
			}
			if k < len(s) && s[k] >= '0' && s[k] <= '9' {
				for k < len(s) && s[k] >= '0' && s[k] <= '9' {
					k++
				}
				j = k
			}
		}
		if j == 0 {
			return nil, 0, false
		}
	}
	digits := s[:j]
	suffix := ""
	if j < len(s) && (s[j] == 'l' || s[j] == 'L' || s[j] == 'd' || s[j] == 'D') {
		suffix = strings.ToLower(s[j : j+1])
		j++
	}
	mult := int64(1)
	if j+1 < len(s) && (s[j+1] == 'b' || s[j+1] == 'B') {
		switch unicode.ToLower(rune(s[j])) {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		case 'p':
			mult = 1 << 50
		}
		if mult > 1 {
			j += 2
		}
	}
	if j < len(s) && (isWordChar(s[j]) || s[j] == '.' && j+1 < len(s) && isWordChar(s[j+1])) {
		return nil, 0, false
	}
	if suffix == "d" {
		return nil, 0, false // decimal is not modelled
	}
	if hex {
		u, err := strconv.ParseUint(digits[2:], 16, 64)
		if err != nil {
			return nil, 0, false
		}
		// PowerShell reads 0xFFFFFFFF as the Int32 -1.
		switch {
		case u <= math.MaxUint32 && suffix == "":
			return scaleInt(int64(int32(uint32(u))), mult, suffix), j, true
		default:
			return scaleInt(int64(u), mult, "l"), j, true
		}
	}
	if strings.ContainsAny(digits, ".eE") {
		f, err := strconv.ParseFloat(digits, 64)
		if err != nil {
			return nil, 0, false
		}
		return f * float64(mult), j, true
	}
	n64, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(digits, 64)
		if ferr != nil {
			return nil, 0, false
		}
		return f * float64(mult), j, true
	}
	return scaleInt(n64, mult, suffix), j, true
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// scaleInt applies a multiplier and picks Int32, Int64 or Double as
// PowerShell does for a literal.
func scaleInt(n, mult int64, suffix string) any {
	if mult > 1 {
		if n > math.MaxInt64/mult || n < math.MinInt64/mult {
			return float64(n) * float64(mult)
		}
		n *= mult
	}
	if suffix == "" && n >= math.MinInt32 && n <= math.MaxInt32 {
		return int(n)
	}
	return n
}
