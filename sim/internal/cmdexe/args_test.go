package cmdexe

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestParseArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cmdline string
		want    []string
	}{
		// The first six rows are the examples table of Microsoft Learn,
		// "Parsing C command-line arguments" (program name added).
		{"quoted argument keeps its spaces", `p "a b c" d e`, []string{"p", "a b c", "d", "e"}},
		{"backslash quote is a literal quote and a lone escaped backslash stays", `p "ab\"c" "\\" d`, []string{"p", `ab"c`, `\`, "d"}},
		{"backslashes not before a quote are literal", `p a\\\b d"e f"g h`, []string{"p", `a\\\b`, "de fg", "h"}},
		{"three backslashes and a quote give one backslash and a quote", `p a\\\"b c d`, []string{"p", `a\"b`, "c", "d"}},
		{"four backslashes and a quote give two backslashes and open quoting", `p a\\\\"b c" d e`, []string{"p", `a\\b c`, "d", "e"}},
		{"doubled quote inside quotes is a literal quote and quoting goes on", `p a"b"" c d`, []string{"p", `ab" c d`}},
		{"program name in quotes keeps its spaces", `"C:\Program Files\x.exe" "a b" c`, []string{`C:\Program Files\x.exe`, "a b", "c"}},
		{"program name takes backslashes literally", `"C:\dir\" a`, []string{`C:\dir\`, "a"}},
		{"program name drops inner quotes", `C:\my"dir x"\p.exe a`, []string{`C:\mydir x\p.exe`, "a"}},
		{"empty quoted argument is kept", `p "" b`, []string{"p", "", "b"}},
		{"trailing backslash before closing quote is doubled by quoters", `p "C:\dir\\"`, []string{"p", `C:\dir\`}},
		{"tabs separate like spaces", "p\ta\t\tb", []string{"p", "a", "b"}},
		{"leading space gives an empty program name", " p a", []string{"", "p", "a"}},
		{"unterminated quote runs to the end", `p "a b`, []string{"p", "a b"}},
		{"trailing spaces add nothing", "p a   ", []string{"p", "a"}},
		{"empty command line is one empty name", "", []string{""}},
		{"quote in the middle joins words", `p a" "b`, []string{"p", "a b"}},
		{"odd backslashes at the end stay", `p a\`, []string{"p", `a\`}},
		{"cmd metacharacters mean nothing to the runtime", `p a&b ^c %d% <e> |f`, []string{"p", "a&b", "^c", "%d%", "<e>", "|f"}},
		{"hashtable literal loses its quotes", `winrm set winrm/config/winrs @{MaxMemoryPerShellMB="1024"}`, []string{"winrm", "set", "winrm/config/winrs", "@{MaxMemoryPerShellMB=1024}"}},
		{"escaped quotes keep a hashtable literal whole", `p @{MaxMemoryPerShellMB=\"1024\"}`, []string{"p", `@{MaxMemoryPerShellMB="1024"}`}},
		{"non-ASCII bytes pass through", "p こんにちは \"日本 語\"", []string{"p", "こんにちは", "日本 語"}},
		{"doubled quote after closing is an opening then literal text", `p "a"" b"`, []string{"p", `a" b`}},
		{"three quotes in a row outside quotes", `p """a"`, []string{"p", `"a`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, ParseArgs(tt.cmdline)); diff != "" {
				t.Errorf("ParseArgs(%q) mismatch (-want +got):\n%s", tt.cmdline, diff)
			}
		})
	}
}

// quoteArg is the documented inverse of the C runtime rules (Daniel
// Colascione, "Everyone quotes command line arguments the wrong way"): it
// is here only to check ParseArgs round-trips, not to be used by callers.
func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			slashes++
			continue
		case '"':
			b.WriteString(strings.Repeat(`\`, 2*slashes+1))
		default:
			b.WriteString(strings.Repeat(`\`, slashes))
		}
		slashes = 0
		b.WriteByte(s[i])
	}
	b.WriteString(strings.Repeat(`\`, 2*slashes))
	b.WriteByte('"')
	return b.String()
}

func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{"", `p "a b"`, `p a\\\"b`, `"C:\x y\p.exe" "" \"`, `p a"b"" c`, "p\t\"\\\\\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cmdline string) {
		argv := ParseArgs(cmdline)
		if len(argv) == 0 {
			t.Fatalf("ParseArgs(%q) returned no program name", cmdline)
		}
		// Arguments (not the program name, which has its own rule)
		// survive quoting and parsing again.
		if len(argv) < 2 || !utf8.ValidString(cmdline) {
			return
		}
		var b strings.Builder
		b.WriteString("p")
		for _, a := range argv[1:] {
			b.WriteByte(' ')
			b.WriteString(quoteArg(a))
		}
		again := ParseArgs(b.String())
		if diff := cmp.Diff(argv[1:], again[1:]); diff != "" {
			t.Fatalf("round trip of %q through %q (-first +second):\n%s", cmdline, b.String(), diff)
		}
	})
}

func TestSplitBatchArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		text     string
		wantArgs []string
		wantRest string
	}{
		{"commas semicolons and equals separate like spaces", " a,b;c=d  e", []string{"a", "b", "c", "d", "e"}, "a,b;c=d  e"},
		{"quotes keep delimiters and stay in the token", ` "a b",c "x=y"`, []string{`"a b"`, "c", `"x=y"`}, `"a b",c "x=y"`},
		{"nothing gives no arguments", "   ", nil, ""},
		{"trailing delimiters stay in the rest", " a ", []string{"a"}, "a "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args, rest := splitBatchArgs(tt.text)
			if diff := cmp.Diff(tt.wantArgs, args); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
			if rest != tt.wantRest {
				t.Errorf("rest = %q, want %q", rest, tt.wantRest)
			}
		})
	}
}

func BenchmarkParseArgs(b *testing.B) {
	line := `"C:\Program Files\App\x.exe" --name "two words" C:\dir\ "tail\\" a\"b -EncodedCommand SQBmACgAJAB0AHIAdQBlACkAewB9AA==`
	b.ReportAllocs()
	for b.Loop() {
		ParseArgs(line)
	}
}
