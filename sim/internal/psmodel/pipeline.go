package psmodel

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"strings"
	"unicode/utf16"
)

// stage is a pipeline element at work: input arrives through process;
// end runs once the input is over (and is all a first element gets).
type stage interface {
	begin() error
	process(v any) error
	end() error
}

// runPipeline runs a pipeline, its elements streaming objects to each
// other and the last one to out.
func (in *interp) runPipeline(pl *Pipeline, out *pipeOut) error {
	ps := &pipeState{}
	saved := in.pipe
	in.pipe = ps
	defer func() { in.pipe = saved }()
	stages := make([]stage, len(pl.Elems))
	next := out
	for i := len(pl.Elems) - 1; i >= 0; i-- {
		st, err := in.newStage(pl.Elems[i], next, i == 0, ps)
		if err != nil {
			in.lastOK = false
			return err
		}
		stages[i] = st
		next = &pipeOut{emit: st.process}
	}
	for _, st := range stages {
		if err := st.begin(); err != nil {
			in.lastOK = false
			return err
		}
	}
	for _, st := range stages {
		if err := st.end(); err != nil {
			in.lastOK = false
			return err
		}
	}
	in.lastOK = !ps.failed
	return nil
}

// redirects are a pipeline element's redirections, evaluated.
type redirects struct {
	outNull, errNull    bool
	outFile, errFile    string
	outAppend, errAppnd bool
	errMerge            bool
	otherMerge          bool
	otherNull           bool
}

func (in *interp) evalRedirs(rs []Redir) (*redirects, error) {
	r := &redirects{}
	for _, rd := range rs {
		var target string
		isNull := false
		if !rd.Merge {
			if v, ok := rd.To.(*VarExpr); ok && strings.EqualFold(v.Name, "null") && v.Scope == "" {
				isNull = true
			} else {
				t, err := in.eval(rd.To)
				if err != nil {
					return nil, err
				}
				target = in.resolvePath(toStr(t))
			}
		}
		streams := []byte{rd.From}
		if rd.From == '*' {
			streams = []byte{'1', '2', '3'}
		}
		for _, s := range streams {
			switch s {
			case '1':
				if rd.Merge {
					continue
				}
				r.outNull, r.outFile, r.outAppend = isNull, target, rd.Append
			case '2':
				switch {
				case rd.Merge:
					r.errMerge = true
				case isNull:
					r.errNull = true
				default:
					r.errFile, r.errAppnd = target, rd.Append
				}
			default:
				switch {
				case rd.Merge:
					r.otherMerge = true
				case isNull:
					r.otherNull = true
				default:
					return nil, in.notModelled(rd.Extent)
				}
			}
		}
	}
	return r, nil
}

// fileSink collects what a redirection writes to a file and writes it
// at the end, as Out-File does (UTF-16LE with a byte-order mark, the
// default of Windows PowerShell 5.1's > and Out-File).
type fileSink struct {
	in     *interp
	path   string
	append bool
	items  []any
}

func (f *fileSink) add(v any) error {
	f.items = append(f.items, v)
	return nil
}

func (f *fileSink) flush() error {
	text := outString(f.items)
	return f.in.writeText(f.path, text, "unicode", f.append, false)
}

// wrapOutput applies output and error redirections to where an element
// writes.
func (in *interp) wrapOutput(r *redirects, out *pipeOut) (*pipeOut, func(*ErrorRecord) error, func() error) {
	finish := []func() error{}
	o := out
	switch {
	case r.outNull:
		o = &pipeOut{emit: func(any) error { return nil }}
	case r.outFile != "":
		fsink := &fileSink{in: in, path: r.outFile, append: r.outAppend}
		o = &pipeOut{emit: fsink.add}
		finish = append(finish, fsink.flush)
	}
	errw := in.defaultErrorWriter()
	switch {
	case r.errMerge:
		errw = func(rec *ErrorRecord) error { return o.emit(rec) }
	case r.errNull:
		errw = func(rec *ErrorRecord) error {
			in.errs.items = append([]any{rec}, in.errs.items...)
			return nil
		}
	case r.errFile != "":
		esink := &fileSink{in: in, path: r.errFile, append: r.errAppnd}
		errw = func(rec *ErrorRecord) error { return esink.add(rec) }
		finish = append(finish, esink.flush)
	}
	return o, errw, func() error {
		for _, f := range finish {
			if err := f(); err != nil {
				return err
			}
		}
		return nil
	}
}

