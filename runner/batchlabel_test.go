package runner_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/report/html"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

// The JSON report's batch is zero-based (its contract); every place a
// person reads numbers batches from 1, as "batch N of M", with the same N:
// the console's lines and live bar, JUnit's suite names and the HTML page.
// (The dry-run plan is pinned by the views tests.)
func TestBatchesAreNumberedTheSameWayEverywhere(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	code := uint32(5)
	host := func(name string, batch int, status runner.Status) *runner.HostResult {
		h := &runner.HostResult{Name: name, Address: "10.0.0.1", Batch: batch, Status: status, Started: t0.Add(time.Duration(batch) * time.Minute)}
		h.Finished = h.Started.Add(30 * time.Second)
		st := &runner.StepResult{Name: "install", Kind: "command", Status: runner.StatusOK, Attempts: 1, Expected: []uint32{0}, Started: h.Started, Finished: h.Finished}
		if status == runner.StatusFailed {
			st.Status, st.ExitCode = runner.StatusFailed, &code
			st.Err = &transport.Error{Class: transport.ClassUnexpectedExit, Message: "exit code 5, expected [0]"}
		}
		h.Steps = []*runner.StepResult{st}
		return h
	}
	res := &runner.Result{Playbook: "p", Status: runner.StatusFailed, Forks: 10, Batches: 3, MaxFail: -1, Started: t0, Finished: t0.Add(3 * time.Minute),
		Hosts: []*runner.HostResult{host("a", 0, runner.StatusOK), host("b", 1, runner.StatusFailed), host("c", 2, runner.StatusOK)}}

	var console bytes.Buffer
	c := report.NewConsole(&console, report.ConsoleOptions{})
	c.Event(runner.Event{Kind: runner.RunStarted, Time: t0, Hosts: 3, Batches: 3})
	c.Event(runner.Event{Kind: runner.BatchStarted, Time: t0, Batch: 1, Hosts: 1})
	c.Event(runner.Event{Kind: runner.HostStarted, Time: t0, Batch: 1, Host: res.Hosts[1]})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if want := "run started: 3 hosts in 3 batches\nbatch 2 of 3: 1 host\nb: started (batch 2 of 3)\n"; console.String() != want {
		t.Errorf("console:\n%s\nwant:\n%s", console.String(), want)
	}

	var junit bytes.Buffer
	if err := report.WriteJUnit(&junit, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<testsuite name="p batch 2 of 3" tests="1" failures="1"`, `<property name="batch" value="2"></property>`} {
		if !strings.Contains(junit.String(), want) {
			t.Errorf("JUnit lacks %s:\n%s", want, junit.String())
		}
	}

	doc := report.NewDocument(res)
	if doc.Hosts[1].Batch != 1 {
		t.Errorf("JSON batch of b = %d, want 1 (zero-based)", doc.Hosts[1].Batch)
	}
	var page strings.Builder
	if err := html.Render(&page, doc, html.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<span class="chip">batch 2 of 3 <b>1</b></span>`,    // failures by batch
		`<td data-v="1">2 of 3</td>`,                         // the failure table's batch column
		`<b>batch 2 of 3</b> · 1 host`,                       // the timeline's row
		`title="batch 2 of 3 started at 10:01:00">B2</span>`, // the timeline's batch mark
		`<option value="1">batch 2 of 3</option>`,            // the host filter
		`"batch " + (h.b + 1) + " of " + D.nb`,               // each host's entry, drawn by the page's script
		`"nb":3`,
	} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("the HTML page lacks %s", want)
		}
	}
	if strings.Contains(page.String(), "Batch 1") || strings.Contains(page.String(), "batch 1 of 3 <b>1</b>") {
		t.Errorf("the HTML page numbers a batch from 0")
	}
}
