package ec2_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/fleetrun/fleetrun/internal/golden"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/inventory/ec2"
)

// TestExampleInventoryListsTheFakeFleet resolves the example inventory
// against the fake endpoint (found through AWS_ENDPOINT_URL_EC2, as the
// command line finds it) and compares the hosts, as `fleetrun inventory
// --output json` prints them, with a golden file.
func TestExampleInventoryListsTheFakeFleet(t *testing.T) {
	t.Parallel()
	srv := startFake(t, fleet(t))
	inv, err := inventory.Load("../../examples/ec2-inventory.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := ec2.Resolve(context.Background(), inv, options(t, srv)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]any{"hosts": inv.Hosts}); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/example-inventory.golden.json", buf.Bytes())
}