func (in *interp) defaultErrorWriter() func(*ErrorRecord) error {
	return func(rec *ErrorRecord) error {
		in.writeRecord(rec)
		if in.con.limitHit {
			return in.limitError("more than the output limit")
		}
		return nil
	}
}

// newStage prepares one pipeline element.
func (in *interp) newStage(el PipeElem, out *pipeOut, first bool, ps *pipeState) (stage, error) {
	r, err := in.evalRedirs(el.redirs())
	if err != nil {
		return nil, err
	}
	switch el := el.(type) {
	case *ExprElem:
		o, _, finish := in.wrapOutput(r, out)
		return &exprStage{in: in, x: el.X, out: o, finish: finish}, nil
	case *Command:
		return in.commandStage(el, out, first, ps, r)
	}
	return nil, in.notModelled(el.extent())
}

// exprStage is an expression at the head of a pipeline.
type exprStage struct {
	in     *interp
	x      Expr
	out    *pipeOut
	finish func() error
}

func (s *exprStage) begin() error      { return nil }
func (s *exprStage) process(any) error { return nil }
func (s *exprStage) end() error {
	v, err := s.in.eval(s.x)
	if err != nil {
		return err
	}
	for _, item := range enumerate(v) {
		if err := s.out.emit(item); err != nil {
			return err
		}
	}
	return s.finish()
}

// --- commands ---

// cmdArg is an evaluated command argument.
type cmdArg struct {
	param    string // without dash; "" for a value
	value    any
	hasValue bool
	colon    bool
	raw      string
	ext      Extent
	bare     bool // a bare word or number, passed to programs as written
	// isArray marks a value written as a comma list.
	isArray bool
}

// evalArgs evaluates a command's arguments.
func (in *interp) evalArgs(c *Command) ([]cmdArg, error) {
	var out []cmdArg
	for _, a := range c.Args {
		ca := cmdArg{param: a.Param, colon: a.Colon, raw: a.Raw, ext: a.Extent}
		if a.Value != nil {
			v, err := in.eval(a.Value)
			if err != nil {
				return nil, err
			}
			ca.value, ca.hasValue = v, true
			switch x := a.Value.(type) {
			case *StringLit:
				ca.bare = x.Bare
			case *NumberLit:
				ca.bare = true
			case *ArrayLit:
				ca.isArray = true
			}
		}
		out = append(out, ca)
	}
	return out, nil
}

