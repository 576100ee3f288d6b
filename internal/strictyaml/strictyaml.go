// Package strictyaml decodes YAML documents into Go structs strictly: unknown
// keys, duplicate keys and wrong types are errors that carry the file, line,
// column and key path of the offending value, and every error in a document
// is collected rather than only the first.
//
// It is the shared front end of the playbook and inventory parsers; what a
// valid value means (durations in range, selectors that parse) is left to
// the types being decoded, through the Unmarshaler interface.
package strictyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	goccy "github.com/goccy/go-yaml"
	goccyparser "github.com/goccy/go-yaml/parser"
	"gopkg.in/yaml.v3"
)

// Error is one problem at one place in a file.
type Error struct {
	File string
	Line int // 1-based; 0 when unknown
	Col  int // 1-based; 0 when only the line is known
	Path string
	Msg  string
}

// Error formats the problem as file:line:col: path: message, leaving out the
// parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Col)
		}
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one or more files, sorted by position.
type Errors []*Error

// Error lists the problems one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Sort orders the errors by file, line, column, path and message.
func (es Errors) Sort() {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Msg < b.Msg
	})
}

// AsErrors returns the list inside err: an Errors value, a single *Error, or
// nil when err carries neither.
func AsErrors(err error) Errors {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var e *Error
	if errors.As(err, &e) {
		return Errors{e}
	}
	return nil
}

// Unmarshaler is implemented by types that decode themselves from a node,
// reporting problems through d. Implementations must not panic on any input.
type Unmarshaler interface {
	UnmarshalStrictYAML(d *Decoder, n *yaml.Node, path string)
}

// Pos records where a struct came from. A struct field of type Pos named
// Pos (with no yaml tag, or tag "-") is filled by the decoder, so validation
// after decoding can point at a key's value.
type Pos struct {
	Node   *yaml.Node            // the mapping node
	Values map[string]*yaml.Node // key → value node, for keys present
	Keys   map[string]*yaml.Node // key → key node
}

// Has reports whether key was written.
func (p Pos) Has(key string) bool { _, ok := p.Values[key]; return ok }

// Value returns the value node of key, or the mapping node itself when key is
// absent, so errors about a missing key point at the mapping.
func (p Pos) Value(key string) *yaml.Node {
	if v, ok := p.Values[key]; ok {
		return v
	}
	return p.Node
}

// Decoder collects errors while decoding one file.
type Decoder struct {
	File string
	errs Errors
}

// NewDecoder returns a decoder that attributes errors to file.
func NewDecoder(file string) *Decoder { return &Decoder{File: file} }

// Errorf records a problem at node n (which may be nil) under path.
func (d *Decoder) Errorf(n *yaml.Node, path, format string, args ...any) {
	e := &Error{File: d.File, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// Err returns the collected errors sorted by position, or nil.
func (d *Decoder) Err() error {
	if len(d.errs) == 0 {
		return nil
	}
	es := append(Errors(nil), d.errs...)
	es.Sort()
	return es
}

// Count is the number of problems recorded so far.
func (d *Decoder) Count() int { return len(d.errs) }

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse reads one YAML document. A syntax error is returned as *Error at
// the line and column of the offending token (see syntaxError).
func Parse(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: file, Msg: "file is empty"}
		}
		return nil, syntaxError(file, data, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{File: file, Line: extra.Line, Msg: "more than one YAML document; expected exactly one"}
	}
	if len(doc.Content) == 0 {
		return nil, &Error{File: file, Msg: "file is empty"}
	}
	return doc.Content[0], nil
}

