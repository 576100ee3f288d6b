package psmodel

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// --- expressions ---

func (in *interp) eval(x Expr) (any, error) {
	switch x := x.(type) {
	case *StringLit:
		return x.Value, nil
	case *NumberLit:
		return x.Value, nil
	case *ExpandString:
		var b strings.Builder
		for _, p := range x.Parts {
			v, err := in.eval(p)
			if err != nil {
				return nil, err
			}
			b.WriteString(in.strWithOFS(v))
			if b.Len() > in.lim.ValueChars {
				return nil, in.limitError("a string too long")
			}
		}
		if err := in.charge(b.Len()); err != nil {
			return nil, err
		}
		return b.String(), nil
	case *VarExpr:
		return in.readVar(x)
	case *ArrayLit:
		out := make([]any, 0, len(x.Elems))
		for _, e := range x.Elems {
			v, err := in.eval(e)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case *SubExpr:
		items, err := in.capture(x.Body)
		if err != nil {
			return nil, err
		}
		if x.Array {
			if items == nil {
				items = []any{}
			}
			return items, nil
		}
		return collapse(items), nil
	case *ParenExpr:
		return in.stmtValue(x.Body)
	case *HashLit:
		h := newHashtable()
		for i, k := range x.Keys {
			kv, err := in.eval(k)
			if err != nil {
				return nil, err
			}
			v, err := in.stmtValue(x.Values[i])
			if err != nil {
				return nil, err
			}
			if _, dup := h.Get(kv); dup {
				return nil, in.runtimeError(k.extent(), "System.Management.Automation.RuntimeException",
					"Duplicate keys '"+toStr(kv)+"' are not allowed in hash literals.", "InvalidOperation", "DuplicateKeyInHashLiteral")
			}
			h.Set(kv, v)
		}
		return h, nil
	case *BlockExpr:
		return in.blockValue(x.Block), nil
	case *TypeExpr:
		t, ok := lookupType(x.Name)
		if !ok {
			return nil, in.unknownType(x.Name, x.Extent)
		}
		return &TypeValue{Info: t}, nil
	case *CastExpr:
		v, err := in.eval(x.X)
		if err != nil {
			return nil, err
		}
		return in.cast(x.Type, v, x.Extent)
	case *UnaryExpr:
		return in.unary(x)
	case *BinaryExpr:
		return in.binary(x)
	case *MemberExpr:
		return in.member(x)
	case *InvokeExpr:
		return in.invokeMethod(x)
	case *IndexExpr:
		return in.index(x)
	case *valueExpr:
		return x.v, nil
	}
	return nil, in.notModelled(x.extent())
}

// strWithOFS converts a value for a string, joining arrays with $OFS.
func (in *interp) strWithOFS(v any) string {
	if isCollection(v) {
		sep := " "
		if o, ok := in.cur.get("OFS"); ok && o != nil {
			sep = toStr(o)
		}
		return joinItems(enumerate(v), sep)
	}
	return toStr(v)
}

// maxJoin bounds a string made by joining a collection; beyond it the
// join gives the collection's type name (only scripts that build
// gigabytes get there, and the work limit stops them first).
const maxJoin = 1 << 26

// joinItems joins values' strings; nested collections are their type
// name, as their ToString gives.
func joinItems(items []any, sep string) string {
	parts := make([]string, len(items))
	total := 0
	for i, e := range items {
		if isCollection(e) {
			parts[i] = typeNameOf(e)
		} else {
			parts[i] = toStr(e)
		}
		total += len(parts[i]) + len(sep)
		if total > maxJoin {
			return "System.Object[]"
		}
	}
	return strings.Join(parts, sep)
}

func (in *interp) blockValue(sb *ScriptBlock) *BlockValue {
	if sb.src == nil {
		sb.src = in.src
	}
	text := ""
	if sb.src != nil && sb.End <= len(sb.src.Text) && sb.Start < sb.End {
		text = sb.src.Text[sb.Start+1 : sb.End-1]
	}
	return &BlockValue{Block: sb, Text: text}
}

// unknownType refuses a .NET type the model does not know.
func (in *interp) unknownType(name string, ext Extent) error {
	return in.notModelled(ext)
}

func (in *interp) unary(x *UnaryExpr) (any, error) {
	if x.Op == "++" || x.Op == "--" {
		v, ok := x.X.(*VarExpr)
		if !ok {
			return nil, in.notModelled(x.Extent)
		}
		cur, err := in.readVar(v)
		if err != nil {
			return nil, err
		}
		op := x.Op[:1]
		nv, err := in.arith(op, cur, 1, x.Extent)
		if err != nil {
			return nil, err
		}
		if err := in.setVar(v, nv); err != nil {
			return nil, err
		}
		// As a statement it outputs nothing; as a value the parser only
		// gives it where a value is read.
		return nil, nil
	}
	v, err := in.eval(x.X)
	if err != nil {
		return nil, err
	}
	switch x.Op {
	case "not":
		return !toBool(v), nil
	case ",":
		return []any{v}, nil
	case "-":
		return in.arith("-", 0, v, x.Extent)
	case "+":
		n, err := toNumber(v)
		if err != nil {
			return nil, in.convertFailure(err, x.Extent)
		}
		return n, nil
	case "bnot":
		n, err := toInt64(v)
		if err != nil {
			return nil, in.convertFailure(err, x.Extent)
		}
		return normInt(^n), nil
	case "split", "isplit", "csplit":
		var out []any
		for _, e := range enumerate(v) {
			for _, f := range strings.Fields(toStr(e)) {
				out = append(out, f)
			}
		}
		return out, nil
	case "join":
		var b strings.Builder
		for _, e := range enumerate(v) {
			b.WriteString(toStr(e))
		}
		return b.String(), nil
	}
	return nil, in.notModelled(x.Extent)
}

// convertFailure turns a failed conversion into PowerShell's error.
func (in *interp) convertFailure(err error, ext Extent) error {
	msg := err.Error()
	return in.runtimeError(ext, "System.Management.Automation.PSInvalidCastException", msg, "InvalidArgument", "InvalidCastFromStringToInteger")
}

func (in *interp) binary(x *BinaryExpr) (any, error) {
	switch x.Op {
	case "and", "or":
		l, err := in.eval(x.L)
		if err != nil {
			return nil, err
		}
		lb := toBool(l)
		if x.Op == "and" && !lb || x.Op == "or" && lb {
			return lb, nil
		}
		r, err := in.eval(x.R)
		if err != nil {
			return nil, err
		}
		return toBool(r), nil
	}
	l, err := in.eval(x.L)
	if err != nil {
		return nil, err
	}
	r, err := in.eval(x.R)
	if err != nil {
		return nil, err
	}
	switch x.Op {
	case "+", "-", "*", "/", "%":
		v, err := in.arith(x.Op, l, r, x.Extent)
		var pe *psError
		if errors.As(err, &pe) && (x.Op == "/" || x.Op == "%") {
			_, lc := x.L.(*NumberLit)
			_, rc := x.R.(*NumberLit)
			if lc && rc && pe.rec.FQID == "RuntimeException" {
				// A division of constants fails while the script is
				// compiled, so the record wraps the parse-time error.
				pe.rec.Reason = "ParentContainsErrorRecordException"
			}
		}
		return v, err
	case "xor":
		return toBool(l) != toBool(r), nil
	case "..":
		return in.rangeOp(l, r, x.Extent)
	case "f":
		return in.format(toStr(l), enumerateArgs(r), x.Extent)
	case "band", "bor", "bxor", "shl", "shr":
		a, err := toInt64(l)
		if err != nil {
			return nil, in.convertFailure(err, x.Extent)
		}
		b, err := toInt64(r)
		if err != nil {
			return nil, in.convertFailure(err, x.Extent)
		}
		switch x.Op {
		case "band":
			return normInt(a & b), nil
		case "bor":
			return normInt(a | b), nil
		case "bxor":
			return normInt(a ^ b), nil
		case "shl":
			return normInt(a << (uint(b) & 63)), nil
		default:
			return normInt(a >> (uint(b) & 63)), nil
		}
	case "is", "isnot":
		t, err := in.typeOperand(r, x.R)
		if err != nil {
			return nil, err
		}
		ok := t.is(l)
		if x.Op == "isnot" {
			ok = !ok
		}
		return ok, nil
	case "as":
		t, err := in.typeOperand(r, x.R)
		if err != nil {
			return nil, err
		}
		v, err := in.cast(t.Name, l, x.Extent)
		if err != nil {
			var fe *fatalError
			if errors.As(err, &fe) {
				return nil, err
			}
			return nil, nil
		}
		return v, nil
	case "join":
		s := joinItems(enumerateArgs(l), toStr(r))
		if l == nil {
			s = ""
		}
		if err := in.charge(len(s)); err != nil {
			return nil, err
		}
		return s, nil
	}
	op := x.Op
	cs := false
	if len(op) > 2 && (op[0] == 'c' || op[0] == 'i') && caseVariants[op[1:]] {
		cs = op[0] == 'c'
		op = op[1:]
	}
	switch op {
	case "replace":
		return in.replace(l, r, cs, x)
	case "split":
		return in.split(l, r, cs, x)
	case "contains", "notcontains":
		found := false
		for _, e := range enumerate(l) {
			if in.equal(e, r, cs) {
				found = true
				break
			}
		}
		if l != nil && !isCollection(l) {
			found = in.equal(l, r, cs)
		}
		return found == (op == "contains"), nil
	case "in", "notin":
		found := false
		items := enumerate(r)
		if r != nil && !isCollection(r) {
			items = []any{r}
		}
		for _, e := range items {
			if in.equal(e, l, cs) {
				found = true
				break
			}
		}
		return found == (op == "in"), nil
	}
	if isCollection(l) {
		out := []any{}
		for _, e := range enumerate(l) {
			ok, err := in.compareOp(op, e, r, cs, x, false)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, e)
			}
		}
		return out, nil
	}
	return in.compareOp(op, l, r, cs, x, true)
}

