package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

func TestNormalizeCause(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, line, host, addr, want string
	}{
		{"plain line unchanged", "Access is denied.", "web-01", "10.0.0.1", "Access is denied."},
		{"own name", "cannot reach web-01 from web-01:5985", "web-01", "10.0.0.1", "cannot reach <host> from <host>:<n>"},
		{"own name ignores case", "WEB-01 refused", "web-01", "", "<host> refused"},
		{"name inside a longer name is kept", "web-010 is not web-01", "web-01", "", "web-<n> is not <host>"},
		{"fqdn then short name", "web-01.corp.example (web-01) failed", "web-01.corp.example", "", "<host> (<host>) failed"},
		{"own address with port", "dial tcp 10.0.0.7:5986: connect: connection refused", "web-07", "10.0.0.7", "dial tcp <host>:<n>: connect: connection refused"},
		{"other ipv4", "proxy 192.168.1.20 answered", "web-07", "10.0.0.7", "proxy <ip> answered"},
		{"ipv6", "dial tcp [fe80::1%eth0]:5985 and 2001:db8::42", "h", "", "dial tcp [<ip>]:<n> and <ip>"},
		{"static calls are not addresses", "[System.IO.File]::ReadAllText failed; Value::Parse too", "h", "", "[System.IO.File]::ReadAllText failed; Value::Parse too"},
		{"loopback and bare ipv6", "::1 and fd00::a:b refused", "h", "", "<ip> and <ip> refused"},
		{"a time is not an address", "at 10:33:22 it stopped", "h", "", "at <n>:<n>:<n> it stopped"},
		{"guid with and without braces", "job {6F9619FF-8B86-D011-B42D-00C04FC964FF} and 6f9619ff-8b86-d011-b42d-00c04fc964ff", "h", "", "job <guid> and <guid>"},
		{"hex and decimal", "HRESULT 0x80070005, error 80070005 after 12 tries (1f3a)", "h", "", "HRESULT <n>, error <n> after <n> tries (<n>)"},
		{"words are not numbers", "Win32 x64 exitcode.exe face", "h", "", "Win32 x64 exitcode.exe face"},
		{"profile path", `Cannot find C:\Users\alice.admin\AppData\Local\Temp\x.log`, "h", "", `Cannot find C:\Users\<user>\AppData\Local\Temp\x.log`},
		{"profile path any drive and case", `d:\USERS\Bob\file`, "h", "", `d:\USERS\<user>\file`},
		{"white space collapses", "  a \t b  ", "h", "", "a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := NormalizeCause(tt.line, tt.host, tt.addr); got != tt.want {
				t.Errorf("NormalizeCause(%q) = %q, want %q", tt.line, got, tt.want)
			}
		})
	}
}

func TestCauseLine(t *testing.T) {
	t.Parallel()
	clixml := "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">" +
		`<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T></TN><MS><PR N="Record"><AV>Preparing modules for first use.</AV></PR></MS></Obj>` +
		`<S S="Error">_x000D__x000A_</S><S S="Error">Get-Item : Cannot find path &apos;C:\x&apos; &lt;here&gt;_x000D__x000A_</S><S S="Error">At line:1 char:1_x000D__x000A_</S></Objs>`
	progressOnly := "#< CLIXML\r\n<Objs Version=\"1.1.0.1\"><Obj S=\"progress\" RefId=\"0\"><MS><PR N=\"Record\"><AV>Preparing modules for first use.</AV></PR></MS></Obj></Objs>"
	tests := []struct {
		name, stderr, message, want string
	}{
		{"first non-blank stderr line", "\r\n  \r\nboom here\r\nsecond\r\n", "msg", "boom here"},
		{"message when stderr is empty", "", "\nexit code 3 not in [0]\nmore", "exit code 3 not in [0]"},
		{"clixml error record", clixml, "msg", "Get-Item : Cannot find path 'C:\\x' <here>"},
		{"clixml with progress only falls back", progressOnly, "exit code 1", "exit code 1"},
		{"nothing at all", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := CauseLine(tt.stderr, tt.message); got != tt.want {
				t.Errorf("CauseLine = %q, want %q", got, tt.want)
			}
		})
	}
}

func u32(v uint32) *uint32 { return &v }

func failedHost(name, addr string, code uint32, stderr string) *runner.HostResult {
	return &runner.HostResult{Name: name, Address: addr, Status: runner.StatusFailed, Steps: []*runner.StepResult{
		{Name: "check", Status: runner.StatusOK},
		{Name: "install", Status: runner.StatusFailed, ExitCode: u32(code), Stdout: "line a\nline b\n", Stderr: stderr,
			Err: &transport.Error{Class: transport.ClassUnexpectedExit, Message: "exit code not expected", Hint: "see the output"}},
	}}
}

