package winrm

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
)

func TestRenderLauncherRendersAsLauncherRender(t *testing.T) {
	t.Parallel()
	long := make([]byte, 9000)
	for i := range long {
		long[i] = 'x'
	}
	tests := []struct {
		name string
		cmd  transport.Command
		opts launcher.RenderOptions
	}{
		{"argv", transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\echoargs.exe`, "hello", "two words"}}, launcher.RenderOptions{}},
		{"argv whose arguments hold the key's separators", transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\echoargs.exe`, "5:hello", "1:a"}}, launcher.RenderOptions{}},
		{"argv split differently", transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\echoargs.exe`, "5:hello1:a"}}, launcher.RenderOptions{}},
		{"cmd", transport.Command{Kind: transport.KindCmd, Line: "echo hello"}, launcher.RenderOptions{}},
		{"cmd with env and workdir", transport.Command{Kind: transport.KindCmd, Line: "echo %A%", Env: map[string]string{"A": "1", "B": "2"}, Workdir: `C:\temp`}, launcher.RenderOptions{}},
		{"same env, other value", transport.Command{Kind: transport.KindCmd, Line: "echo %A%", Env: map[string]string{"A": "2", "B": "1"}, Workdir: `C:\temp`}, launcher.RenderOptions{}},
		{"powershell", transport.Command{Kind: transport.KindPowerShell, Script: "Write-Output 'hello'"}, launcher.RenderOptions{}},
		{"powershell with a short command line limit", transport.Command{Kind: transport.KindPowerShell, Script: "Write-Output 'hello'"}, launcher.RenderOptions{MaxCommandLine: 100}},
		{"powershell on stdin", transport.Command{Kind: transport.KindPowerShell, Script: "Write-Output 'hello'"}, launcher.RenderOptions{ForceStdin: true}},
		{"a script too long for the command line", transport.Command{Kind: transport.KindPowerShell, Script: "'" + string(long) + "'"}, launcher.RenderOptions{}},
	}
	for round := range 2 { // the second round reads the cache
		for _, tt := range tests {
			want, wantErr := launcher.Render(tt.cmd, tt.opts)
			got, err := renderLauncher(tt.cmd, tt.opts)
			if (err == nil) != (wantErr == nil) {
				t.Fatalf("round %d, %s: error %v, want %v", round, tt.name, err, wantErr)
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(launcher.Rendered{})); diff != "" {
				t.Errorf("round %d, %s: (-Render +renderLauncher):\n%s", round, tt.name, diff)
			}
			// The caller's slice is its own: changing it changes no later
			// rendering.
			got.RemoteCommand[0] = "changed"
		}
	}
}

func TestRenderLauncherDoesNotKeepFailures(t *testing.T) {
	t.Parallel()
	cmd := transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\echoargs.exe`, "a\x00b"}}
	for range 2 {
		if _, err := renderLauncher(cmd, launcher.RenderOptions{}); err == nil {
			t.Fatal("an argument with NUL was rendered")
		}
	}
}

func TestRenderCacheKeepsAtMostItsSize(t *testing.T) {
	t.Parallel()
	c := &renderCache{entries: map[string]launcher.Rendered{}}
	for i := range renderCacheSize + 10 {
		c.put(string(rune('A'+i)), launcher.Rendered{})
	}
	if len(c.entries) != renderCacheSize || len(c.order) != renderCacheSize {
		t.Errorf("cache holds %d entries (%d in order), want %d", len(c.entries), len(c.order), renderCacheSize)
	}
	if _, ok := c.entries["A"]; ok {
		t.Error("the oldest entry was kept")
	}
}

// BenchmarkRenderLauncher measures rendering a small step as every host
// does: through the cache, and with launcher.Render alone.
func BenchmarkRenderLauncher(b *testing.B) {
	cmd := transport.Command{Kind: transport.KindPowerShell, Script: "Write-Output 'hello from powershell'"}
	for _, bc := range []struct {
		name   string
		render func(transport.Command, launcher.RenderOptions) (launcher.Rendered, error)
	}{{"cached", renderLauncher}, {"render", launcher.Render}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.render(cmd, launcher.RenderOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
