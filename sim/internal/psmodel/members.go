package psmodel

import (
	"errors"
	"io/fs"
	"math"
	"strings"
	"unicode"
)

// member reads x.Name and [T]::Name.
func (in *interp) member(x *MemberExpr) (any, error) {
	name := x.Name
	if x.NameExpr != nil {
		n, err := in.eval(x.NameExpr)
		if err != nil {
			return nil, err
		}
		name = toStr(n)
	}
	if x.Static {
		t, err := in.staticType(x.X)
		if err != nil {
			return nil, err
		}
		m, ok := t.statics[strings.ToLower(name)]
		if !ok || m.prop == nil {
			return nil, in.notModelled(x.Extent)
		}
		return m.prop(in, x.Extent)
	}
	obj, err := in.eval(x.X)
	if err != nil {
		return nil, err
	}
	return in.getMember(obj, name, x.Extent)
}

// staticType evaluates the left side of :: to a type.
func (in *interp) staticType(x Expr) (*typeInfo, error) {
	if t, ok := x.(*TypeExpr); ok {
		ti, ok := lookupType(t.Name)
		if !ok {
			return nil, in.unknownType(t.Name, t.Extent)
		}
		return ti, nil
	}
	v, err := in.eval(x)
	if err != nil {
		return nil, err
	}
	if t, ok := v.(*TypeValue); ok {
		return t.Info, nil
	}
	return nil, in.notModelled(x.extent())
}

// getMember reads a property of a value. Arrays give their elements'
// values (member enumeration, PowerShell 3 and later).
func (in *interp) getMember(obj any, name string, ext Extent) (any, error) {
	lower := strings.ToLower(name)
	switch o := obj.(type) {
	case nil:
		if lower == "count" || lower == "length" {
			return 0, nil
		}
		return nil, nil
	case string:
		switch lower {
		case "length":
			return len(utf16Units(o)), nil
		case "count":
			return 1, nil
		}
		return nil, in.notModelled(ext)
	case []any:
		switch lower {
		case "count", "length", "longlength":
			return len(o), nil
		case "rank":
			return 1, nil
		case "issynchronized", "isfixedsize", "isreadonly":
			return lower == "isfixedsize", nil
		}
		var out []any
		for _, e := range o {
			if e == nil {
				continue
			}
			if isCollection(e) {
				return nil, in.notModelled(ext)
			}
			v, err := in.getMember(e, name, ext)
			if err != nil {
				return nil, err
			}
			out = append(out, enumerateArgs(v)...)
		}
		return collapse(out), nil
	case *ArrayList:
		if lower == "count" {
			return len(o.items), nil
		}
		return in.getMember(o.items, name, ext)
	case *Hashtable:
		if v, ok := o.Get(name); ok {
			return v, nil
		}
		switch lower {
		case "count":
			return o.Len(), nil
		case "keys":
			return append([]any(nil), o.keys...), nil
		case "values":
			return append([]any(nil), o.vals...), nil
		}
		return nil, nil
	case *Object:
		if v, ok := o.Prop(name); ok {
			return v, nil
		}
		if o.items != nil {
			items := o.items()
			if lower == "count" {
				return len(items), nil
			}
		}
		if lower == "count" || lower == "length" {
			return 1, nil
		}
		if o.Closed {
			return nil, in.notModelled(ext)
		}
		if in.strict >= 2 {
			// Strict mode 2.0 and later refuse a property an object lacks.
			return nil, in.runtimeError(ext, "System.Management.Automation.RuntimeException",
				"The property '"+name+"' cannot be found on this object. Verify that the property exists.", "NotSpecified", "PropertyNotFoundStrict")
		}
		return nil, nil
	case *ErrorRecord:
		return in.recordMember(o, lower, ext)
	case Version:
		switch lower {
		case "major":
			return o.Major, nil
		case "minor":
			return o.Minor, nil
		case "build":
			return o.Build, nil
		case "revision":
			return o.Revision, nil
		}
	case DateTime:
		return dateMember(o, lower, in, ext)
	case TimeSpan:
		return spanMember(o, lower, in, ext)
	case Enum:
		if lower == "value__" {
			return o.Value, nil
		}
	case int, int64, float64, bool:
		if lower == "count" || lower == "length" {
			return 1, nil
		}
	case *TypeValue:
		switch lower {
		case "name":
			return o.Info.Name[strings.LastIndexByte(o.Info.Name, '.')+1:], nil
		case "fullname":
			return o.Info.Name, nil
		}
	}
	return nil, in.notModelled(ext)
}

