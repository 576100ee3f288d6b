package winrm

import (
	"context"
	"testing"

	"github.com/fleetrun/fleetrun/transport"
)

// BenchmarkRun runs one small step per iteration in a reused session
// against a simulated host, and reports the WS-Man requests each step
// costs (the design's floor is two: Command and Receive).
func BenchmarkRun(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			f, h := fleetFor(b, m, nil)
			s := open(b, targetFor(f, h, m), Options{})
			steps := []transport.Command{
				argv(`C:\tools\exitcode.exe`, "0"),
				{Kind: transport.KindCmd, Line: "echo hello"},
				{Kind: transport.KindPowerShell, Script: "Write-Output 'hello'"},
			}
			ctx := context.Background()
			start := s.Requests()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := s.Run(ctx, steps[i%len(steps)]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(s.Requests()-start)/float64(b.N), "requests/step")
		})
	}
}

// BenchmarkParseReceive measures parsing a Receive response with output.
func BenchmarkParseReceive(b *testing.B) {
	body := recorded(b, "test_winrs_stderr_rc", 2)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseResponse(body); err != nil {
			b.Fatal(err)
		}
	}
}