// commandStage resolves a command and prepares it.
func (in *interp) commandStage(c *Command, out *pipeOut, first bool, ps *pipeState, r *redirects) (stage, error) {
	name := c.Name
	if c.NameExpr != nil {
		v, err := in.eval(c.NameExpr)
		if err != nil {
			return nil, err
		}
		switch t := v.(type) {
		case *BlockValue:
			args, err := in.evalArgs(c)
			if err != nil {
				return nil, err
			}
			o, errw, finish := in.wrapOutput(r, out)
			return &blockStage{in: in, block: t.Block, fr: &frame{kind: frameBlock, text: t.Text, call: c.Extent, src: in.src},
				args: args, out: o, errw: errw, finish: finish, dot: c.Invoke == '.', ext: c.Extent}, nil
		case string:
			name = t
		case *Object:
			if p, ok := t.Prop("Source"); ok && toStr(p) != "" {
				name = toStr(p)
			} else if p, ok := t.Prop("Name"); ok {
				name = toStr(p)
			} else {
				return nil, in.notModelled(c.Extent)
			}
		case nil:
			return nil, in.runtimeError(c.NameExtent, "System.Management.Automation.RuntimeException",
				"The expression after '"+string(c.Invoke)+"' in a pipeline element produced an object that was not valid. It must result in a command name, a script block, or a CommandInfo object.",
				"InvalidOperation", "BadExpression")
		default:
			return nil, in.notModelled(c.Extent)
		}
	}
	if name == "" {
		return nil, in.commandNotFound(c, name)
	}
	lower := strings.ToLower(name)
	invoked := name
	if target, ok := aliases[lower]; ok {
		lower = strings.ToLower(target)
	}
	if f, ok := in.findFunction(lower); ok {
		args, err := in.evalArgs(c)
		if err != nil {
			return nil, err
		}
		o, errw, finish := in.wrapOutput(r, out)
		src := f.block.src
		if src == nil {
			src = in.src
		}
		return &blockStage{in: in, block: f.block, fr: &frame{kind: frameFunction, name: invoked, call: c.Extent, src: in.src},
			args: args, out: o, errw: errw, finish: finish, dot: c.Invoke == '.', ext: c.Extent, blockSrc: src}, nil
	}
	if info, ok := cmdlets[lower]; ok {
		args, err := in.evalArgs(c)
		if err != nil {
			return nil, err
		}
		o, errw, finish := in.wrapOutput(r, out)
		call := &cmdCall{in: in, info: info, cmd: c, invoked: invoked, args: args, out: o, errw: errw, first: first, ps: ps, redir: r}
		if err := call.bind(); err != nil {
			return nil, err
		}
		return &cmdletStage{call: call, finish: finish}, nil
	}
	if unmodelledCmdlets[lower] {
		return nil, in.notModelled(c.Extent)
	}
	if strings.ContainsAny(name, "*?[") && !strings.ContainsAny(name, `\/`) {
		return nil, in.notModelled(c.Extent)
	}
	prog, err := in.host.FindProgram(name)
	switch {
	case errors.Is(err, fs.ErrPermission):
		return nil, in.programAccessDenied(c, name)
	case err != nil:
		return nil, in.commandNotFound(c, name)
	}
	args, err := in.evalArgs(c)
	if err != nil {
		return nil, err
	}
	if prog.Script {
		o, errw, finish := in.wrapOutput(r, out)
		return &scriptStage{in: in, prog: prog, args: args, out: o, errw: errw, finish: finish, cmd: c}, nil
	}
	return &nativeStage{in: in, prog: prog, args: args, out: out, cmd: c, r: r, ps: ps, name: name}, nil
}

// commandNotFound is PowerShell's CommandNotFoundException for a name.
func (in *interp) commandNotFound(c *Command, name string) error {
	msg := "The term '" + name + "' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."
	rec := newRecord("System.Management.Automation.CommandNotFoundException", msg, "ObjectNotFound", "CommandNotFoundException")
	rec.TargetName, rec.TargetType = name, "String"
	rec.Command = name
	rec.Target = name
	in.place(rec, c.NameExtent)
	return &psError{rec: rec}
}

// programAccessDenied is starting a program the process may not reach
// (a file share from a network logon without delegation): .NET's
// Process.Start fails with "Access is denied", which Windows PowerShell
// 5.1 reports as ApplicationFailedException; its message runs straight
// into the position message, a known defect of 5.1's
// NativeCommandProcessor.
func (in *interp) programAccessDenied(c *Command, name string) error {
	base := name[strings.LastIndexAny(name, `\/`)+1:]
	pos := in.src.PositionMessage(c.Extent)
	msg := "Program '" + base + "' failed to run: Access is denied" + pos + "."
	rec := newRecord("System.Management.Automation.ApplicationFailedException", msg, "ResourceUnavailable", "NativeCommandFailed")
	in.place(rec, c.Extent)
	return &psError{rec: rec}
}

