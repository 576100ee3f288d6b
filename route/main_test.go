package route_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a goroutine outlives its tests: the
// Kerberos runs (1,000 hosts at forks 1,000 under the scale tag) end with
// the dialer closed, the simulated fleet and the KDC stopped, and nothing
// of theirs left running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
