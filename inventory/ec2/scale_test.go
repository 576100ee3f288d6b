//go:build scale

package ec2_test

import (
	"testing"

	"github.com/fleetrun/fleetrun/inventory/ec2/ec2test"
)

// TestScaleDiscoveryAllocationsGrowLinearly compares the allocations of
// discovering 1,000 and 10,000 instances (pages of 1,000): ten times the
// instances may cost at most 12 times the allocations. Not parallel:
// allocation counts are process-wide. It lists 11,000 instances, so it
// runs with the fleet-scale tests (make test-scale, no race detector).
func TestScaleDiscoveryAllocationsGrowLinearly(t *testing.T) {
	allocs := map[int]float64{}
	for _, n := range []int{1000, 10000} {
		srv := ec2test.NewServer(manyInstances(n))
		opts := options(t, srv)
		opts.PageSize = 1000
		discoverMany(t, srv, opts, n) // warm up connections and the SDK's caches
		allocs[n] = testing.AllocsPerRun(1, func() { discoverMany(t, srv, opts, n) })
		srv.Close()
	}
	ratio := allocs[10000] / allocs[1000]
	t.Logf("allocations: %.0f for 1,000 instances, %.0f for 10,000 (x%.2f)", allocs[1000], allocs[10000], ratio)
	if ratio > 12 {
		t.Errorf("10x the instances cost x%.2f the allocations; want at most x12 (linear)", ratio)
	}
}