// cmdletStage runs a modelled cmdlet.
type cmdletStage struct {
	call   *cmdCall
	finish func() error
}

func (s *cmdletStage) begin() error {
	if s.call.info.begin != nil {
		return s.call.guard(s.call.info.begin(s.call))
	}
	return nil
}

func (s *cmdletStage) process(v any) error {
	c := s.call
	if c.info.process == nil {
		return c.in.notModelled(c.cmd.Extent)
	}
	c.gotInput = true
	return c.guard(c.info.process(c, v))
}

func (s *cmdletStage) end() error {
	c := s.call
	if c.info.end != nil {
		if err := c.guard(c.info.end(c)); err != nil {
			return err
		}
	}
	return s.finish()
}

// blockStage runs a function or a script block with the pipeline's
// input as $input.
type blockStage struct {
	in       *interp
	block    *ScriptBlock
	blockSrc *Source
	fr       *frame
	args     []cmdArg
	input    []any
	out      *pipeOut
	errw     func(*ErrorRecord) error
	finish   func() error
	dot      bool
	ext      Extent
}

func (s *blockStage) begin() error { return nil }
func (s *blockStage) process(v any) error {
	if len(s.input) >= s.in.lim.ValueChars {
		return s.in.limitError("a collection too large")
	}
	s.input = append(s.input, v)
	return nil
}

func (s *blockStage) end() error {
	if s.blockSrc != nil && s.block.src == nil {
		s.block.src = s.blockSrc
	}
	if err := s.in.invokeBlock(s.block, s.fr, s.args, s.input, s.out, s.dot, nil, false, s.ext); err != nil {
		return err
	}
	return s.finish()
}

// invokeBlock runs a script block or function body: a new scope (unless
// dot-sourced), its parameters bound, $input and $_ set.
func (in *interp) invokeBlock(sb *ScriptBlock, fr *frame, args []cmdArg, input []any, out *pipeOut, dot bool, under any, hasUnder bool, ext Extent) error {
	if in.depth >= in.lim.Depth {
		// PowerShell's own guard against runaway recursion.
		rec := newRecord("System.Management.Automation.ScriptCallDepthException", "The script failed due to call depth overflow.", "InvalidOperation", "CallDepthOverflow")
		rec.TargetName, rec.TargetType = "0", "Int32"
		rec.Reason = "ParentContainsErrorRecordException"
		in.place(rec, ext)
		return &psError{rec: rec, script: true}
	}
	in.depth++
	savedScope, savedSrc, savedFrames := in.cur, in.src, in.frames
	defer func() {
		in.depth--
		in.cur, in.src, in.frames = savedScope, savedSrc, savedFrames
	}()
	if !dot {
		in.cur = newScope(in.cur)
	}
	if fr.text == "" && sb.src != nil {
		fr.text = sb.src.Text[min(sb.Start+1, len(sb.src.Text)):max(min(sb.End-1, len(sb.src.Text)), min(sb.Start+1, len(sb.src.Text)))]
	}
	in.frames = append(append([]*frame(nil), savedFrames...), fr)
	if sb.src != nil {
		in.src = sb.src
	}
	if hasUnder {
		in.cur.set("_", under)
		in.cur.set("PSItem", under)
	}
	if !dot || input != nil {
		in.cur.set("input", append([]any(nil), input...))
	}
	rest, err := in.bindArgs(sb.Params, args, ext)
	if err != nil {
		return err
	}
	if !dot {
		in.cur.set("args", rest)
	}
	err = in.execStmts(sb.Body, out)
	var fs *flowSignal
	if errors.As(err, &fs) && fs.kind == "return" {
		return nil
	}
	return err
}

