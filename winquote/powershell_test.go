package winquote

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fleetrun/fleetrun/internal/hostile"
)

func TestPSSingleQuote(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"empty string", "", "''"},
		{"plain word", "abc", "'abc'"},
		{"apostrophe is doubled", "it's", "'it''s'"},
		{"lone apostrophe", "'", "''''"},
		{"variables are not expanded", "$env:PATH $(Get-Date)", "'$env:PATH $(Get-Date)'"},
		{"backtick is literal", "`n`\"", "'`n`\"'"},
		{"hashtable syntax is literal", `@{MaxMemoryPerShellMB="1024"}`, `'@{MaxMemoryPerShellMB="1024"}'`},
		{"double quotes need nothing", `say "hi"`, `'say "hi"'`},
		{"right single quotation mark is doubled", "It\u2019s", "'It\u2019\u2019s'"},
		{"left single quotation mark is doubled", "\u2018a\u2018", "'\u2018\u2018a\u2018\u2018'"},
		{"low and high-reversed quotes are doubled", "\u201a\u201b", "'\u201a\u201a\u201b\u201b'"},
		{"mixed single quotes are each doubled", "'\u2019", "'''\u2019\u2019'"},
		{"typographic double quotes need nothing", "\u201cx\u201d", "'\u201cx\u201d'"},
		{"newlines stay", "a\r\nb", "'a\r\nb'"},
		{"Japanese and emoji stay", "日本語😀", "'日本語😀'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := PSSingleQuote(tt.in); got != tt.want {
				t.Errorf("PSSingleQuote(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// readPSSingleQuoted reads a single-quoted PowerShell string literal at the
// start of src the way PowerShell's tokenizer does: any of the five
// single-quote characters opens and closes it, and two of them in a row
// stand for the second one. It returns the value and what follows the
// literal, or ok false if src does not hold a complete literal.
func readPSSingleQuoted(src string) (value, rest string, ok bool) {
	isQuote := func(r rune) bool { return strings.ContainsRune("'\u2018\u2019\u201a\u201b", r) }
	r, n := utf8.DecodeRuneInString(src)
	if n == 0 || !isQuote(r) {
		return "", "", false
	}
	src = src[n:]
	var b strings.Builder
	for src != "" {
		r, n := utf8.DecodeRuneInString(src)
		src = src[n:]
		if isQuote(r) {
			next, m := utf8.DecodeRuneInString(src)
			if m == 0 || !isQuote(next) {
				return b.String(), src, true
			}
			r = next
			src = src[m:]
		}
		b.WriteRune(r)
	}
	return "", "", false
}

func TestPSSingleQuoteRoundTripsTheCorpus(t *testing.T) {
	t.Parallel()
	for i, s := range hostile.Args(t) {
		lit := PSSingleQuote(s)
		got, rest, ok := readPSSingleQuoted(lit + " # trailing")
		if !ok || got != s || rest != " # trailing" {
			t.Errorf("corpus[%d] %.60q: literal %.80q reads back as %.60q, rest %q, ok %v", i, s, lit, got, rest, ok)
		}
	}
}

func TestEncodeCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, script, want string
	}{
		{"empty script", "", ""},
		{"ASCII", "dir", "ZABpAHIA"},
		// The example in Microsoft's about_PowerShell_exe documentation.
		{"documented example", `dir "c:\program files" `, "ZABpAHIAIAAiAGMAOgBcAHAAcgBvAGcAcgBhAG0AIABmAGkAbABlAHMAIgAgAA=="},
		// U+1F600 is the surrogate pair D83D DE00: bytes 3D D8 00 DE.
		{"emoji is a surrogate pair", "😀", "PdgA3g=="},
		// U+3042 (あ) is bytes 42 30.
		{"Japanese", "あ", "QjA="},
		{"invalid UTF-8 becomes U+FFFD", "\xff", "/f8="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := EncodeCommand(tt.script); got != tt.want {
				t.Errorf("EncodeCommand(%q) = %q, want %q", tt.script, got, tt.want)
			}
		})
	}
}

func TestDecodeCommandRoundTripsTheCorpus(t *testing.T) {
	t.Parallel()
	for i, s := range hostile.Args(t) {
		got, err := DecodeCommand(EncodeCommand(s))
		if err != nil || got != s {
			t.Errorf("corpus[%d] %.60q decodes to %.60q, %v", i, s, got, err)
		}
	}
}

func TestDecodeCommandRejectsBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, wantErr string
	}{
		{"not base64", "not base64!", "illegal base64"},
		{"missing padding", "QjA", "illegal base64"},
		{"odd number of bytes", "QQ==", "not a whole number of UTF-16 code units"},
		{"lone high surrogate at the end", "Pdg=", "unpaired surrogate U+D83D at byte 0"},
		{"high surrogate before a letter", "PdhBAA==", "unpaired surrogate U+D83D at byte 0"},
		{"lone low surrogate", "QQAA3g==", "unpaired surrogate U+DE00 at byte 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeCommand(tt.in)
			if err == nil {
				t.Fatalf("DecodeCommand(%q) = %q, want an error containing %q", tt.in, got, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("DecodeCommand(%q) error %q, want it to contain %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

// FuzzDecodeCommand checks that decoding never panics, that whatever it
// accepts encodes back to something that decodes the same, and that every
// valid UTF-8 string survives EncodeCommand and DecodeCommand.
func FuzzDecodeCommand(f *testing.F) {
	f.Add("ZABpAHIA", "dir")
	f.Add("PdgA3g==", "😀 \u2019")
	f.Add("Pdg=", "\xff")
	f.Fuzz(func(t *testing.T, b64, script string) {
		if s, err := DecodeCommand(b64); err == nil {
			again, err := DecodeCommand(EncodeCommand(s))
			if err != nil || again != s {
				t.Fatalf("DecodeCommand(%q) = %q, which re-encodes and decodes to %q, %v", b64, s, again, err)
			}
		}
		if utf8.ValidString(script) {
			got, err := DecodeCommand(EncodeCommand(script))
			if err != nil || got != script {
				t.Fatalf("script %q round-trips to %q, %v", script, got, err)
			}
		}
	})
}

func BenchmarkEncodeCommand(b *testing.B) {
	script := strings.Repeat("Get-ChildItem -Path 'C:\\Program Files' | Where-Object { $_.Length -gt 1MB } # 日本語\n", 40)
	b.SetBytes(int64(len(script)))
	b.ReportAllocs()
	for b.Loop() {
		EncodeCommand(script)
	}
}
