package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/fleetrun/fleetrun/runner"
)

// A report that cannot be written once the run is over (its folder was
// removed during the run) is printed beside the run's outcome: a failed or
// stopped run keeps its status, a successful one exits 1.
func TestReportErrorsAfterTheRunKeepTheRunsStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status   runner.Status
		wantCode int
	}{
		{runner.StatusOK, exitInvalid},
		{runner.StatusFailed, exitFailures},
		{runner.StatusAborted, exitAborted},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "reports")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			o := &applyOptions{reportFile: filepath.Join(dir, "r.json"), htmlFile: filepath.Join(dir, "r.html")}
			if err := checkOutputs(o); err != nil {
				t.Fatalf("checked before the run: %v", err)
			}
			if err := os.Remove(dir); err != nil { // "during the run"
				t.Fatal(err)
			}
			res := &runner.Result{Playbook: "p", Status: tt.status, MaxFail: -1}
			var stderr bytes.Buffer
			err := runExitStatus(&env{stderr: &stderr}, res, writeReports(o, res))
			var xe *exitError
			if !errors.As(err, &xe) || xe.code != tt.wantCode || xe.err != nil {
				t.Fatalf("got %#v, want exit status %d with nothing more to print", err, tt.wantCode)
			}
			want := fmt.Sprintf("fleetrun: the run finished (%s) but a report was not written:\n"+
				"write %s: open %s: no such file or directory\n"+
				"write %s: open %s: no such file or directory\n", tt.status, o.reportFile, dir+"/.r.json.tmp*", o.htmlFile, dir+"/.r.html.tmp*")
			// (the temporary file's name is random)
			if got := regexp.MustCompile(`\.tmp[0-9]+`).ReplaceAllString(stderr.String(), ".tmp*"); got != want {
				t.Errorf("stderr:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
