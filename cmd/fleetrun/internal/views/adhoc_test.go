package views_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/cmd/fleetrun/internal/views"
	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

func code(c uint32) *uint32 { return &c }

func okHost(name, addr, stdout string) *runner.HostResult {
	return &runner.HostResult{Name: name, Address: addr, Status: runner.StatusOK, Steps: []*runner.StepResult{
		{Name: "hostname", Kind: "command", Status: runner.StatusOK, ExitCode: code(0), Expected: []uint32{0}, Stdout: stdout}}}
}

func failHost(name, addr string, exit uint32, stdout, stderr string) *runner.HostResult {
	return &runner.HostResult{Name: name, Address: addr, Status: runner.StatusFailed, Steps: []*runner.StepResult{
		{Name: "hostname", Kind: "command", Status: runner.StatusFailed, ExitCode: code(exit), Expected: []uint32{0}, Stdout: stdout, Stderr: stderr,
			Err: &transport.Error{Class: transport.ClassUnexpectedExit, Message: fmt.Sprintf("exit code %d, expected [0]", exit)}}}}
}

func refusedHost(name, addr string, port int) *runner.HostResult {
	return &runner.HostResult{Name: name, Address: addr, Status: runner.StatusUnreachable,
		Err: &transport.Error{Class: transport.ClassRefused, Message: fmt.Sprintf("dial tcp %s:%d: connect: connection refused", addr, port), Hint: "is WinRM listening on the host?"}}
}

// adhocFleet is twelve hosts: nine print their own name (in other cases
// and with the address), one prints something else, two fail alike in
// their own words, one is refused twice over (two ports).
func adhocFleet() *runner.Result {
	r := &runner.Result{Playbook: "fleetrun run", Status: runner.StatusFailed}
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	r.Started, r.Finished = t0, t0.Add(3*time.Second)
	for i := 1; i <= 9; i++ {
		name := fmt.Sprintf("web-%02d", i)
		r.Hosts = append(r.Hosts, okHost(name, fmt.Sprintf("10.0.0.%d", i), strings.ToUpper(name)+"\r\naddress 10.0.0."+fmt.Sprint(i)+"\r\n"))
	}
	r.Hosts = append(r.Hosts,
		okHost("web-10", "10.0.0.10", "web-10\r\naddress 10.0.0.10\r\nweb-100 is my neighbour\r\n"),
		failHost("db-01", "10.0.1.1", 5, "", "db-01: Access is denied.\r\n"),
		failHost("db-02", "10.0.1.2", 5, "", "DB-02: Access is denied.\r\n"),
		refusedHost("mail", "10.0.2.1", 5985),
		refusedHost("mail-2", "10.0.2.2", 5986),
	)
	return r
}

func TestGroupOutputs(t *testing.T) {
	t.Parallel()
	got := views.GroupOutputs(adhocFleet())
	want := []views.OutputGroup{
		{Hosts: []string{"web-01", "web-02", "web-03", "web-04", "web-05", "web-06", "web-07", "web-08", "web-09"}, Status: runner.StatusOK, ExitCode: code(0),
			Stdout: "<host>\naddress <host>\n"},
		{Hosts: []string{"web-10"}, Status: runner.StatusOK, ExitCode: code(0), Stdout: "<host>\naddress <host>\nweb-100 is my neighbour\n"},
		{Hosts: []string{"db-01", "db-02"}, Status: runner.StatusFailed, ExitCode: code(5), Class: "unexpected_exit", Stderr: "<host>: Access is denied.\n"},
		{Hosts: []string{"mail", "mail-2"}, Status: runner.StatusUnreachable, Class: "refused", Error: "dial tcp <host>:5985: connect: connection refused"},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(views.OutputGroup{}), cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".first"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("GroupOutputs (-want +got):\n%s", diff)
	}
}

