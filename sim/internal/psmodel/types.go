package psmodel

import (
	"errors"
	"io/fs"
	"math"
	"strings"
	"time"
)

// typeInfo is a .NET type the model knows: how to convert to it, how to
// test for it, and its static members.
type typeInfo struct {
	Name    string
	cast    func(in *interp, v any, ext Extent) (any, error)
	test    func(v any) bool
	statics map[string]staticMember
}

type staticMember struct {
	prop   func(in *interp, ext Extent) (any, error)
	method func(in *interp, args []any, ext Extent) (any, error)
}

func (t *typeInfo) is(v any) bool {
	if t.test != nil {
		return t.test(v)
	}
	if v == nil {
		return false
	}
	if o, ok := v.(*Object); ok {
		for _, n := range o.Types {
			if strings.EqualFold(n, t.Name) {
				return true
			}
		}
		if o.exception != nil {
			return o.exception.is(t.Name)
		}
		return t.Name == "System.Object"
	}
	if _, ok := v.(*ErrorRecord); ok {
		return t.Name == "System.Management.Automation.ErrorRecord" || t.Name == "System.Object"
	}
	return strings.EqualFold(typeNameOf(v), t.Name) || t.Name == "System.Object"
}

var types = map[string]*typeInfo{}

// register adds a type under its full name and short names.
func register(t *typeInfo, names ...string) {
	types[strings.ToLower(t.Name)] = t
	for _, n := range names {
		types[strings.ToLower(n)] = t
	}
}

// lookupType finds a type by any accepted spelling: the full name, the
// name without "System.", or a PowerShell accelerator ([int], [string]).
func lookupType(name string) (*typeInfo, bool) {
	key := strings.ToLower(strings.TrimSpace(name))
	if t, ok := types[key]; ok {
		return t, true
	}
	if t, ok := types["system."+key]; ok {
		return t, true
	}
	if strings.HasSuffix(key, "[]") {
		if _, ok := lookupType(strings.TrimSuffix(key, "[]")); ok {
			return types["system.object[]"], true
		}
	}
	return nil, false
}

