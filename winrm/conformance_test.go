package winrm

import (
	"context"
	"testing"

	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/transport/transporttest"
)

// TestConformance runs the transport conformance suite over both ways of
// reaching a simulated host.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f, h := fleetFor(t, m, nil)
			transporttest.Run(t, func(t *testing.T) transport.Session {
				s, err := NewDialer(Options{}).Dial(context.Background(), targetFor(f, h, m))
				if err != nil {
					t.Fatal(err)
				}
				return s
			})
		})
	}
}
