//go:build scale

package route_test

import "testing"

// TestScaleKerberosPlaybookOnAThousandHosts: a thousand hosts at forks 1,000,
// one logon, one service ticket per host (make test-scale).
func TestScaleKerberosPlaybookOnAThousandHosts(t *testing.T) {
	t.Parallel()
	testKerberosPlaybook(t, 1000, 1000)
}
