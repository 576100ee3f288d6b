//go:build scale

package main

import "testing"

// TestScaleRunHostnameOnTwoThousandHosts: `fleetrun run -- hostname` on
// 2,000 simulated hosts, three failing in two ways, prints at most 60
// lines to a pipe, and its JSON report has exactly the two failure groups.
func TestScaleRunHostnameOnTwoThousandHosts(t *testing.T) {
	checkAdHocFleet(t, 2000)
}
