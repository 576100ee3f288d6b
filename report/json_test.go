package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// writeJSONReference is WriteJSON as it was before it streamed: the whole
// document through one Encoder. WriteJSON must write exactly its bytes.
func writeJSONReference(w io.Writer, doc *Document) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

// checkSameJSON fails t unless WriteJSON and writeJSONReference write the
// same bytes for doc.
func checkSameJSON(t *testing.T, name string, doc *Document) {
	t.Helper()
	var want, got bytes.Buffer
	if err := writeJSONReference(&want, doc); err != nil {
		t.Fatalf("%s: reference: %v", name, err)
	}
	if err := WriteJSON(&got, doc); err != nil {
		t.Fatalf("%s: WriteJSON: %v", name, err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Errorf("%s: WriteJSON differs from the encoder at byte %d:\n got: %q\nwant: %q",
			name, firstDiff(got.Bytes(), want.Bytes()), around(got.Bytes(), want.Bytes()), around(want.Bytes(), got.Bytes()))
	}
}

func firstDiff(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// around is a's text around where it first differs from b.
func around(a, b []byte) string {
	i := firstDiff(a, b)
	return string(a[max(i-80, 0):min(i+80, len(a))])
}

// hostile is text that JSON encoders treat specially: HTML characters
// (kept as they are), quotes and backslashes, control characters, the
// line and paragraph separators (always escaped), invalid UTF-8 (becomes
// U+FFFD) and text beyond the BMP.
const hostile = "<b>a & b</b> \"q\" \\ \t\r\n\x00\x1b[31m \u2028\u2029 caf\u00e9 \u65e5\u672c \U0001F680 \xff\xfe bad"

func TestWriteJSONMatchesTheEncoder(t *testing.T) {
	t.Parallel()
	one, zero := 1, 0
	code, bigCode := uint32(3010), uint32(0xC0000005)
	full := &Document{
		Playbook: "patch " + hostile, Status: "failed", StopReason: hostile,
		StartedAt: "2024-05-01T10:00:00.000Z", FinishedAt: "2024-05-01T10:01:00.000Z",
		DurationMS: -5, Forks: 50, Batches: 2, MaxFail: &one,
		Concurrency: &Concurrency{Hosts: 2, LimitedBy: "max_fail"},
		Summary:     Summary{Hosts: 4, OK: 1, Failed: 1, Unreachable: 1, Skipped: 1},
		Hosts: []Host{
			{Name: "web-01", Address: "10.0.0.1", Status: "ok", Transport: "winrm", Simulated: true,
				StartedAt: "s", FinishedAt: "f", IgnoredFailures: 1,
				Steps: []Step{
					{Name: "install <patch> & reboot", Kind: "cmd", Status: "ok", ExitCode: &code, Expected: []uint32{0, 3010},
						Outcome: "reboot_required", Rebooted: true, Attempts: 2, DurationMS: 812, StartedAt: "a", FinishedAt: "b",
						Stdout: hostile, Stderr: "", OutputTruncated: true, Reason: "r", Error: &Error{Class: "c", Code: 5, Message: hostile, Hint: "h"},
						RemoteCommand: []string{"cmd.exe", "/c", hostile}, CommandLine: "cmd /c x", Argv: []string{}, CmdLine: "x",
						Script: "Write-Host '<&>'", RunAs: "system", Task: "fleetrun-1", Note: "n",
						Files: []File{{Path: `C:\a<b>.msu`, Size: 3, SHA256: "ab", Unchanged: true, Sent: 0, Local: "l"}, {}}},
					{Name: "empty slices", Expected: []uint32{}, RemoteCommand: []string{}, Argv: []string{}, Files: []File{}},
					{Name: "nil slices"},
					{},
				}},
			{Name: "web-02", Batch: 1, Status: "unreachable", Error: &Error{Class: "refused", Message: "connection refused"}, Steps: []Step{}},
			{Name: "web-03", Steps: nil},
			{},
		},
		FailureGroups: []JSONFailureGroup{
			{Class: "unexpected_exit", ExitCode: &bigCode, Cause: hostile, Step: "s", Hint: "h", Count: 2, Hosts: []string{"web-01", "<web-02>"}, Sample: "x", Tail: hostile},
			{Hosts: nil},
			{Hosts: []string{}, ExitCode: new(uint32)},
		},
	}
	docs := map[string]*Document{
		"zero document":            {},
		"empty hosts":              {Hosts: []Host{}, FailureGroups: []JSONFailureGroup{}},
		"max_fail zero":            {MaxFail: &zero, Concurrency: &Concurrency{}, Hosts: []Host{{}}},
		"every field":              full,
		"rollout scenario":         NewDocument(rolloutScenario().res),
		"hostile scenario":         NewDocument(hostileScenario().res),
		"files scenario":           NewDocument(filesScenario().res),
		"one host of many steps":   {Hosts: []Host{{Steps: make([]Step, 40)}}},
		"many hosts without steps": {Hosts: make([]Host, 40)},
	}
	for name, doc := range docs {
		checkSameJSON(t, name, doc)
	}
}

// TestWriteJSONWritesEveryField fills every field of a document, at every
// depth, and compares with the encoder: a field added to Document that
// WriteJSON does not write fails here.
func TestWriteJSONWritesEveryField(t *testing.T) {
	t.Parallel()
	g := docGen{r: rand.New(rand.NewPCG(1, 2)), full: true}
	var doc Document
	g.fill(reflect.ValueOf(&doc).Elem(), 0)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, &doc); err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[Document]()
	for i := range typ.NumField() {
		tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if !strings.Contains(buf.String(), "\n  \""+tag+"\": ") {
			t.Errorf("WriteJSON left out field %s (%q)", typ.Field(i).Name, tag)
		}
	}
	checkSameJSON(t, "every field filled", &doc)
}

// TestWriteJSONMatchesTheEncoderOnRandomDocuments compares WriteJSON
// with the encoder on documents whose every field, at every depth, is
// drawn at random: zero or not, nil, empty or filled slices and pointers,
// hostile text.
func TestWriteJSONMatchesTheEncoderOnRandomDocuments(t *testing.T) {
	t.Parallel()
	n := 3000
	if testing.Short() {
		n = 300
	}
	for seed := range uint64(n) {
		checkSameJSON(t, fmt.Sprintf("seed %d", seed), randomDocument(seed, ""))
		if t.Failed() {
			return
		}
	}
}

func FuzzWriteJSON(f *testing.F) {
	f.Add(uint64(0), "")
	f.Add(uint64(1), hostile)
	f.Add(uint64(2), "<script>\u2028</script>")
	f.Fuzz(func(t *testing.T, seed uint64, text string) {
		checkSameJSON(t, "fuzz", randomDocument(seed, text))
	})
}

func randomDocument(seed uint64, text string) *Document {
	g := docGen{r: rand.New(rand.NewPCG(seed, 0x5eed)), text: text}
	var doc Document
	g.fill(reflect.ValueOf(&doc).Elem(), 0)
	return &doc
}

// docGen fills values of the report's types at random, by kind, so that it
// follows the types as fields are added. With full set, nothing is left
// zero, nil or empty.
type docGen struct {
	r    *rand.Rand
	full bool
	text string // drawn among the strings when not empty
}

var genStrings = []string{"", "ok", "web-01", "C:\\Windows\\Temp\\", hostile, "<>&", "\u2028", "\xff", "日本語", "\"quoted\"", "a\nb"}

func (g *docGen) zero() bool { return !g.full && g.r.IntN(3) == 0 }

func (g *docGen) fill(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.String:
		if g.zero() {
			return
		}
		s := genStrings[g.r.IntN(len(genStrings))]
		if g.text != "" && g.r.IntN(2) == 0 {
			s = g.text
		}
		if s == "" {
			s = "x"
		}
		v.SetString(s)
	case reflect.Bool:
		v.SetBool(g.full || g.r.IntN(2) == 0)
	case reflect.Int, reflect.Int64:
		if !g.zero() {
			v.SetInt(int64(g.r.IntN(2000)) - 500)
			if v.Int() == 0 {
				v.SetInt(1)
			}
		}
	case reflect.Uint32:
		if !g.zero() {
			v.SetUint(uint64(g.r.Uint32()) | 1)
		}
	case reflect.Pointer:
		if g.zero() {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		g.fill(v.Elem(), depth+1)
	case reflect.Slice:
		n := 1 + g.r.IntN(4)
		if !g.full {
			switch g.r.IntN(4) {
			case 0:
				return // nil
			case 1:
				n = 0 // empty
			}
		}
		if depth > 3 {
			n = min(n, 1)
		}
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := range n {
			g.fill(v.Index(i), depth+1)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			g.fill(v.Field(i), depth+1)
		}
	default:
		panic("docGen: no rule for " + v.Type().String())
	}
}

// TestWriteJSONStreams checks that WriteJSON does not hold the whole
// report: no single write to the writer is much bigger than its buffer,
// where the encoder wrote the whole document at once.
func TestWriteJSONStreams(t *testing.T) {
	t.Parallel()
	doc := bigDocument(2000)
	var w maxWriter
	if err := WriteJSON(&w, doc); err != nil {
		t.Fatal(err)
	}
	if w.total < 1<<20 {
		t.Fatalf("document is only %d bytes; the test needs more than the buffer", w.total)
	}
	if w.max > 64<<10 {
		t.Errorf("largest write is %d bytes of %d: WriteJSON does not stream", w.max, w.total)
	}
}

type maxWriter struct{ max, total int }

func (w *maxWriter) Write(p []byte) (int, error) {
	w.max = max(w.max, len(p))
	w.total += len(p)
	return len(p), nil
}

// WriteJSON returns the writer's error, as the encoder did.
func TestWriteJSONReturnsWriteErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk full")
	for _, doc := range []*Document{{}, bigDocument(500)} {
		if err := WriteJSON(failingWriter{boom}, doc); !errors.Is(err, boom) {
			t.Errorf("WriteJSON to a failing writer: %v, want %v", err, boom)
		}
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// bigDocument is a report of n hosts with three small steps each, as a
// fleet-scale run writes it.
func bigDocument(n int) *Document {
	code := uint32(0)
	doc := &Document{
		Playbook: "patch", Status: "ok", StartedAt: "2024-05-01T10:00:00.000Z", FinishedAt: "2024-05-01T10:05:00.000Z",
		DurationMS: 300000, Forks: 50, Batches: 1, Concurrency: &Concurrency{Hosts: 50, LimitedBy: "forks"},
		Summary: Summary{Hosts: n, OK: n}, Hosts: make([]Host, n),
	}
	for i := range doc.Hosts {
		h := &doc.Hosts[i]
		*h = Host{Name: fmt.Sprintf("web-%05d", i), Address: fmt.Sprintf("10.0.%d.%d", i/256, i%256), Status: "ok",
			Transport: "winrm", StartedAt: "2024-05-01T10:00:01.000Z", FinishedAt: "2024-05-01T10:00:03.000Z"}
		for s := range 3 {
			h.Steps = append(h.Steps, Step{
				Name: fmt.Sprintf("step %d", s), Kind: "cmd", Status: "ok", ExitCode: &code, Expected: []uint32{0},
				Attempts: 1, DurationMS: 600, StartedAt: "2024-05-01T10:00:01.000Z", FinishedAt: "2024-05-01T10:00:02.000Z",
				Stdout: "done\r\n", Stderr: "",
			})
		}
	}
	return doc
}

func BenchmarkWriteJSON(b *testing.B) {
	doc := bigDocument(10000)
	b.Run("stream", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := WriteJSON(io.Discard, doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := writeJSONReference(io.Discard, doc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// appendIndented indents compact JSON as the encoder's indenting does.
func TestAppendIndentedMatchesIndent(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		`null`, `true`, `-1.5e+10`, `""`, `"a"`, `{}`, `[]`, `[{}]`, `[[],{},[[]]]`, `{"a":{}}`,
		`{"a":1,"b":[1,2,{"c":null}],"d":"x"}`,
		`"\\"`, `"\\\""`, `"\"\\"`, `["\\",":",",","{","}","[","]"]`,
		`{"k\":{[,":"v\\\\","\u2028":"\ufffd<>&"}`,
		`[{"a":[{"b":[]}],"c":{"d":{"e":false}}},0]`,
	} {
		if !json.Valid([]byte(src)) {
			t.Fatalf("test input %s is not JSON", src)
		}
		checkIndented(t, []byte(src))
	}
}

func FuzzAppendIndented(f *testing.F) {
	f.Add([]byte(`{"a":[1,{},[]],"b\\\"":"\\"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var compact bytes.Buffer
		if json.Compact(&compact, data) != nil {
			return
		}
		checkIndented(t, compact.Bytes())
	})
}

// checkIndented compares appendIndented with json.Indent at each depth
// WriteJSON uses.
func checkIndented(t *testing.T, src []byte) {
	t.Helper()
	for depth := range 3 {
		var want bytes.Buffer
		if err := json.Indent(&want, src, strings.Repeat("  ", depth), "  "); err != nil {
			t.Fatal(err)
		}
		if got := appendIndented([]byte("x"), src, depth); string(got) != "x"+want.String() {
			t.Errorf("appendIndented(%s, %d) =\n%s\nwant\n%s", src, depth, got[1:], want.String())
		}
	}
}
