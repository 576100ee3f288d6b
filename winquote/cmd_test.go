package winquote

import (
	"errors"
	"strings"
	"testing"

	"github.com/fleetrun/fleetrun/internal/hostile"
)

func TestCmdQuote(t *testing.T) {
	t.Parallel()
	// Expected values: QuoteArg first; then unchanged if no ^&|<>()%! and an
	// even number of quotes, else ^ before each of those and each quote.
	tests := []struct {
		name, in, want string
	}{
		{"plain word is unchanged", "abc", "abc"},
		{"config path is unchanged", "winrm/config/winrs", "winrm/config/winrs"},
		{"empty string", "", `""`},
		{"path with spaces keeps plain quotes", `C:\Program Files\x`, `"C:\Program Files\x"`},
		{"ampersand is escaped", "a&b", "a^&b"},
		{"metacharacter inside quoted text escapes the quotes too", "a b&c", `^"a b^&c^"`},
		{"percent signs are escaped", "%PATH%", "^%PATH^%"},
		{"exclamation marks are escaped", "!x!", "^!x^!"},
		{"caret is doubled", "^", "^^"},
		{"parentheses are escaped", "(x)", "^(x^)"},
		{"redirections are escaped", "<in >out 2>&1|more", `^"^<in ^>out 2^>^&1^|more^"`},
		{"odd number of quotes is escaped", `a"b`, `a\^"b`},
		{"even number of quotes without metacharacters is unchanged", `say "hi"`, `"say \"hi\""`},
		{"winrm hashtable argument", `@{MaxMemoryPerShellMB="1024"}`, `@{MaxMemoryPerShellMB=\"1024\"}`},
		{"quote hiding an ampersand from a naive quoter", `"&calc&"`, `\^"^&calc^&\^"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := CmdQuote(tt.in); got != tt.want {
				t.Errorf("CmdQuote(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

// cmdPassThrough models what cmd.exe (delayed expansion off) does to one
// token of a command line before the program sees it: outside quotes a ^
// escapes the next character and is removed, and an unescaped & | < > ( )
// would be acted on; every unescaped " toggles quoting. A % not directly
// preceded by an escaping ^ could start a variable expansion. It returns
// the text the program receives and whether the token is safe: nothing
// acted on, nothing expanded, quoting closed at the end.
func cmdPassThrough(token string) (string, bool) {
	var b strings.Builder
	inQuotes := false
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case c == '%':
			return "", false
		case c == '"':
			inQuotes = !inQuotes
		case inQuotes:
		case c == '^':
			if i+1 == len(token) {
				return "", false // a trailing ^ continues the line
			}
			i++
			c = token[i]
		case strings.IndexByte("&|<>()", c) >= 0:
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), !inQuotes
}

func TestCmdQuoteSurvivesCmdAndTheCRuntime(t *testing.T) {
	t.Parallel()
	for i, s := range hostile.Args(t) {
		if strings.ContainsAny(s, "\r\n") {
			continue // cmd.exe cannot carry line breaks; documented
		}
		token := CmdQuote(s)
		received, ok := cmdPassThrough(token)
		if !ok {
			t.Errorf("corpus[%d] %.60q: CmdQuote gives %.80q, which cmd.exe would act on", i, s, token)
			continue
		}
		got := SplitCommandLine(`"p" ` + received)
		if diff := argvDiff([]string{"p", s}, got); diff != "" {
			t.Errorf("corpus[%d] %.60q via %.80q: %s", i, s, token, diff)
		}
	}
}

func TestWinrmSetMemoryCapCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mb              int
		wantCmd, wantPS string
	}{
		{1024, `winrm set winrm/config/winrs @{MaxMemoryPerShellMB="1024"}`, `winrm set winrm/config/winrs '@{MaxMemoryPerShellMB="1024"}'`},
		{0, `winrm set winrm/config/winrs @{MaxMemoryPerShellMB="0"}`, `winrm set winrm/config/winrs '@{MaxMemoryPerShellMB="0"}'`},
		{150, `winrm set winrm/config/winrs @{MaxMemoryPerShellMB="150"}`, `winrm set winrm/config/winrs '@{MaxMemoryPerShellMB="150"}'`},
	}
	for _, tt := range tests {
		gotCmd, gotPS := WinrmSetMemoryCapCommands(tt.mb)
		if gotCmd != tt.wantCmd {
			t.Errorf("WinrmSetMemoryCapCommands(%d) cmd = %s, want %s", tt.mb, gotCmd, tt.wantCmd)
		}
		if gotPS != tt.wantPS {
			t.Errorf("WinrmSetMemoryCapCommands(%d) PowerShell = %s, want %s", tt.mb, gotPS, tt.wantPS)
		}
	}
}

func TestCmdArg(t *testing.T) {
	t.Parallel()
	// Expected values: QuoteArg first; unchanged without ^&|<>()%! and with
	// an even number of quotes; else ^ before each of &|<>()^! and each
	// quote, and after each % (wrapped in quotes when it would end with %).
	tests := []struct {
		name, in, want string
	}{
		{"plain word is unchanged", "web-01", "web-01"},
		{"empty string", "", `""`},
		{"path with spaces keeps plain quotes", `C:\Program Files\x`, `"C:\Program Files\x"`},
		{"the injection from an EC2 tag", `x" & del /q C:\data & echo "`, `^"x\^" ^& del /q C:\data ^& echo \^"^"`},
		{"ampersand", "a&b", "a^&b"},
		{"caret", "a^b", "a^^b"},
		{"parentheses", "(x)", "^(x^)"},
		{"redirections", "<in >out 2>&1|more", `^"^<in ^>out 2^>^&1^|more^"`},
		{"exclamation marks", "!x!", "^!x^!"},
		{"a variable reference", "%PATH%", `^"%^PATH%^"`},
		{"a replace modifier", "%PATH:C=&calc&%", `^"%^PATH:C=^&calc^&%^"`},
		{"a percent before a metacharacter", "%&", "%^&"},
		{"two percents", "%%x", "%^%^x"},
		{"a trailing percent", "50%", `^"50%^"`},
		{"a quote hiding an ampersand from a naive quoter", `"&calc&"`, `\^"^&calc^&\^"`},
		{"even quotes without metacharacters", `say "hi"`, `"say \"hi\""`},
		{"trailing backslash with a space", `C:\a b\`, `"C:\a b\\"`},
		{"Japanese", "日本語", "日本語"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := CmdArg(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("CmdArg(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"a\nb", "a\rb", "a\x00b"} {
		if got, err := CmdArg(bad); !errors.Is(err, ErrCmdUnquotable) {
			t.Errorf("CmdArg(%q) = %s, %v; want ErrCmdUnquotable", bad, got, err)
		}
	}
}
