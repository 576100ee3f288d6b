package ssm_test

import (
	"context"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/transport"
)

// BenchmarkStepOverSimulatedSSM runs one argv step on a simulated host
// through SSM and reports the API calls it took.
func BenchmarkStepOverSimulatedSSM(b *testing.B) {
	_, hosts := startFleet(b, 1, "", sim.FleetOptions{})
	opts := options(b)
	opts.PollInterval, opts.BatchWindow = time.Millisecond, time.Millisecond
	d := newDialer(b, opts)
	s, err := d.Dial(context.Background(), target(b, hosts[0]))
	if err != nil {
		b.Fatal(err)
	}
	cmd := transport.Command{Kind: transport.KindArgv, Argv: []string{`C:\tools\exitcode.exe`, "0"}}
	before := d.Stats().Total()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Run(context.Background(), cmd); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(d.Stats().Total()-before)/float64(b.N), "calls/op")
}