// setMember sets x.Name = v.
func (in *interp) setMember(obj any, name string, v any, ext Extent) error {
	switch o := obj.(type) {
	case *Hashtable:
		o.Set(name, v)
		return nil
	case *Object:
		p := o.find(name)
		switch {
		case p != nil && p.set != nil:
			return p.set(v)
		case p != nil && !o.Closed:
			p.value, p.get = v, nil
			return nil
		case p == nil && !o.Closed:
			return in.runtimeError(ext, "System.Management.Automation.RuntimeException",
				"The property '"+name+"' cannot be found on this object. Verify that the property exists and can be set.", "InvalidOperation", "PropertyAssignmentException")
		}
	case nil:
		return in.runtimeError(ext, "System.Management.Automation.RuntimeException",
			"The property '"+name+"' cannot be found on this object. Verify that the property exists and can be set.", "InvalidOperation", "PropertyNotFound")
	}
	return in.notModelled(ext)
}

// index evaluates x[i].
func (in *interp) index(x *IndexExpr) (any, error) {
	obj, err := in.eval(x.X)
	if err != nil {
		return nil, err
	}
	idx, err := in.eval(x.Index)
	if err != nil {
		return nil, err
	}
	return in.indexValue(obj, idx, x.Extent)
}

func (in *interp) indexValue(obj, idx any, ext Extent) (any, error) {
	if h, ok := obj.(*Hashtable); ok {
		if isCollection(idx) {
			var out []any
			for _, k := range enumerate(idx) {
				v, _ := h.Get(k)
				out = append(out, v)
			}
			return out, nil
		}
		v, _ := h.Get(idx)
		return v, nil
	}
	if obj == nil {
		return nil, in.runtimeError(ext, "System.Management.Automation.RuntimeException", "Cannot index into a null array.", "InvalidOperation", "NullArray")
	}
	var items []any
	isString := false
	switch o := obj.(type) {
	case []any:
		items = o
	case *ArrayList:
		items = o.items
	case string:
		isString = true
		for _, r := range o {
			items = append(items, string(r))
		}
	case *Object:
		if o.items == nil {
			return nil, in.notModelled(ext)
		}
		items = o.items()
	default:
		// Indexing a scalar: [0] is the scalar itself.
		items = []any{obj}
	}
	pick := func(i any) (any, bool, error) {
		n, err := toInt(i)
		if err != nil {
			return nil, false, in.notModelled(ext)
		}
		if n < 0 {
			n += len(items)
		}
		if n < 0 || n >= len(items) {
			return nil, false, nil
		}
		return items[n], true, nil
	}
	if isCollection(idx) {
		var out []any
		for _, i := range enumerate(idx) {
			v, ok, err := pick(i)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, v)
			}
		}
		return out, nil
	}
	v, _, err := pick(idx)
	if isString && v != nil {
		return v, err
	}
	return v, err
}

