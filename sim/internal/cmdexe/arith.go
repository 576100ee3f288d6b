package cmdexe

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SET /A (`set /?`): 32-bit integer expressions with C operators and
// precedence, variables by name (undefined or non-numeric is 0),
// assignment operators and commas. Quotes are ignored. On the command line
// the value of the last expression is printed without a newline; in a
// batch file nothing is printed.

// Errorlevels and messages of SET /A failures (messages from `set /a`
// output on Windows; the errorlevel values are unverified except
// "Invalid number", 1073750992, from dbenham's dostips.com t=3758).
const (
	arithMissingOperand = 1073750991
	arithInvalidNumber  = 1073750992
	arithDivideByZero   = 1073750993
	arithUnbalanced     = 1073750990
)

type arithError struct {
	msg   string
	level int32
}

func (e *arithError) Error() string { return e.msg }

var (
	errMissingOperand = &arithError{"Missing operand.", arithMissingOperand}
	errDivideByZero   = &arithError{"Divide by zero error.", arithDivideByZero}
	errUnbalanced     = &arithError{"Unbalanced parenthesis.", arithUnbalanced}
	errInvalidNumber  = &arithError{"Invalid number.  Numeric constants are either decimal (17),\r\nhexadecimal (0x11), or octal (021).", arithInvalidNumber}
)

type arith struct {
	sh *shell
	s  string
	i  int
}

func (sh *shell) setArith(args string, std stdio) (int32, control) {
	expr := strings.ReplaceAll(args, `"`, "")
	if strings.TrimSpace(expr) == "" {
		return syntaxIncorrect(sh, std)
	}
	a := &arith{sh: sh, s: expr}
	v, err := a.list()
	if err == nil {
		a.space()
		if a.i < len(a.s) {
			if a.s[a.i] == ')' {
				err = errUnbalanced
			} else {
				err = errMissingOperand
			}
		}
	}
	if err != nil {
		var ae *arithError
		if !errors.As(err, &ae) {
			ae = errMissingOperand
		}
		fmt.Fprintf(std.err, "%s\r\n", ae.msg)
		sh.env.errorLevel = ae.level
		return 1, control{}
	}
	if sh.batch == nil {
		fmt.Fprint(std.out, v)
	}
	return 0, control{}
}

func (a *arith) space() {
	for a.i < len(a.s) && (isSpace(a.s[a.i]) || a.s[a.i] == '\n') {
		a.i++
	}
}

func (a *arith) accept(op string) bool {
	a.space()
	if strings.HasPrefix(a.s[a.i:], op) {
		a.i += len(op)
		return true
	}
	return false
}

// list: assign {, assign}
func (a *arith) list() (int32, error) {
	v, err := a.assign()
	for err == nil && a.accept(",") {
		v, err = a.assign()
	}
	return v, err
}

var assignOps = []string{"<<=", ">>=", "*=", "/=", "%=", "+=", "-=", "&=", "^=", "|=", "="}

// assign: name op= assign | or
func (a *arith) assign() (int32, error) {
	a.space()
	save := a.i
	if name := a.name(); name != "" {
		a.space()
		for _, op := range assignOps {
			if strings.HasPrefix(a.s[a.i:], op) && (op != "=" || !strings.HasPrefix(a.s[a.i:], "==")) {
				a.i += len(op)
				rhs, err := a.assign()
				if err != nil {
					return 0, err
				}
				v := rhs
				if op != "=" {
					v, err = apply(op[:len(op)-1], a.varValue(name), rhs)
					if err != nil {
						return 0, err
					}
				}
				a.sh.env.Set(name, strconv.Itoa(int(v)))
				return v, nil
			}
		}
	}
	a.i = save
	return a.binary(0)
}

// Binary operator levels, loosest first.
var levels = [][]string{{"|"}, {"^"}, {"&"}, {"<<", ">>"}, {"+", "-"}, {"*", "/", "%"}}

func (a *arith) binary(level int) (int32, error) {
	if level == len(levels) {
		return a.unary()
	}
	v, err := a.binary(level + 1)
	if err != nil {
		return 0, err
	}
	for {
		a.space()
		op := ""
		for _, o := range levels[level] {
			if strings.HasPrefix(a.s[a.i:], o) && !a.isAssignAt(o) {
				op = o
				break
			}
		}
		if op == "" {
			return v, nil
		}
		a.i += len(op)
		r, err := a.binary(level + 1)
		if err != nil {
			return 0, err
		}
		if v, err = apply(op, v, r); err != nil {
			return 0, err
		}
	}
}

// isAssignAt reports whether operator o at the cursor is really the start
// of an assignment operator such as += (which a binary level must not eat).
func (a *arith) isAssignAt(o string) bool {
	rest := a.s[a.i+len(o):]
	return strings.HasPrefix(rest, "=") || (o == "<" || o == ">") && strings.HasPrefix(rest, o+"=")
}

func apply(op string, x, y int32) (int32, error) {
	switch op {
	case "|":
		return x | y, nil
	case "^":
		return x ^ y, nil
	case "&":
		return x & y, nil
	case "<<":
		return x << (uint32(y) & 31), nil
	case ">>":
		return x >> (uint32(y) & 31), nil
	case "+":
		return x + y, nil
	case "-":
		return x - y, nil
	case "*":
		return x * y, nil
	case "/", "%":
		if y == 0 {
			return 0, errDivideByZero
		}
		if x == -1<<31 && y == -1 {
			if op == "/" {
				return x, nil
			}
			return 0, nil
		}
		if op == "/" {
			return x / y, nil
		}
		return x % y, nil
	}
	return 0, errMissingOperand
}

func (a *arith) unary() (int32, error) {
	a.space()
	if a.i >= len(a.s) {
		return 0, errMissingOperand
	}
	switch c := a.s[a.i]; c {
	case '!', '~', '-', '+':
		a.i++
		v, err := a.unary()
		if err != nil {
			return 0, err
		}
		switch c {
		case '!':
			if v == 0 {
				return 1, nil
			}
			return 0, nil
		case '~':
			return ^v, nil
		case '-':
			return -v, nil
		}
		return v, nil
	case '(':
		a.i++
		v, err := a.list()
		if err != nil {
			return 0, err
		}
		if !a.accept(")") {
			return 0, errUnbalanced
		}
		return v, nil
	}
	if c := a.s[a.i]; c >= '0' && c <= '9' {
		start := a.i
		for a.i < len(a.s) && isAlnum(a.s[a.i]) {
			a.i++
		}
		v, ok := parseCmdNumber(a.s[start:a.i])
		if !ok {
			return 0, errInvalidNumber
		}
		return int32(v), nil
	}
	if name := a.name(); name != "" {
		return a.varValue(name), nil
	}
	return 0, errMissingOperand
}

func isAlnum(c byte) bool { return isLetter(c) || c >= '0' && c <= '9' }

// name reads a variable name: anything up to whitespace or an operator.
func (a *arith) name() string {
	start := a.i
	for a.i < len(a.s) && !isSpace(a.s[a.i]) && strings.IndexByte("()!~-+*/%<>&^|=,\n", a.s[a.i]) < 0 {
		a.i++
	}
	if start < a.i && a.s[start] >= '0' && a.s[start] <= '9' {
		a.i = start
		return ""
	}
	return a.s[start:a.i]
}

func (a *arith) varValue(name string) int32 {
	v, ok := a.sh.env.lookup(name, "")
	if !ok {
		return 0
	}
	n, ok := parseCmdNumber(strings.TrimSpace(v))
	if !ok {
		return 0
	}
	return int32(n)
}
