package psmodel

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Values a script handles are Go values:
//
//	nil            $null
//	bool           [bool]
//	int            [int] (Int32 range)
//	int64          [long]
//	float64        [double]
//	string         [string]
//	[]any          [object[]]
//	*Hashtable     @{}
//	*ArrayList     [Collections.ArrayList]
//	*Object        .NET, COM and custom objects
//	*ErrorRecord   an error record
//	*BlockValue    a script block
//	*TypeValue     [type]
//	Version, DateTime, TimeSpan, Enum

// Hashtable is PowerShell's @{}: keys compare case-insensitively when
// they are strings; it keeps insertion order.
type Hashtable struct {
	keys  []any
	vals  []any
	index map[string]int
}

func newHashtable() *Hashtable { return &Hashtable{index: map[string]int{}} }

func hashKey(k any) string {
	switch k := k.(type) {
	case string:
		return "s" + strings.ToLower(k)
	case int, int64, float64:
		return "n" + toStr(k)
	case nil:
		return "z"
	}
	return "o" + fmt.Sprintf("%p", k)
}

// Set adds or replaces a key.
func (h *Hashtable) Set(k, v any) {
	key := hashKey(k)
	if i, ok := h.index[key]; ok {
		h.vals[i] = v
		return
	}
	h.index[key] = len(h.keys)
	h.keys = append(h.keys, k)
	h.vals = append(h.vals, v)
}

// Get reads a key.
func (h *Hashtable) Get(k any) (any, bool) {
	i, ok := h.index[hashKey(k)]
	if !ok {
		return nil, false
	}
	return h.vals[i], true
}

// Remove deletes a key.
func (h *Hashtable) Remove(k any) {
	key := hashKey(k)
	i, ok := h.index[key]
	if !ok {
		return
	}
	h.keys = append(h.keys[:i], h.keys[i+1:]...)
	h.vals = append(h.vals[:i], h.vals[i+1:]...)
	h.index = map[string]int{}
	for j, k := range h.keys {
		h.index[hashKey(k)] = j
	}
}

// Len is the number of keys.
func (h *Hashtable) Len() int { return len(h.keys) }

// ArrayList is [System.Collections.ArrayList].
type ArrayList struct{ items []any }

// BlockValue is a script block value.
type BlockValue struct {
	Block *ScriptBlock
	Text  string
}

// TypeValue is a [type] value.
type TypeValue struct{ Info *typeInfo }

// Version is [System.Version]; unset parts are -1.
type Version struct{ Major, Minor, Build, Revision int }

func (v Version) String() string {
	s := strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor)
	if v.Build >= 0 {
		s += "." + strconv.Itoa(v.Build)
		if v.Revision >= 0 {
			s += "." + strconv.Itoa(v.Revision)
		}
	}
	return s
}

func parseVersion(s string) (Version, bool) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) < 2 || len(parts) > 4 {
		return Version{}, false
	}
	v := Version{-1, -1, -1, -1}
	dst := []*int{&v.Major, &v.Minor, &v.Build, &v.Revision}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return Version{}, false
		}
		*dst[i] = n
	}
	return v, true
}

