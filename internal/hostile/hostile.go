// Package hostile holds, for tests, the shared corpus of command-line
// arguments that break naive quoting: spaces, quotes, backslash runs,
// cmd.exe and PowerShell metacharacters, non-ASCII text. Every package that
// quotes or parses a Windows command line judges itself against it.
package hostile

import (
	_ "embed"
	"encoding/json"
	"testing"
)

//go:embed hostile-args.json
var corpus []byte

// minArgs is the least the corpus holds; fewer means it was cut by mistake.
const minArgs = 200

// Args returns the corpus, failing tb if it cannot be decoded.
func Args(tb testing.TB) []string {
	tb.Helper()
	var args []string
	if err := json.Unmarshal(corpus, &args); err != nil {
		tb.Fatalf("decode the hostile-argument corpus: %v", err)
	}
	if len(args) < minArgs {
		tb.Fatalf("the corpus has %d arguments, want at least %d", len(args), minArgs)
	}
	return args
}