// typeOperand reads the right side of -is and -as.
func (in *interp) typeOperand(r any, x Expr) (*typeInfo, error) {
	switch t := r.(type) {
	case *TypeValue:
		return t.Info, nil
	case string:
		if ti, ok := lookupType(t); ok {
			return ti, nil
		}
	}
	return nil, in.notModelled(x.extent())
}

func enumerateArgs(v any) []any {
	if isCollection(v) {
		return enumerate(v)
	}
	return []any{v}
}

// compareOp applies a comparison operator to scalars. setMatches says
// whether -match fills $Matches (only for a scalar left side).
func (in *interp) compareOp(op string, l, r any, cs bool, x *BinaryExpr, setMatches bool) (bool, error) {
	switch op {
	case "eq":
		return in.equal(l, r, cs), nil
	case "ne":
		return !in.equal(l, r, cs), nil
	case "gt", "ge", "lt", "le":
		c, err := in.compare(l, r, cs, x.Extent)
		if err != nil {
			return false, err
		}
		switch op {
		case "gt":
			return c > 0, nil
		case "ge":
			return c >= 0, nil
		case "lt":
			return c < 0, nil
		}
		return c <= 0, nil
	case "like", "notlike":
		pat, s := toStr(r), toStr(l)
		if cs {
			return wildcardMatchCase(pat, s) == (op == "like"), nil
		}
		return wildcardMatch(pat, s) == (op == "like"), nil
	case "match", "notmatch":
		re, err := in.regex(toStr(r), cs, x.R.extent())
		if err != nil {
			return false, err
		}
		s := toStr(l)
		m := re.FindStringSubmatch(s)
		if m != nil && setMatches && op == "match" {
			h := newHashtable()
			for i, g := range m {
				name := re.SubexpNames()[i]
				if i > 0 && g == "" && !strings.Contains(s, g) {
					continue
				}
				if name != "" {
					h.Set(name, g)
				} else {
					h.Set(i, g)
				}
			}
			in.cur.set("Matches", h)
		}
		return (m != nil) == (op == "match"), nil
	}
	return false, in.notModelled(x.Extent)
}

