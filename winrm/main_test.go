package winrm

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// pscheckTimeout bounds one run of the node syntax checker.
const pscheckTimeout = 2 * time.Minute

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
