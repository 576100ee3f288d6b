package report

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		d    time.Duration
		want string
	}{
		{"under a second shows milliseconds", 812 * time.Millisecond, "812ms"},
		{"zero is 0ms", 0, "0ms"},
		{"negative is 0s", -time.Second, "0s"},
		{"seconds keep one decimal", 4250 * time.Millisecond, "4.2s"},
		{"whole seconds drop the decimal", 4 * time.Second, "4s"},
		{"minutes show whole seconds", 63*time.Second + 900*time.Millisecond, "1m3s"},
		{"hours show whole minutes", 2*time.Hour + 5*time.Minute + 30*time.Second, "2h5m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := formatDuration(tt.d); got != tt.want {
				t.Errorf("formatDuration(%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}

func TestFormatExit(t *testing.T) {
	t.Parallel()
	for code, want := range map[uint32]string{0: "0", 3010: "3010", 2147483647: "2147483647", 3221225477: "3221225477 (0xC0000005)"} {
		if got := formatExit(code); got != want {
			t.Errorf("formatExit(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestOneLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"plain text is unchanged", "connection refused", "connection refused"},
		{"line breaks become separators", "first\r\nsecond\nthird\rfourth\r\n", "first | second | third | fourth"},
		{"colour codes are dropped", "\x1b[31mred\x1b[0m text", "red text"},
		{"a screen clear is dropped", "a\x1b[2Jb", "ab"},
		{"an OSC title sequence is dropped", "a\x1b]0;owned\x07b", "ab"},
		{"other controls are dropped", "a\x00b\x07c\x7fd\u0085e", "abcde"},
		{"tabs become spaces", "a\tb", "a b"},
		{"invalid UTF-8 becomes U+FFFD", "a\xffb", "a\ufffdb"},
		{"Japanese is kept", "アクセスが拒否されました", "アクセスが拒否されました"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := oneLine(tt.in); got != tt.want {
				t.Errorf("oneLine(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestPrintable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"plain text is unchanged", `web-01 C:\data`, `web-01 C:\data`},
		{"a tag that recolours the terminal", "prod\x1b[31m\x1b[2J", `prod\x1b[31m\x1b[2J`},
		{"an OSC title sequence", "a\x1b]0;owned\x07b", `a\x1b]0;owned\x07b`},
		{"line breaks and tabs stay in one cell", "a\r\nb\tc", `a\r\nb\tc`},
		{"NUL, DEL and a C1 control", "a\x00b\x7fc\u009bd", `a\x00b\x7fc\u009bd`},
		{"a right-to-left override", "txt.\u202eexe", `txt.\u202eexe`},
		{"an isolate and a line separator", "a\u2066b\u2028c", `a\u2066b\u2028c`},
		{"invalid UTF-8", "a\xff\xc3b", `a\xff\xc3b`},
		{"Japanese is kept", "アクセスが拒否されました", "アクセスが拒否されました"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Printable(tt.in); got != tt.want {
				t.Errorf("Printable(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTermLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"plain text is unchanged", "connection refused", "connection refused"},
		{"line breaks become separators", "first\r\nsecond\nthird\rfourth\r\n", "first | second | third | fourth"},
		{"tabs become spaces", "a\tb", "a b"},
		{"colour codes are escaped", "\x1b[31mred\x1b[0m text", `\x1b[31mred\x1b[0m text`},
		{"other controls are escaped", "a\x00b\u0085c\u202ed\xffe", `a\x00b\u0085c\u202ed\xffe`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := termLine(tt.in); got != tt.want {
				t.Errorf("termLine(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzOneLine(f *testing.F) {
	f.Add("plain")
	f.Add("a\r\nb\x1b[31m\x1b]0;t\x07\xff")
	f.Add("\x1b[")
	f.Add("a\u202eb\u0085")
	f.Fuzz(func(t *testing.T, s string) {
		for name, got := range map[string]string{"oneLine": oneLine(s), "termLine": termLine(s), "Printable": Printable(s)} {
			if !utf8.ValidString(got) {
				t.Fatalf("%s(%q) = %q is not valid UTF-8", name, s, got)
			}
			for _, r := range got {
				if r < 0x20 || r == 0x7f || needsEscape(r) {
					t.Fatalf("%s(%q) = %q keeps control %U", name, s, got, r)
				}
			}
		}
	})
}

func TestTail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name               string
		in                 string
		lines, bytes       int
		want               string
		wantOmittedAtLeast int
	}{
		{"short text is whole", "a\nb\n", 40, 4096, "a\nb", 0},
		{"keeps the last lines", "1\n2\n3\n4\n", 2, 4096, "3\n4", 4},
		{"keeps the last bytes from a line start", "aaaa\nbbbb\ncccc", 10, 9, "cccc", 10},
		{"never splits a character", strings.Repeat("日", 10), 10, 7, "日日", 24},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, omitted := tail(tt.in, tt.lines, tt.bytes)
			if got != tt.want || omitted < tt.wantOmittedAtLeast {
				t.Errorf("tail(%q, %d, %d) = %q, %d; want %q, at least %d", tt.in, tt.lines, tt.bytes, got, omitted, tt.want, tt.wantOmittedAtLeast)
			}
		})
	}
}
