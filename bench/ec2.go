package bench

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"golang.org/x/sync/errgroup"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/inventory/ec2"
	"github.com/fleetrun/fleetrun/inventory/ec2/ec2test"
)

// EC2Plan is the EC2 benchmark: discovery of Instances instances against
// the loopback fake EC2 API (ec2test), then the Windows passwords of the
// first Passwords hosts, Forks at a time as apply fetches them (each host's
// own work, forks in flight).
type EC2Plan struct {
	Instances, Passwords, Forks int
}

// DefaultEC2Plan is what BENCHMARKS.md reports.
func DefaultEC2Plan() EC2Plan { return EC2Plan{Instances: 10000, Passwords: 1000, Forks: 50} }

// EC2Result is what the EC2 benchmark measured.
type EC2Result struct {
	Plan                EC2Plan
	Discovery           time.Duration
	DescribeInstances   int // API calls (pages of 1,000)
	PasswordsWall       time.Duration
	GetPasswordData     int // API calls
	PeakPasswordCalls   int // most GetPasswordData calls in progress at once
	SerialPasswordsWall time.Duration
	// LoadAverage is /proc/loadavg's first three fields when the run started.
	LoadAverage string
}

// RunEC2 runs the EC2 benchmark in-process; dir holds the launch key.
func RunEC2(ctx context.Context, plan EC2Plan, dir string) (*EC2Result, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	insts := make([]ec2test.Instance, plan.Instances)
	for i := range insts {
		insts[i] = ec2test.Instance{ID: fmt.Sprintf("i-%017x", i+1), Region: "eu-west-1", Platform: "windows",
			PrivateIP: fmt.Sprintf("127.%d.%d.%d", 1+i>>16, (i>>8)&255, i&255), KeyName: "fleet-key",
			Tags: []ec2test.Tag{{Key: "Name", Value: fmt.Sprintf("web-%05d", i)}, {Key: "Role", Value: "web"}, {Key: "PatchGroup", Value: fmt.Sprintf("wave-%d", i%4)}}}
		if i < plan.Passwords {
			ct, err := rsa.EncryptPKCS1v15(rand.Reader, &key.PublicKey, fmt.Appendf(nil, "pw-%05d", i)) //nolint:staticcheck // EC2 encrypts Windows passwords with PKCS #1 v1.5; the benchmark plays EC2
			if err != nil {
				return nil, err
			}
			insts[i].PasswordData = base64.StdEncoding.EncodeToString(ct)
		}
	}
	srv := ec2test.NewServer(insts)
	defer srv.Close()
	keyFile, empty := filepath.Join(dir, "ec2-key.pem"), filepath.Join(dir, "ec2-empty")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		return nil, err
	}
	spec := &inventory.EC2Spec{Regions: []string{"eu-west-1"}, Endpoint: srv.URL, PasswordKeyFile: keyFile}
	opts := ec2.Options{Credentials: credentials.NewStaticCredentialsProvider("AKIDFLEETRUNBENCH", "bench-secret", ""),
		SharedConfigFiles: []string{empty}, SharedCredentialsFiles: []string{empty}}
	res := &EC2Result{Plan: plan, LoadAverage: loadAverage()}
	start := time.Now()
	d, err := ec2.Discover(ctx, spec, opts)
	if err != nil {
		return nil, err
	}
	res.Discovery = time.Since(start)
	if len(d.Hosts) != plan.Instances {
		return nil, fmt.Errorf("ec2 benchmark: discovered %d hosts, want %d", len(d.Hosts), plan.Instances)
	}
	hosts := d.Hosts[:plan.Passwords] // sorted by name: web-00000... have passwords
	start = time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(plan.Forks)
	for _, h := range hosts {
		g.Go(func() error {
			_, err := h.Password(gctx, noEnv)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	res.PasswordsWall = time.Since(start)
	_, res.PeakPasswordCalls = srv.PasswordDataCalls()
	for _, r := range srv.Requests() {
		switch r.Action {
		case "DescribeInstances":
			res.DescribeInstances++
		case "GetPasswordData":
			res.GetPasswordData++
		}
	}
	// The serial baseline: the same passwords one after another, as fleetrun
	// fetched them before every host started (fresh hosts: nothing cached).
	d2, err := ec2.Discover(ctx, spec, opts)
	if err != nil {
		return nil, err
	}
	start = time.Now()
	for _, h := range d2.Hosts[:plan.Passwords] {
		if _, err := h.Password(ctx, noEnv); err != nil {
			return nil, err
		}
	}
	res.SerialPasswordsWall = time.Since(start)
	return res, nil
}

func noEnv(string) (string, bool) { return "", false }

// ec2Heading starts the EC2 benchmark's section of BENCHMARKS.md.
const ec2Heading = "## EC2 discovery and passwords"

// writeEC2 renders the EC2 benchmark's section.
func writeEC2(b *strings.Builder, r *EC2Result) {
	if r == nil {
		return
	}
	p := r.Plan
	fmt.Fprintf(b, "%s\n\n", ec2Heading)
	fmt.Fprintf(b, "Discovery of %d running Windows instances (pages of 1,000), then the Windows password (GetPasswordData, decrypted with a 2048-bit launch key) of %d of them, %d at a time as `apply` fetches them with `--forks %d` (each host's own work), against the loopback fake EC2 API (`inventory/ec2/ec2test`, in the same process; its XML is part of the time). Reproduce this section alone with `go run ./bench/cmd/fleetbench -ec2-only`.\n\n",
		p.Instances, p.Passwords, p.Forks, p.Forks)
	b.WriteString("| phase | wall | API calls | most calls at once |\n|---|---:|---:|---:|\n")
	fmt.Fprintf(b, "| discovery of %d instances | %s | %d DescribeInstances | 1 |\n", p.Instances, fmtDur(r.Discovery), r.DescribeInstances)
	fmt.Fprintf(b, "| %d passwords, %d at a time | %s | %d GetPasswordData | %d |\n", p.Passwords, p.Forks, fmtDur(r.PasswordsWall), r.GetPasswordData, r.PeakPasswordCalls)
	fmt.Fprintf(b, "| %d passwords one after another (before: all fetched before the first host started) | %s | %d GetPasswordData | 1 |\n\n", p.Passwords, fmtDur(r.SerialPasswordsWall), p.Passwords)
	fmt.Fprintf(b, "Load average when it started: %s. The fake answers at once, so here every call costs only CPU (signing, the fake's XML, RSA decryption) on the machine's shared cores, and fetching concurrently is no faster than one after another. Against AWS each call costs a network round trip of tens of milliseconds and GetPasswordData is throttled per account: the serial fetch waited about 1,000 round trips before any host started, with nothing able to cancel it, while the hosts' own fetches overlap with each other and with the work of hosts already running, stop on an interrupt, and back off (the SDK's retryer) when AWS throttles.\n\n", orUnknown(r.LoadAverage))
}

// ReplaceEC2Section puts the EC2 benchmark's section into an existing
// BENCHMARKS.md text: in place of the previous one, else before "## What
// stands in the way", else at the end.
func ReplaceEC2Section(doc string, r *EC2Result) string {
	var b strings.Builder
	writeEC2(&b, r)
	return replaceSection(doc, ec2Heading, b.String())
}
