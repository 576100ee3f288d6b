package html_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetrun/fleetrun/internal/golden"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	xhtml "golang.org/x/net/html"

	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/report/html"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func readDoc(t testing.TB, name string) *report.Document {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.ReadJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func render(t testing.TB, doc *report.Document, opts html.Options) string {
	t.Helper()
	var b strings.Builder
	if err := html.Render(&b, doc, opts); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestRenderMatchesGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ input, golden string }{
		{"small.json", "small.golden.html"},
		{"old.json", "old.golden.html"},
	} {
		t.Run(tc.input, func(t *testing.T) {
			t.Parallel()
			got := render(t, readDoc(t, tc.input), html.Options{Source: tc.input})
			golden.Check(t, filepath.Join("testdata", tc.golden), []byte(got))
		})
	}
}

func TestReadJSONAcceptsOldAndNewReports(t *testing.T) {
	t.Parallel()
	small := readDoc(t, "small.json")
	if small.MaxFail == nil || *small.MaxFail != 1 || small.Batches != 3 || len(small.Hosts) != 7 {
		t.Errorf("small.json: max_fail %v, batches %d, %d hosts", small.MaxFail, small.Batches, len(small.Hosts))
	}
	if got := small.Hosts[0].Steps[1]; got.Outcome != "reboot_required" || !got.Rebooted || got.StartedAt != "2026-11-28T22:00:02.500Z" {
		t.Errorf("small.json web-01 install: %+v", got)
	}
	bom, err := html.ReadJSON(strings.NewReader("\xef\xbb\xbf" + `{"playbook": "p", "hosts": []}`))
	if err != nil || bom.Playbook != "p" {
		t.Errorf("a report with a byte order mark: %+v, %v", bom, err)
	}
	old := readDoc(t, "old.json")
	if old.MaxFail != nil || old.Batches != 0 || old.Hosts[2].Steps[0].StartedAt != "" || *old.Hosts[2].Steps[0].ExitCode != 3221225477 {
		t.Errorf("old.json read as %+v", old)
	}
}

