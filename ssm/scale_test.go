//go:build scale

package ssm_test

import "testing"

// TestScaleFiveThousandHostsOverSSM applies a two-step playbook to 5,000
// simulated hosts over SSM (make test-scale, without -race) and reports
// the API calls per host.
func TestScaleFiveThousandHostsOverSSM(t *testing.T) {
	runFleet(t, 5000, 1000, 0)
}

// TestScaleFiveThousandHostsOverThrottledSSM does the same against an
// endpoint that allows 50 requests per second.
func TestScaleFiveThousandHostsOverThrottledSSM(t *testing.T) {
	runFleet(t, 5000, 1000, 50)
}