// syntaxError positions yaml.v3's syntax error err. yaml.v3 gives a line
// only, and often the line where the enclosing block began rather than the
// offending one (a mis-indented "- name:" on line 5 is reported at line 2),
// so the offending token is located by a second parser, goccy/go-yaml, whose
// scanner reports the token's line and column with a message about that
// token. When the second parser finds nothing wrong, or fails, yaml.v3's
// line and message are kept.
func syntaxError(file string, data []byte, err error) *Error {
	msg := err.Error()
	e := &Error{File: file, Msg: strings.TrimPrefix(msg, "yaml: ")}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = m[2]
	}
	if line, col, what, ok := locateSyntaxError(data); ok {
		e.Line, e.Col, e.Msg = line, col, what
	}
	return e
}

// locateSyntaxError is the position and description of the first syntax
// error goccy/go-yaml finds in data; ok is false when it finds none.
func locateSyntaxError(data []byte) (line, col int, msg string, ok bool) {
	defer func() {
		// A crash of the second opinion must not turn into a crash of
		// fleetrun: yaml.v3's own report then stands.
		if recover() != nil {
			line, col, msg, ok = 0, 0, "", false
		}
	}()
	_, err := goccyparser.ParseBytes(data, 0)
	var se *goccy.SyntaxError
	if !errors.As(err, &se) || se.Token == nil || se.Token.Position == nil || se.Token.Position.Line < 1 {
		return 0, 0, "", false
	}
	return se.Token.Position.Line, max(se.Token.Position.Column, 0), se.Message, true
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode && depth < 100; depth++ {
		n = n.Alias
	}
	return n
}

// KindName describes a node's type for messages ("a mapping", "an integer").
func KindName(n *yaml.Node) string {
	n = resolve(n)
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!bool":
			return "a boolean"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		default:
			return fmt.Sprintf("the string %q", clip(n.Value))
		}
	}
	return "an unsupported YAML node"
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// MappingPairs returns the key/value pairs of a mapping node, expanding YAML
// merge keys (<<) and reporting duplicate keys. ok is false when n is not a
// mapping (an error has then been recorded).
func (d *Decoder) MappingPairs(n *yaml.Node, path string) (keys, values []*yaml.Node, ok bool) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		d.Errorf(n, path, "expected a mapping, found %s", KindName(n))
		return nil, nil, false
	}
	seen := map[string]bool{}
	var mergedK, mergedV []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			for _, src := range mergeSources(resolve(v)) {
				mk, mv, ok := d.MappingPairs(src, path)
				if ok {
					mergedK = append(mergedK, mk...)
					mergedV = append(mergedV, mv...)
				}
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.Errorf(k, path, "mapping keys must be plain strings, found %s", KindName(k))
			continue
		}
		if seen[k.Value] {
			d.Errorf(k, JoinKey(path, k.Value), "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		keys = append(keys, k)
		values = append(values, v)
	}
	for i, k := range mergedK {
		if !seen[k.Value] {
			seen[k.Value] = true
			keys = append(keys, k)
			values = append(values, mergedV[i])
		}
	}
	return keys, values, true
}

func mergeSources(v *yaml.Node) []*yaml.Node {
	if v == nil {
		return nil
	}
	if v.Kind == yaml.SequenceNode {
		var out []*yaml.Node
		for _, c := range v.Content {
			out = append(out, resolve(c))
		}
		return out
	}
	return []*yaml.Node{v}
}

// JoinKey appends a mapping key to a path: "steps[0]" + "name".
func JoinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// JoinIndex appends a list index to a path: "steps" + 3 = "steps[3]".
func JoinIndex(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// IsNull reports whether n is absent or an explicit YAML null.
func IsNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

var (
	unmarshalerType = reflect.TypeFor[Unmarshaler]()
	durationType    = reflect.TypeFor[time.Duration]()
	posType         = reflect.TypeFor[Pos]()
)

// Decode decodes n into the value v points to, recording problems. Struct
// fields are matched by their yaml tag (fields without one are ignored);
// unknown keys are errors with a suggestion when one is close.
func (d *Decoder) Decode(n *yaml.Node, path string, v any) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic("strictyaml: Decode needs a non-nil pointer")
	}
	d.decode(n, path, rv.Elem())
}

