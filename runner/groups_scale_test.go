//go:build scale

package runner_test

import "testing"

// TestScaleFailureGroupsOnTwoThousandHosts fails 1,200 of 2,000 simulated
// hosts in six ways and checks that the reports show exactly six groups
// of 200.
func TestScaleFailureGroupsOnTwoThousandHosts(t *testing.T) {
	checkFleetGroups(t, runGroupsFleet(t, 2000, 200), 2000)
}
