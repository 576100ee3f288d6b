package sim

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: every
// host, process, timer and connection a fleet starts must end with Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
