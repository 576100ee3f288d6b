package psmodel

import (
	"context"
	"errors"
	"strconv"
	"strings"
)

// interp is one script being evaluated.
type interp struct {
	ctx    context.Context
	host   Host
	facts  Facts
	opts   Options
	lim    Limits
	con    *console
	global *scope
	cur    *scope
	// src is the source of the code running now (positions in records).
	src        *Source
	scriptText string
	frames     []*frame
	steps      int
	depth      int
	// tryDepth counts the try blocks the code runs in (the launcher's
	// own counts as one).
	tryDepth int
	// lastOK is $?.
	lastOK bool
	errs   *ArrayList
	// catchRec is the record of the innermost running catch block, which
	// a bare throw rethrows.
	catchRec *ErrorRecord
	// pipe is the pipeline whose command is running, for $? .
	pipe *pipeState
	// callExt is where the object method running now was called.
	callExt Extent
	// work is what the script has built so far, against Limits.Work.
	work int
	// strict is Set-StrictMode's version (0 off).
	strict int
}

// charge counts n bytes (or elements) built against the work limit and
// a single value's limit.
func (in *interp) charge(n int) error {
	if n > in.lim.ValueChars {
		return in.limitError("a value larger than " + strconv.Itoa(in.lim.ValueChars))
	}
	in.work += n
	if in.work > in.lim.Work {
		return in.limitError("more than " + strconv.Itoa(in.lim.Work) + " bytes built")
	}
	return nil
}

// lastExtent is the call site of the running object method.
func (in *interp) lastExtent() Extent { return in.callExt }

// scope holds variables and functions; lookups walk to the parent.
type scope struct {
	vars   map[string]any
	funcs  map[string]*funcDef
	parent *scope
}

type funcDef struct {
	name  string
	block *ScriptBlock
}

func newScope(parent *scope) *scope {
	return &scope{vars: map[string]any{}, funcs: map[string]*funcDef{}, parent: parent}
}

func (s *scope) get(name string) (any, bool) {
	key := strings.ToLower(name)
	for sc := s; sc != nil; sc = sc.parent {
		if v, ok := sc.vars[key]; ok {
			return v, true
		}
	}
	return nil, false
}

func (s *scope) set(name string, v any) { s.vars[strings.ToLower(name)] = v }

// frameKind is what kind of code a frame runs, which decides what
// Write-Error shows before its message.
type frameKind int

const (
	frameTop frameKind = iota
	frameFunction
	frameBlock
	frameScript
)

// frame is one call: the top-level script, a function, a script block
// or a .ps1 file, and where it was called from.
type frame struct {
	kind frameKind
	name string
	text string
	call Extent
	src  *Source
}

// pipeState is one running pipeline: whether one of its commands failed.
type pipeState struct{ failed bool }

// pipeOut is where a pipeline element sends its objects; console marks
// the console itself (a native program may then write to it directly).
type pipeOut struct {
	emit    func(any) error
	console bool
}

func newInterp(ctx context.Context, h Host, opts Options) *interp {
	in := &interp{ctx: ctx, host: h, facts: h.Facts(), opts: opts, lim: opts.Limits.withDefaults(), lastOK: true, errs: &ArrayList{}}
	in.con = &console{in: in, stdout: opts.Stdout, stderr: opts.Stderr, limit: in.lim.OutputBytes}
	in.global = newScope(nil)
	in.cur = in.global
	for name, v := range map[string]any{
		"ErrorActionPreference": "Continue",
		"WarningPreference":     "Continue",
		"VerbosePreference":     "SilentlyContinue",
		"DebugPreference":       "SilentlyContinue",
		"ProgressPreference":    "Continue",
		"ConfirmPreference":     "High",
		"OFS":                   nil,
	} {
		in.global.set(name, v)
	}
	if opts.Mode == ModeLauncher {
		in.global.set("ProgressPreference", "SilentlyContinue")
	}
	return in
}

// --- limits and errors ---

