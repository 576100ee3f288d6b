package cmdexe

import (
	"context"
	"strings"
)

// execIf evaluates an IF (`if /?`). ERRORLEVEL n is true when the
// errorlevel is n or more; EXIST asks the FS; DEFINED sees real and dynamic
// variables; == compares the operands exactly as written, quotes included
// (/I ignores case); EQU, NEQ, LSS, LEQ, GTR and GEQ compare numerically
// when both operands are numbers and as strings otherwise (ordinal
// comparison here; cmd.exe's string order is locale-aware).
func (sh *shell) execIf(ctx context.Context, n *ifNode, std stdio) (int32, control) {
	a, b := sh.expandDelayed(sh.expandForVars(n.a)), sh.expandDelayed(sh.expandForVars(n.b))
	var cond bool
	switch n.kind {
	case ifErrorlevel:
		v, ok := parseCmdNumber(a)
		if !ok {
			return syntaxIncorrect(sh, std)
		}
		cond = int(sh.env.errorLevel) >= v
	case ifCmdExtVersion:
		v, ok := parseCmdNumber(a)
		if !ok {
			return syntaxIncorrect(sh, std)
		}
		cond = 2 >= v
	case ifExist:
		p := strings.ReplaceAll(a, `"`, "")
		full := resolvePath(sh.env.cwd, p)
		cond = isNulDevice(p) || isRoot(full) || sh.fs.Exists(full)
	case ifDefined:
		_, cond = sh.env.lookup(a, sh.cmdline)
	case ifCompare:
		cond = compare(a, n.op, b, n.ci)
	}
	if n.not {
		cond = !cond
	}
	if cond {
		return sh.exec(ctx, n.then, std)
	}
	if n.els != nil {
		return sh.exec(ctx, n.els, std)
	}
	return 0, control{}
}

func compare(a, op, b string, ci bool) bool {
	if op == "==" {
		if ci {
			return strings.EqualFold(a, b)
		}
		return a == b
	}
	var c int
	x, okA := parseCmdNumber(a)
	y, okB := parseCmdNumber(b)
	switch {
	case okA && okB:
		switch {
		case x < y:
			c = -1
		case x > y:
			c = 1
		}
	case ci:
		c = strings.Compare(strings.ToLower(a), strings.ToLower(b))
	default:
		c = strings.Compare(a, b)
	}
	switch op {
	case "EQU":
		return c == 0
	case "NEQ":
		return c != 0
	case "LSS":
		return c < 0
	case "LEQ":
		return c <= 0
	case "GTR":
		return c > 0
	case "GEQ":
		return c >= 0
	}
	return false
}