// equal is -eq: the right side converted to the left side's type,
// strings compared case-insensitively unless cs.
func (in *interp) equal(l, r any, cs bool) bool {
	switch a := l.(type) {
	case nil:
		return r == nil
	case string:
		if r == nil {
			return false
		}
		b := toStr(r)
		if cs {
			return a == b
		}
		return strings.EqualFold(a, b)
	case bool:
		return a == toBool(r)
	case int, int64, float64:
		if r == nil {
			return false
		}
		n, err := toNumber(r)
		if err != nil {
			return false
		}
		return numCompare(a, n) == 0
	case Enum:
		switch b := r.(type) {
		case string:
			return strings.EqualFold(a.Name, b)
		case int:
			return a.Value == b
		case Enum:
			return a.Value == b.Value && a.Type == b.Type
		}
		return false
	case Version:
		if b, ok := r.(Version); ok {
			return a.compare(b) == 0
		}
		if s, ok := r.(string); ok {
			if b, ok := parseVersion(s); ok {
				return a.compare(b) == 0
			}
		}
		return false
	case DateTime:
		if b, ok := r.(DateTime); ok {
			return a.T.Equal(b.T)
		}
		return false
	case TimeSpan:
		if b, ok := r.(TimeSpan); ok {
			return a.D == b.D
		}
		return false
	case *TypeValue:
		if b, ok := r.(*TypeValue); ok {
			return a.Info == b.Info
		}
		return false
	}
	switch r.(type) {
	case nil:
		return false
	}
	return sameRef(l, r)
}

func sameRef(a, b any) bool {
	switch a := a.(type) {
	case *Object:
		b, ok := b.(*Object)
		return ok && a == b
	case *Hashtable:
		b, ok := b.(*Hashtable)
		return ok && a == b
	case *ErrorRecord:
		b, ok := b.(*ErrorRecord)
		return ok && a == b
	case *ArrayList:
		b, ok := b.(*ArrayList)
		return ok && a == b
	case []any:
		b, ok := b.([]any)
		return ok && len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
	}
	return false
}

func numCompare(a, b any) int {
	ai, aok := intOf(a)
	bi, bok := intOf(b)
	if aok && bok {
		switch {
		case ai < bi:
			return -1
		case ai > bi:
			return 1
		}
		return 0
	}
	fa, fb := toFloat(a), toFloat(b)
	switch {
	case fa < fb:
		return -1
	case fa > fb:
		return 1
	}
	return 0
}

