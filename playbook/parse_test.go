package playbook_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetrun/fleetrun/internal/golden"
	"github.com/fleetrun/fleetrun/internal/strictyaml"
	"github.com/fleetrun/fleetrun/playbook"
)

// TestInvalidPlaybooks feeds every file in testdata/invalid to the parser and
// compares the complete error list (file:line:col: path: message) with the
// reviewed golden file next to it.
func TestInvalidPlaybooks(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) < 30 {
		t.Fatalf("want at least 30 invalid playbooks, found %d (%v)", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			_, err := playbook.Load(f)
			if err == nil {
				t.Fatal("loaded without error")
			}
			es := strictyaml.AsErrors(err)
			if es == nil {
				t.Fatalf("error is not positioned: %v", err)
			}
			golden.Check(t, strings.TrimSuffix(f, ".yaml")+".errors", []byte(es.Error()+"\n"))
		})
	}
}