func TestFailureGroups(t *testing.T) {
	t.Parallel()
	unreachable := func(name, addr string) *runner.HostResult {
		return &runner.HostResult{Name: name, Address: addr, Status: runner.StatusUnreachable,
			Err: &transport.Error{Class: transport.ClassRefused, Message: "dial tcp " + addr + ":5985: connect: connection refused", Hint: "is WinRM listening?"}}
	}
	res := &runner.Result{Hosts: []*runner.HostResult{
		failedHost("web-01", "10.0.0.1", 3, "web-01: disk C: has 512 MB free\r\n"),
		{Name: "web-02", Status: runner.StatusOK, Steps: []*runner.StepResult{{Name: "x", Status: runner.StatusFailed, Err: &transport.Error{Class: transport.ClassTimeout, Message: "ignored"}}}},
		unreachable("web-03", "10.0.0.3"),
		failedHost("web-04", "10.0.0.4", 3, "web-04: disk C: has 17 MB free\r\n"),
		failedHost("web-05", "10.0.0.5", 4, "web-05: disk C: has 17 MB free\r\n"),
		unreachable("web-06", "10.0.0.6"),
		failedHost("web-07", "10.0.0.7", 3, "WEB-07: disk C: has 1 MB free\r\n"),
		{Name: "web-08", Status: runner.StatusSkipped, Reason: "budget spent"},
	}}
	want := []FailureGroup{
		{Class: "unexpected_exit", ExitCode: u32(3), Cause: "<host>: disk C: has <n> MB free", Step: "install", Hint: "see the output",
			Count: 3, Hosts: []string{"web-01", "web-04", "web-07"}, Sample: "web-01", Tail: "line a\nline b\nweb-01: disk C: has 512 MB free"},
		{Class: "refused", Cause: "dial tcp <host>:<n>: connect: connection refused", Step: "connect", Hint: "is WinRM listening?",
			Count: 2, Hosts: []string{"web-03", "web-06"}, Sample: "web-03", Tail: "dial tcp 10.0.0.3:5985: connect: connection refused"},
		{Class: "unexpected_exit", ExitCode: u32(4), Cause: "<host>: disk C: has <n> MB free", Step: "install", Hint: "see the output",
			Count: 1, Hosts: []string{"web-05"}, Sample: "web-05", Tail: "line a\nline b\nweb-05: disk C: has 17 MB free"},
	}
	if diff := cmp.Diff(want, FailureGroups(res)); diff != "" {
		t.Errorf("FailureGroups (-want +got):\n%s", diff)
	}
	if got := FailureGroups(&runner.Result{Hosts: []*runner.HostResult{{Name: "a", Status: runner.StatusOK}}}); got != nil {
		t.Errorf("FailureGroups without failures = %v, want nil", got)
	}
}

func TestFailureGroupsTailKeepsTheLastLines(t *testing.T) {
	t.Parallel()
	h := failedHost("a", "", 1, "")
	h.Steps[1].Stdout = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n"
	got := FailureGroups(&runner.Result{Hosts: []*runner.HostResult{h}})
	if len(got) != 1 {
		t.Fatalf("got %d groups, want 1", len(got))
	}
	if want := "3\n4\n5\n6\n7\n8\n9\n10\n11\n12"; got[0].Tail != want {
		t.Errorf("Tail = %q, want %q", got[0].Tail, want)
	}
	if want := "exit code not expected"; got[0].Cause != want {
		t.Errorf("Cause = %q, want %q", got[0].Cause, want)
	}
}

func TestJSONFailureGroups(t *testing.T) {
	t.Parallel()
	res := &runner.Result{Status: runner.StatusFailed, Hosts: []*runner.HostResult{
		failedHost("web-01", "10.0.0.1", 3, "web-01 failed\n"), failedHost("web-02", "10.0.0.2", 3, "web-02 failed\n"),
	}}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, NewDocument(res)); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		FailureGroups []map[string]any `json:"failure_groups"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{{
		"class": "unexpected_exit", "exit_code": 3.0, "cause": "<host> failed", "step": "install", "hint": "see the output",
		"count": 2.0, "hosts": []any{"web-01", "web-02"}, "sample": "web-01", "tail": "line a\nline b\nweb-01 failed",
	}}
	if diff := cmp.Diff(want, doc.FailureGroups); diff != "" {
		t.Errorf("failure_groups (-want +got):\n%s", diff)
	}

	for _, r := range []*runner.Result{
		{Status: runner.StatusOK, Hosts: []*runner.HostResult{{Name: "a", Status: runner.StatusOK}}},
		{Status: runner.StatusPlanned, Hosts: []*runner.HostResult{{Name: "a", Status: runner.StatusPlanned}}},
	} {
		buf.Reset()
		if err := WriteJSON(&buf, NewDocument(r)); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), "failure_groups") {
			t.Errorf("a %s result's JSON holds failure_groups:\n%s", r.Status, buf.String())
		}
	}
}