// bindArgs binds command arguments to a script block's parameters and
// returns what is left for $args.
func (in *interp) bindArgs(params []*Param, args []cmdArg, ext Extent) ([]any, error) {
	find := func(name string) *Param {
		for _, p := range params {
			if strings.EqualFold(p.Name, name) {
				return p
			}
		}
		var found *Param
		for _, p := range params {
			if len(name) <= len(p.Name) && strings.EqualFold(p.Name[:len(name)], name) {
				if found != nil {
					return nil
				}
				found = p
			}
		}
		return found
	}
	named, pos, missing := pairArgs(args, func(name string) (bool, bool) {
		p := find(name)
		if p == nil {
			return false, false
		}
		return true, p.Switch
	})
	if missing != "" {
		return nil, in.notModelled(ext)
	}
	values := map[string]any{}
	var positional []any
	for _, a := range pos {
		positional = append(positional, a.value)
	}
	for _, a := range named {
		p := find(a.param)
		if p == nil {
			if len(params) > 0 {
				return nil, in.notModelled(ext)
			}
			// Without parameters, -name is just a word in $args.
			if a.colon {
				positional = append(positional, "-"+a.param+":", a.value)
			} else {
				positional = append(positional, "-"+a.param)
			}
			continue
		}
		v := a.value
		if p.Switch {
			v = true
			if a.hasValue {
				v = toBool(a.value)
			}
		}
		values[strings.ToLower(p.Name)] = v
	}
	if err := in.bindParams(params, in.cur, values, positional, &ext); err != nil {
		return nil, err
	}
	used := 0
	for _, p := range params {
		if _, ok := values[strings.ToLower(p.Name)]; !ok && !p.Switch {
			used++
		}
	}
	rest := []any{}
	if used < len(positional) {
		rest = append(rest, positional[used:]...)
	}
	return rest, nil
}

// bindParams sets parameter variables in sc from named and positional
// values, defaults for the others.
func (in *interp) bindParams(params []*Param, sc *scope, named map[string]any, positional []any, ext *Extent) error {
	pi := 0
	for _, p := range params {
		key := strings.ToLower(p.Name)
		v, ok := named[key]
		if !ok && !p.Switch && pi < len(positional) {
			v, ok = positional[pi], true
			pi++
		}
		if !ok {
			switch {
			case p.Switch:
				v = false
			case p.Default != nil:
				saved := in.cur
				in.cur = sc
				dv, err := in.eval(p.Default)
				in.cur = saved
				if err != nil {
					return err
				}
				v = dv
			}
		}
		if p.Type != "" && (ok || v != nil) {
			at := p.Extent
			if ext != nil {
				at = *ext
			}
			cv, err := in.cast(p.Type, v, at)
			if err != nil {
				return err
			}
			v = cv
		}
		sc.set(key, v)
	}
	return nil
}

// scriptStage runs a .ps1 file PowerShell found as a command.
type scriptStage struct {
	in     *interp
	prog   Program
	args   []cmdArg
	input  []any
	out    *pipeOut
	errw   func(*ErrorRecord) error
	finish func() error
	cmd    *Command
}

func (s *scriptStage) begin() error        { return nil }
func (s *scriptStage) process(v any) error { s.input = append(s.input, v); return nil }
func (s *scriptStage) end() error {
	in := s.in
	data, err := in.host.ReadFile(s.prog.Path)
	if err != nil {
		return in.commandNotFound(s.cmd, s.prog.Path)
	}
	sb, perr := Parse(decodeText(data, in.host, ""))
	if perr != nil {
		var pe *ParseError
		if errors.As(perr, &pe) && !pe.NotModelled {
			rec := newRecord("System.Management.Automation.ParseException", pe.Msg, "ParserError", pe.ID)
			rec.Reason = "ParentContainsErrorRecordException"
			rec.Position = strings.Replace(pe.src.PositionMessage(pe.Extent), "At line:", "At "+s.prog.Path+":", 1)
			rec.parse = true
			return &psError{rec: rec}
		}
		return &fatalError{rec: in.notModelledRecord(pe.Msg, pe.Extent, pe.src)}
	}
	err = in.invokeBlock(sb, &frame{kind: frameScript, name: s.prog.Path, call: s.cmd.Extent, src: in.src}, s.args, s.input, s.out, false, nil, false, s.cmd.Extent)
	var ex *exitSignal
	if errors.As(err, &ex) {
		// exit in a script file ends the script, not PowerShell; its code
		// becomes $LASTEXITCODE.
		in.global.set("LASTEXITCODE", int(ex.code))
		if ex.code != 0 {
			in.pipe.failed = true
		}
		err = nil
	}
	if err != nil {
		return err
	}
	return s.finish()
}