// step counts a statement or loop iteration against the limit and
// notices a stopped process.
func (in *interp) step() error {
	in.steps++
	if in.steps > in.lim.Steps {
		return in.limitError("more than " + strconv.Itoa(in.lim.Steps) + " statements")
	}
	if in.steps&63 == 0 {
		if err := in.ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// limitError ends a script that went beyond the model's bounds.
func (in *interp) limitError(what string) error {
	msg := "simulated host: the script ran beyond the model's limits (" + what + ")"
	rec := newRecord("System.Management.Automation.RuntimeException", msg, "LimitsExceeded", "SimulatedHostLimit")
	return &fatalError{rec: rec}
}

// notModelled refuses a construct at ext: the script ends, non-zero,
// with the source line in the message.
func (in *interp) notModelled(ext Extent) error {
	return &fatalError{rec: in.notModelledRecord(notModelledPrefix+in.src.trimmedLine(ext.Start), ext, in.src)}
}

func (in *interp) notModelledRecord(msg string, ext Extent, src *Source) *ErrorRecord {
	rec := newRecord("System.NotImplementedException", msg, "NotImplemented", "NotModelled")
	rec.Position = src.PositionMessage(ext)
	rec.HasInvocation = true
	return rec
}

// runtimeError builds a statement-terminating error at ext.
func (in *interp) runtimeError(ext Extent, excType, msg, category, fqid string) *psError {
	rec := newRecord(excType, msg, category, fqid)
	in.place(rec, ext)
	return &psError{rec: rec}
}

// place records where an error happened.
func (in *interp) place(rec *ErrorRecord, ext Extent) {
	rec.Position = in.src.PositionMessage(ext)
	rec.HasInvocation = true
	rec.Line, rec.Column = in.src.Position(ext.Start)
}

// methodError wraps an exception from a .NET method as PowerShell's
// MethodInvocationException does.
func (in *interp) methodError(ext Extent, method string, nargs int, inner *Exception) *psError {
	msg := "Exception calling \"" + method + "\" with \"" + strconv.Itoa(nargs) + "\" argument(s): \"" + inner.Message + "\""
	rec := newRecord("System.Management.Automation.MethodInvocationException", msg, "NotSpecified", inner.shortType())
	rec.Exception.Inner = inner
	in.place(rec, ext)
	return &psError{rec: rec}
}

// writeRecord writes an error record to the console and keeps it in
// $Error.
func (in *interp) writeRecord(rec *ErrorRecord) {
	in.errs.items = append([]any{rec}, in.errs.items...)
	if len(in.errs.items) > 256 {
		in.errs.items = in.errs.items[:256]
	}
	if err := in.con.errorRecord(rec); err != nil {
		return // the output limit; the caller notices it at the next write
	}
}

// preference reads an action preference variable, lower case.
func (in *interp) preference(name string) string {
	v, _ := in.cur.get(name)
	return normalizeAction(v)
}

func normalizeAction(v any) string {
	switch n := v.(type) {
	case int:
		switch n {
		case 0:
			return "silentlycontinue"
		case 1:
			return "stop"
		case 2:
			return "continue"
		case 3:
			return "inquire"
		case 4:
			return "ignore"
		}
	case Enum:
		return strings.ToLower(n.Name)
	}
	return strings.ToLower(toStr(v))
}

// --- statements ---

func (in *interp) execStmts(stmts []Stmt, out *pipeOut) error {
	for _, st := range stmts {
		if err := in.step(); err != nil {
			return err
		}
		if err := in.execStmt(st, out); err != nil {
			if err = in.statementError(err); err != nil {
				return err
			}
		}
	}
	return nil
}

// statementError handles an error that ended a statement: outside any
// try, a statement-terminating error is written and the script goes on
// with the next statement; inside try (or with $ErrorActionPreference
// Stop) it ends the script block up to the catch.
func (in *interp) statementError(err error) error {
	var pe *psError
	if !errors.As(err, &pe) || pe.script {
		return err
	}
	in.lastOK = false
	if in.tryDepth > 0 {
		pe.script = true
		return pe
	}
	switch in.preference("ErrorActionPreference") {
	case "stop":
		pe.script = true
		return pe
	case "silentlycontinue", "ignore":
		in.errs.items = append([]any{pe.rec}, in.errs.items...)
		return nil
	}
	in.writeRecord(pe.rec)
	if in.con.limitHit {
		return in.limitError("more than " + strconv.Itoa(in.con.limit) + " bytes of output")
	}
	return nil
}

func (in *interp) execStmt(st Stmt, out *pipeOut) error {
	switch st := st.(type) {
	case *Pipeline:
		return in.runPipeline(st, out)
	case *AssignStmt:
		in.lastOK = true
		return in.assign(st)
	case *IfStmt:
		for i, cond := range st.Conds {
			v, err := in.stmtValue(cond)
			if err != nil {
				return err
			}
			if toBool(v) {
				return in.execStmts(st.Bodies[i], out)
			}
		}
		if st.HasEls {
			return in.execStmts(st.Else, out)
		}
		return nil
	case *ForeachStmt:
		v, err := in.stmtValue(st.In)
		if err != nil {
			return err
		}
		for _, item := range enumerate(v) {
			if err := in.step(); err != nil {
				return err
			}
			in.cur.set(st.Var, item)
			if stop, err := loopBody(in.execStmts(st.Body, out)); stop || err != nil {
				return err
			}
		}
		return nil
	case *ForStmt:
		if st.Init != nil {
			if err := in.execDiscard(st.Init); err != nil {
				return err
			}
		}
		for {
			if err := in.step(); err != nil {
				return err
			}
			if st.Cond != nil {
				v, err := in.stmtValue(st.Cond)
				if err != nil {
					return err
				}
				if !toBool(v) {
					return nil
				}
			}
			if stop, err := loopBody(in.execStmts(st.Body, out)); stop || err != nil {
				return err
			}
			if st.Iter != nil {
				if err := in.execDiscard(st.Iter); err != nil {
					return err
				}
			}
		}
	case *WhileStmt:
		first := true
		for {
			if err := in.step(); err != nil {
				return err
			}
			if !st.Do || !first {
				v, err := in.stmtValue(st.Cond)
				if err != nil {
					return err
				}
				if toBool(v) == st.Until {
					return nil
				}
			}
			first = false
			if stop, err := loopBody(in.execStmts(st.Body, out)); stop || err != nil {
				return err
			}
			if st.Do {
				v, err := in.stmtValue(st.Cond)
				if err != nil {
					return err
				}
				if toBool(v) == st.Until {
					return nil
				}
				first = true
			}
		}
	case *SwitchStmt:
		return in.execSwitch(st, out)
	case *TryStmt:
		return in.execTry(st, out)
	case *FlowStmt:
		return in.execFlow(st, out)
	case *FunctionDef:
		in.cur.funcs[strings.ToLower(st.Name)] = &funcDef{name: st.Name, block: st.Body}
		if st.Body.src == nil {
			st.Body.src = in.src
		}
		return nil
	}
	return in.notModelled(st.extent())
}

// loopBody interprets a loop body's outcome: break stops the loop,
// continue goes on, other errors end it.
func loopBody(err error) (stop bool, _ error) {
	var fs *flowSignal
	if errors.As(err, &fs) {
		switch fs.kind {
		case "break":
			return true, nil
		case "continue":
			return false, nil
		}
	}
	return err != nil, err
}

// execDiscard runs a statement and drops its output.
func (in *interp) execDiscard(st Stmt) error {
	return in.execStmt(st, &pipeOut{emit: func(any) error { return nil }})
}

func (in *interp) execSwitch(st *SwitchStmt, out *pipeOut) error {
	v, err := in.stmtValue(st.Value)
	if err != nil {
		return err
	}
	items := enumerate(v)
	if v == nil {
		items = []any{nil}
	}
	for _, item := range items {
		if err := in.step(); err != nil {
			return err
		}
		matched := false
		for _, c := range st.Cases {
			ok, err := in.switchMatch(st, c.Cond, item)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			matched = true
			prev, had := in.cur.vars["_"]
			in.cur.set("_", item)
			err = in.execStmts(c.Body, out)
			restoreVar(in.cur, "_", prev, had)
			var fs *flowSignal
			if errors.As(err, &fs) && fs.kind == "break" {
				return nil
			}
			if errors.As(err, &fs) && fs.kind == "continue" {
				break
			}
			if err != nil {
				return err
			}
		}
		if !matched && st.HasDef {
			prev, had := in.cur.vars["_"]
			in.cur.set("_", item)
			err := in.execStmts(st.Default, out)
			restoreVar(in.cur, "_", prev, had)
			var fs *flowSignal
			if errors.As(err, &fs) && fs.kind == "break" {
				return nil
			}
			if err != nil && (!errors.As(err, &fs) || fs.kind != "continue") {
				return err
			}
		}
	}
	return nil
}

func restoreVar(s *scope, name string, v any, had bool) {
	if had {
		s.vars[name] = v
	} else {
		delete(s.vars, name)
	}
}

func (in *interp) switchMatch(st *SwitchStmt, cond Expr, item any) (bool, error) {
	if b, ok := cond.(*BlockExpr); ok {
		var got []any
		err := in.invokeBlock(b.Block, &frame{kind: frameBlock}, nil, nil, &pipeOut{emit: func(v any) error {
			got = append(got, v)
			return nil
		}}, true, item, true, b.Extent)
		if err != nil {
			return false, err
		}
		return toBool(collapse(got)), nil
	}
	c, err := in.eval(cond)
	if err != nil {
		return false, err
	}
	s := toStr(item)
	switch {
	case st.Regex:
		re, err := in.regex(toStr(c), false, cond.extent())
		if err != nil {
			return false, err
		}
		return re.MatchString(s), nil
	case st.Wildcard:
		return wildcardMatch(toStr(c), s), nil
	}
	if isNumber(item) || item == nil {
		return in.equal(item, c, false), nil
	}
	return strings.EqualFold(s, toStr(c)), nil
}

func (in *interp) execTry(st *TryStmt, out *pipeOut) error {
	in.tryDepth++
	err := in.execStmts(st.Body, out)
	in.tryDepth--
	var pe *psError
	if errors.As(err, &pe) {
		for _, c := range st.Catches {
			if !catchMatches(c, pe.rec) {
				continue
			}
			prevRec := in.catchRec
			in.catchRec = pe.rec
			prev, had := in.cur.vars["_"]
			prevItem, hadItem := in.cur.vars["psitem"]
			in.cur.set("_", pe.rec)
			in.cur.set("PSItem", pe.rec)
			in.lastOK = true
			err = in.execStmts(c.Body, out)
			restoreVar(in.cur, "_", prev, had)
			restoreVar(in.cur, "psitem", prevItem, hadItem)
			in.catchRec = prevRec
			break
		}
	}
	var fe *fatalError
	if st.HasFin && !errors.As(err, &fe) && in.ctx.Err() == nil {
		if ferr := in.execStmts(st.Finally, out); ferr != nil {
			return ferr
		}
	}
	return err
}

func catchMatches(c Catch, rec *ErrorRecord) bool {
	if len(c.Types) == 0 {
		return true
	}
	for _, t := range c.Types {
		if rec.Exception.is(t) {
			return true
		}
	}
	return false
}

func (in *interp) execFlow(st *FlowStmt, out *pipeOut) error {
	switch st.Kind {
	case "exit":
		code := 0
		if st.Value != nil {
			v, err := in.stmtValue(st.Value)
			if err != nil {
				return err
			}
			n, err := toInt64(v)
			if err != nil {
				return in.runtimeError(st.Extent, "System.Management.Automation.PSInvalidCastException", err.Error(), "InvalidArgument", "RuntimeException")
			}
			code = int(int32(n))
		}
		return &exitSignal{code: int32(code)}
	case "return":
		if st.Value != nil {
			if err := in.execStmt(st.Value, out); err != nil {
				return err
			}
		}
		return &flowSignal{kind: "return"}
	case "break", "continue":
		return &flowSignal{kind: st.Kind}
	case "throw":
		return in.throw(st)
	}
	return in.notModelled(st.Extent)
}

// throw raises a script-terminating error from a throw statement.
func (in *interp) throw(st *FlowStmt) error {
	if st.Value == nil {
		if in.catchRec != nil {
			return &psError{rec: in.catchRec, script: true}
		}
		rec := newRecord("System.Management.Automation.RuntimeException", "ScriptHalted", "OperationStopped", "ScriptHalted")
		in.place(rec, st.Extent)
		return &psError{rec: rec, script: true}
	}
	v, err := in.stmtValue(st.Value)
	if err != nil {
		return err
	}
	if rec, ok := v.(*ErrorRecord); ok {
		return &psError{rec: rec, script: true}
	}
	if o, ok := v.(*Object); ok && o.exception != nil {
		rec := newRecord(o.exception.Type, o.exception.Message, "OperationStopped", o.exception.shortType())
		in.place(rec, st.Extent)
		return &psError{rec: rec, script: true}
	}
	msg := toStr(v)
	rec := newRecord("System.Management.Automation.RuntimeException", msg, "OperationStopped", msg)
	rec.TargetName = msg
	rec.TargetType = strings.TrimPrefix(typeNameOf(v), "System.")
	if v == nil {
		rec.TargetType = ""
		rec.FQID = "ScriptHalted"
		rec.Exception.Message = "ScriptHalted"
	}
	rec.Target = v
	in.place(rec, st.Extent)
	return &psError{rec: rec, script: true}
}

// stmtValue runs a statement for its value: an expression's value as it
// is (an array stays an array, @() stays empty), a pipeline's output
// collapsed.
func (in *interp) stmtValue(st Stmt) (any, error) {
	if pl, ok := st.(*Pipeline); ok && len(pl.Elems) == 1 {
		if el, ok := pl.Elems[0].(*ExprElem); ok && len(el.Redirs) == 0 {
			in.lastOK = true
			return in.eval(el.X)
		}
	}
	if as, ok := st.(*AssignStmt); ok {
		if err := in.assign(as); err != nil {
			return nil, err
		}
		return in.eval(as.Target)
	}
	var items []any
	err := in.execStmt(st, &pipeOut{emit: func(v any) error {
		if len(items) >= in.lim.ValueChars {
			return in.limitError("a collection too large")
		}
		items = append(items, v)
		return nil
	}})
	if err != nil {
		return nil, err
	}
	return collapse(items), nil
}

// capture runs statements and returns their output items.
func (in *interp) capture(stmts []Stmt) ([]any, error) {
	var items []any
	err := in.execStmts(stmts, &pipeOut{emit: func(v any) error {
		if len(items) >= in.lim.ValueChars {
			return in.limitError("a collection too large")
		}
		items = append(items, v)
		return nil
	}})
	return items, err
}

// --- assignment ---

func (in *interp) assign(st *AssignStmt) error {
	v, err := in.stmtValue(st.Value)
	if err != nil {
		return err
	}
	if st.Op != "=" {
		cur, err := in.eval(st.Target)
		if err != nil {
			return err
		}
		v, err = in.arith(strings.TrimSuffix(st.Op, "="), cur, v, st.Extent)
		if err != nil {
			return err
		}
	}
	return in.setTarget(st.Target, v)
}

func (in *interp) setTarget(t Expr, v any) error {
	switch t := t.(type) {
	case *VarExpr:
		return in.setVar(t, v)
	case *CastExpr:
		cv, err := in.cast(t.Type, v, t.Extent)
		if err != nil {
			return err
		}
		return in.setTarget(t.X, cv)
	case *ArrayLit:
		items := enumerate(v)
		for i, e := range t.Elems {
			var x any
			switch {
			case i == len(t.Elems)-1 && i < len(items):
				x = collapseRest(items[i:])
			case i < len(items):
				x = items[i]
			}
			if err := in.setTarget(e, x); err != nil {
				return err
			}
		}
		return nil
	case *MemberExpr:
		obj, err := in.eval(t.X)
		if err != nil {
			return err
		}
		name := t.Name
		if t.NameExpr != nil {
			n, err := in.eval(t.NameExpr)
			if err != nil {
				return err
			}
			name = toStr(n)
		}
		return in.setMember(obj, name, v, t.Extent)
	case *IndexExpr:
		obj, err := in.eval(t.X)
		if err != nil {
			return err
		}
		idx, err := in.eval(t.Index)
		if err != nil {
			return err
		}
		switch o := obj.(type) {
		case *Hashtable:
			o.Set(idx, v)
			return nil
		case []any:
			i, err := toInt(idx)
			if err != nil {
				return in.notModelled(t.Extent)
			}
			if i < 0 {
				i += len(o)
			}
			if i < 0 || i >= len(o) {
				return in.runtimeError(t.Extent, "System.IndexOutOfRangeException", "Index was outside the bounds of the array.", "OperationStopped", "System.IndexOutOfRangeException")
			}
			o[i] = v
			return nil
		case *ArrayList:
			i, err := toInt(idx)
			if err != nil || i < 0 || i >= len(o.items) {
				return in.notModelled(t.Extent)
			}
			o.items[i] = v
			return nil
		case nil:
			return in.runtimeError(t.Extent, "System.Management.Automation.RuntimeException", "Cannot index into a null array.", "InvalidOperation", "NullArray")
		}
	}
	return in.notModelled(t.extent())
}

func collapseRest(items []any) any {
	if len(items) == 1 {
		return items[0]
	}
	return append([]any(nil), items...)
}

// --- variables ---

func (in *interp) readVar(v *VarExpr) (any, error) {
	switch v.Scope {
	case "env":
		s, ok := in.host.Getenv(v.Name)
		if !ok {
			return nil, nil
		}
		return s, nil
	case "global", "script":
		if x, ok := in.global.vars[strings.ToLower(v.Name)]; ok {
			return x, nil
		}
		return in.special(v)
	case "local", "private", "":
		if v.Scope != "" {
			if x, ok := in.cur.vars[strings.ToLower(v.Name)]; ok {
				return x, nil
			}
			return nil, nil
		}
	default:
		return nil, in.notModelled(v.Extent)
	}
	return in.special(v)
}

// special reads a variable: automatic ones first, then the scopes.
func (in *interp) special(v *VarExpr) (any, error) {
	switch strings.ToLower(v.Name) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	case "?":
		return in.lastOK, nil
	case "pwd":
		return in.pathInfo(in.host.Dir()), nil
	case "psversiontable":
		return in.psVersionTable(), nil
	case "error":
		return in.errs, nil
	case "home":
		if p, ok := in.host.Getenv("USERPROFILE"); ok {
			return p, nil
		}
		return nil, nil
	case "pshome":
		if in.facts.Is64BitProcess || !in.facts.Is64BitOS {
			return `C:\Windows\System32\WindowsPowerShell\v1.0`, nil
		}
		return `C:\Windows\SysWOW64\WindowsPowerShell\v1.0`, nil
	case "psscriptroot":
		if in.opts.ScriptName != "" {
			return parentPath(in.opts.ScriptName), nil
		}
		return "", nil
	case "pscommandpath":
		return in.opts.ScriptName, nil
	case "shellid":
		return "Microsoft.PowerShell", nil
	case "psculture", "psuiculture":
		return "en-US", nil
	case "nestedpromptlevel":
		return 0, nil
	case "^", "$", "host", "executioncontext", "myinvocation", "pid", "psboundparameters", "psdefaultparametervalues",
		"pscmdlet", "sender", "eventargs", "event", "profile", "stacktrace", "psdebugcontext", "pssenderinfo", "this":
		if x, ok := in.cur.get(v.Name); ok {
			return x, nil
		}
		return nil, in.notModelled(v.Extent)
	}
	x, ok := in.cur.get(v.Name)
	if !ok && in.strict >= 1 {
		// Set-StrictMode -Version 1.0 and later refuse unset variables.
		return nil, in.runtimeError(v.Extent, "System.Management.Automation.RuntimeException",
			"The variable '$"+v.Name+"' cannot be retrieved because it has not been set.", "InvalidOperation", "VariableIsUndefined")
	}
	return x, nil
}

func (in *interp) setVar(v *VarExpr, x any) error {
	name := strings.ToLower(v.Name)
	switch v.Scope {
	case "env":
		if x == nil || toStr(x) == "" {
			in.host.Unsetenv(v.Name)
			return nil
		}
		in.host.Setenv(v.Name, toStr(x))
		return nil
	case "global", "script":
		in.global.set(name, x)
		return nil
	case "", "local", "private":
	default:
		return in.notModelled(v.Extent)
	}
	switch name {
	case "null":
		return nil
	case "true", "false", "?", "^", "$", "pwd", "psversiontable", "error", "home", "pshome", "host", "executioncontext", "myinvocation", "pid", "shellid":
		return in.notModelled(v.Extent)
	}
	if s, ok := x.(string); ok && len(s) > in.lim.ValueChars {
		return in.limitError("a string too long")
	}
	in.cur.set(name, x)
	return nil
}

// findFunction looks a function up through the scopes.
func (in *interp) findFunction(lowerName string) (*funcDef, bool) {
	for sc := in.cur; sc != nil; sc = sc.parent {
		if f, ok := sc.funcs[lowerName]; ok {
			return f, true
		}
	}
	return nil, false
}

// psVersionTable is $PSVersionTable.
func (in *interp) psVersionTable() *Hashtable {
	h := newHashtable()
	v, ok := parseVersion(in.facts.PSVersion)
	if !ok {
		v = Version{5, 1, -1, -1}
	}
	h.Set("PSVersion", v)
	h.Set("PSEdition", "Desktop")
	h.Set("PSCompatibleVersions", []any{Version{1, 0, -1, -1}, Version{2, 0, -1, -1}, Version{3, 0, -1, -1}, Version{4, 0, -1, -1}, Version{5, 0, -1, -1}, Version{5, 1, v.Build, v.Revision}})
	h.Set("BuildVersion", Version{10, 0, max(v.Build, 0), max(v.Revision, 0)})
	h.Set("CLRVersion", Version{4, 0, 30319, 42000})
	h.Set("WSManStackVersion", Version{3, 0, -1, -1})
	h.Set("PSRemotingProtocolVersion", Version{2, 3, -1, -1})
	h.Set("SerializationVersion", Version{1, 1, 0, 1})
	return h
}
