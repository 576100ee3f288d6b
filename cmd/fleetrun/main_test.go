package main

import (
	"fmt"
	"os"
	"regexp"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/fleetrun/fleetrun/inventory/ec2/ec2test"
)

func TestMain(m *testing.M) {
	testscript.Main(stateHomeM{m}, map[string]func(){
		"fleetrun": func() { os.Exit(run(os.Args[1:])) },
	})
}

// stateHomeM runs the tests with XDG_STATE_HOME in a temporary folder, so
// that every fleetrun the tests start (and which inherits this process's
// environment) writes its default journals there, never into a real home.
type stateHomeM struct{ m *testing.M }

func (s stateHomeM) Run() int {
	dir, err := os.MkdirTemp("", "fleetrun-state-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "state folder for tests:", err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }() // a leftover temporary folder is harmless
	if err := os.Setenv("XDG_STATE_HOME", dir); err != nil {
		fmt.Fprintln(os.Stderr, "state folder for tests:", err)
		return 1
	}
	return s.m.Run()
}

// TestScripts runs the command-line end-to-end scripts in testdata/script.
// The repository root is available to scripts as $ROOT.
func TestScripts(t *testing.T) {
	t.Parallel()
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("ROOT", root+"/../..")
			e.Setenv("NO_COLOR", "1")
			// Default journals go to $WORK/state/fleetrun, never to a home.
			e.Setenv("XDG_STATE_HOME", e.WorkDir+"/state")
			// The AWS SDK must never reach out of loopback from a test.
			e.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			e.Setenv("AWS_CONFIG_FILE", e.WorkDir+"/no-aws-config")
			e.Setenv("AWS_SHARED_CREDENTIALS_FILE", e.WorkDir+"/no-aws-credentials")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"fakeec2": fakeEC2,
			"nodur":   noDurations,
		},
	})
}

// fakeEC2 serves the instances of a JSON fixture on a loopback EC2 API and
// points AWS_ENDPOINT_URL_EC2 at it: fakeec2 FIXTURE.json
func fakeEC2(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: fakeec2 FIXTURE.json")
	}
	f, err := os.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	instances, err := ec2test.ReadInstances(f)
	_ = f.Close() // read-only
	ts.Check(err)
	srv := ec2test.NewServer(instances)
	ts.Defer(srv.Close)
	ts.Setenv("AWS_ENDPOINT_URL_EC2", srv.URL)
	ts.Setenv("AWS_ACCESS_KEY_ID", "AKIDFLEETRUNTEST")
	ts.Setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")
}

// runDuration is the summary's run line's duration ("run ok in 62ms",
// "run aborted after 1.2s: ...").
var runDuration = regexp.MustCompile(`(?m)^((?:\[simulated\] )?run \w+ (?:in|after)) [0-9][0-9.hms]*`)

// noDurations copies a file, or the last command's stdout or stderr, to
// DEST with the run line's duration written as DURATION, so cmp can pin
// the rest exactly: nodur stdout|stderr|FILE DEST
func noDurations(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: nodur stdout|stderr|FILE DEST")
	}
	text := ts.ReadFile(args[0]) // ReadFile knows stdout and stderr
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(runDuration.ReplaceAllString(text, "${1} DURATION")), 0o600))
}