// --- native programs ---

// nativeStage runs a program the way Windows PowerShell 5.1 does.
type nativeStage struct {
	in    *interp
	prog  Program
	args  []cmdArg
	input []any
	out   *pipeOut
	cmd   *Command
	r     *redirects
	ps    *pipeState
	name  string
}

func (s *nativeStage) begin() error { return nil }
func (s *nativeStage) process(v any) error {
	if len(s.input) >= s.in.lim.ValueChars {
		return s.in.limitError("a collection too large")
	}
	s.input = append(s.input, v)
	return nil
}

// nativeArgs renders the arguments as PowerShell 5.1 passes them to a
// program: joined by spaces, an argument with a blank wrapped in double
// quotes (embedded quotes are not escaped), an empty string left out,
// an array spread into its elements, a bare word as written.
func nativeArgs(args []cmdArg) string {
	var parts []string
	add := func(s string) {
		if s == "" {
			return
		}
		quoted := len(s) > 1 && strings.HasPrefix(s, `"`) && strings.HasSuffix(s, `"`)
		if strings.ContainsAny(s, " \t") && !quoted {
			s = `"` + s + `"`
		}
		parts = append(parts, s)
	}
	for _, a := range args {
		if a.param != "" {
			p := "-" + a.param
			if a.colon {
				p += ":" + toStr(a.value)
			}
			add(p)
			continue
		}
		if a.bare {
			if n, ok := a.value.(string); !ok || n == a.raw {
				add(a.raw)
				continue
			}
		}
		if isCollection(a.value) {
			for _, e := range enumerate(a.value) {
				add(toStr(e))
			}
			continue
		}
		add(toStr(a.value))
	}
	return strings.Join(parts, " ")
}