func statics(m map[string]staticMember) map[string]staticMember {
	out := map[string]staticMember{}
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

func staticProp(f func(in *interp, ext Extent) (any, error)) staticMember {
	return staticMember{prop: f}
}

func staticMethod(f func(in *interp, args []any, ext Extent) (any, error)) staticMember {
	return staticMember{method: f}
}

// arity wraps a static method that takes exactly n arguments (other
// counts are not modelled).
func arity(n int, f func(in *interp, args []any, ext Extent) (any, error)) staticMember {
	return staticMember{method: func(in *interp, args []any, ext Extent) (any, error) {
		if len(args) != n {
			return nil, in.notModelled(ext)
		}
		return f(in, args, ext)
	}}
}

func constant(v any) staticMember {
	return staticProp(func(*interp, Extent) (any, error) { return v, nil })
}

// parseNumber is [int]::Parse and its kin: FormatException on bad text.
func parseNumberMethod(typ string, conv func(any) (any, error)) staticMember {
	return staticMember{method: func(in *interp, args []any, ext Extent) (any, error) {
		if len(args) != 1 {
			return nil, in.notModelled(ext)
		}
		s, ok := args[0].(string)
		if args[0] == nil {
			return nil, in.methodError(ext, "Parse", 1, &Exception{Type: "System.ArgumentNullException", Message: "Value cannot be null.\r\nParameter name: s"})
		}
		if !ok {
			s = toStr(args[0])
		}
		t := strings.TrimSpace(s)
		if t == "" || strings.ContainsAny(t, "xX.eE") && typ != "System.Double" {
			return nil, in.methodError(ext, "Parse", 1, &Exception{Type: "System.FormatException", Message: badFormat})
		}
		n, ok := parseNumberString(t)
		if !ok {
			return nil, in.methodError(ext, "Parse", 1, &Exception{Type: "System.FormatException", Message: badFormat})
		}
		v, err := conv(n)
		if err != nil {
			return nil, in.methodError(ext, "Parse", 1, &Exception{Type: "System.OverflowException", Message: "Value was either too large or too small for an " + strings.TrimPrefix(typ, "System.") + "."})
		}
		return v, nil
	}}
}

func init() {
	register(&typeInfo{Name: "System.Int32",
		cast: func(_ *interp, v any, _ Extent) (any, error) { return toInt(v) },
		test: func(v any) bool { _, ok := v.(int); return ok },
		statics: statics(map[string]staticMember{
			"MaxValue": constant(math.MaxInt32), "MinValue": constant(math.MinInt32),
			"Parse": parseNumberMethod("System.Int32", func(n any) (any, error) { return toInt(n) }),
		}),
	}, "int", "int32")
	register(&typeInfo{Name: "System.Int64",
		cast: func(_ *interp, v any, _ Extent) (any, error) { return toInt64(v) },
		test: func(v any) bool { _, ok := v.(int64); return ok },
		statics: statics(map[string]staticMember{
			"MaxValue": constant(int64(math.MaxInt64)), "MinValue": constant(int64(math.MinInt64)),
			"Parse": parseNumberMethod("System.Int64", func(n any) (any, error) { return toInt64(n) }),
		}),
	}, "long", "int64")
	register(&typeInfo{Name: "System.Double",
		cast: func(_ *interp, v any, _ Extent) (any, error) {
			n, err := toNumber(v)
			if err != nil {
				return nil, convertError(v, "System.Double", badFormat)
			}
			return toFloat(n), nil
		},
		test: func(v any) bool { _, ok := v.(float64); return ok },
		statics: statics(map[string]staticMember{
			"Parse": parseNumberMethod("System.Double", func(n any) (any, error) { return toFloat(n), nil }),
		}),
	}, "double", "float", "single")
	register(&typeInfo{Name: "System.String",
		cast: func(in *interp, v any, _ Extent) (any, error) {
			if v == nil {
				return "", nil
			}
			return in.strWithOFS(v), nil
		},
		test: func(v any) bool { _, ok := v.(string); return ok },
		statics: statics(map[string]staticMember{
			"Empty":              constant(""),
			"IsNullOrEmpty":      arity(1, func(_ *interp, a []any, _ Extent) (any, error) { return toStr(a[0]) == "", nil }),
			"IsNullOrWhiteSpace": arity(1, func(_ *interp, a []any, _ Extent) (any, error) { return strings.TrimSpace(toStr(a[0])) == "", nil }),
			"Join": staticMethod(func(in *interp, a []any, ext Extent) (any, error) {
				if len(a) < 2 {
					return nil, in.notModelled(ext)
				}
				items := a[1:]
				if len(a) == 2 {
					items = enumerateArgs(a[1])
				}
				parts := make([]string, len(items))
				for i, e := range items {
					parts[i] = toStr(e)
				}
				return strings.Join(parts, toStr(a[0])), nil
			}),
			"Format": staticMethod(func(in *interp, a []any, ext Extent) (any, error) {
				if len(a) < 1 {
					return nil, in.notModelled(ext)
				}
				return in.format(toStr(a[0]), a[1:], ext)
			}),
			"Concat": staticMethod(func(_ *interp, a []any, _ Extent) (any, error) {
				var b strings.Builder
				for _, x := range a {
					b.WriteString(toStr(x))
				}
				return b.String(), nil
			}),
		}),
	}, "string")
	register(&typeInfo{Name: "System.Boolean",
		cast: func(_ *interp, v any, _ Extent) (any, error) { return toBool(v), nil },
		test: func(v any) bool { _, ok := v.(bool); return ok },
	}, "bool", "boolean")
	register(&typeInfo{Name: "System.Management.Automation.SwitchParameter",
		cast: func(_ *interp, v any, _ Extent) (any, error) { return toBool(v), nil },
		test: func(v any) bool { _, ok := v.(bool); return ok },
	}, "switch")
	register(&typeInfo{Name: "System.Object[]",
		cast: func(_ *interp, v any, _ Extent) (any, error) {
			if v == nil {
				return nil, nil
			}
			return append([]any{}, enumerateArgs(v)...), nil
		},
		test: func(v any) bool { _, ok := v.([]any); return ok },
	}, "array", "object[]")
	register(&typeInfo{Name: "System.Object",
		cast: func(_ *interp, v any, _ Extent) (any, error) { return v, nil },
		test: func(v any) bool { return v != nil },
	}, "object", "psobject", "System.Management.Automation.PSObject")
	register(&typeInfo{Name: "System.Void",
		cast: func(_ *interp, _ any, _ Extent) (any, error) { return nil, nil },
	}, "void")
	register(&typeInfo{Name: "System.Collections.Hashtable",
		cast: func(_ *interp, v any, _ Extent) (any, error) {
			if h, ok := v.(*Hashtable); ok {
				return h, nil
			}
			return nil, convertError(v, "System.Collections.Hashtable", "")
		},
		test: func(v any) bool { _, ok := v.(*Hashtable); return ok },
	}, "hashtable", "ordered", "System.Collections.Specialized.OrderedDictionary")
	register(&typeInfo{Name: "System.Collections.ArrayList",
		cast: func(_ *interp, v any, _ Extent) (any, error) {
			return &ArrayList{items: append([]any{}, enumerate(v)...)}, nil
		},
		test: func(v any) bool { _, ok := v.(*ArrayList); return ok },
	}, "System.Collections.Generic.List[string]", "System.Collections.Generic.List[object]", "System.Collections.Generic.List[psobject]", "Collections.Generic.List[string]", "Collections.Generic.List[object]")
	register(&typeInfo{Name: "System.Management.Automation.PSCustomObject",
		cast: func(_ *interp, v any, _ Extent) (any, error) {
			h, ok := v.(*Hashtable)
			if !ok {
				return v, nil
			}
			o := newCustomObject()
			for i, k := range h.keys {
				o.add(toStr(k), h.vals[i])
			}
			return o, nil
		},
		test: func(v any) bool {
			o, ok := v.(*Object)
			return ok && o.typeName() == "System.Management.Automation.PSCustomObject"
		},
	}, "pscustomobject")
	register(&typeInfo{Name: "System.Version",
		cast: func(_ *interp, v any, _ Extent) (any, error) {
			switch x := v.(type) {
			case Version:
				return x, nil
			case string:
				if ver, ok := parseVersion(x); ok {
					return ver, nil
				}
			case int:
				return Version{x, 0, -1, -1}, nil
			}
			return nil, convertError(v, "System.Version", "")
		},
		test: func(v any) bool { _, ok := v.(Version); return ok },
		statics: statics(map[string]staticMember{
			"Parse": arity(1, func(in *interp, a []any, ext Extent) (any, error) {
				if ver, ok := parseVersion(toStr(a[0])); ok {
					return ver, nil
				}
				return nil, in.methodError(ext, "Parse", 1, &Exception{Type: "System.ArgumentException", Message: "Version string portion was too short or too long."})
			}),
		}),
	}, "version")
	register(&typeInfo{Name: "System.DateTime",
		cast: func(_ *interp, v any, _ Extent) (any, error) {
			switch x := v.(type) {
			case DateTime:
				return x, nil
			case string:
				if t, ok := parseDate(x); ok {
					return DateTime{T: t}, nil
				}
			}
			return nil, convertError(v, "System.DateTime", "")
		},
		test: func(v any) bool { _, ok := v.(DateTime); return ok },
		statics: statics(map[string]staticMember{
			"Now":    staticProp(func(in *interp, _ Extent) (any, error) { return DateTime{T: in.host.Now()}, nil }),
			"UtcNow": staticProp(func(in *interp, _ Extent) (any, error) { return DateTime{T: in.host.Now().UTC()}, nil }),
			"Today": staticProp(func(in *interp, _ Extent) (any, error) {
				t := in.host.Now()
				return DateTime{T: time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())}, nil
			}),
		}),
	}, "datetime")
	register(&typeInfo{Name: "System.TimeSpan",
		test: func(v any) bool { _, ok := v.(TimeSpan); return ok },
		statics: statics(map[string]staticMember{
			"FromSeconds":      spanFrom(time.Second),
			"FromMinutes":      spanFrom(time.Minute),
			"FromHours":        spanFrom(time.Hour),
			"FromDays":         spanFrom(24 * time.Hour),
			"FromMilliseconds": spanFrom(time.Millisecond),
			"Zero":             constant(TimeSpan{}),
		}),
	}, "timespan")
	register(&typeInfo{Name: "System.Math", statics: statics(map[string]staticMember{
		"PI": constant(math.Pi),
		"E":  constant(math.E),
		"Round": staticMethod(func(in *interp, a []any, ext Extent) (any, error) {
			if len(a) < 1 || len(a) > 2 {
				return nil, in.notModelled(ext)
			}
			n, err := toNumber(a[0])
			if err != nil {
				return nil, in.convertFailure(err, ext)
			}
			digits := 0
			if len(a) == 2 {
				if digits, err = toInt(a[1]); err != nil || digits < 0 || digits > 15 {
					return nil, in.notModelled(ext)
				}
			}
			if _, isInt := intOf(n); isInt {
				return toFloat(n), nil
			}
			return mathRound(toFloat(n), digits), nil
		}),
		"Floor":    mathFunc(math.Floor),
		"Ceiling":  mathFunc(math.Ceil),
		"Truncate": mathFunc(math.Trunc),
		"Sqrt":     mathFunc(math.Sqrt),
		"Abs": arity(1, func(in *interp, a []any, ext Extent) (any, error) {
			n, err := toNumber(a[0])
			if err != nil {
				return nil, in.convertFailure(err, ext)
			}
			if i, ok := intOf(n); ok {
				if _, wide := n.(int64); wide {
					return abs64(i), nil
				}
				return normInt(abs64(i)), nil
			}
			return math.Abs(toFloat(n)), nil
		}),
		"Max": minMax(1), "Min": minMax(-1),
		"Pow": arity(2, func(in *interp, a []any, ext Extent) (any, error) {
			x, err := toNumber(a[0])
			if err != nil {
				return nil, in.convertFailure(err, ext)
			}
			y, err := toNumber(a[1])
			if err != nil {
				return nil, in.convertFailure(err, ext)
			}
			return math.Pow(toFloat(x), toFloat(y)), nil
		}),
	})}, "math")
	register(&typeInfo{Name: "System.Console", statics: statics(map[string]staticMember{
		"Out":       staticProp(func(in *interp, _ Extent) (any, error) { return in.consoleWriter(false), nil }),
		"Error":     staticProp(func(in *interp, _ Extent) (any, error) { return in.consoleWriter(true), nil }),
		"WriteLine": staticMethod(func(in *interp, a []any, ext Extent) (any, error) { return in.consoleWrite(false, a, true, ext) }),
		"Write":     staticMethod(func(in *interp, a []any, ext Extent) (any, error) { return in.consoleWrite(false, a, false, ext) }),
	})}, "console")
	register(&typeInfo{Name: "System.Environment", statics: statics(map[string]staticMember{
		"Is64BitProcess":         staticProp(func(in *interp, _ Extent) (any, error) { return in.facts.Is64BitProcess, nil }),
		"Is64BitOperatingSystem": staticProp(func(in *interp, _ Extent) (any, error) { return in.facts.Is64BitOS, nil }),
		"MachineName":            staticProp(func(in *interp, _ Extent) (any, error) { return strings.ToUpper(in.facts.ComputerName), nil }),
		"UserName":               staticProp(func(in *interp, _ Extent) (any, error) { return in.facts.UserName, nil }),
		"UserDomainName":         staticProp(func(in *interp, _ Extent) (any, error) { return in.facts.UserDomain, nil }),
		"NewLine":                constant("\r\n"),
		"ProcessorCount":         constant(2),
		"SystemDirectory":        constant(`C:\Windows\system32`),
		"CurrentDirectory":       staticProp(func(in *interp, _ Extent) (any, error) { return in.host.Dir(), nil }),
		"OSVersion": staticProp(func(in *interp, _ Extent) (any, error) {
			v, ok := parseVersion(in.facts.OSVersion)
			if !ok {
				v = Version{10, 0, 0, -1}
			}
			if v.Build < 0 {
				v.Build = 0
			}
			v.Revision = 0
			o := &Object{Types: []string{"System.OperatingSystem"}, Closed: true}
			o.add("Platform", Enum{Type: "System.PlatformID", Name: "Win32NT", Value: 2}).add("Version", v).add("VersionString", "Microsoft Windows NT "+v.String())
			o.str = func() string { return "Microsoft Windows NT " + v.String() }
			return o, nil
		}),
		"GetEnvironmentVariable": staticMethod(func(in *interp, a []any, ext Extent) (any, error) {
			if len(a) == 2 && !strings.EqualFold(toStr(a[1]), "Process") {
				return nil, in.notModelled(ext)
			}
			if len(a) < 1 || len(a) > 2 {
				return nil, in.notModelled(ext)
			}
			v, ok := in.host.Getenv(toStr(a[0]))
			if !ok {
				return nil, nil
			}
			return v, nil
		}),
		"SetEnvironmentVariable": staticMethod(func(in *interp, a []any, ext Extent) (any, error) {
			if len(a) == 3 && !strings.EqualFold(toStr(a[2]), "Process") || len(a) < 2 || len(a) > 3 {
				return nil, in.notModelled(ext)
			}
			if a[1] == nil || toStr(a[1]) == "" {
				in.host.Unsetenv(toStr(a[0]))
			} else {
				in.host.Setenv(toStr(a[0]), toStr(a[1]))
			}
			return nil, nil
		}),
		"Exit": arity(1, func(in *interp, a []any, ext Extent) (any, error) {
			n, err := toInt(a[0])
			if err != nil {
				return nil, in.convertFailure(err, ext)
			}
			return nil, &exitSignal{code: int32(n)}
		}),
	})}, "environment")
	register(&typeInfo{Name: "System.IO.File", statics: statics(map[string]staticMember{
		"Exists": arity(1, func(in *interp, a []any, _ Extent) (any, error) {
			info, err := in.host.Stat(in.resolvePath(toStr(a[0])))
			return err == nil && !info.Dir, nil
		}),
		"ReadAllText": arity(1, func(in *interp, a []any, ext Extent) (any, error) {
			p := in.resolvePath(toStr(a[0]))
			data, err := in.readFileForDotNet(p)
			if err != nil {
				return nil, in.methodError(ext, "ReadAllText", 1, fileException(err, p))
			}
			return decodeUTF8Default(data, in.host), nil
		}),
		"ReadAllLines": arity(1, func(in *interp, a []any, ext Extent) (any, error) {
			p := in.resolvePath(toStr(a[0]))
			data, err := in.readFileForDotNet(p)
			if err != nil {
				return nil, in.methodError(ext, "ReadAllLines", 1, fileException(err, p))
			}
			var out []any
			for _, l := range splitLines(decodeUTF8Default(data, in.host)) {
				out = append(out, l)
			}
			if out == nil {
				out = []any{}
			}
			return out, nil
		}),
		"WriteAllText": arity(2, func(in *interp, a []any, ext Extent) (any, error) {
			p := in.resolvePath(toStr(a[0]))
			if err := in.host.WriteFile(p, []byte(toStr(a[1])), false); err != nil {
				return nil, in.methodError(ext, "WriteAllText", 2, fileException(err, p))
			}
			return nil, nil
		}),
		"AppendAllText": arity(2, func(in *interp, a []any, ext Extent) (any, error) {
			p := in.resolvePath(toStr(a[0]))
			if err := in.host.WriteFile(p, []byte(toStr(a[1])), true); err != nil {
				return nil, in.methodError(ext, "AppendAllText", 2, fileException(err, p))
			}
			return nil, nil
		}),
	})}, "io.file")
	register(&typeInfo{Name: "System.IO.Directory", statics: statics(map[string]staticMember{
		"Exists": arity(1, func(in *interp, a []any, _ Extent) (any, error) {
			info, err := in.host.Stat(in.resolvePath(toStr(a[0])))
			return err == nil && info.Dir, nil
		}),
	})}, "io.directory")
	register(&typeInfo{Name: "System.IO.Path", statics: statics(map[string]staticMember{
		"Combine": staticMethod(func(in *interp, a []any, ext Extent) (any, error) {
			if len(a) < 2 {
				return nil, in.notModelled(ext)
			}
			out := toStr(a[0])
			for _, p := range a[1:] {
				s := toStr(p)
				switch {
				case isRooted(s):
					out = s
				case out == "" || strings.HasSuffix(out, `\`) || strings.HasSuffix(out, "/") || strings.HasSuffix(out, ":"):
					out += s
				default:
					out += `\` + s
				}
			}
			return out, nil
		}),
		"GetFileName": arity(1, func(_ *interp, a []any, _ Extent) (any, error) { return leafName(toStr(a[0])), nil }),
		"GetExtension": arity(1, func(_ *interp, a []any, _ Extent) (any, error) {
			n := leafName(toStr(a[0]))
			if i := strings.LastIndexByte(n, '.'); i >= 0 {
				return n[i:], nil
			}
			return "", nil
		}),
		"GetFileNameWithoutExtension": arity(1, func(_ *interp, a []any, _ Extent) (any, error) {
			n := leafName(toStr(a[0]))
			if i := strings.LastIndexByte(n, '.'); i >= 0 {
				return n[:i], nil
			}
			return n, nil
		}),
		"GetDirectoryName": arity(1, func(_ *interp, a []any, _ Extent) (any, error) { return parentPath(toStr(a[0])), nil }),
		"GetTempPath": arity(0, func(in *interp, _ []any, _ Extent) (any, error) {
			t, _ := in.host.Getenv("TEMP")
			return strings.TrimRight(t, `\`) + `\`, nil
		}),
		"IsPathRooted": arity(1, func(_ *interp, a []any, _ Extent) (any, error) { return isRooted(toStr(a[0])), nil }),
	})}, "io.path")
	register(&typeInfo{Name: "System.Text.RegularExpressions.Regex", statics: statics(map[string]staticMember{
		"Escape": arity(1, func(_ *interp, a []any, _ Extent) (any, error) { return regexEscape(toStr(a[0])), nil }),
		"IsMatch": arity(2, func(in *interp, a []any, ext Extent) (any, error) {
			re, err := in.regex(toStr(a[1]), true, ext)
			if err != nil {
				return nil, err
			}
			return re.MatchString(toStr(a[0])), nil
		}),
		"Replace": arity(3, func(in *interp, a []any, ext Extent) (any, error) {
			re, err := in.regex(toStr(a[1]), true, ext)
			if err != nil {
				return nil, err
			}
			return re.ReplaceAllString(toStr(a[0]), dotnetReplacement(toStr(a[2]))), nil
		}),
	})}, "regex")
	register(&typeInfo{Name: "System.Management.Automation.ScriptBlock", statics: statics(map[string]staticMember{
		"Create": arity(1, func(in *interp, a []any, ext Extent) (any, error) {
			text := toStr(a[0])
			sb, err := Parse(text)
			if err != nil {
				var pe *ParseError
				if errors.As(err, &pe) && !pe.NotModelled {
					return nil, in.methodError(ext, "Create", 1, &Exception{Type: "System.Management.Automation.ParseException", Message: pe.src.PositionMessage(pe.Extent) + "\r\n" + pe.Msg})
				}
				return nil, in.notModelled(ext)
			}
			return &BlockValue{Block: sb, Text: text}, nil
		}),
	}), test: func(v any) bool { _, ok := v.(*BlockValue); return ok }}, "scriptblock")
	register(&typeInfo{Name: "System.Net.Dns", statics: statics(map[string]staticMember{
		"GetHostName": arity(0, func(in *interp, _ []any, _ Extent) (any, error) { return in.facts.ComputerName, nil }),
	})}, "net.dns")
	register(&typeInfo{Name: "System.Security.Principal.WindowsIdentity", statics: statics(map[string]staticMember{
		"GetCurrent": arity(0, func(in *interp, _ []any, _ Extent) (any, error) {
			o := &Object{Types: []string{"System.Security.Principal.WindowsIdentity"}, Closed: true}
			name := in.facts.UserDomain + `\` + in.facts.UserName
			if strings.EqualFold(in.facts.UserName, "SYSTEM") {
				name = `NT AUTHORITY\SYSTEM`
			}
			o.add("Name", name)
			o.str = func() string { return "System.Security.Principal.WindowsIdentity" }
			return o, nil
		}),
	})}, "security.principal.windowsidentity")
	register(&typeInfo{Name: "System.ServiceProcess.ServiceControllerStatus", statics: statics(map[string]staticMember{
		"Running": constant(serviceStatus(true)),
		"Stopped": constant(serviceStatus(false)),
	}), test: func(v any) bool {
		e, ok := v.(Enum)
		return ok && e.Type == "System.ServiceProcess.ServiceControllerStatus"
	}})
	register(&typeInfo{Name: "System.Management.Automation.ErrorRecord"}, "System.Management.Automation.ErrorRecord")
	for _, n := range []string{"System.Exception", "System.Management.Automation.RuntimeException", "System.Management.Automation.CommandNotFoundException",
		"System.Management.Automation.MethodInvocationException", "System.Management.Automation.ItemNotFoundException",
		"System.UnauthorizedAccessException", "System.IO.IOException", "System.IO.FileNotFoundException", "System.DivideByZeroException",
		"System.FormatException", "System.ArgumentException", "System.Management.Automation.ActionPreferenceStopException",
		"System.Management.Automation.ParameterBindingException", "System.Runtime.InteropServices.COMException"} {
		register(&typeInfo{Name: n})
	}
}

// serviceStatus is a ServiceControllerStatus value.
func serviceStatus(running bool) Enum {
	if running {
		return Enum{Type: "System.ServiceProcess.ServiceControllerStatus", Name: "Running", Value: 4}
	}
	return Enum{Type: "System.ServiceProcess.ServiceControllerStatus", Name: "Stopped", Value: 1}
}

func spanFrom(unit time.Duration) staticMember {
	return arity(1, func(in *interp, a []any, ext Extent) (any, error) {
		n, err := toNumber(a[0])
		if err != nil {
			return nil, in.convertFailure(err, ext)
		}
		return TimeSpan{D: time.Duration(toFloat(n) * float64(unit))}, nil
	})
}

func mathFunc(f func(float64) float64) staticMember {
	return arity(1, func(in *interp, a []any, ext Extent) (any, error) {
		n, err := toNumber(a[0])
		if err != nil {
			return nil, in.convertFailure(err, ext)
		}
		if _, isInt := intOf(n); isInt {
			return toFloat(n), nil
		}
		return f(toFloat(n)), nil
	})
}

func minMax(sign int) staticMember {
	return arity(2, func(in *interp, a []any, ext Extent) (any, error) {
		x, err := toNumber(a[0])
		if err != nil {
			return nil, in.convertFailure(err, ext)
		}
		y, err := toNumber(a[1])
		if err != nil {
			return nil, in.convertFailure(err, ext)
		}
		if numCompare(x, y)*sign >= 0 {
			return x, nil
		}
		return y, nil
	})
}

func regexEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\*+?|{[()^$.# `, r) {
			b.WriteByte('\\')
		}
		switch r {
		case '\t':
			b.WriteString("t")
			continue
		case '\n':
			b.WriteString("\\n")
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// readFileForDotNet reads a file for System.IO, refusing directories.
func (in *interp) readFileForDotNet(p string) ([]byte, error) {
	info, err := in.host.Stat(p)
	if err == nil && info.Dir {
		return nil, fs.ErrPermission
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return in.host.ReadFile(p)
}

// decodeUTF8Default reads text as .NET's File.ReadAllText does: a BOM
// decides, else UTF-8.
func decodeUTF8Default(data []byte, h Host) string {
	if len(data) >= 2 && (data[0] == 0xFF && data[1] == 0xFE) {
		return decodeText(data, h, "")
	}
	if len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF {
		return string(data[3:])
	}
	return string(data)
}

// consoleWriter is [Console]::Out or [Console]::Error.
func (in *interp) consoleWriter(errStream bool) *Object {
	name := "System.IO.TextWriter"
	o := &Object{Types: []string{"System.IO.SyncTextWriter", name}, Closed: true}
	o.addMethod("WriteLine", func(in *interp, a []any) (any, error) { return in.consoleWrite(errStream, a, true, Extent{}) })
	o.addMethod("Write", func(in *interp, a []any) (any, error) { return in.consoleWrite(errStream, a, false, Extent{}) })
	o.addMethod("Flush", func(*interp, []any) (any, error) { return nil, nil })
	o.str = func() string { return "System.IO.SyncTextWriter" }
	return o
}

// consoleWrite writes straight to the process's stdout or stderr, as
// [Console]::Out.WriteLine does, past PowerShell's formatting.
func (in *interp) consoleWrite(errStream bool, a []any, newline bool, ext Extent) (any, error) {
	if len(a) > 1 {
		f, err := in.format(toStr(a[0]), a[1:], ext)
		if err != nil {
			return nil, err
		}
		a = []any{f}
	}
	text := ""
	if len(a) == 1 {
		text = in.strWithOFS(a[0])
		if _, ok := a[0].(float64); ok {
			text = toStr(a[0])
		}
	}
	if newline {
		text += "\r\n"
	}
	if err := in.con.raw(); err != nil {
		return nil, err
	}
	w := in.con.stdout
	if errStream {
		w = in.con.stderr
	}
	return nil, in.con.write(w, text)
}

// --- dates ---

func dateMember(d DateTime, lower string, in *interp, ext Extent) (any, error) {
	t := d.T
	switch lower {
	case "year":
		return t.Year(), nil
	case "month":
		return int(t.Month()), nil
	case "day":
		return t.Day(), nil
	case "hour":
		return t.Hour(), nil
	case "minute":
		return t.Minute(), nil
	case "second":
		return t.Second(), nil
	case "millisecond":
		return t.Nanosecond() / 1e6, nil
	case "dayofweek":
		return Enum{Type: "System.DayOfWeek", Name: t.Weekday().String(), Value: int(t.Weekday())}, nil
	case "dayofyear":
		return t.YearDay(), nil
	case "date":
		return DateTime{T: time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())}, nil
	case "ticks":
		return t.Sub(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)).Nanoseconds()/100 + 0, nil
	}
	return nil, in.notModelled(ext)
}

func dateMethod(d DateTime, lower string, args []any, in *interp, ext Extent) (any, error) {
	add := func(unit time.Duration) (any, error) {
		if len(args) != 1 {
			return nil, in.notModelled(ext)
		}
		n, err := toNumber(args[0])
		if err != nil {
			return nil, in.convertFailure(err, ext)
		}
		return DateTime{T: d.T.Add(time.Duration(toFloat(n) * float64(unit)))}, nil
	}
	switch lower {
	case "adddays":
		return add(24 * time.Hour)
	case "addhours":
		return add(time.Hour)
	case "addminutes":
		return add(time.Minute)
	case "addseconds":
		return add(time.Second)
	case "addmilliseconds":
		return add(time.Millisecond)
	case "touniversaltime":
		return DateTime{T: d.T.UTC()}, nil
	case "tolocaltime":
		return d, nil
	case "toshortdatestring":
		s, _ := formatDate(d.T, "d")
		return s, nil
	case "tolongdatestring":
		s, _ := formatDate(d.T, "D")
		return s, nil
	case "toshorttimestring":
		s, _ := formatDate(d.T, "t")
		return s, nil
	case "subtract":
		if len(args) == 1 {
			if o, ok := args[0].(DateTime); ok {
				return TimeSpan{D: d.T.Sub(o.T)}, nil
			}
		}
	}
	return nil, in.notModelled(ext)
}

func spanMember(s TimeSpan, lower string, in *interp, ext Extent) (any, error) {
	d := s.D
	switch lower {
	case "totalseconds":
		return d.Seconds(), nil
	case "totalminutes":
		return d.Minutes(), nil
	case "totalhours":
		return d.Hours(), nil
	case "totaldays":
		return d.Hours() / 24, nil
	case "totalmilliseconds":
		return float64(d) / float64(time.Millisecond), nil
	case "days":
		return int(d / (24 * time.Hour)), nil
	case "hours":
		return int(d/time.Hour) % 24, nil
	case "minutes":
		return int(d/time.Minute) % 60, nil
	case "seconds":
		return int(d/time.Second) % 60, nil
	case "milliseconds":
		return int(d/time.Millisecond) % 1000, nil
	}
	return nil, in.notModelled(ext)
}