func (v Version) compare(o Version) int {
	for _, d := range [][2]int{{v.Major, o.Major}, {v.Minor, o.Minor}, {v.Build, o.Build}, {v.Revision, o.Revision}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// DateTime is [DateTime].
type DateTime struct{ T time.Time }

// TimeSpan is [TimeSpan].
type TimeSpan struct{ D time.Duration }

// Enum is a .NET enum value such as [ServiceControllerStatus]::Running.
type Enum struct {
	Type  string
	Name  string
	Value int
}

// Object is a .NET, COM or custom object: named properties, methods, a
// type name and how it formats.
type Object struct {
	// Types are the type names, most derived first.
	Types []string
	props []*prop
	// methods by lower-case name.
	methods map[string]method
	// Closed objects model part of a real type: a member the model does
	// not know is refused as not modelled. Open ones (PSCustomObject)
	// answer $null, as PowerShell does.
	Closed bool
	// str is ToString(); nil means the type name.
	str func() string
	// view formats it at the end of a pipeline.
	view *view
	// items, when set, makes the object a collection a pipeline unrolls
	// (a COM collection).
	items func() []any
	// exception is set on exception objects, which throw rethrows.
	exception *Exception
}

type prop struct {
	name  string
	value any
	get   func() any
	set   func(any) error
}

type method func(in *interp, args []any) (any, error)

func (o *Object) typeName() string {
	if len(o.Types) == 0 {
		return "System.Object"
	}
	return o.Types[0]
}

func (o *Object) find(name string) *prop {
	for _, p := range o.props {
		if strings.EqualFold(p.name, name) {
			return p
		}
	}
	return nil
}

// Prop returns a property's value.
func (o *Object) Prop(name string) (any, bool) {
	p := o.find(name)
	if p == nil {
		return nil, false
	}
	if p.get != nil {
		return p.get(), true
	}
	return p.value, true
}

// add appends a property with a value.
func (o *Object) add(name string, v any) *Object {
	if p := o.find(name); p != nil {
		p.value, p.get = v, nil
		return o
	}
	o.props = append(o.props, &prop{name: name, value: v})
	return o
}

func (o *Object) addMethod(name string, m method) *Object {
	if o.methods == nil {
		o.methods = map[string]method{}
	}
	o.methods[strings.ToLower(name)] = m
	return o
}

// names lists the property names in order.
func (o *Object) names() []string {
	out := make([]string, len(o.props))
	for i, p := range o.props {
		out[i] = p.name
	}
	return out
}

// newCustomObject is a [PSCustomObject].
func newCustomObject() *Object {
	return &Object{Types: []string{"System.Management.Automation.PSCustomObject", "System.Object"}}
}

// --- conversions ---

// toStr converts a value to a string as PowerShell does in a string
// context (invariant culture, arrays joined by spaces).
func toStr(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		if v {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return formatDouble(v)
	case []any:
		// Elements convert with their own ToString: a nested array is
		// "System.Object[]", as in PowerShell.
		return joinItems(v, " ")
	case *ArrayList:
		return "System.Collections.ArrayList"
	case *Hashtable:
		return "System.Collections.Hashtable"
	case *BlockValue:
		return v.Text
	case *TypeValue:
		return v.Info.Name
	case Version:
		return v.String()
	case DateTime:
		// String conversion uses the invariant culture.
		return v.T.Format("01/02/2006 15:04:05")
	case TimeSpan:
		return formatTimeSpan(v.D)
	case Enum:
		return v.Name
	case *ErrorRecord:
		return v.Message()
	case *Object:
		if v.str != nil {
			return v.str()
		}
		return v.typeName()
	}
	return fmt.Sprint(v)
}

// formatDouble prints a double as .NET Framework's Double.ToString()
// does: up to 15 significant digits, E notation for large and small
// magnitudes.
func formatDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	s := strconv.FormatFloat(f, 'G', 15, 64)
	if strings.ContainsAny(s, "E") {
		mant, exp, _ := strings.Cut(s, "E")
		if strings.Contains(mant, ".") {
			mant = strings.TrimRight(strings.TrimRight(mant, "0"), ".")
		}
		sign := exp[0]
		digits := strings.TrimLeft(exp[1:], "0")
		for len(digits) < 2 {
			digits = "0" + digits
		}
		return mant + "E" + string(sign) + digits
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func formatTimeSpan(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	d -= m * time.Minute
	s := d / time.Second
	d -= s * time.Second
	out := fmt.Sprintf("%02d:%02d:%02d", h, m, s)
	if days > 0 {
		out = fmt.Sprintf("%d.%s", days, out)
	}
	if d > 0 {
		out += fmt.Sprintf(".%07d", d/100)
	}
	if neg {
		out = "-" + out
	}
	return out
}

// toBool is PowerShell's truthiness.
func toBool(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case int:
		return v != 0
	case int64:
		return v != 0
	case float64:
		return v != 0
	case string:
		return v != ""
	case []any:
		switch len(v) {
		case 0:
			return false
		case 1:
			return toBool(v[0])
		}
		return true
	case *ArrayList:
		switch len(v.items) {
		case 0:
			return false
		case 1:
			return toBool(v.items[0])
		}
		return true
	case Enum:
		return v.Value != 0
	}
	return true
}

// isNumber reports whether v is a number.
func isNumber(v any) bool {
	switch v.(type) {
	case int, int64, float64:
		return true
	}
	return false
}

// errConvert is a failed conversion; the message is PowerShell's.
type errConvert struct {
	msg string
}

func (e *errConvert) Error() string { return e.msg }

func convertError(v any, typ, reason string) error {
	msg := "Cannot convert value \"" + toStr(v) + "\" to type \"" + typ + "\"."
	if reason != "" {
		msg += " Error: \"" + reason + "\""
	}
	return &errConvert{msg: msg}
}

const badFormat = "Input string was not in a correct format."

// parseNumberString reads a string as PowerShell reads a number from
// text: blanks trimmed, decimal, hexadecimal or with a fraction; the
// empty string is 0.
func parseNumberString(s string) (any, bool) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, true
	}
	neg := false
	body := t
	if body[0] == '-' || body[0] == '+' {
		neg = body[0] == '-'
		body = body[1:]
	}
	p := &parser{src: body}
	v, n, ok := p.scanNumber(0)
	if !ok || n != len(body) || body == "" || body[0] == '.' && len(body) == 1 {
		return nil, false
	}
	if neg {
		nv, ok := negate(v)
		if !ok {
			return nil, false
		}
		v = nv
	}
	return v, true
}

