package strictyaml_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/internal/strictyaml"
)

// TestParseSyntaxErrorPointsAtTheOffendingToken checks that a syntax error
// carries the line and column of the token that broke the document, not
// the line where yaml.v3 says the enclosing block began.
func TestParseSyntaxErrorPointsAtTheOffendingToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want strictyaml.Error
	}{
		{
			// yaml.v3: "line 2: did not find expected '-' indicator".
			name: "a mis-indented list item",
			doc:  "name: p\nsteps:\n  - name: a\n    cmd: x\n   - name: b\n    cmd: y\n",
			want: strictyaml.Error{File: "f.yaml", Line: 5, Col: 4, Msg: "value is not allowed in this context"},
		},
		{
			// yaml.v3: "line 2: did not find expected key".
			name: "a mis-indented key",
			doc:  "a:\n  b: 1\n c: 2\n",
			want: strictyaml.Error{File: "f.yaml", Line: 3, Col: 2, Msg: "value is not allowed in this context"},
		},
		{
			// yaml.v3: "line 1: did not find expected '-' indicator".
			name: "a list item without its space",
			doc:  "steps:\n  - name: a\n    cmd: x\n  -name: b\n  foo\n",
			want: strictyaml.Error{File: "f.yaml", Line: 4, Col: 3, Msg: "value is not allowed in this context"},
		},
		{
			// yaml.v3: "line 3: found unexpected end of stream".
			name: "an unterminated single-quoted string",
			doc:  "key: 'unterminated\nother: 1\n",
			want: strictyaml.Error{File: "f.yaml", Line: 1, Col: 6, Msg: "could not find end character of single-quoted text"},
		},
		{
			// yaml.v3: "mapping values are not allowed in this context", no line.
			name: "a second colon on a line",
			doc:  "a: b: c\n",
			want: strictyaml.Error{File: "f.yaml", Line: 1, Col: 4, Msg: "mapping value is not allowed in this context"},
		},
		{
			name: "an unclosed flow list",
			doc:  "a: [1, 2\nb: 3\n",
			want: strictyaml.Error{File: "f.yaml", Line: 2, Col: 1, Msg: "',' or ']' must be specified"},
		},
		{
			// The second parser accepts an undefined alias; yaml.v3's
			// message stands.
			name: "an undefined alias",
			doc:  "a: &x 1\nb: *y\n",
			want: strictyaml.Error{File: "f.yaml", Msg: "unknown anchor 'y' referenced"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := strictyaml.Parse("f.yaml", []byte(tt.doc))
			es := strictyaml.AsErrors(err)
			if len(es) != 1 {
				t.Fatalf("Parse: %v, want one positioned error", err)
			}
			if diff := cmp.Diff(tt.want, *es[0]); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParse checks that Parse never panics and that every syntax error it
// reports is positioned inside the document.
func FuzzParse(f *testing.F) {
	f.Add([]byte("a:\n  b: 1\n c: 2\n"))
	f.Add([]byte("key: 'unterminated\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := strictyaml.Parse("f.yaml", data)
		for _, e := range strictyaml.AsErrors(err) {
			if e.Line < 0 || e.Col < 0 || e.Line > countLines(data)+1 {
				t.Fatalf("error outside the document: %+v", e)
			}
		}
	})
}

func countLines(data []byte) int {
	n := 0
	for _, b := range data {
		if b == '\n' || b == '\r' {
			n++
		}
	}
	return n
}