func TestReplaceHostInOutputs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text, host, addr, want string
	}{
		{"the name in any case", "SIM-0001\r\n", "sim-0001", "127.0.0.1", "<host>\r\n"},
		{"the address and the name side by side", "sim-0001 10.0.0.1", "sim-0001", "10.0.0.1", "<host> <host>"},
		{"only whole words", "web-10 web-1x web-1.", "web-1", "10.0.0.1", "web-10 web-1x <host>."},
		{"the first label of a dotted name", "WEB01 is web01.corp.example", "web01.corp.example", "10.0.0.1", "<host> is <host>"},
		{"an address's first byte is no name", "10 apples at 10.0.0.1", "10.0.0.1", "10.0.0.1", "10 apples at <host>"},
		{"nothing to replace", "ok", "web-1", "", "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := report.ReplaceHost(tt.text, tt.host, tt.addr); got != tt.want {
				t.Errorf("ReplaceHost(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestRunText(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	if err := views.RunText(&b, adhocFleet(), views.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	want := `9 hosts, ok, exit 0: web-[01-09]
  <host>
  address <host>

1 host, ok, exit 0: web-10
  <host>
  address <host>
  web-100 is my neighbour

2 hosts, failed, exit 5: db-[01-02]
  stderr: <host>: Access is denied.

2 hosts, unreachable, refused: mail,mail-2
  error: dial tcp <host>:5985: connect: connection refused

14 hosts: 10 ok, 2 failed, 2 unreachable, 0 skipped
run failed in 3s

FAILURES BY CAUSE (2 groups)
2 hosts: unexpected_exit, exit 5, step "hostname"
  cause: <host>: Access is denied.
  hosts: db-01, db-02
  output of db-01:
    db-01: Access is denied.

2 hosts: refused, step "connect"
  cause: dial tcp <host>:<n>: connect: connection refused
  hosts: mail, mail-2
  hint:  is WinRM listening on the host?
  output of mail:
    dial tcp 10.0.2.1:5985: connect: connection refused
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("RunText (-want +got):\n%s", diff)
	}
}

func TestRunTextBoundsItsOutput(t *testing.T) {
	t.Parallel()
	r := &runner.Result{Playbook: "fleetrun run", Status: runner.StatusOK}
	// 25 distinct results of one host each: host i prints 26-i lines;
	// host 1 also an escape sequence and a long line.
	for i := 1; i <= 25; i++ {
		var out strings.Builder
		for j := 1; j <= 26-i; j++ {
			fmt.Fprintf(&out, "line %d\r\n", j)
		}
		r.Hosts = append(r.Hosts, okHost(fmt.Sprintf("h%02d", i), "", out.String()))
	}
	r.Hosts[0].Steps[0].Stdout = "\x1b[31mred\r\n" + strings.Repeat("x", 305) + "\r\n" + r.Hosts[0].Steps[0].Stdout
	// h26-h27 fail alike, so their group is bigger than each success.
	r.Hosts = append(r.Hosts, failHost("h26", "", 1, "", "boom\n"), failHost("h27", "", 1, "", "boom\n"))
	r.Status = runner.StatusFailed
	var b strings.Builder
	if err := views.RunText(&b, r, views.RunOptions{Simulated: true}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(out, "\n")
	if lines[0] != "[simulated] SIMULATED FLEET — no real hosts contacted" {
		t.Errorf("first line %q, want the simulated banner", lines[0])
	}
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, "[simulated]") {
			t.Errorf("line without the simulated label: %q", l)
		}
	}
	for _, want := range []string{
		"\n[simulated] 1 host, ok, exit 0: h01\n[simulated]   \\x1b[31mred\n[simulated]   " + strings.Repeat("x", 300) + " [5 more characters]\n[simulated]   line 1\n",
		"\n[simulated]   line 8\n[simulated]   ... 17 more lines not shown; full output: --output json, --report or --log-dir\n",
		"\n[simulated] 2 hosts, failed, exit 1: h[26-27]\n[simulated]   stderr: boom\n",
		"\n[simulated] 6 more distinct results on 6 hosts not shown; full output: --output json, --report or --log-dir\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if blocks := strings.Count(out, ", exit "); blocks != views.MaxOutputGroups+1 { // + the failure group's own line
		t.Errorf("%d results shown, want %d", blocks-1, views.MaxOutputGroups)
	}
	// Of results of one host each, the last six in inventory order are
	// left out; the bigger failure group stays.
	if strings.Contains(out, ": h20\n") || !strings.Contains(out, ": h19\n") {
		t.Errorf("h20 to h25 should be left out:\n%s", out)
	}
}
