package report

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

const (
	msuSum   = "3f7a1c0e5b2d4f6a8c9e0b1d2f3a4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e"
	agentSum = "9c1e2d3f4a5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f"
	logSum   = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
)

// filesScenario is a rollout of file steps on two hosts: web-01 receives
// the patch, already has the agent and sends back two logs; web-02 has the
// patch already and its download arrives with the wrong bytes.
func filesScenario() *scenario {
	web1, web2 := host("web-01", "10.0.1.11", 0), host("web-02", "10.0.1.12", 0)
	s := newScenario("stage-files", 1, web1, web2)
	s.runStarted(0)
	s.batch(0, 0, 2)
	s.hostStarted(5, web1)
	s.hostStarted(6, web2)

	st := s.stepStarted(100, web1, 0, "stage patch", playbook.KindCopy)
	st.Files = []transport.FileResult{{Path: `C:\patches\KB5034439.msu`, Size: 3174, SHA256: msuSum, Sent: 3174}}
	s.stepFinished(900, web1, st, runner.StatusOK, -1, nil)
	st = s.stepStarted(910, web1, 1, "pull agent", playbook.KindDownload)
	st.Files, st.Unchanged = []transport.FileResult{{Path: `C:\tmp\agent.msi`, Size: 2 << 20, SHA256: agentSum, Unchanged: true}}, true
	s.stepFinished(950, web1, st, runner.StatusUnchanged, -1, nil)
	st = s.stepStarted(960, web1, 2, "collect logs", playbook.KindFetch)
	st.Files = []transport.FileResult{
		{Path: `C:\logs\app.log`, Local: "collected/web-01/app.log", Size: 20, SHA256: logSum, Sent: 20},
		{Path: `C:\logs\setup.log`, Local: "collected/web-01/setup.log", Size: 13, SHA256: logSum, Sent: 13},
	}
	s.stepFinished(1200, web1, st, runner.StatusOK, -1, nil)
	s.hostFinished(1201, web1, runner.StatusOK)

	st = s.stepStarted(100, web2, 0, "stage patch", playbook.KindCopy)
	st.Files, st.Unchanged = []transport.FileResult{{Path: `C:\patches\KB5034439.msu`, Size: 3174, SHA256: msuSum, Unchanged: true}}, true
	s.stepFinished(140, web2, st, runner.StatusUnchanged, -1, nil)
	st = s.stepStarted(150, web2, 1, "pull agent", playbook.KindDownload)
	s.stepFinished(2150, web2, st, runner.StatusFailed, -1, &transport.Error{Class: transport.ClassHashMismatch,
		Message: "https://repo.example/agent.msi arrived with SHA-256 " + logSum + ", not " + agentSum,
		Hint:    "the bytes that arrived are not the ones required: for a download, check the URL and the sha256 the playbook gives; for a copy or fetch, a file changed while it was sent (run again)"})
	web2.Steps = append(web2.Steps, &runner.StepResult{Index: 2, Name: "collect logs", Kind: playbook.KindFetch, Status: runner.StatusSkipped, Reason: runner.ReasonEarlierStepFailed})
	s.hostFinished(2151, web2, runner.StatusFailed)
	s.runFinished(2200, runner.StatusFailed)
	return s
}

func TestFileStepsInEveryReport(t *testing.T) {
	t.Parallel()
	sc := filesScenario()
	var console bytes.Buffer
	c := NewConsole(&console, ConsoleOptions{})
	sc.replay(c, nil)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	golden(t, "console/file-steps.txt", console.Bytes())

	var junit bytes.Buffer
	if err := WriteJUnit(&junit, sc.res); err != nil {
		t.Fatal(err)
	}
	parseJUnit(t, junit.Bytes())
	golden(t, "junit/file-steps.xml", junit.Bytes())

	var summary bytes.Buffer
	if err := WriteSummary(&summary, sc.res, SummaryOptions{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "summary/file-steps.txt", summary.Bytes())

	var js bytes.Buffer
	if err := WriteJSON(&js, NewDocument(sc.res)); err != nil {
		t.Fatal(err)
	}
	golden(t, "json/file-steps.json", js.Bytes())
}

func TestJSONFiles(t *testing.T) {
	t.Parallel()
	doc := NewDocument(filesScenario().res)
	type view struct {
		Kind, Status string
		Expected     []uint32
		ExitCode     *uint32
		Files        []File
		Class        string
	}
	var got []view
	for _, s := range doc.Hosts[0].Steps {
		got = append(got, view{s.Kind, s.Status, s.Expected, s.ExitCode, s.Files, ""})
	}
	s := doc.Hosts[1].Steps[1]
	got = append(got, view{s.Kind, s.Status, s.Expected, s.ExitCode, s.Files, s.Error.Class})
	want := []view{
		{"copy", "ok", []uint32{}, nil, []File{{Path: `C:\patches\KB5034439.msu`, Size: 3174, SHA256: msuSum, Sent: 3174}}, ""},
		{"download", "unchanged", []uint32{}, nil, []File{{Path: `C:\tmp\agent.msi`, Size: 2 << 20, SHA256: agentSum, Unchanged: true}}, ""},
		{"fetch", "ok", []uint32{}, nil, []File{
			{Path: `C:\logs\app.log`, Size: 20, SHA256: logSum, Sent: 20, Local: "collected/web-01/app.log"},
			{Path: `C:\logs\setup.log`, Size: 13, SHA256: logSum, Sent: 13, Local: "collected/web-01/setup.log"},
		}, ""},
		{"download", "failed", []uint32{}, nil, nil, "hash_mismatch"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if doc.Summary.OK != 1 || doc.Summary.Failed != 1 || doc.Hosts[0].Status != "ok" {
		t.Errorf("summary %+v, web-01 %s", doc.Summary, doc.Hosts[0].Status)
	}
}

func TestFormatBytes(t *testing.T) {
	t.Parallel()
	for in, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1 KiB", 3174: "3.1 KiB", 2 << 20: "2 MiB", 5 << 30: "5 GiB"} {
		if got := FormatBytes(in); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", in, got, want)
		}
	}
}