func (s *nativeStage) end() error {
	in := s.in
	// PowerShell starts the program with .NET's Process.Start, which
	// builds the command line as the quoted FileName (the resolved path),
	// a space and Arguments.
	line := `"` + s.prog.Path + `"`
	if a := nativeArgs(s.args); a != "" {
		line += " " + a
	}
	var stdin bytes.Buffer
	for _, v := range s.input {
		stdin.Write(in.host.Encode(toStr(v) + "\r\n"))
	}
	// The program writes straight to the console when its output ends
	// there; otherwise PowerShell reads its output as lines.
	direct := s.out.console && !s.r.outNull && s.r.outFile == ""
	var outBuf, errBuf bytes.Buffer
	var stdout io.Writer = &outBuf
	if direct {
		if err := in.con.raw(); err != nil {
			return err
		}
		stdout = in.opts.Stdout
	}
	errDirect := !s.r.errMerge && !s.r.errNull && s.r.errFile == ""
	var stderr io.Writer = &errBuf
	ew := &countingWriter{w: in.opts.Stderr}
	switch {
	case in.opts.Mode == ModeLauncher && s.r.errMerge:
		// The launcher writes a native program's stderr lines back to
		// stderr as they were (frE), so merging changes nothing but $?.
		errDirect = true
		stderr = ew
	case errDirect:
		stderr = in.opts.Stderr
	}
	if errDirect {
		if err := in.con.raw(); err != nil {
			return err
		}
	}
	code := in.host.Run(in.ctx, s.prog, line, &stdin, stdout, stderr)
	if err := in.ctx.Err(); err != nil {
		return err
	}
	in.global.set("LASTEXITCODE", int(int32(code)))
	if code != 0 {
		s.ps.failed = true
	}
	if s.r.errMerge && (errBuf.Len() > 0 || ew.n > 0) {
		// Windows PowerShell sets $? to false when a program's redirected
		// stderr carries anything, whatever its exit code.
		s.ps.failed = true
	}
	if !direct && !s.r.outNull {
		o := s.out
		var fsink *fileSink
		if s.r.outFile != "" {
			fsink = &fileSink{in: in, path: s.r.outFile, append: s.r.outAppend}
			o = &pipeOut{emit: fsink.add}
		}
		for _, l := range splitLines(in.host.Decode(outBuf.Bytes())) {
			if err := o.emit(l); err != nil {
				return err
			}
		}
		if fsink != nil {
			if err := fsink.flush(); err != nil {
				return err
			}
		}
	}
	if !errDirect && errBuf.Len() > 0 {
		lines := splitLines(in.host.Decode(errBuf.Bytes()))
		for i, l := range lines {
			rec := newRecord("System.Management.Automation.RemoteException", l, "NotSpecified", "NativeCommandError")
			rec.TargetName, rec.TargetType = l, "String"
			rec.Target = l
			if i == 0 {
				// Windows PowerShell 5.1 shows the first line of a
				// redirected stderr as an error record of the program.
				rec.Command = s.name
				in.place(rec, s.cmd.Extent)
			} else {
				rec.native = true
			}
			switch {
			case s.r.errNull:
				in.errs.items = append([]any{rec}, in.errs.items...)
			case s.r.errMerge:
				if err := s.out.emit(rec); err != nil {
					return err
				}
			case s.r.errFile != "":
				if err := in.writeText(s.r.errFile, l+"\r\n", "unicode", true, false); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// countingWriter passes a program's bytes through and counts them.
type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += len(p)
	_, _ = c.w.Write(p) // the pipes never fail
	return len(p), nil
}

// splitLines splits program output into lines as PowerShell reads it.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(s, "\n")
}

// --- text files ---

// writeText writes text to a file in an encoding: unicode (UTF-16LE with
// a BOM), utf8 (with a BOM, as Windows PowerShell 5.1 writes it),
// ascii, or default/oem (the host's code page).
func (in *interp) writeText(path, text, enc string, appendTo, _ bool) error {
	var data []byte
	exists := false
	if appendTo {
		if _, err := in.host.Stat(path); err == nil {
			exists = true
		}
	}
	switch strings.ToLower(enc) {
	case "unicode", "":
		u := utf16.Encode([]rune(text))
		if !exists {
			data = append(data, 0xFF, 0xFE)
		}
		for _, c := range u {
			data = append(data, byte(c), byte(c>>8))
		}
	case "utf8":
		if !exists {
			data = append(data, 0xEF, 0xBB, 0xBF)
		}
		data = append(data, text...)
	case "ascii":
		for _, r := range text {
			if r > 127 {
				r = '?'
			}
			data = append(data, byte(r))
		}
	default:
		data = in.host.Encode(text)
	}
	return in.host.WriteFile(path, data, appendTo)
}

// decodeText reads a text file as Get-Content does: a byte-order mark
// decides, else the host's code page.
func decodeText(data []byte, h Host, _ string) string {
	switch {
	case len(data) >= 2 && data[0] == 0xFF && data[1] == 0xFE:
		u := make([]uint16, (len(data)-2)/2)
		for i := range u {
			u[i] = uint16(data[2+2*i]) | uint16(data[3+2*i])<<8
		}
		return string(utf16.Decode(u))
	case len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF:
		return string(data[3:])
	}
	return h.DecodeFile(data)
}
