package main

import (
	"context"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"fleetrun": func() { os.Exit(run(os.Args[1:])) },
	})
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
			return nil
		},
	})
}

var _ = context.Background
