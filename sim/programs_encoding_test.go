package sim

import (
	"testing"

	"golang.org/x/text/encoding/japanese"
)

// sjis is s in CP932, as a string of bytes (what masterzen hands back).
func sjis(t *testing.T, s string) string {
	t.Helper()
	b, err := japanese.ShiftJIS.NewEncoder().String(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Under masterzen's code page 65001 a Japanese host's cmd.exe built-ins
// write UTF-8 until chcp changes the console, while a legacy program writes
// CP932 whatever the console says; an English host's legacy program
// speaks English.
func TestWhichProgramsWriteWhichEncoding(t *testing.T) {
	t.Parallel()
	f, _ := progFleet(t, 2, "host_settings:\n  sim-0002: {output_encoding: cp932}\n")
	hosts := f.Hosts()
	t.Run("english", func(t *testing.T) {
		t.Parallel()
		runCases(t, mzClient(t, f, hosts[0], basicHTTP, ""), []progCase{
			{name: "a legacy program's message", command: `C:\tools\legacymsg.exe`, stdout: "The operation completed successfully.\r\n"},
			{name: "a legacy program echoes its arguments", command: `C:\tools\legacymsg.exe caf` + "\u00e9", stdout: "caf\u00e9\r\n"},
		})
	})
	t.Run("japanese", func(t *testing.T) {
		t.Parallel()
		runCases(t, mzClient(t, f, hosts[1], basicHTTP, ""), []progCase{
			{name: "echo writes the console's UTF-8", command: "echo 日本語", stdout: "日本語\r\n"},
			{name: "set too", command: "set X=日本語& set X", stdout: "X=日本語\r\n"},
			{name: "echo after chcp 932 writes CP932", command: "chcp 932 >nul& echo 日本語", stdout: sjis(t, "日本語\r\n")},
			{name: "a legacy program writes CP932", command: `C:\tools\legacymsg.exe 日本語のメッセージ`, stdout: sjis(t, "日本語のメッセージ\r\n")},
			{name: "its own message is Japanese", command: `C:\tools\legacymsg.exe`, stdout: sjis(t, "この操作を正しく終了しました。\r\n")},
			{name: "characters CP932 lacks become ?", command: `C:\tools\legacymsg.exe 日本€`, stdout: sjis(t, "日本?\r\n")},
		})
	})
}