// invokeMethod evaluates x.Name(args) and [T]::Name(args).
func (in *interp) invokeMethod(x *InvokeExpr) (any, error) {
	args := make([]any, len(x.Args))
	for i, a := range x.Args {
		v, err := in.eval(a)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	if x.Static {
		t, err := in.staticType(x.X)
		if err != nil {
			return nil, err
		}
		m, ok := t.statics[strings.ToLower(x.Name)]
		if !ok || m.method == nil {
			return nil, in.notModelled(x.Extent)
		}
		return m.method(in, args, x.Extent)
	}
	obj, err := in.eval(x.X)
	if err != nil {
		return nil, err
	}
	return in.callMethod(obj, x.Name, args, x.Extent)
}

// callMethod calls a method on a value.
func (in *interp) callMethod(obj any, name string, args []any, ext Extent) (any, error) {
	lower := strings.ToLower(name)
	if obj == nil {
		return nil, in.runtimeError(ext, "System.Management.Automation.RuntimeException", "You cannot call a method on a null-valued expression.", "InvalidOperation", "InvokeMethodOnNull")
	}
	switch lower {
	case "gettype":
		if len(args) == 0 {
			if t, ok := lookupType(typeNameOf(obj)); ok {
				return &TypeValue{Info: t}, nil
			}
			return &TypeValue{Info: &typeInfo{Name: typeNameOf(obj)}}, nil
		}
	case "tostring":
		if len(args) == 0 {
			if d, ok := obj.(DateTime); ok {
				s, _ := formatDate(d.T, "G")
				return s, nil
			}
			if f, ok := obj.(float64); ok {
				return formatDouble(f), nil
			}
			return toStr(obj), nil
		}
		if len(args) == 1 {
			s, ok := formatValue(obj, toStr(args[0]))
			if !ok {
				return nil, in.notModelled(ext)
			}
			return s, nil
		}
	case "where", "foreach":
		if b, ok := firstBlock(args); ok && len(args) == 1 {
			return in.magicMethod(lower, obj, b, ext)
		}
	}
	switch o := obj.(type) {
	case string:
		return in.stringMethod(o, lower, args, name, ext)
	case []any:
		return in.listMethod(&o, nil, lower, args, ext)
	case *ArrayList:
		return in.listMethod(&o.items, o, lower, args, ext)
	case *Hashtable:
		return in.hashMethod(o, lower, args, ext)
	case *Object:
		if m, ok := o.methods[lower]; ok {
			saved := in.callExt
			in.callExt = ext
			defer func() { in.callExt = saved }()
			return m(in, args)
		}
		if !o.Closed {
			msg := "Method invocation failed because [" + o.typeName() + "] does not contain a method named '" + name + "'."
			return nil, in.runtimeError(ext, "System.Management.Automation.RuntimeException", msg, "InvalidOperation", "MethodNotFound")
		}
	case *ErrorRecord:
		if lower == "tostring" {
			return o.Message(), nil
		}
	case DateTime:
		return dateMethod(o, lower, args, in, ext)
	case Version:
		if lower == "compareto" && len(args) == 1 {
			if b, ok := args[0].(Version); ok {
				return o.compare(b), nil
			}
		}
	case *BlockValue:
		if lower == "invoke" || lower == "invokereturnasis" {
			var got []any
			var ca []cmdArg
			for _, a := range args {
				ca = append(ca, cmdArg{value: a, hasValue: true})
			}
			err := in.invokeBlock(o.Block, &frame{kind: frameBlock, text: o.Text, call: ext, src: in.src}, ca, nil, &pipeOut{emit: func(v any) error {
				got = append(got, v)
				return nil
			}}, false, nil, false, ext)
			if err != nil {
				return nil, err
			}
			return collapse(got), nil
		}
	case int, int64, float64:
		if lower == "compareto" && len(args) == 1 {
			n, err := toNumber(args[0])
			if err != nil {
				return nil, in.methodError(ext, name, 1, &Exception{Type: "System.ArgumentException", Message: "Object must be of type " + strings.TrimPrefix(typeNameOf(obj), "System.") + "."})
			}
			return numCompare(o, n), nil
		}
		if lower == "equals" && len(args) == 1 {
			return in.equal(o, args[0], false), nil
		}
	}
	return nil, in.notModelled(ext)
}

func firstBlock(args []any) (*BlockValue, bool) {
	if len(args) == 0 {
		return nil, false
	}
	b, ok := args[0].(*BlockValue)
	return b, ok
}

// magicMethod is .Where({ }) and .ForEach({ }) (PowerShell 4 and later).
func (in *interp) magicMethod(kind string, obj any, b *BlockValue, ext Extent) (any, error) {
	items := enumerateArgs(obj)
	out := []any{}
	for _, item := range items {
		if err := in.step(); err != nil {
			return nil, err
		}
		var got []any
		err := in.invokeBlock(b.Block, &frame{kind: frameBlock, text: b.Text, call: ext, src: in.src}, nil, nil, &pipeOut{emit: func(v any) error {
			got = append(got, v)
			return nil
		}}, true, item, true, ext)
		if err != nil {
			return nil, err
		}
		if kind == "where" {
			if toBool(collapse(got)) {
				out = append(out, item)
			}
			continue
		}
		out = append(out, got...)
	}
	return out, nil
}

func utf16Units(s string) []rune {
	var out []rune
	for _, r := range s {
		out = append(out, r)
		if r > 0xFFFF {
			out = append(out, 0)
		}
	}
	return out
}

// stringMethod is a System.String instance method.
func (in *interp) stringMethod(s, lower string, args []any, name string, ext Extent) (any, error) {
	argStr := func(i int) string { return toStr(args[i]) }
	n := len(args)
	switch {
	case lower == "toupper" && n == 0:
		return strings.ToUpper(s), nil
	case lower == "tolower" && n == 0:
		return strings.ToLower(s), nil
	case lower == "toupperinvariant" && n == 0:
		return strings.ToUpper(s), nil
	case lower == "tolowerinvariant" && n == 0:
		return strings.ToLower(s), nil
	case lower == "trim" && n == 0:
		return strings.TrimFunc(s, unicode.IsSpace), nil
	case lower == "trimstart" && n == 0:
		return strings.TrimLeftFunc(s, unicode.IsSpace), nil
	case lower == "trimend" && n == 0:
		return strings.TrimRightFunc(s, unicode.IsSpace), nil
	case (lower == "trim" || lower == "trimstart" || lower == "trimend") && n >= 1:
		var cut strings.Builder
		for _, a := range args {
			cut.WriteString(toStr(a))
		}
		switch lower {
		case "trim":
			return strings.Trim(s, cut.String()), nil
		case "trimstart":
			return strings.TrimLeft(s, cut.String()), nil
		}
		return strings.TrimRight(s, cut.String()), nil
	case lower == "contains" && n == 1:
		return strings.Contains(s, argStr(0)), nil
	case lower == "startswith" && n == 1:
		return strings.HasPrefix(s, argStr(0)), nil
	case lower == "endswith" && n == 1:
		return strings.HasSuffix(s, argStr(0)), nil
	case lower == "replace" && n == 2:
		if argStr(0) == "" {
			return nil, in.methodError(ext, name, 2, &Exception{Type: "System.ArgumentException", Message: "String cannot be of zero length.\r\nParameter name: oldValue"})
		}
		if n := strings.Count(s, argStr(0)); n > 0 && len(argStr(1)) > 0 && n > in.lim.ValueChars/len(argStr(1)) {
			return nil, in.limitError("a string too long")
		}
		r := strings.ReplaceAll(s, argStr(0), argStr(1))
		if err := in.charge(len(r)); err != nil {
			return nil, err
		}
		return r, nil
	case lower == "split" && n >= 1:
		seps := argStr(0)
		if n > 1 {
			return nil, in.notModelled(ext)
		}
		f := func(r rune) bool { return strings.ContainsRune(seps, r) }
		if seps == "" {
			f = unicode.IsSpace
		}
		var out []any
		start := 0
		rs := []rune(s)
		for i, r := range rs {
			if f(r) {
				out = append(out, string(rs[start:i]))
				start = i + 1
			}
		}
		out = append(out, string(rs[start:]))
		return out, nil
	case lower == "indexof" && n == 1:
		return runeIndex(s, strings.Index(s, argStr(0))), nil
	case lower == "lastindexof" && n == 1:
		return runeIndex(s, strings.LastIndex(s, argStr(0))), nil
	case lower == "substring" && (n == 1 || n == 2):
		rs := []rune(s)
		start, err := toInt(args[0])
		if err != nil {
			return nil, in.notModelled(ext)
		}
		length := len(rs) - start
		if n == 2 {
			if length, err = toInt(args[1]); err != nil {
				return nil, in.notModelled(ext)
			}
		}
		if start < 0 || start > len(rs) || length < 0 || start+length > len(rs) {
			msg := "startIndex cannot be larger than length of string.\r\nParameter name: startIndex"
			if start >= 0 && start <= len(rs) {
				msg = "Index and length must refer to a location within the string.\r\nParameter name: length"
			}
			return nil, in.methodError(ext, name, n, &Exception{Type: "System.ArgumentOutOfRangeException", Message: msg})
		}
		return string(rs[start : start+length]), nil
	case (lower == "padleft" || lower == "padright") && (n == 1 || n == 2):
		w, err := toInt(args[0])
		if err != nil || w > in.lim.ValueChars {
			return nil, in.notModelled(ext)
		}
		pad := " "
		if n == 2 {
			pad = argStr(1)
			if len([]rune(pad)) != 1 {
				return nil, in.notModelled(ext)
			}
		}
		missing := w - len([]rune(s))
		if missing <= 0 {
			return s, nil
		}
		if err := in.charge(w); err != nil {
			return nil, err
		}
		if lower == "padleft" {
			return strings.Repeat(pad, missing) + s, nil
		}
		return s + strings.Repeat(pad, missing), nil
	case lower == "equals" && n == 1:
		return s == argStr(0), nil
	case lower == "insert" && n == 2:
		i, err := toInt(args[0])
		rs := []rune(s)
		if err != nil || i < 0 || i > len(rs) {
			return nil, in.notModelled(ext)
		}
		return string(rs[:i]) + argStr(1) + string(rs[i:]), nil
	case lower == "remove" && (n == 1 || n == 2):
		rs := []rune(s)
		i, err := toInt(args[0])
		if err != nil || i < 0 || i > len(rs) {
			return nil, in.notModelled(ext)
		}
		end := len(rs)
		if n == 2 {
			c, err := toInt(args[1])
			if err != nil || i+c > len(rs) || c < 0 {
				return nil, in.notModelled(ext)
			}
			end = i + c
		}
		return string(rs[:i]) + string(rs[end:]), nil
	case lower == "tochararray" && n == 0:
		var out []any
		for _, r := range s {
			out = append(out, string(r))
		}
		return out, nil
	case lower == "compareto" && n == 1:
		return strings.Compare(strings.ToLower(s), strings.ToLower(argStr(0))), nil
	}
	return nil, in.notModelled(ext)
}

func runeIndex(s string, byteIdx int) int {
	if byteIdx < 0 {
		return -1
	}
	return len([]rune(s[:byteIdx]))
}

// listMethod is an array or ArrayList method; list is nil for arrays
// (fixed size).
func (in *interp) listMethod(items *[]any, list *ArrayList, lower string, args []any, ext Extent) (any, error) {
	n := len(args)
	switch {
	case lower == "contains" && n == 1:
		for _, e := range *items {
			if in.equal(e, args[0], true) {
				return true, nil
			}
		}
		return false, nil
	case lower == "indexof" && n == 1:
		for i, e := range *items {
			if in.equal(e, args[0], true) {
				return i, nil
			}
		}
		return -1, nil
	}
	if list == nil {
		if lower == "add" || lower == "remove" || lower == "clear" || lower == "insert" {
			return nil, in.methodError(ext, map[string]string{"add": "Add", "remove": "Remove", "clear": "Clear", "insert": "Insert"}[lower], n,
				&Exception{Type: "System.NotSupportedException", Message: "Collection was of a fixed size."})
		}
		return nil, in.notModelled(ext)
	}
	switch {
	case lower == "add" && n == 1:
		if len(*items) >= in.lim.ValueChars {
			return nil, in.limitError("a collection too large")
		}
		*items = append(*items, args[0])
		return len(*items) - 1, nil
	case lower == "addrange" && n == 1:
		*items = append(*items, enumerateArgs(args[0])...)
		return nil, nil
	case lower == "remove" && n == 1:
		for i, e := range *items {
			if in.equal(e, args[0], true) {
				*items = append((*items)[:i], (*items)[i+1:]...)
				break
			}
		}
		return nil, nil
	case lower == "removeat" && n == 1:
		i, err := toInt(args[0])
		if err != nil || i < 0 || i >= len(*items) {
			return nil, in.notModelled(ext)
		}
		*items = append((*items)[:i], (*items)[i+1:]...)
		return nil, nil
	case lower == "clear" && n == 0:
		*items = nil
		return nil, nil
	case lower == "toarray" && n == 0:
		return append([]any{}, *items...), nil
	case lower == "insert" && n == 2:
		i, err := toInt(args[0])
		if err != nil || i < 0 || i > len(*items) {
			return nil, in.notModelled(ext)
		}
		*items = append((*items)[:i], append([]any{args[1]}, (*items)[i:]...)...)
		return nil, nil
	}
	return nil, in.notModelled(ext)
}

func (in *interp) hashMethod(h *Hashtable, lower string, args []any, ext Extent) (any, error) {
	n := len(args)
	switch {
	case (lower == "containskey" || lower == "contains") && n == 1:
		_, ok := h.Get(args[0])
		return ok, nil
	case lower == "containsvalue" && n == 1:
		for _, v := range h.vals {
			if in.equal(v, args[0], false) {
				return true, nil
			}
		}
		return false, nil
	case lower == "add" && n == 2:
		if _, ok := h.Get(args[0]); ok {
			return nil, in.methodError(ext, "Add", 2, &Exception{Type: "System.ArgumentException",
				Message: "Item has already been added. Key in dictionary: '" + toStr(args[0]) + "'  Key being added: '" + toStr(args[0]) + "'"})
		}
		h.Set(args[0], args[1])
		return nil, nil
	case lower == "remove" && n == 1:
		h.Remove(args[0])
		return nil, nil
	case lower == "clear" && n == 0:
		*h = *newHashtable()
		return nil, nil
	case lower == "getenumerator" && n == 0:
		var out []any
		for i, k := range h.keys {
			o := &Object{Types: []string{"System.Collections.DictionaryEntry"}, Closed: true}
			o.add("Name", k).add("Key", k).add("Value", h.vals[i])
			out = append(out, o)
		}
		return out, nil
	}
	return nil, in.notModelled(ext)
}

// recordMember reads an ErrorRecord's members.
func (in *interp) recordMember(r *ErrorRecord, lower string, ext Extent) (any, error) {
	switch lower {
	case "exception":
		return exceptionObject(r.Exception), nil
	case "fullyqualifiederrorid":
		return r.FQID, nil
	case "targetobject":
		return r.Target, nil
	case "categoryinfo":
		o := &Object{Types: []string{"System.Management.Automation.ErrorCategoryInfo"}, Closed: true}
		reason := r.Reason
		if reason == "" {
			reason = r.Exception.shortType()
		}
		o.add("Category", Enum{Type: "System.Management.Automation.ErrorCategory", Name: r.Category})
		o.add("Activity", r.Activity).add("Reason", reason).add("TargetName", r.TargetName).add("TargetType", r.TargetType)
		o.str = r.CategoryInfo
		return o, nil
	case "invocationinfo":
		if !r.HasInvocation && r.Position == "" {
			return nil, nil
		}
		o := &Object{Types: []string{"System.Management.Automation.InvocationInfo"}, Closed: true}
		o.add("PositionMessage", r.Position).add("ScriptLineNumber", r.Line).add("OffsetInLine", r.Column)
		return o, nil
	case "errordetails":
		if r.Details == "" {
			return nil, nil
		}
		o := &Object{Types: []string{"System.Management.Automation.ErrorDetails"}, Closed: true}
		o.add("Message", r.Details)
		o.str = func() string { return r.Details }
		return o, nil
	case "count", "length":
		return 1, nil
	}
	return nil, in.notModelled(ext)
}

// exceptionObject is an exception as a script sees it.
func exceptionObject(e *Exception) *Object {
	o := &Object{Types: []string{e.Type, "System.Exception"}, Closed: true, exception: e}
	o.add("Message", e.Message)
	var inner any
	if e.Inner != nil {
		inner = exceptionObject(e.Inner)
	}
	o.add("InnerException", inner)
	o.str = func() string { return e.Type + ": " + e.Message }
	return o
}

// --- casts ---

// cast converts v to the type named typ, as [typ]v does.
func (in *interp) cast(typ string, v any, ext Extent) (any, error) {
	if strings.HasSuffix(typ, "[]") {
		elem := strings.TrimSuffix(typ, "[]")
		if v == nil {
			return nil, nil
		}
		var out []any
		for _, e := range enumerateArgs(v) {
			cv, err := in.cast(elem, e, ext)
			if err != nil {
				return nil, err
			}
			out = append(out, cv)
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	}
	t, ok := lookupType(typ)
	if !ok {
		return nil, in.unknownType(typ, ext)
	}
	if t.cast == nil {
		return nil, in.notModelled(ext)
	}
	cv, err := t.cast(in, v, ext)
	if err != nil {
		var ce *errConvert
		if errors.As(err, &ce) {
			fqid := "ConvertToFinalInvalidCastException"
			if _, isStr := v.(string); isStr && (t.Name == "System.Int32" || t.Name == "System.Int64" || t.Name == "System.Double") {
				fqid = "InvalidCastFromStringToInteger"
			}
			return nil, in.runtimeError(ext, "System.Management.Automation.PSInvalidCastException", ce.msg, "InvalidArgument", fqid)
		}
		return nil, err
	}
	return cv, nil
}

// --- file helpers used by .NET statics ---

// fileException turns a file system error into the .NET exception
// System.IO raises.
func fileException(err error, path string) *Exception {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return &Exception{Type: "System.UnauthorizedAccessException", Message: "Access to the path '" + path + "' is denied."}
	case errors.Is(err, fs.ErrNotExist):
		return &Exception{Type: "System.IO.FileNotFoundException", Message: "Could not find file '" + path + "'."}
	}
	return &Exception{Type: "System.IO.IOException", Message: err.Error()}
}

// mathRound is [math]::Round: half to even, as .NET's default.
func mathRound(f float64, digits int) float64 {
	if digits == 0 {
		return math.RoundToEven(f)
	}
	p := math.Pow(10, float64(digits))
	return math.RoundToEven(f*p) / p
}