func intOf(v any) (int64, bool) {
	switch v := v.(type) {
	case int:
		return int64(v), true
	case int64:
		return v, true
	}
	return 0, false
}

// compare orders two values as -lt and -gt do.
func (in *interp) compare(l, r any, cs bool, ext Extent) (int, error) {
	fail := func(reason string) (int, error) {
		msg := "Could not compare \"" + toStr(l) + "\" to \"" + toStr(r) + "\"."
		if reason != "" {
			msg += " Error: \"" + reason + "\""
		}
		return 0, in.runtimeError(ext, "System.Management.Automation.RuntimeException", msg, "InvalidOperation", "ComparisonFailure")
	}
	switch a := l.(type) {
	case nil:
		if r == nil {
			return 0, nil
		}
		return -1, nil
	case string:
		b := toStr(r)
		if !cs {
			a, b = strings.ToLower(a), strings.ToLower(b)
		}
		return strings.Compare(a, b), nil
	case int, int64, float64, bool:
		if r == nil {
			return 1, nil
		}
		an, _ := toNumber(a)
		n, err := toNumber(r)
		if err != nil {
			return fail(err.Error())
		}
		return numCompare(an, n), nil
	case Version:
		b, ok := r.(Version)
		if !ok {
			s, isStr := r.(string)
			if isStr {
				b, ok = parseVersion(s)
			}
		}
		if !ok {
			return fail("Cannot convert value \"" + toStr(r) + "\" to type \"System.Version\".")
		}
		return a.compare(b), nil
	case DateTime:
		b, ok := r.(DateTime)
		if !ok {
			if s, isStr := r.(string); isStr {
				if t, ok2 := parseDate(s); ok2 {
					b, ok = DateTime{T: t}, true
				}
			}
		}
		if !ok {
			return fail("")
		}
		return a.T.Compare(b.T), nil
	case TimeSpan:
		b, ok := r.(TimeSpan)
		if !ok {
			return fail("")
		}
		switch {
		case a.D < b.D:
			return -1, nil
		case a.D > b.D:
			return 1, nil
		}
		return 0, nil
	case Enum:
		switch b := r.(type) {
		case Enum:
			return a.Value - b.Value, nil
		case int:
			return a.Value - b, nil
		}
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(toStr(r))), nil
	}
	return 0, in.notModelled(ext)
}

// arith applies + - * / % as PowerShell does for the left operand's type.
func (in *interp) arith(op string, l, r any, ext Extent) (any, error) {
	if l == nil && op == "+" {
		if r == nil {
			return nil, nil
		}
		if isCollection(r) {
			return append([]any(nil), enumerate(r)...), nil
		}
		return r, nil
	}
	switch a := l.(type) {
	case string:
		switch op {
		case "+":
			rs := in.strWithOFS(r)
			if err := in.charge(len(a) + len(rs)); err != nil {
				return nil, err
			}
			return a + rs, nil
		case "*":
			n, err := toInt(r)
			if err != nil {
				return nil, in.convertFailure(err, ext)
			}
			if n <= 0 {
				return "", nil
			}
			if len(a) > 0 && n > in.lim.ValueChars/len(a) {
				return nil, in.limitError("a string too long")
			}
			if err := in.charge(len(a) * n); err != nil {
				return nil, err
			}
			return strings.Repeat(a, n), nil
		}
		n, err := toNumber(a)
		if err != nil {
			return nil, in.opFailure(op, l, ext)
		}
		return in.arith(op, n, r, ext)
	case []any:
		switch op {
		case "+":
			extra := enumerateArgs(r)
			if r == nil {
				extra = []any{nil}
			}
			if err := in.charge(len(a) + len(extra)); err != nil {
				return nil, err
			}
			out := make([]any, 0, len(a)+len(extra))
			return append(append(out, a...), extra...), nil
		case "*":
			n, err := toInt(r)
			if err != nil {
				return nil, in.convertFailure(err, ext)
			}
			if n < 0 || len(a) > 0 && n > in.lim.ValueChars/len(a) {
				return nil, in.limitError("a collection too large")
			}
			if err := in.charge(len(a) * n); err != nil {
				return nil, err
			}
			var out []any
			for range n {
				out = append(out, a...)
			}
			return out, nil
		}
		return nil, in.opFailure(op, l, ext)
	case *ArrayList:
		return in.arith(op, a.items, r, ext)
	case *Hashtable:
		b, ok := r.(*Hashtable)
		if op != "+" || !ok {
			return nil, in.opFailure(op, l, ext)
		}
		out := newHashtable()
		for i, k := range a.keys {
			out.Set(k, a.vals[i])
		}
		for i, k := range b.keys {
			if _, dup := out.Get(k); dup {
				return nil, in.runtimeError(ext, "System.ArgumentException", "Item has already been added. Key in dictionary: '"+toStr(k)+"'  Key being added: '"+toStr(k)+"'", "NotSpecified", "System.ArgumentException")
			}
			out.Set(k, b.vals[i])
		}
		return out, nil
	case DateTime:
		switch b := r.(type) {
		case TimeSpan:
			if op == "+" {
				return DateTime{T: a.T.Add(b.D)}, nil
			}
			if op == "-" {
				return DateTime{T: a.T.Add(-b.D)}, nil
			}
		case DateTime:
			if op == "-" {
				return TimeSpan{D: a.T.Sub(b.T)}, nil
			}
		}
		return nil, in.opFailure(op, l, ext)
	case TimeSpan:
		if b, ok := r.(TimeSpan); ok {
			switch op {
			case "+":
				return TimeSpan{D: a.D + b.D}, nil
			case "-":
				return TimeSpan{D: a.D - b.D}, nil
			}
		}
		return nil, in.opFailure(op, l, ext)
	case nil, bool, int, int64, float64, Enum:
		ln, err := toNumber(l)
		if err != nil {
			return nil, in.convertFailure(err, ext)
		}
		if isCollection(r) {
			return nil, in.opFailure(op, r, ext)
		}
		rn, err := toNumber(r)
		if err != nil {
			return nil, in.convertFailure(err, ext)
		}
		return in.numArith(op, ln, rn, ext)
	}
	return nil, in.opFailure(op, l, ext)
}