func (d *Decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	n = resolve(n)
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		v.Addr().Interface().(Unmarshaler).UnmarshalStrictYAML(d, n, path)
		return
	}
	if v.Type() == durationType {
		if dur, ok := d.Duration(n, path); ok {
			v.SetInt(int64(dur))
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if IsNull(n) {
			return
		}
		// Decode into a fresh value and keep it only when it decoded cleanly,
		// so later validation never sees a half-set field.
		fresh := reflect.New(v.Type().Elem())
		before := len(d.errs)
		d.decode(n, path, fresh.Elem())
		if len(d.errs) == before {
			v.Set(fresh)
		}
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Slice:
		if IsNull(n) {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.Errorf(n, path, "expected a list, found %s", KindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, JoinIndex(path, i), s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		if IsNull(n) {
			return
		}
		if v.Type().Key().Kind() != reflect.String {
			d.Errorf(n, path, "internal error: cannot decode into %s (map keys must be strings)", v.Type())
			return
		}
		keys, values, ok := d.MappingPairs(n, path)
		if !ok {
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(keys))
		for i, k := range keys {
			ev := reflect.New(v.Type().Elem()).Elem()
			d.decode(values[i], JoinKey(path, k.Value), ev)
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), ev)
		}
		v.Set(m)
	case reflect.String:
		if s, ok := d.String(n, path); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if b, ok := d.Bool(n, path); ok {
			v.SetBool(b)
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		if i, ok := d.Int(n, path, math.MinInt32, math.MaxInt32); ok {
			v.SetInt(i)
		}
	case reflect.Float64, reflect.Float32:
		if f, ok := d.Float(n, path); ok {
			v.SetFloat(f)
		}
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.Errorf(n, path, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(&x).Elem())
	default:
		// A Go type this decoder does not know is a bug in fleetrun, not in
		// the input; report it rather than crash.
		d.Errorf(n, path, "internal error: cannot decode into %s", v.Type())
	}
}

type fieldInfo struct {
	index []int
	name  string
}

func structFields(t reflect.Type) (fields []fieldInfo, pos [][]int) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Type == posType && f.Name == "Pos" {
			pos = append(pos, f.Index)
			continue
		}
		tag, ok := f.Tag.Lookup("yaml")
		if !ok || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if opts == "inline" {
			sub, subPos := structFields(f.Type)
			for _, s := range sub {
				fields = append(fields, fieldInfo{index: append([]int{i}, s.index...), name: s.name})
			}
			for _, p := range subPos {
				pos = append(pos, append([]int{i}, p...))
			}
			continue
		}
		fields = append(fields, fieldInfo{index: f.Index, name: name})
	}
	return fields, pos
}

// structInfo is what decodeStruct needs of a struct type: its keys, in
// order and by name, and where its Pos fields are.
type structInfo struct {
	byName map[string]fieldInfo
	names  []string
	pos    [][]int
}

// structInfos caches structInfo by type: an inventory decodes the same
// host struct thousands of times.
var structInfos sync.Map // reflect.Type → *structInfo

func structInfoOf(t reflect.Type) *structInfo {
	if info, ok := structInfos.Load(t); ok {
		return info.(*structInfo)
	}
	fields, pos := structFields(t)
	info := &structInfo{byName: make(map[string]fieldInfo, len(fields)), names: make([]string, 0, len(fields)), pos: pos}
	for _, f := range fields {
		info.byName[f.name] = f
		info.names = append(info.names, f.name)
	}
	actual, _ := structInfos.LoadOrStore(t, info)
	return actual.(*structInfo)
}