func TestReadJSONRejectsWhatIsNotAReport(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, input, want string
	}{
		{"empty input", "", "read json report: empty input, expected a JSON object"},
		{"malformed JSON", `{"playbook": `, "read json report: unexpected EOF"},
		{"an array", `[]`, "read json report: json: cannot unmarshal array into Go value of type report.Document"},
		{"an object with no report fields", `{"name": "x"}`, "read json report: not a fleetrun report: no playbook, status or hosts"},
		{"null", `null`, "read json report: not a fleetrun report: no playbook, status or hosts"},
		{"two documents", `{"playbook": "a"} {"playbook": "b"}`, "read json report: unexpected data after the document at byte 17"},
		{"trailing garbage", `{"playbook": "a"}x`, "read json report: unexpected data after the document at byte 17"},
		{"a field of the wrong type", `{"playbook": "a", "batches": "three"}`, "read json report: json: cannot unmarshal string into Go struct field Document.batches of type int"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, err := html.ReadJSON(strings.NewReader(tc.input))
			if err == nil {
				t.Fatalf("read %+v, want error %q", doc, tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
}

func TestReadJSONReadsWhatWriteJSONWrote(t *testing.T) {
	t.Parallel()
	doc := rollout(t, 300)
	var buf bytes.Buffer
	if err := report.WriteJSON(&buf, doc); err != nil {
		t.Fatal(err)
	}
	back, err := html.ReadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(doc, back); diff != "" {
		t.Fatalf("round trip (-wrote +read):\n%s", diff)
	}
	if a, b := render(t, doc, html.Options{}), render(t, back, html.Options{}); a != b {
		t.Error("the page from the saved report differs from the page from the run")
	}
}

// hostile is text that would be markup or script if it reached the page
// unescaped.
const hostile = `</script><script>alert(1)</script><marquee onmouseover="alert(2)">x</marquee>"'&<!--`

func TestRenderShowsHostTextAsText(t *testing.T) {
	t.Parallel()
	doc := readDoc(t, "small.json")
	// Put hostile text in every string a host, a step or a run can carry.
	doc.Playbook, doc.StopReason = hostile, hostile
	for i := range doc.Hosts {
		h := &doc.Hosts[i]
		h.Name, h.Address, h.Reason, h.Transport = fmt.Sprintf("h%d%s", i, hostile), hostile, hostile, hostile
		h.Error = &report.Error{Class: hostile, Message: hostile, Hint: hostile}
		for j := range h.Steps {
			s := &h.Steps[j]
			s.Name, s.Kind, s.Outcome, s.Reason, s.CommandLine = hostile, hostile, hostile, hostile, hostile
			s.Stdout, s.Stderr = hostile, hostile
			if s.Status == "failed" {
				s.Error = &report.Error{Class: hostile, Message: hostile, Hint: hostile}
			}
		}
	}
	page := render(t, doc, html.Options{Source: hostile})

	root, err := xhtml.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var scripts []string
	var bad []string
	var walk func(n *xhtml.Node)
	walk = func(n *xhtml.Node) {
		if n.Type == xhtml.ElementNode {
			switch n.Data {
			case "script":
				id := ""
				for _, a := range n.Attr {
					if a.Key == "id" {
						id = a.Val
					}
				}
				scripts = append(scripts, id)
			case "marquee":
				bad = append(bad, "a <marquee> element")
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") {
					bad = append(bad, fmt.Sprintf("an %s attribute on <%s>", a.Key, n.Data))
				}
			}
		}
		if n.Type == xhtml.CommentNode {
			bad = append(bad, "a comment")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	if diff := cmp.Diff([]string{"fleetrun-data", "fleetrun-script"}, scripts); diff != "" {
		t.Errorf("script elements (-want +got):\n%s", diff)
	}
	if len(bad) > 0 {
		t.Errorf("host text became markup: %q", bad)
	}

	// The text survives: visible in the failure table, intact in the data.
	if !strings.Contains(page, `<pre class="tail">&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;`) {
		t.Error("the failure table does not show the hostile stderr as escaped text")
	}
	data := dataOf(t, page)
	if !contains(data.Strs, hostile) || !contains(data.Strs, "h0"+hostile) {
		t.Error("the embedded data lost the hostile text")
	}
}

// pageData is the part of the embedded data tests read.
type pageData struct {
	Strs  []string `json:"strs"`
	Tail  int      `json:"tail"`
	Hosts []struct {
		N  int `json:"n"`
		St []struct {
			Out int `json:"out"`
			OC  int `json:"oc"`
			Err int `json:"err"`
		} `json:"st"`
	} `json:"hosts"`
}

func dataOf(t testing.TB, page string) pageData {
	t.Helper()
	const open = `<script type="application/json" id="fleetrun-data">`
	i := strings.Index(page, open)
	j := strings.Index(page[i:], "</script>")
	if i < 0 || j < 0 {
		t.Fatal("no data block in the page")
	}
	var d pageData
	if err := json.Unmarshal([]byte(page[i+len(open):i+j]), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestRenderKeepsTheEndOfLongOutput(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("line of installer output\n", 400) + "日本語の最後の行\n"
	doc := &report.Document{Playbook: "p", Status: "ok", Hosts: []report.Host{{Name: "a", Status: "ok", Steps: []report.Step{{Name: "s", Status: "ok", Stdout: long, Stderr: "short"}}}}}
	for _, tc := range []struct {
		name    string
		tail    int
		wantOut string // for tail 0: checked by its shape instead
	}{
		{"the default keeps the last 2 KiB from a line start", 0, ""},
		{"a negative tail keeps everything", -1, long},
		{"a tail that ends mid-character starts at the next one", 11, "後の行\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := dataOf(t, render(t, doc, html.Options{OutputTail: tc.tail}))
			st := d.Hosts[0].St[0]
			got := d.Strs[st.Out]
			if tc.tail == 0 {
				if len(got) > html.DefaultOutputTail || !strings.HasPrefix(got, "line of") || !strings.HasSuffix(got, "日本語の最後の行\n") {
					t.Errorf("kept %d bytes starting %q", len(got), got[:min(20, len(got))])
				}
			} else if got != tc.wantOut {
				t.Errorf("kept %q, want %q", got, tc.wantOut)
			}
			if st.OC != len(long)-len(got) {
				t.Errorf("says %d bytes left out, %d were", st.OC, len(long)-len(got))
			}
			if d.Strs[st.Err] != "short" || d.Hosts[0].St[0].Err == 0 {
				t.Errorf("stderr %q", d.Strs[st.Err])
			}
		})
	}
}

func TestRenderOfTwoThousandHostsStaysSmall(t *testing.T) {
	t.Parallel()
	doc := rollout(t, 2000)
	page := render(t, doc, html.Options{})
	if len(page) >= 5<<20 {
		t.Errorf("page is %d bytes, want under 5 MiB", len(page))
	}
	d := dataOf(t, page)
	if len(d.Hosts) != 2000 {
		t.Fatalf("%d hosts in the data", len(d.Hosts))
	}
	for _, h := range d.Hosts {
		for _, s := range h.St {
			if n := len(d.Strs[s.Out]); n > html.DefaultOutputTail {
				t.Fatalf("host %s keeps %d bytes of stdout", d.Strs[h.N], n)
			}
		}
	}
	if doc.Summary.Failed == 0 || doc.Summary.Unreachable == 0 || doc.Summary.Skipped == 0 || doc.StopReason == "" {
		t.Errorf("the fixture should fail, skip and stop: %+v %q", doc.Summary, doc.StopReason)
	}
}

func TestRenderBoundsAWorstCaseRun(t *testing.T) {
	t.Parallel()
	// 2,000 hosts, one batch each (serial: 1), every one failed after
	// printing 6 KB on both streams of every step.
	doc := rollout(t, 2000)
	doc.Batches = len(doc.Hosts)
	doc.Summary = report.Summary{}
	for i := range doc.Hosts {
		h := &doc.Hosts[i]
		h.Batch, h.Status = i, "failed"
		for j := range h.Steps {
			s := &h.Steps[j]
			s.Status = "failed"
			s.Stdout = strings.Repeat(fmt.Sprintf("%s step %d says something long\n", h.Name, j), 200)
			s.Stderr = s.Stdout
		}
	}
	page := render(t, doc, html.Options{})
	if len(page) >= 5<<20 {
		t.Errorf("page is %d bytes, want under 5 MiB", len(page))
	}
	for _, tc := range []struct {
		what string
		n    int
		want int
	}{
		{"failure table rows", strings.Count(page, `<tr data-host=`), 500},
		{"timeline rows", strings.Count(page, `<div class="tl-batch"`), 40},
		{"notes that output was cut short", strings.Count(page, "to keep this page small, it keeps only the last"), 1},
		{"notes that the failure table is cut short", strings.Count(page, "The table lists the first 500 of 6000 failures"), 1},
	} {
		if tc.n != tc.want {
			t.Errorf("%d %s, want %d", tc.n, tc.what, tc.want)
		}
	}
	if !strings.Contains(page, "<b>batches 1–50 of 2000</b> · 50 hosts") {
		t.Error("the first timeline row does not group batches 1 to 50 of 2000")
	}
	if d := dataOf(t, page); d.Tail >= html.DefaultOutputTail || d.Tail < 100 {
		t.Errorf("kept %d bytes of each stream", d.Tail)
	}
}

func TestRenderLeavesTheDocumentAlone(t *testing.T) {
	t.Parallel()
	doc := readDoc(t, "small.json")
	before := readDoc(t, "small.json")
	render(t, doc, html.Options{OutputTail: 4})
	if diff := cmp.Diff(before, doc); diff != "" {
		t.Errorf("Render changed the document (-before +after):\n%s", diff)
	}
}

func TestRenderReportsItsErrors(t *testing.T) {
	t.Parallel()
	if err := html.Render(io.Discard, nil, html.Options{}); err == nil || err.Error() != "render html report: no document" {
		t.Errorf("nil document: %v", err)
	}
	broken := errors.New("disk full")
	err := html.Render(failingWriter{broken}, readDoc(t, "small.json"), html.Options{})
	if !errors.Is(err, broken) {
		t.Errorf("writer failure: %v, want it wrapped", err)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestRenderAnyDocument(t *testing.T) {
	t.Parallel()
	zero := 0
	for _, tc := range []struct {
		name string
		doc  *report.Document
		want []string
	}{
		{"an empty run", &report.Document{Playbook: "p", Status: "ok"}, []string{`<p class="none">No host failed.</p>`, `<dd id="batches">0</dd>`}},
		{"a dry-run plan", &report.Document{Playbook: "p", Status: "planned", Hosts: []report.Host{{Name: "a", Status: "planned",
			Steps: []report.Step{{Name: "s", Kind: "command", Status: "planned", CommandLine: `"C:\tools\x.exe" a`}}}}},
			[]string{"This is a dry-run plan", "no start and finish times, so nothing can be placed in time"}},
		{"a report whose summary is missing", &report.Document{Playbook: "p", Status: "failed", Hosts: []report.Host{{Name: "a", Status: "failed"}, {Name: "b", Status: "ok"}}},
			[]string{`<b data-count="hosts">2</b>`, `<b data-count="failed">1</b>`, `<b data-count="ok">1</b>`}},
		{"unreadable times", &report.Document{Playbook: "p", Status: "ok", StartedAt: "yesterday", Hosts: []report.Host{{Name: "a", Status: "ok", StartedAt: "noon", FinishedAt: "later"}}},
			[]string{"1 host has no start and finish times"}},
		{"a budget of zero", &report.Document{Playbook: "p", Status: "aborted", MaxFail: &zero, Summary: report.Summary{Hosts: 1, Failed: 1}, Hosts: []report.Host{{Name: "a", Status: "failed"}}},
			[]string{`<dd id="budget" class="over">1 failure of max_fail 0 — spent</dd>`}},
		{"a host in a batch beyond the count", &report.Document{Playbook: "p", Status: "ok", Batches: 1, Hosts: []report.Host{{Name: "a", Status: "ok", Batch: 2}}},
			[]string{`<dd id="batches">1</dd>`, `<div class="tl-batch" data-row="0">`, `<div class="tl-batch" data-row="1">`}},
		{"an impossible batch count", &report.Document{Playbook: "p", Status: "ok", Batches: 1 << 40, Hosts: []report.Host{{Name: "a", Status: "ok"}}},
			[]string{`<dd id="batches">1099511627776</dd>`, `<div class="tl-batch" data-row="0">`}},
		{"a run over centuries", &report.Document{Playbook: "p", Status: "ok", StartedAt: "0001-01-01T00:00:00Z", FinishedAt: "9999-12-31T00:00:00Z",
			Hosts: []report.Host{{Name: "a", Status: "ok", StartedAt: "0001-01-01T00:00:00Z", FinishedAt: "9999-12-31T00:00:00Z"}}},
			[]string{`<div class="tl-batch" data-row="0">`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			page := render(t, tc.doc, html.Options{})
			for _, w := range tc.want {
				if !strings.Contains(page, w) {
					t.Errorf("page lacks %q", w)
				}
			}
		})
	}
}

func FuzzRender(f *testing.F) {
	// Small seeds: the fuzzer minimises every new input it finds, and that
	// takes time in proportion to the input's size.
	data, err := os.ReadFile(filepath.Join("testdata", "old.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"playbook":"p","status":"aborted","started_at":"2026-01-01T00:00:00.000Z","finished_at":"2026-01-01T00:10:00.000Z","batches":2,"max_fail":0,` +
		`"hosts":[{"name":"a","batch":0,"status":"failed","started_at":"2026-01-01T00:00:01.000Z","finished_at":"2026-01-01T00:05:00.000Z",` +
		`"steps":[{"name":"s","kind":"command","status":"failed","exit_code":3010,"outcome":"reboot_required","rebooted":true,"attempts":2,"duration_ms":1000,` +
		`"started_at":"2026-01-01T00:00:02.000Z","finished_at":"2026-01-01T00:00:03.000Z","stdout":"日本語","stderr":"x","error":{"class":"timeout","code":5,"message":"m","hint":"h"}}]},` +
		`{"name":"b","batch":1,"status":"skipped","reason":"r","steps":[{"name":"s","status":"skipped"}]}]}`))
	f.Add([]byte(`{"playbook":"<script>","hosts":[{"name":"</script>","batch":-3,"started_at":"2026-01-01T00:00:00Z","finished_at":"2025-01-01T00:00:00Z","steps":[{"status":"failed","started_at":"2026-01-01T00:00:00Z","duration_ms":-5}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := html.ReadJSON(bytes.NewReader(data))
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := html.Render(&b, doc, html.Options{}); err != nil {
			t.Fatalf("render: %v", err)
		}
		if n := bytes.Count(bytes.ToLower(b.Bytes()), []byte("<script")); n != 2 {
			t.Fatalf("%d script tags in the page, want 2", n)
		}
	})
}

func BenchmarkRenderTwoThousandHosts(b *testing.B) {
	doc := rollout(b, 2000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := html.Render(io.Discard, doc, html.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