// toNumber converts v for arithmetic: numbers stay, strings are parsed,
// $null is 0, booleans are 0 or 1.
func toNumber(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case int, int64, float64:
		return x, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		n, ok := parseNumberString(x)
		if !ok {
			return nil, convertError(v, "System.Int32", badFormat)
		}
		return n, nil
	case Enum:
		return x.Value, nil
	case []any:
		if len(x) == 1 {
			return toNumber(x[0])
		}
	}
	return nil, convertError(v, "System.Int32", "")
}

func toFloat(v any) float64 {
	switch v := v.(type) {
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case float64:
		return v
	}
	return 0
}

// roundEven rounds half to even, as .NET's conversions to integers do.
func roundEven(f float64) float64 { return math.RoundToEven(f) }

// toInt converts v to [int].
func toInt(v any) (int, error) {
	n, err := toNumber(v)
	if err != nil {
		var ce *errConvert
		if errors.As(err, &ce) && strings.Contains(ce.msg, "Int32") {
			return 0, err
		}
		return 0, convertError(v, "System.Int32", "")
	}
	switch n := n.(type) {
	case int:
		return n, nil
	case int64:
		if n < math.MinInt32 || n > math.MaxInt32 {
			return 0, convertError(v, "System.Int32", "Value was either too large or too small for an Int32.")
		}
		return int(n), nil
	case float64:
		r := roundEven(n)
		if r < math.MinInt32 || r > math.MaxInt32 || math.IsNaN(r) {
			return 0, convertError(v, "System.Int32", "Value was either too large or too small for an Int32.")
		}
		return int(r), nil
	}
	return 0, convertError(v, "System.Int32", "")
}

// toInt64 converts v to [long].
func toInt64(v any) (int64, error) {
	n, err := toNumber(v)
	if err != nil {
		return 0, convertError(v, "System.Int64", badFormat)
	}
	switch n := n.(type) {
	case int:
		return int64(n), nil
	case int64:
		return n, nil
	case float64:
		r := roundEven(n)
		if r < math.MinInt64 || r >= math.MaxInt64 || math.IsNaN(r) {
			return 0, convertError(v, "System.Int64", "Value was either too large or too small for an Int64.")
		}
		return int64(r), nil
	}
	return 0, convertError(v, "System.Int64", "")
}

// normInt turns an int64 that fits into an int (Int32).
func normInt(n int64) any {
	if n >= math.MinInt32 && n <= math.MaxInt32 {
		return int(n)
	}
	return n
}

// enumerate lists what a pipeline sees of v: arrays and lists unrolled,
// $null as nothing, everything else as itself.
func enumerate(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	case *ArrayList:
		return v.items
	case *Object:
		if v.items != nil {
			return v.items()
		}
	}
	return []any{v}
}

// isCollection reports whether v unrolls in a pipeline.
func isCollection(v any) bool {
	switch v := v.(type) {
	case []any, *ArrayList:
		return true
	case *Object:
		return v.items != nil
	}
	return false
}

// collapse turns pipeline output into a value: nothing is $null, one
// item is itself, more are an array.
func collapse(items []any) any {
	switch len(items) {
	case 0:
		return nil
	case 1:
		return items[0]
	}
	return items
}

// typeNameOf is the .NET full type name of a value.
func typeNameOf(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return "System.String"
	case bool:
		return "System.Boolean"
	case int:
		return "System.Int32"
	case int64:
		return "System.Int64"
	case float64:
		return "System.Double"
	case []any:
		return "System.Object[]"
	case *ArrayList:
		return "System.Collections.ArrayList"
	case *Hashtable:
		return "System.Collections.Hashtable"
	case *BlockValue:
		return "System.Management.Automation.ScriptBlock"
	case *TypeValue:
		return "System.RuntimeType"
	case Version:
		return "System.Version"
	case DateTime:
		return "System.DateTime"
	case TimeSpan:
		return "System.TimeSpan"
	case Enum:
		return v.Type
	case *ErrorRecord:
		return "System.Management.Automation.ErrorRecord"
	case *Object:
		return v.typeName()
	}
	return "System.Object"
}
