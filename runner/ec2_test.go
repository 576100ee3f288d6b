package runner_test

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
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/inventory/ec2"
	"github.com/fleetrun/fleetrun/inventory/ec2/ec2test"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

// ec2Fleet starts a fake EC2 endpoint with n Windows instances whose
// passwords need GetPasswordData, and returns them discovered as hosts.
func ec2Fleet(t *testing.T, n int) ([]*inventory.Host, *ec2test.Server) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	insts := make([]ec2test.Instance, n)
	for i := range insts {
		ct, err := rsa.EncryptPKCS1v15(rand.Reader, &key.PublicKey, []byte(fmt.Sprintf("pw-%03d", i))) //nolint:staticcheck // EC2 encrypts Windows passwords with PKCS #1 v1.5; the test plays EC2
		if err != nil {
			t.Fatal(err)
		}
		insts[i] = ec2test.Instance{ID: fmt.Sprintf("i-0e%015d", i), Region: "eu-west-1", Platform: "windows", PrivateIP: fmt.Sprintf("127.0.2.%d", i+1),
			Tags: []ec2test.Tag{{Key: "Name", Value: fmt.Sprintf("win-%03d", i)}}, PasswordData: base64.StdEncoding.EncodeToString(ct)}
	}
	srv := ec2test.NewServer(insts)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	spec := &inventory.EC2Spec{Regions: []string{"eu-west-1"}, Endpoint: srv.URL, PasswordKeyFile: keyFile}
	d, err := ec2.Discover(t.Context(), spec, ec2.Options{
		Credentials:       credentials.NewStaticCredentialsProvider("AKIDFLEETRUNTEST", "test-secret", ""),
		SharedConfigFiles: []string{empty}, SharedCredentialsFiles: []string{empty},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d.Hosts, srv
}

func ec2Target(ctx context.Context, h *inventory.Host) (transport.Target, error) {
	return runner.TargetOf(ctx, h, func(string) (string, bool) { return "", false })
}

// TestPasswordsAreFetchedConcurrentlyWithinForks holds GetPasswordData
// until as many calls as forks are waiting, so the passwords are fetched
// by the hosts' own work, several at once and never more than forks.
func TestPasswordsAreFetchedConcurrentlyWithinForks(t *testing.T) {
	const hosts, forks = 12, 3
	hs, srv := ec2Fleet(t, hosts)
	release := srv.HoldPasswordData()
	defer release()
	pb := mustPlaybook(t, fmt.Sprintf("name: t\nforks: %d\nsteps:\n  - name: s\n    cmd: x\n", forks))
	fleet := newFakeFleet(exitWith(func(string) uint32 { return 0 }))
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	done := make(chan *runner.Result, 1)
	go func() {
		res, err := runner.Run(ctx, pb, hs, runner.Options{Dialer: fleet, Target: ec2Target})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	if err := srv.WaitPasswordDataCalls(ctx, func(now int) bool { return now == forks }); err != nil {
		t.Fatal(err)
	}
	release()
	res := <-done
	if res == nil {
		t.FailNow()
	}
	if _, peak := srv.PasswordDataCalls(); peak != forks {
		t.Errorf("peak concurrent GetPasswordData calls %d, want %d (forks)", peak, forks)
	}
	if st := statuses(res); st[runner.StatusOK] != hosts {
		t.Errorf("host statuses %v, want %d ok", st, hosts)
	}
	calls := 0
	for _, r := range srv.Calls() {
		if r.Action == "GetPasswordData" {
			calls++
		}
	}
	if calls != hosts {
		t.Errorf("%d GetPasswordData calls, want %d (one per host)", calls, hosts)
	}
}

// TestCancellingTheRunCancelsPasswordFetches cancels the run while
// GetPasswordData calls are held: they return at once with the run's
// cancellation, the hosts are interrupted, and the fake sees every call
// given up (TestMain's goleak checks no goroutine is left behind).
func TestCancellingTheRunCancelsPasswordFetches(t *testing.T) {
	const hosts, forks = 8, 4
	hs, srv := ec2Fleet(t, hosts)
	release := srv.HoldPasswordData()
	defer release()
	pb := mustPlaybook(t, fmt.Sprintf("name: t\nforks: %d\nsteps:\n  - name: s\n    cmd: x\n", forks))
	fleet := newFakeFleet(exitWith(func(string) uint32 { return 0 }))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan *runner.Result, 1)
	go func() {
		res, err := runner.Run(ctx, pb, hs, runner.Options{Dialer: fleet, Target: ec2Target})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	wctx, wcancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer wcancel()
	if err := srv.WaitPasswordDataCalls(wctx, func(now int) bool { return now == forks }); err != nil {
		t.Fatal(err)
	}
	cancel()
	var res *runner.Result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the run did not end within 10s of its cancellation")
	}
	if res == nil {
		t.FailNow()
	}
	interrupted, skipped := 0, 0
	for _, h := range res.Hosts {
		switch {
		case h.Status == runner.StatusSkipped:
			skipped++
		case h.Err != nil && h.Err.Class == transport.ClassInterrupted:
			interrupted++
		default:
			t.Errorf("host %s: %s %v, want interrupted", h.Name, h.Status, h.Err)
		}
	}
	if interrupted != forks || skipped != hosts-forks {
		t.Errorf("%d hosts interrupted and %d skipped, want %d and %d", interrupted, skipped, forks, hosts-forks)
	}
	if peak, _ := fleet.stats(); peak != 0 {
		t.Errorf("%d sessions were opened, want none", peak)
	}
	if err := srv.WaitPasswordDataCalls(wctx, func(now int) bool { return now == 0 }); err != nil {
		t.Errorf("the fake still holds calls: %v", err)
	}
}
