package inventory_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetrun/fleetrun/internal/golden"
	"github.com/fleetrun/fleetrun/internal/strictyaml"
	"github.com/fleetrun/fleetrun/inventory"
)

// TestInvalidInventories compares every error of each file in
// testdata/invalid with its reviewed golden file.
func TestInvalidInventories(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) < 15 {
		t.Fatalf("want at least 15 invalid inventories, found %d (%v)", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			_, err := inventory.Load(f)
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