// opFailure is an operator a type does not support.
func (in *interp) opFailure(op string, l any, ext Extent) error {
	name := map[string]string{"+": "op_Addition", "-": "op_Subtraction", "*": "op_Multiply", "/": "op_Division", "%": "op_Modulus"}[op]
	msg := "Method invocation failed because [" + typeNameOf(l) + "] does not contain a method named '" + name + "'."
	return in.runtimeError(ext, "System.Management.Automation.RuntimeException", msg, "InvalidOperation", "MethodNotFound")
}

func (in *interp) numArith(op string, a, b any, ext Extent) (any, error) {
	ai, aInt := intOf(a)
	bi, bInt := intOf(b)
	_, a64 := a.(int64)
	_, b64 := b.(int64)
	if aInt && bInt {
		wide := a64 || b64
		fit := func(n int64) any {
			if wide {
				return n
			}
			return normInt(n)
		}
		switch op {
		case "+":
			s := ai + bi
			if (s > ai) == (bi > 0) {
				return fit(s), nil
			}
			return float64(ai) + float64(bi), nil
		case "-":
			s := ai - bi
			if (s < ai) == (bi > 0) {
				return fit(s), nil
			}
			return float64(ai) - float64(bi), nil
		case "*":
			if ai == 0 || bi == 0 {
				return fit(0), nil
			}
			p := ai * bi
			if p/bi == ai && (ai != -1 || bi != math.MinInt64) && (bi != -1 || ai != math.MinInt64) {
				return fit(p), nil
			}
			return float64(ai) * float64(bi), nil
		case "/":
			if bi == 0 {
				return nil, in.divideByZero(ext)
			}
			if ai%bi == 0 {
				return fit(ai / bi), nil
			}
			return float64(ai) / float64(bi), nil
		case "%":
			if bi == 0 {
				return nil, in.divideByZero(ext)
			}
			return fit(ai % bi), nil
		}
	}
	fa, fb := toFloat(a), toFloat(b)
	switch op {
	case "+":
		return fa + fb, nil
	case "-":
		return fa - fb, nil
	case "*":
		return fa * fb, nil
	case "/":
		return fa / fb, nil
	case "%":
		return math.Mod(fa, fb), nil
	}
	return nil, in.notModelled(ext)
}

func (in *interp) divideByZero(ext Extent) error {
	pe := in.runtimeError(ext, "System.Management.Automation.RuntimeException", "Attempted to divide by zero.", "NotSpecified", "RuntimeException")
	pe.rec.Exception.Inner = &Exception{Type: "System.DivideByZeroException", Message: "Attempted to divide by zero."}
	return pe
}

func (in *interp) rangeOp(l, r any, ext Extent) (any, error) {
	a, err := toInt(l)
	if err != nil {
		return nil, in.convertFailure(err, ext)
	}
	b, err := toInt(r)
	if err != nil {
		return nil, in.convertFailure(err, ext)
	}
	n := b - a
	if n < 0 {
		n = -n
	}
	if n+1 > in.lim.ValueChars || n+1 > 50_000_000 {
		return nil, in.limitError("a range too large")
	}
	out := make([]any, 0, n+1)
	step := 1
	if b < a {
		step = -1
	}
	for i := a; ; i += step {
		out = append(out, i)
		if i == b {
			break
		}
	}
	return out, nil
}

// regex compiles a .NET regular expression; constructs Go's RE2 lacks
// (backreferences, lookaround) are not modelled.
func (in *interp) regex(pat string, cs bool, ext Extent) (*regexp.Regexp, error) {
	if !cs {
		pat = "(?i)" + pat
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, in.notModelled(ext)
	}
	return re, nil
}

