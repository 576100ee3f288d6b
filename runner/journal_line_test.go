package runner

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/transport"
)

// journalLineReference is a journal line as Journal wrote it before it
// reused its buffer: json.Marshal, then a newline.
func journalLineReference(t testing.TB, l journalLine) []byte {
	t.Helper()
	data, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	return append(data, '\n')
}

func openTestJournal(t testing.TB) (*Journal, string) {
	t.Helper()
	pb := &playbook.Playbook{Name: "patch <&>", Source: []byte("name: patch\n")}
	path := filepath.Join(t.TempDir(), "run.journal")
	j, err := OpenJournal(path, pb, time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.FixedZone("CEST", 2*3600)))
	if err != nil {
		t.Fatal(err)
	}
	return j, path
}

// Every kind of line, with text JSON escapes (HTML, U+2028, invalid
// UTF-8), has exactly the bytes it had.
func TestJournalLinesKeepTheirBytes(t *testing.T) {
	t.Parallel()
	j, path := openTestJournal(t)
	at := time.Date(2024, 5, 1, 10, 0, 1, 500000000, time.UTC)
	code, reboot := uint32(0), uint32(3010)
	h := &HostResult{Name: "web-01 <&> \u2028 \xff", Status: StatusOK}
	ok := &StepResult{Index: 2, Name: `copy "C:\a" <b>`, Status: StatusOK, ExitCode: &code, Outcome: "ok", Task: "t1", TaskSettled: true}
	pending := &StepResult{Index: 3, Name: "patch", Status: StatusFailed, ExitCode: &reboot, Outcome: playbook.OutcomeRebootRequired,
		Err: &transport.Error{Class: transport.ClassRebootTimeout}}
	failedTask := &StepResult{Index: 4, Name: "task", Status: StatusFailed, Task: "fleetrun-4", TaskSettled: true}
	failedNoTask := &StepResult{Index: 5, Name: "nothing", Status: StatusFailed}
	for _, e := range []Event{
		{Kind: HostStarted, Time: at, Host: h},
		{Kind: StepTask, Time: at, Host: h, Step: &StepResult{Index: 0, Name: "as system", Task: "fleetrun-0"}},
		{Kind: StepRetrying, Time: at, Host: h, Step: &StepResult{Index: 0, Name: "as system", Task: "fleetrun-0", TaskSettled: true}},
		{Kind: StepFinished, Time: at, Host: h, Step: ok},
		{Kind: StepFinished, Time: at.Add(time.Nanosecond), Host: h, Step: pending},
		{Kind: StepFinished, Time: at, Host: h, Step: failedTask},
		{Kind: StepFinished, Time: at, Host: h, Step: failedNoTask},
		{Kind: HostFinished, Time: at, Host: h},
		{Kind: HostFinished, Time: at, Host: &HostResult{Name: "done", Reason: ReasonDoneEarlier}},
	} {
		j.Event(e)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"journal":1,"playbook":"patch \u003c\u0026\u003e","playbook_sha256":"` + PlaybookHash(&playbook.Playbook{Source: []byte("name: patch\n")}) + `","started_at":"2024-05-01T08:00:00.123456789Z"}
{"host":"web-01 \u003c\u0026\u003e \u2028 \ufffd","step":0,"name":"as system","status":"task_started","task":"fleetrun-0","at":"2024-05-01T10:00:01.5Z"}
{"host":"web-01 \u003c\u0026\u003e \u2028 \ufffd","step":0,"name":"as system","status":"retrying","task":"fleetrun-0","at":"2024-05-01T10:00:01.5Z"}
{"host":"web-01 \u003c\u0026\u003e \u2028 \ufffd","step":2,"name":"copy \"C:\\a\" \u003cb\u003e","status":"ok","task":"t1","exit_code":0,"outcome":"ok","at":"2024-05-01T10:00:01.5Z"}
{"host":"web-01 \u003c\u0026\u003e \u2028 \ufffd","step":3,"name":"patch","status":"reboot_pending","exit_code":3010,"outcome":"reboot_required","at":"2024-05-01T10:00:01.500000001Z"}
{"host":"web-01 \u003c\u0026\u003e \u2028 \ufffd","step":4,"name":"task","status":"failed","task":"fleetrun-4","at":"2024-05-01T10:00:01.5Z"}
{"host":"web-01 \u003c\u0026\u003e \u2028 \ufffd","status":"ok","at":"2024-05-01T10:00:01.5Z"}
`
	if string(got) != want {
		t.Errorf("journal:\n%s\nwant:\n%s", got, want)
	}
}

// Random lines, one after another through the reused buffer, are each
// exactly what json.Marshal and a newline made of them.
func TestJournalWriteIsMarshalAndNewline(t *testing.T) {
	t.Parallel()
	j, path := openTestJournal(t)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 11))
	texts := []string{"", "web-01", "<script>&</script>", "\u2028\u2029", "\xff\xfe", "日本語 \U0001F680", `"\` + "\t\n\x00", string(bytes.Repeat([]byte("long "), 400))}
	text := func() string { return texts[r.IntN(len(texts))] }
	want := bytes.Clone(before)
	for range 500 {
		l := journalLine{Journal: r.IntN(2), Playbook: text(), PlaybookHash: text(), Started: text(), ForcedFrom: text(),
			Host: text(), Name: text(), Status: Status(text()), Task: text(), Outcome: text(), At: text()}
		if r.IntN(2) == 0 {
			step := r.IntN(5)
			l.Step = &step
		}
		if r.IntN(2) == 0 {
			code := r.Uint32()
			l.ExitCode = &code
		}
		j.write(l)
		want = append(want, journalLineReference(t, l)...)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("journal differs from json.Marshal's lines at byte %d", len(commonPrefix(got, want)))
	}
}

func commonPrefix(a, b []byte) []byte {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return a[:i]
}

// A step's line costs one allocation: the text of its time.
func TestJournalStepLineAllocations(t *testing.T) {
	if raceOn {
		t.Skip("allocations are counted without the race detector")
	}
	j, _ := openTestJournal(t)
	defer func() { _ = j.Close() }()
	e := journalBenchEvent()
	if n := testing.AllocsPerRun(200, func() { j.Event(e) }); n > 1 {
		t.Errorf("a step's journal line costs %v allocations, want at most 1", n)
	}
}

func journalBenchEvent() Event {
	code := uint32(0)
	return Event{Kind: StepFinished, Time: time.Date(2024, 5, 1, 10, 0, 1, 500000000, time.UTC),
		Host: &HostResult{Name: "web-01234"},
		Step: &StepResult{Index: 1, Name: "install patch", Status: StatusOK, ExitCode: &code, Outcome: "ok"}}
}

func BenchmarkJournalStepLine(b *testing.B) {
	j, _ := openTestJournal(b)
	defer func() { _ = j.Close() }()
	e := journalBenchEvent()
	b.ReportAllocs()
	for b.Loop() {
		j.Event(e)
	}
}
