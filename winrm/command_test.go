package winrm

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"regexp"
	"strings"
	"testing"

	mz "github.com/masterzen/winrm"
)

var anyMessageID = regexp.MustCompile(`uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// sameMessage compares two messages with their random message IDs set
// aside; both must carry exactly one.
func sameMessage(t *testing.T, got, want []byte) {
	t.Helper()
	if n := len(anyMessageID.FindAll(got, -1)); n != 1 {
		t.Fatalf("message carries %d message IDs, want 1:\n%q", n, clipBytes(got))
	}
	g := anyMessageID.ReplaceAll(got, []byte("uuid:ID"))
	w := anyMessageID.ReplaceAll(want, []byte("uuid:ID"))
	if !bytes.Equal(g, w) {
		t.Fatalf("message differs from the builder's:\n got %q\nwant %q", clipBytes(g), clipBytes(w))
	}
}

func clipBytes(b []byte) []byte {
	if len(b) > 800 {
		return b[:800]
	}
	return b
}

func escapedContents(command string, args []string) []string {
	var out []string
	for _, c := range append([]string{command}, args...) {
		out = append(out, escapeText(c))
	}
	return out
}

func TestCommandTemplateIsTheDOMMessage(t *testing.T) {
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
			for _, url := range []string{"http://127.0.0.1:5985/wsman", "https://web-01:5986/wsman"} {
				// Twice: the first call may make the template, the second uses it.
				for range 2 {
					got := commandMessage(url, "PT60S", "SHELL-1", tt.command, tt.args, tt.stdin)
					want := commandDOM("uuid:00000000-0000-4000-8000-000000000000", url, "PT60S", "SHELL-1", escapedContents(tt.command, tt.args), tt.stdin)
					sameMessage(t, got, []byte(want))
				}
			}
		})
	}
}

func TestTemplatesWriteWhatTheBuildersWrite(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"http://127.0.0.1:40001/wsman", "https://[::1]:5986/wsman"} {
		for range 2 {
			sameMessage(t, createShellMessage(url, "PT60S"), []byte(mz.NewOpenShellRequest(url, params("PT60S")).String()))
			sameMessage(t, deleteShellMessage(url, "PT60S", "S-1"), []byte(mz.NewDeleteShellRequest(url, "S-1", params("PT60S")).String()))
			sameMessage(t, signalMessage(url, "PT60S", "S-2", "C-2"), []byte(mz.NewSignalRequest(url, "S-2", "C-2", params("PT60S")).String()))
			sameMessage(t, receiveMessage(url, "S-3", "C-3", "PT20S"), []byte(mz.NewGetOutputRequest(url, "S-3", "C-3", "stdout stderr", params("PT20S")).String()))
		}
	}
	if a, b := receiveMessage("http://h/wsman", "S", "C", "PT20S"), receiveMessage("http://h/wsman", "S", "C", "PT20S"); bytes.Equal(a, b) {
		t.Errorf("two messages from one template carry the same message ID")
	}
}

func TestParseTemplateNeedsEveryPlaceholder(t *testing.T) {
	t.Parallel()
	if _, ok := parseTemplate("a"+placeholder(0)+"b", 2); ok {
		t.Errorf("a template without value 1 was accepted")
	}
	if _, ok := parseTemplate("a"+placeholder(0)+"b\x00", 1); ok {
		t.Errorf("a template with a stray NUL was accepted")
	}
	tp, ok := parseTemplate(placeholder(1)+"-"+placeholder(0)+"-"+placeholder(1), 2)
	if !ok || string(tp.render(nil, []string{"x", "y"})) != "y-x-y" {
		t.Errorf("a repeated placeholder renders wrong")
	}
}

func TestEscapeTextIsXMLEscapeText(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain base64+/=", `a"b`, "a'b", "a&b", "<>", "\t\n\r", "\x7f", "日本", "\xff\xfe", "\x00",
		"a\x01日\xffb\t<c>\r\n", "\xe6\x97", "x\xe6\x97<", "\x1f\x80é'\"&", "end\x7f"} {
		var b bytes.Buffer
		_ = xml.EscapeText(&b, []byte(s))
		if got := escapeText(s); got != b.String() {
			t.Errorf("escapeText(%q) = %q, want %q", s, got, b.String())
		}
	}
}

// FuzzCommandSplice checks that the Command template never changes the
// message the DOM would write.
func FuzzCommandSplice(f *testing.F) {
	f.Add("powershell.exe", "-EncodedCommand", "QUJD", false)
	f.Add("\x000\x00", "\x001\x00", "<&>", true)
	f.Fuzz(func(t *testing.T, command, a, b string, stdin bool) {
		got := commandMessage("http://127.0.0.1:5985/wsman", "PT60S", "SHELL-1", command, []string{a, b}, stdin)
		want := commandDOM("uuid:00000000-0000-4000-8000-000000000000", "http://127.0.0.1:5985/wsman", "PT60S", "SHELL-1", escapedContents(command, []string{a, b}), stdin)
		sameMessage(t, got, []byte(want))
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
	const exe = `%SystemRoot%\System32\WindowsPowerShell\v1.0\powershell.exe`
	b.Run("template", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			releaseMessage(commandMessage("http://127.0.0.1:5985/wsman", "PT60S", "SHELL-1", exe, args, false))
		}
	})
	b.Run("dom", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = []byte(commandDOM(messageID(), "http://127.0.0.1:5985/wsman", "PT60S", "SHELL-1", escapedContents(exe, args), false))
		}
	})
}

// BenchmarkEscapeText escapes a compressed step run's command line: about
// 8,000 characters of base64 inside a quoted -Command bootstrap.
// Every host sends the same line, which is escaped once; a new line is
// escaped in one buffer.
func BenchmarkEscapeText(b *testing.B) {
	line := `-Command "$s='` + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("step run "), 650)) + `';iex ((New-Object IO.StreamReader(x)).ReadToEnd())"`
	b.Run("same line", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			escapeText(line)
		}
	})
	b.Run("new line", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			escapeFrom(line, strings.IndexByte(line, '"'))
		}
	})
}

// A long text escapeText remembers is returned only for that text.
func TestEscapeTextRemembersOnlyItsLastLongText(t *testing.T) {
	t.Parallel()
	a := `"` + strings.Repeat("a<", minMemoEscape) + `"`
	b := `'` + strings.Repeat("b&", minMemoEscape) + `'`
	c := strings.Repeat("a<", minMemoEscape) + `""` // as long as a, other bytes
	for _, s := range []string{a, b, a, a, c, b, c} {
		var want bytes.Buffer
		_ = xml.EscapeText(&want, []byte(s))
		if got := escapeText(s); got != want.String() {
			t.Fatalf("escapeText of a %d-byte text starting %q differs from xml.EscapeText", len(s), s[:4])
		}
	}
}

// BenchmarkReceiveMessage builds a Receive request.
func BenchmarkReceiveMessage(b *testing.B) {
	b.Run("template", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			receiveMessage("http://127.0.0.1:5985/wsman", "SHELL-1", "COMMAND-1", "PT20S")
		}
	})
	b.Run("masterzen", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = []byte(mz.NewGetOutputRequest("http://127.0.0.1:5985/wsman", "SHELL-1", "COMMAND-1", "stdout stderr", params("PT20S")).String())
		}
	})
}