// dotnetReplacement converts a .NET replacement string ($1, ${name},
// $$, $0) to Go's.
func dotnetReplacement(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch n := s[i+1]; {
		case n == '$':
			b.WriteString("$$")
			i++
		case n >= '0' && n <= '9':
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			b.WriteString("${" + s[i+1:j] + "}")
			i = j - 1
		case n == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				b.WriteString("$$")
				continue
			}
			b.WriteString(s[i : i+end+1])
			i += end
		default:
			b.WriteString("$$")
		}
	}
	return b.String()
}

func (in *interp) replace(l, r any, cs bool, x *BinaryExpr) (any, error) {
	pat, repl := "", ""
	switch args := r.(type) {
	case []any:
		if len(args) > 2 {
			return nil, in.notModelled(x.Extent)
		}
		if len(args) > 0 {
			pat = toStr(args[0])
		}
		if len(args) > 1 {
			repl = toStr(args[1])
		}
	default:
		pat = toStr(r)
	}
	re, err := in.regex(pat, cs, x.R.extent())
	if err != nil {
		return nil, err
	}
	goRepl := dotnetReplacement(repl)
	do := func(s string) (string, error) {
		// Bound the result before building it.
		n := len(re.FindAllStringIndex(s, -1))
		per := len(goRepl)
		if strings.Contains(goRepl, "$") {
			per += len(s)
		}
		if n > 0 && per > 0 && n > (in.lim.ValueChars-len(s))/per {
			return "", in.limitError("a string too long")
		}
		out := re.ReplaceAllString(s, goRepl)
		if err := in.charge(len(out)); err != nil {
			return "", err
		}
		return out, nil
	}
	if isCollection(l) {
		var out []any
		for _, e := range enumerate(l) {
			s, err := do(toStr(e))
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	return do(toStr(l))
}

func (in *interp) split(l, r any, cs bool, x *BinaryExpr) (any, error) {
	limit := -1
	pat := ""
	switch args := r.(type) {
	case []any:
		if len(args) > 2 || len(args) == 0 {
			return nil, in.notModelled(x.Extent)
		}
		pat = toStr(args[0])
		if len(args) == 2 {
			n, err := toInt(args[1])
			if err != nil {
				return nil, in.convertFailure(err, x.Extent)
			}
			if n > 0 {
				limit = n
			}
		}
	case *BlockValue:
		return nil, in.notModelled(x.Extent)
	default:
		pat = toStr(r)
	}
	re, err := in.regex(pat, cs, x.R.extent())
	if err != nil {
		return nil, err
	}
	var out []any
	for _, e := range enumerateArgs(l) {
		if err := in.charge(len(toStr(e))); err != nil {
			return nil, err
		}
		for _, part := range re.Split(toStr(e), limit) {
			out = append(out, part)
		}
	}
	return out, nil
}

// --- wildcards ---

// wildcardMatch is -like: * ? and [a-z], case-insensitive.
func wildcardMatch(pat, s string) bool {
	return wildcardMatchCase(strings.ToLower(pat), strings.ToLower(s))
}

func wildcardMatchCase(pat, s string) bool {
	p := []rune(pat)
	t := []rune(s)
	// Iterative matcher with backtracking on the last star.
	pi, ti := 0, 0
	star, mark := -1, 0
	for ti < len(t) {
		if pi < len(p) {
			switch c := p[pi]; {
			case c == '*':
				star, mark = pi, ti
				pi++
				continue
			case c == '?':
				pi++
				ti++
				continue
			case c == '[':
				if end, ok := matchClass(p[pi:], t[ti]); end > 0 {
					if ok {
						pi += end
						ti++
						continue
					}
				} else if t[ti] == '[' {
					pi++
					ti++
					continue
				}
			case c == '`' && pi+1 < len(p):
				if p[pi+1] == t[ti] {
					pi += 2
					ti++
					continue
				}
			case c == t[ti]:
				pi++
				ti++
				continue
			}
		}
		if star < 0 {
			return false
		}
		pi = star + 1
		mark++
		ti = mark
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// matchClass matches a [set] at the start of p against c; end is the
// class's length (0 when it is not closed).
func matchClass(p []rune, c rune) (int, bool) {
	end := -1
	for i := 1; i < len(p); i++ {
		if p[i] == ']' && i > 1 {
			end = i
			break
		}
	}
	if end < 0 {
		return 0, false
	}
	set := p[1:end]
	for i := 0; i < len(set); i++ {
		if i+2 < len(set) && set[i+1] == '-' {
			if c >= set[i] && c <= set[i+2] {
				return end + 1, true
			}
			i += 2
			continue
		}
		if set[i] == c {
			return end + 1, true
		}
	}
	return end + 1, false
}

// --- -f and ToString formats ---

// format is the -f operator: .NET composite formatting.
func (in *interp) format(f string, args []any, ext Extent) (any, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c == '{' && i+1 < len(f) && f[i+1] == '{':
			b.WriteByte('{')
			i++
		case c == '}' && i+1 < len(f) && f[i+1] == '}':
			b.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(f[i:], '}')
			if end < 0 {
				return nil, in.formatError(ext)
			}
			spec := f[i+1 : i+end]
			i += end
			idxText, fmtText, _ := strings.Cut(spec, ":")
			idxText, alignText, hasAlign := strings.Cut(idxText, ",")
			idx, err := strconv.Atoi(strings.TrimSpace(idxText))
			if err != nil || idx < 0 {
				return nil, in.formatError(ext)
			}
			if idx >= len(args) {
				return nil, in.runtimeError(ext, "System.Management.Automation.RuntimeException",
					"Error formatting a string: Index (zero based) must be greater than or equal to zero and less than the size of the argument list..", "InvalidOperation", "FormatError")
			}
			s, ok := formatValue(args[idx], fmtText)
			if !ok {
				return nil, in.notModelled(ext)
			}
			if hasAlign {
				w, err := strconv.Atoi(strings.TrimSpace(alignText))
				if err != nil || w > 10000 || w < -10000 {
					return nil, in.formatError(ext)
				}
				if w > 0 && len([]rune(s)) < w {
					s = strings.Repeat(" ", w-len([]rune(s))) + s
				} else if w < 0 && len([]rune(s)) < -w {
					s += strings.Repeat(" ", -w-len([]rune(s)))
				}
			}
			b.WriteString(s)
		case c == '}':
			return nil, in.formatError(ext)
		default:
			b.WriteByte(c)
		}
		if b.Len() > in.lim.ValueChars {
			return nil, in.limitError("a string too long")
		}
	}
	if err := in.charge(b.Len()); err != nil {
		return nil, err
	}
	return b.String(), nil
}

func (in *interp) formatError(ext Extent) error {
	return in.runtimeError(ext, "System.Management.Automation.RuntimeException",
		"Error formatting a string: Input string was not in a correct format..", "InvalidOperation", "FormatError")
}

// formatValue applies a .NET format string to a value; ok is false for
// formats the model does not know.
func formatValue(v any, f string) (string, bool) {
	if f == "" {
		return toStr(v), true
	}
	switch x := v.(type) {
	case DateTime:
		return formatDate(x.T, f)
	case int, int64, float64:
		return formatNumber(x, f)
	case string:
		n, ok := parseNumberString(x)
		if ok && x != "" {
			if _, isFloat := n.(float64); !isFloat {
				return x, true
			}
		}
		return x, true
	}
	return "", false
}

// formatNumber handles the standard numeric formats N, F, D, X, P and G
// with a precision, and simple custom formats of 0 and #.
func formatNumber(v any, f string) (string, bool) {
	spec := strings.ToUpper(f[:1])
	prec := -1
	if len(f) > 1 {
		n, err := strconv.Atoi(f[1:])
		if err != nil {
			return formatCustom(v, f)
		}
		if n > 99 {
			return "", false
		}
		prec = n
	}
	fv := toFloat(v)
	iv, isInt := intOf(v)
	switch spec {
	case "N", "F":
		if prec < 0 {
			prec = 2
		}
		s := strconv.FormatFloat(roundAway(fv, prec), 'f', prec, 64)
		if spec == "N" {
			s = groupThousands(s)
		}
		return s, true
	case "D":
		if !isInt {
			return "", false
		}
		s := strconv.FormatInt(abs64(iv), 10)
		for prec > 0 && len(s) < prec {
			s = "0" + s
		}
		if iv < 0 {
			s = "-" + s
		}
		return s, true
	case "X":
		if !isInt {
			return "", false
		}
		u := uint64(iv)
		if _, ok := v.(int); ok {
			u = uint64(uint32(int32(iv)))
		}
		s := strconv.FormatUint(u, 16)
		if f[0] == 'X' {
			s = strings.ToUpper(s)
		}
		for prec > 0 && len(s) < prec {
			s = "0" + s
		}
		return s, true
	case "P":
		if prec < 0 {
			prec = 2
		}
		return groupThousands(strconv.FormatFloat(roundAway(fv*100, prec), 'f', prec, 64)) + " %", true
	case "G":
		if prec <= 0 {
			return toStr(v), true
		}
		return strconv.FormatFloat(fv, 'g', prec, 64), true
	}
	return formatCustom(v, f)
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// roundAway rounds half away from zero, as .NET's numeric formats do.
func roundAway(f float64, prec int) float64 {
	p := math.Pow(10, float64(prec))
	return math.Round(f*p) / p
}

func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if hasFrac {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}

// formatCustom handles custom numeric formats made of 0, # , and one .
func formatCustom(v any, f string) (string, bool) {
	if strings.Trim(f, "0#,.") != "" || strings.Count(f, ".") > 1 {
		return "", false
	}
	intSpec, fracSpec, _ := strings.Cut(f, ".")
	prec := len(fracSpec)
	minFrac := strings.Count(fracSpec, "0")
	s := strconv.FormatFloat(roundAway(toFloat(v), prec), 'f', prec, 64)
	ip, fp, _ := strings.Cut(s, ".")
	for len(fp) > minFrac && strings.HasSuffix(fp, "0") {
		fp = fp[:len(fp)-1]
	}
	minInt := strings.Count(intSpec, "0")
	neg := strings.HasPrefix(ip, "-")
	ip = strings.TrimPrefix(ip, "-")
	for len(ip) < minInt {
		ip = "0" + ip
	}
	if minInt == 0 && ip == "0" {
		ip = ""
	}
	if strings.Contains(intSpec, ",") {
		ip = groupThousands(ip)
	}
	out := ip
	if fp != "" {
		out += "." + fp
	}
	if neg {
		out = "-" + out
	}
	return out, true
}

// formatDate applies a .NET date format (standard d, D, t, T, g, G, s,
// o, u or a custom pattern) in the en-US culture.
func formatDate(t time.Time, f string) (string, bool) {
	switch f {
	case "d":
		return t.Format("1/2/2006"), true
	case "D":
		return t.Format("Monday, January 2, 2006"), true
	case "t":
		return t.Format("3:04 PM"), true
	case "T":
		return t.Format("3:04:05 PM"), true
	case "g":
		return t.Format("1/2/2006 3:04 PM"), true
	case "G":
		return t.Format("1/2/2006 3:04:05 PM"), true
	case "f":
		return t.Format("Monday, January 2, 2006 3:04 PM"), true
	case "F":
		return t.Format("Monday, January 2, 2006 3:04:05 PM"), true
	case "s":
		return t.Format("2006-01-02T15:04:05"), true
	case "u":
		return t.UTC().Format("2006-01-02 15:04:05Z"), true
	case "o", "O":
		return t.Format("2006-01-02T15:04:05.0000000-07:00"), true
	}
	var b strings.Builder
	for i := 0; i < len(f); {
		c := f[i]
		n := 1
		for i+n < len(f) && f[i+n] == c {
			n++
		}
		switch c {
		case 'y':
			if n <= 2 {
				b.WriteString(t.Format("06"))
			} else {
				b.WriteString(t.Format("2006"))
			}
		case 'M':
			switch n {
			case 1:
				b.WriteString(strconv.Itoa(int(t.Month())))
			case 2:
				b.WriteString(t.Format("01"))
			case 3:
				b.WriteString(t.Format("Jan"))
			default:
				b.WriteString(t.Format("January"))
			}
		case 'd':
			switch n {
			case 1:
				b.WriteString(strconv.Itoa(t.Day()))
			case 2:
				b.WriteString(t.Format("02"))
			case 3:
				b.WriteString(t.Format("Mon"))
			default:
				b.WriteString(t.Format("Monday"))
			}
		case 'H':
			if n == 1 {
				b.WriteString(strconv.Itoa(t.Hour()))
			} else {
				b.WriteString(t.Format("15"))
			}
		case 'h':
			if n == 1 {
				b.WriteString(t.Format("3"))
			} else {
				b.WriteString(t.Format("03"))
			}
		case 'm':
			if n == 1 {
				b.WriteString(strconv.Itoa(t.Minute()))
			} else {
				b.WriteString(t.Format("04"))
			}
		case 's':
			if n == 1 {
				b.WriteString(strconv.Itoa(t.Second()))
			} else {
				b.WriteString(t.Format("05"))
			}
		case 'f':
			if n > 7 {
				return "", false
			}
			ns := strconv.Itoa(1_000_000_000 + t.Nanosecond())[1:]
			b.WriteString(ns[:n])
		case 't':
			if n == 1 {
				b.WriteString(t.Format("PM")[:1])
			} else {
				b.WriteString(t.Format("PM"))
			}
		case 'z', 'K':
			b.WriteString(t.Format("-07:00"))
		case '\'', '"':
			end := strings.IndexByte(f[i+1:], c)
			if end < 0 {
				return "", false
			}
			b.WriteString(f[i+1 : i+1+end])
			i += end + 2
			continue
		case '\\':
			if i+1 < len(f) {
				b.WriteByte(f[i+1])
			}
			i += 2
			continue
		default:
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
				return "", false
			}
			b.WriteString(f[i : i+n])
		}
		i += n
	}
	return b.String(), true
}

// parseDate reads a date the way [datetime] conversion does for common
// forms.
func parseDate(s string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "1/2/2006", "1/2/2006 15:04:05", "1/2/2006 3:04:05 PM", "01/02/2006 15:04:05", time.RFC3339} {
		if t, err := time.ParseInLocation(layout, strings.TrimSpace(s), time.UTC); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
