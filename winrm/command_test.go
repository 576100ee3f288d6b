package winrm

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"testing"
)

func TestCommandSpliceIsTheDOMMessage(t *testing.T) {
	t.Parallel()
	launcher := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("launcher text "), 2000))
	tests := []struct {
		name    string
		command string
		args    []string
		stdin   bool
	}{
		{"the launcher with its base64 argument", `%SystemRoot%\System32\WindowsPowerShell\v1.0\powershell.exe`, []string{"-NoLogo", "-EncodedCommand", launcher}, false},
		{"a payload on stdin", "powershell.exe", []string{"-EncodedCommand", "QQ=="}, true},
		{"no arguments", "hostname", nil, false},
		{"an empty argument stays an empty element", "cmd.exe", []string{"", "/c", ""}, false},
		{"text that needs escaping", `cmd /c "a & b" <in >out`, []string{"it's", "\t\r\n", "日本語", "\x00\x01", "\xff"}, false},
		{"a content that looks like a placeholder", "\x000\x00", []string{"\x001\x00", "\x000\x00"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const id = "uuid:00000000-0000-4000-8000-000000000000"
			got := buildCommand(id, "http://127.0.0.1:5985/wsman", "PT60S", "SHELL-1", tt.command, tt.args, tt.stdin, true)
			want := buildCommand(id, "http://127.0.0.1:5985/wsman", "PT60S", "SHELL-1", tt.command, tt.args, tt.stdin, false)
			if !bytes.Equal(got, want) {
				t.Errorf("spliced message differs from the DOM's:\n got %q\nwant %q", clipBytes(got), clipBytes(want))
			}
		})
	}
}

func clipBytes(b []byte) []byte {
	if len(b) > 600 {
		return b[:600]
	}
	return b
}

func TestEscapeTextIsXMLEscapeText(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain base64+/=", `a"b`, "a'b", "a&b", "<>", "\t\n\r", "\x7f", "日本", "\xff\xfe", "\x00"} {
		var b bytes.Buffer
		_ = xml.EscapeText(&b, []byte(s))
		if got := escapeText(s); got != b.String() {
			t.Errorf("escapeText(%q) = %q, want %q", s, got, b.String())
		}
	}
}

// FuzzCommandSplice checks that splicing contents never changes the
// Command message.
func FuzzCommandSplice(f *testing.F) {
	f.Add("powershell.exe", "-EncodedCommand", "QUJD", false)
	f.Add("\x000\x00", "\x001\x00", "<&>", true)
	f.Fuzz(func(t *testing.T, command, a, b string, stdin bool) {
		const id = "uuid:00000000-0000-4000-8000-000000000000"
		got := buildCommand(id, "http://127.0.0.1:5985/wsman", "PT60S", "SHELL-1", command, []string{a, b}, stdin, true)
		want := buildCommand(id, "http://127.0.0.1:5985/wsman", "PT60S", "SHELL-1", command, []string{a, b}, stdin, false)
		if !bytes.Equal(got, want) {
			t.Fatalf("spliced message differs from the DOM's for %q %q %q", command, a, b)
		}
		var e bytes.Buffer
		_ = xml.EscapeText(&e, []byte(a))
		if escapeText(a) != e.String() {
			t.Fatalf("escapeText(%q) differs from xml.EscapeText", a)
		}
	})
}

// BenchmarkCommandMessage builds the launcher's Command message (a
// 27 KB base64 argument, as for a typical step).
func BenchmarkCommandMessage(b *testing.B) {
	launcher := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("launcher text "), 1450))
	args := []string{"-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand", launcher}
	for _, bc := range []struct {
		name   string
		splice bool
	}{{"splice", true}, {"dom", false}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buildCommand("uuid:1", "http://127.0.0.1:5985/wsman", "PT60S", "SHELL-1", `%SystemRoot%\System32\WindowsPowerShell\v1.0\powershell.exe`, args, false, bc.splice)
			}
		})
	}
}
