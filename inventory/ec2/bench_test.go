package ec2_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/inventory/ec2"
	"github.com/fleetrun/fleetrun/inventory/ec2/ec2test"
)

// manyInstances is a fleet of n running Windows instances in eu-west-1
// with a handful of tags each, as a large real account has.
func manyInstances(n int) []ec2test.Instance {
	out := make([]ec2test.Instance, n)
	launch := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range out {
		out[i] = ec2test.Instance{
			ID: fmt.Sprintf("i-%017x", i+1), Region: "eu-west-1", Platform: "windows",
			PrivateIP:  fmt.Sprintf("127.%d.%d.%d", 1+i>>16, (i>>8)&255, i&255),
			PrivateDNS: fmt.Sprintf("ip-%d.eu-west-1.compute.internal", i),
			KeyName:    "fleet-key", LaunchTime: launch.Add(time.Duration(i) * time.Minute),
			Tags: []ec2test.Tag{
				{Key: "Name", Value: fmt.Sprintf("web-%05d", i)},
				{Key: "Role", Value: "web"},
				{Key: "Env", Value: "prod"},
				{Key: "PatchGroup", Value: fmt.Sprintf("wave-%d", i%4)},
			},
		}
	}
	return out
}

func discoverMany(tb testing.TB, srv *ec2test.Server, opts ec2.Options, want int) {
	spec := &inventory.EC2Spec{Regions: []string{"eu-west-1"}}
	d, err := ec2.Discover(context.Background(), spec, opts)
	if err != nil {
		tb.Fatal(err)
	}
	if len(d.Hosts) != want {
		tb.Fatalf("found %d hosts, want %d", len(d.Hosts), want)
	}
}

// BenchmarkDiscover10000Instances lists 10,000 instances in 10 pages of
// 1,000 from a local fake endpoint; time and allocations include the fake
// server rendering its XML.
func BenchmarkDiscover10000Instances(b *testing.B) {
	srv := ec2test.NewServer(manyInstances(10000))
	defer srv.Close()
	opts := options(b, srv)
	opts.PageSize = 1000
	b.ReportAllocs()
	for b.Loop() {
		discoverMany(b, srv, opts, 10000)
	}
}