func (d *Decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if IsNull(n) {
		d.Errorf(n, path, "expected a mapping, found null")
		return
	}
	keys, values, ok := d.MappingPairs(n, path)
	if !ok {
		return
	}
	info := structInfoOf(v.Type())
	byName, names, posIdx := info.byName, info.names, info.pos
	p := Pos{Node: n, Values: map[string]*yaml.Node{}, Keys: map[string]*yaml.Node{}}
	for i, k := range keys {
		f, known := byName[k.Value]
		if !known {
			msg := fmt.Sprintf("unknown key %q", k.Value)
			if s := Suggest(k.Value, names); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			d.Errorf(k, JoinKey(path, k.Value), "%s", msg)
			continue
		}
		p.Values[k.Value] = values[i]
		p.Keys[k.Value] = k
		d.decode(values[i], JoinKey(path, k.Value), v.FieldByIndex(f.index))
	}
	for _, idx := range posIdx {
		v.FieldByIndex(idx).Set(reflect.ValueOf(p))
	}
}

// String decodes a scalar as text. Numbers and booleans are accepted as
// written (tags: {build: 2019} gives "2019"); null, lists and mappings are
// errors.
func (d *Decoder) String(n *yaml.Node, path string) (string, bool) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		d.Errorf(n, path, "expected a string, found %s", KindName(n))
		return "", false
	}
	return n.Value, true
}

// Bool decodes true or false.
func (d *Decoder) Bool(n *yaml.Node, path string) (bool, bool) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		d.Errorf(n, path, "expected true or false, found %s", KindName(n))
		return false, false
	}
	b, err := strconv.ParseBool(n.Value)
	if err != nil {
		d.Errorf(n, path, "expected true or false, found %q", n.Value)
		return false, false
	}
	return b, true
}

// Int decodes an integer within [lo, hi].
func (d *Decoder) Int(n *yaml.Node, path string, lo, hi int64) (int64, bool) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.Errorf(n, path, "expected an integer, found %s", KindName(n))
		return 0, false
	}
	i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil {
		d.Errorf(n, path, "integer %s is out of range", n.Value)
		return 0, false
	}
	if i < lo || i > hi {
		d.Errorf(n, path, "%d is out of range [%d, %d]", i, lo, hi)
		return 0, false
	}
	return i, true
}

// Float decodes a number (an integer or a decimal).
func (d *Decoder) Float(n *yaml.Node, path string) (float64, bool) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		d.Errorf(n, path, "expected a number, found %s", KindName(n))
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		d.Errorf(n, path, "expected a finite number, found %q", n.Value)
		return 0, false
	}
	return f, true
}

// Duration decodes a Go duration string such as "90s" or "1h30m". Bare
// numbers are refused: "30" could mean seconds or minutes.
func (d *Decoder) Duration(n *yaml.Node, path string) (time.Duration, bool) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		d.Errorf(n, path, "expected a duration such as \"90s\" or \"10m\", found %s", KindName(n))
		return 0, false
	}
	if n.ShortTag() == "!!int" || n.ShortTag() == "!!float" {
		d.Errorf(n, path, "duration %s has no unit; write it like \"%ss\" or \"%sm\"", n.Value, n.Value, n.Value)
		return 0, false
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.Errorf(n, path, "invalid duration %q; use Go syntax such as \"90s\", \"10m\" or \"1h30m\"", n.Value)
		return 0, false
	}
	if dur < 0 {
		d.Errorf(n, path, "duration %q is negative", n.Value)
		return 0, false
	}
	return dur, true
}

// Suggest returns the candidate closest to s by edit distance when it is
// close enough to be a likely misspelling, else "".
func Suggest(s string, candidates []string) string {
	limit := min(len(s)/2+1, 3) // distances below this count as misspellings
	best, bestDist := "", limit
	for _, c := range candidates {
		dist := editDistance(strings.ToLower(s), strings.ToLower(c))
		if dist < bestDist || (dist == bestDist && best != "" && c < best) {
			best, bestDist = c, dist
		}
	}
	return best
}

// editDistance is the Damerau-Levenshtein distance (with adjacent
// transpositions), enough for spotting misspelt keys.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
