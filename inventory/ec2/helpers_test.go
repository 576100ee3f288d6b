package ec2_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/internal/golden"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"go.uber.org/goleak"

	"github.com/fleetrun/fleetrun/internal/strictyaml"
	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/inventory/ec2"
	"github.com/fleetrun/fleetrun/inventory/ec2/ec2test"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testKeyID is the access key the tests' static credentials sign with.
const testKeyID = "AKIDFLEETRUNTEST"

// fleet reads the shared fixture of instances in two regions.
func fleet(t testing.TB) []ec2test.Instance {
	t.Helper()
	f, err := os.Open("testdata/fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	insts, err := ec2test.ReadInstances(f)
	_ = f.Close() // read-only
	if err != nil {
		t.Fatal(err)
	}
	return insts
}

// startFake starts a fake EC2 endpoint that the test closes.
func startFake(t testing.TB, insts []ec2test.Instance) *ec2test.Server {
	t.Helper()
	srv := ec2test.NewServer(insts)
	t.Cleanup(srv.Close)
	return srv
}

// envOf is a LookupEnv over a fixed map.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// options points discovery at srv through AWS_ENDPOINT_URL_EC2, with
// static credentials, empty shared AWS files (so the machine's ~/.aws does
// not matter), no backoff between retries, and pages of 5.
func options(t testing.TB, srv *ec2test.Server) ec2.Options {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return ec2.Options{
		LookupEnv:              envOf(map[string]string{"AWS_ENDPOINT_URL_EC2": srv.URL}),
		Credentials:            credentials.NewStaticCredentialsProvider(testKeyID, "test-secret", ""),
		SharedConfigFiles:      []string{empty},
		SharedCredentialsFiles: []string{empty},
		RetryBackoff:           func(int) time.Duration { return 0 },
		PageSize:               5,
	}
}

// parseSpec parses an inventory document and returns it with its first
// ec2 section.
func parseInventory(t testing.TB, text string) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.Parse("inv.yaml", []byte(text))
	if err != nil {
		t.Fatalf("parsing inventory: %v", err)
	}
	return inv
}

func parseSpec(t testing.TB, text string) *inventory.EC2Spec {
	t.Helper()
	inv := parseInventory(t, text)
	if len(inv.EC2) != 1 {
		t.Fatalf("inventory has %d ec2 sections, want 1", len(inv.EC2))
	}
	return inv.EC2[0]
}

// golden compares got (as indented JSON) with testdata/name, or rewrites
// it with -update.
func checkGolden(t *testing.T, name string, got any) {
	t.Helper()
	data, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", name), append(data, '\n'))
}

// errorLines renders positioned errors one per line.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	es := strictyaml.AsErrors(err)
	if es == nil {
		return []string{err.Error()}
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Error())
	}
	return out
}

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
