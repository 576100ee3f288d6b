package runner_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/fleetrun/fleetrun/internal/golden"
	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/runner"
)

const decodedPlaybook = `
name: decoded
forks: 50
max_fail: 1
steps:
  - name: argv
    command: ['C:\Program Files\Tool\tool.exe', 'two words', '', 'say "hi"', 'tail dir\', '100%', 'a^b&c', '日本語', '{{ .host.tags.note }}']
  - name: line
    cmd: 'echo "%PATH%" ^& 50%% & "C:\Program Files\x.exe" {{ cmdquote .host.tags.note }}'
  - name: script
    powershell: |
      $note = {{ psquote .host.tags.note }}
      Write-Output "note: $note"
`

// The JSON plan carries, per step, what the program receives, decoded and
// unescaped (JSON keeps its own encoding): argv, the line cmd.exe parses,
// the expanded script; and the plan says what bounds concurrency.
func TestPlanJSONDecodesEachKindOfStep(t *testing.T) {
	t.Parallel()
	hosts := []*inventory.Host{
		{Name: "h1", Address: "127.0.0.1", Transport: "winrm", Tags: map[string]string{"note": "it's \"quoted\" 100% ^ é \x1b[31m"}},
		{Name: "h2", Address: "127.0.0.2", Transport: "winrm", Tags: map[string]string{"note": "plain"}},
		{Name: "h3", Address: "127.0.0.3", Transport: "winrm", Tags: map[string]string{"note": "plain"}},
	}
	plan, err := runner.Plan(mustPlaybook(t, decodedPlaybook), hosts[:1:1], nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := report.WriteJSON(&buf, report.NewDocument(plan)); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "plan-decoded.json"), buf.Bytes())

	plan, err = runner.Plan(mustPlaybook(t, decodedPlaybook), hosts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (runner.Concurrency{Hosts: 2, LimitedBy: runner.LimitedByMaxFail}); plan.Concurrency != want {
		t.Errorf("concurrency of 3 hosts with forks 50 and max_fail 1: %+v, want %+v", plan.Concurrency, want)
	}
}
