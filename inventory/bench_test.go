package inventory_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fleetrun/fleetrun/inventory"
)

// BenchmarkParse10000Hosts parses a static inventory of 10,000 hosts, as
// the simulated fleet writes one.
func BenchmarkParse10000Hosts(b *testing.B) {
	var doc strings.Builder
	doc.WriteString("defaults:\n  auth: ntlm\n  user: fleetrun\n  password_file: inv.password\n  https: false\n  tags: {simulated: \"true\"}\nhosts:\n")
	for i := range 10000 {
		fmt.Fprintf(&doc, "  - name: sim-%05d\n    address: 127.0.0.1\n    port: %d\n    tags: {profile: \"2019\"}\n", i, 20000+i)
	}
	data := []byte(doc.String())
	b.ReportAllocs()
	for b.Loop() {
		inv, err := inventory.Parse("inv.yaml", data)
		if err != nil {
			b.Fatal(err)
		}
		if len(inv.Hosts) != 10000 {
			b.Fatalf("%d hosts, want 10000", len(inv.Hosts))
		}
	}
}
