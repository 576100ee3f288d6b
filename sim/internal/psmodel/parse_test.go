package psmodel

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseKeepsPositions(t *testing.T) {
	t.Parallel()
	script := "Write-Output 'a'\r\n  Get-Foo -x 1; $y = 2\n\tif ($y) {\n  Get-Bar }"
	sb, err := Parse(script)
	if err != nil {
		t.Fatal(err)
	}
	src := sb.src
	var got []string
	for _, st := range sb.Body {
		line, col := src.Position(st.extent().Start)
		got = append(got, src.Text[st.extent().Start:st.extent().End]+"@"+itoa(line)+":"+itoa(col))
	}
	ifst := sb.Body[3].(*IfStmt)
	inner := ifst.Bodies[0][0].(*Pipeline).Elems[0].(*Command)
	line, col := src.Position(inner.NameExtent.Start)
	got = append(got, inner.Name+"@"+itoa(line)+":"+itoa(col))
	want := []string{"Write-Output 'a'@1:1", "Get-Foo -x 1@2:3", "$y = 2@2:17", "if ($y) {\n  Get-Bar }@3:2", "Get-Bar@4:3"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text string
		want any
	}{
		{"5GB", int64(5 << 30)},
		{"1MB", 1 << 20},
		{"0x10", 16},
		{"0xFFFFFFFF", -1},
		{"1.5e3", 1500.0},
		{"-7", -7},
		{"'it''s'", "it's"},
		{"@'\nraw $x\n'@", "raw $x"},
		{"\"`$x`t\"", "$x\t"},
	}
	for _, tt := range tests {
		sb, err := Parse(tt.text)
		if err != nil {
			t.Errorf("%q: %v", tt.text, err)
			continue
		}
		var got any
		switch x := sb.Body[0].(*Pipeline).Elems[0].(*ExprElem).X.(type) {
		case *NumberLit:
			got = x.Value
		case *StringLit:
			got = x.Value
		default:
			t.Errorf("%q: parsed as %T", tt.text, x)
			continue
		}
		if !cmp.Equal(tt.want, got) {
			t.Errorf("%q = %#v, want %#v", tt.text, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		script      string
		id          string
		msg         string
		line, col   int
		notModelled bool
	}{
		{script: "if ($x) {", id: "MissingEndCurlyBrace", msg: "Missing closing '}' in statement block or type definition.", line: 1, col: 9},
		{script: "Write-Output 'abc", id: "TerminatorExpectedAtEndOfString", msg: "The string is missing the terminator: '.", line: 1, col: 14},
		{script: "\"abc", id: "TerminatorExpectedAtEndOfString", msg: "The string is missing the terminator: \".", line: 1, col: 1},
		{script: "if ($x {}", id: "MissingEndParenthesisAfterStatement", msg: "Missing closing ')' after expression in 'if' statement.", line: 1, col: 8},
		{script: "a && b", id: "InvalidEndOfLine", msg: "The token '&&' is not a valid statement separator in this version.", line: 1, col: 3},
		{script: "}", id: "UnexpectedToken", msg: "Unexpected token '}' in expression or statement.", line: 1, col: 1},
		{script: "$x -eq", id: "ExpectedValueExpression", msg: "You must provide a value expression following the '-eq' operator.", line: 1, col: 7},
		{script: "try { }", id: "MissingCatchOrFinally", msg: "The Try statement is missing its Catch or Finally block.", line: 1, col: 8},
		{script: "Get-Foo | 'x'", id: "ExpressionsMustBeFirstInPipeline", msg: "Expressions are only allowed as the first element of a pipeline.", line: 1, col: 11},
		{script: "class Foo { }", notModelled: true, line: 1, col: 1},
		{script: "x\ntrap { continue }", notModelled: true, line: 2, col: 1},
		{script: "Get-Thing @args", notModelled: true, line: 1, col: 11},
		{script: "foreach -parallel ($x in 1) { }", notModelled: true, line: 1, col: 1},
		{script: strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300), notModelled: true},
	}
	for _, tt := range tests {
		_, err := Parse(tt.script)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%q: %v, want a parse error", tt.script, err)
			continue
		}
		if pe.NotModelled != tt.notModelled {
			t.Errorf("%q: not modelled %v, want %v (%s)", tt.script, pe.NotModelled, tt.notModelled, pe.Msg)
			continue
		}
		if tt.notModelled {
			if !strings.HasPrefix(pe.Msg, notModelledPrefix) {
				t.Errorf("%q: %q", tt.script, pe.Msg)
			}
			if tt.line == 0 {
				continue
			}
		} else if pe.Msg != tt.msg || pe.ID != tt.id {
			t.Errorf("%q: %s %q, want %s %q", tt.script, pe.ID, pe.Msg, tt.id, tt.msg)
		}
		if line, col := pe.src.Position(pe.Extent.Start); line != tt.line || col != tt.col {
			t.Errorf("%q: at %d:%d, want %d:%d", tt.script, line, col, tt.line, tt.col)
		}
	}
}

func TestPositionMessageCutsLongLines(t *testing.T) {
	t.Parallel()
	line := "Write-Output " + strings.Repeat("a", 80) + " | Get-Foo | Out-Null"
	src := newSource(line)
	at := strings.Index(line, "Get-Foo")
	got := src.PositionMessage(Extent{at, at + len("Get-Foo")})
	// 12 characters of context before, 8 after, then as much before as
	// fits in 69, with "... " markers where the line was cut.
	want := "At line:1 char:97\r\n+ ... " + strings.Repeat("a", 51) + " | Get-Foo | Out-N ...\r\n+ " + strings.Repeat(" ", 58) + "~~~~~~~"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// FuzzParse checks that no script makes the model panic or run without
// end: parsing any text returns, and running it on a fake host ends
// within small limits.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"Write-Output 'x'; exit 3", "while (1) {}", "$s = 'x'; while ($true) { $s += $s }", "function f { f }; f",
		"if ($x) {", "@\"\n$($a)\n\"@", "1..1000000 | % { $_ }", "[int]::Parse('x')", "Get-Service | ? Status -eq Running",
		"$a = @(1); $a[0] = $a; \"$a\"", "'x' * 100000000", "try { throw 'a' } catch { $_ } finally { 'f' }",
		"$h = New-Object -ComObject Microsoft.Update.Session; $h.CreateUpdateSearcher().Search('IsInstalled=0')",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, script string) {
		if _, err := Parse(script); err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse returned %T", err)
			}
			_ = pe.Error()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var out bytes.Buffer
		h := newFakeHost()
		Run(ctx, h, script, Options{Mode: ModeLauncher, Stdout: &out, Stderr: &out,
			Limits: Limits{Steps: 2000, Depth: 20, OutputBytes: 1 << 16, ValueChars: 1 << 16, Work: 1 << 22}})
		if ctx.Err() != nil {
			t.Fatalf("the script ran for 10 s: %q", script)
		}
		if out.Len() > 1<<20 {
			t.Fatalf("wrote %d bytes", out.Len())
		}
	})
}
