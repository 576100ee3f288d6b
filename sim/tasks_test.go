package sim

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// waitFor waits (without polling) until cond holds on h, or fails the test.
func waitFor(t *testing.T, h *Host, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.WaitFor(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v\ntasks %+v\nprocesses %+v", what, err, h.Tasks(), h.Processes())
	}
}

// imagesRunning lists the image names of h's processes, in PID order.
func imagesRunning(h *Host) []string {
	var out []string
	for _, p := range h.Processes() {
		out = append(out, p.Image)
	}
	return out
}

func taskStatus(h *Host, path string) string {
	ti, ok := h.Task(path)
	if !ok {
		return "absent"
	}
	return ti.Status
}

func TestSchtasksCreateRunQueryEndDelete(t *testing.T) {
	t.Parallel()
	f, h := masterzenFleet(t, ntlmSealed, "", nil)
	c := mzClient(t, f, h, ntlmSealed, "PT60S")
	steps := []struct {
		name, command, stdout, stderr string
		code                          int
	}{
		{"create a task as SYSTEM", `schtasks /create /tn nightly /tr "C:\tools\sleep.exe 600" /sc once /st 23:00 /ru SYSTEM /rl HIGHEST`,
			"SUCCESS: The scheduled task \"nightly\" has successfully been created.\r\n", "", 0},
		{"a second create without /f asks and, told no, fails", `echo n| schtasks /create /tn nightly /tr C:\tools\sleep.exe /sc once /st 23:00`,
			"WARNING: The task name \"nightly\" already exists. Do you want to replace it (Y/N)? \r\n", "", 1},
		{"a new task has not run", `schtasks /query /tn nightly /fo csv /v`,
			"\"TaskName\",\"Next Run Time\",\"Status\",\"Last Run Time\",\"Last Result\",\"Task To Run\",\"Run As User\"\r\n" +
				"\"\\nightly\",\"N/A\",\"Ready\",\"11/30/1999 12:00:00 AM\",\"267011\",\"C:\\tools\\sleep.exe 600\",\"SYSTEM\"\r\n", "", 0},
		{"run it", `schtasks /run /tn nightly`, "SUCCESS: Attempted to run the scheduled task \"nightly\".\r\n", "", 0},
	}
	for _, s := range steps {
		out, errOut, code := runMZ(t, c, s.command)
		if diff := cmp.Diff([]any{s.stdout, s.stderr, s.code}, []any{out, errOut, code}); diff != "" {
			t.Fatalf("%s: %q (-want +got):\n%s", s.name, s.command, diff)
		}
	}
	waitFor(t, h, "the task's program", func() bool { return len(h.processesByImage("sleep.exe")) == 1 })
	out, _, code := runMZ(t, c, `schtasks /query /tn nightly /fo list /v`)
	for _, want := range []string{"TaskName:                             \\nightly\r\n", "Status:                               Running\r\n",
		"Last Result:                          267009\r\n", "Run As User:                          SYSTEM\r\n"} {
		if !strings.Contains(out, want) || code != 0 {
			t.Errorf("query of a running task (exit %d) lacks %q:\n%s", code, want, out)
		}
	}
	for _, s := range []struct{ command, stdout string }{
		{`schtasks /end /tn nightly`, "SUCCESS: The scheduled task \"nightly\" has been terminated successfully.\r\n"},
		{`schtasks /delete /tn nightly /f`, "SUCCESS: The scheduled task \"nightly\" was successfully deleted.\r\n"},
	} {
		if out, errOut, code := runMZ(t, c, s.command); out != s.stdout || errOut != "" || code != 0 {
			t.Errorf("%q: stdout %q stderr %q exit %d, want %q", s.command, out, errOut, code, s.stdout)
		}
	}
	out, errOut, code := runMZ(t, c, `schtasks /query /tn nightly`)
	if out != "" || errOut != "ERROR: The system cannot find the file specified.\r\n" || code != 1 {
		t.Errorf("query of a deleted task: stdout %q stderr %q exit %d", out, errOut, code)
	}
	if st := h.Stats().Tasks; st != (TaskStats{Created: 1, Runs: 1, Ended: 1, Deleted: 1}) {
		t.Errorf("task counters %+v", st)
	}
}

// Ending a task ends its action's process only: what that process started
// goes on (Microsoft: schtasks /end "ends only the instances of a program
// started by a scheduled task"); taskkill /T ends a whole tree.
func TestEndingATaskLeavesItsChildrenAndTaskkillTreeEndsThem(t *testing.T) {
	t.Parallel()
	f, h := masterzenFleet(t, ntlmSealed, "", nil)
	c := mzClient(t, f, h, ntlmSealed, "PT60S")
	runMZ(t, c, `schtasks /create /tn tree /tr "cmd.exe /c C:\tools\sleep.exe 600 & echo after> C:\after.txt" /sc once /st 23:00 /ru SYSTEM`)
	runMZ(t, c, `schtasks /run /tn tree`)
	waitFor(t, h, "cmd.exe and sleep.exe", func() bool { return strings.Join(imagesRunning(h), " ") == "cmd.exe sleep.exe" })
	if _, _, code := runMZ(t, c, `schtasks /end /tn tree`); code != 0 {
		t.Fatalf("schtasks /end exited %d", code)
	}
	waitFor(t, h, "cmd.exe gone", func() bool { return strings.Join(imagesRunning(h), " ") == "sleep.exe" })
	ti, _ := h.Task(`\tree`)
	if ti.Status != "Ready" || ti.LastResult != schedTaskTerminated {
		t.Errorf("ended task: status %s, last result %d; want Ready, 267014", ti.Status, ti.LastResult)
	}
	// The orphan is found by image and ended.
	out, errOut, code := runMZ(t, c, `taskkill /IM sleep.exe /F`)
	pid := h.processesByImage("sleep.exe")
	if code != 0 || errOut != "" || !strings.HasPrefix(out, "SUCCESS: The process with PID ") || len(pid) > 1 {
		t.Errorf("taskkill: stdout %q stderr %q exit %d", out, errOut, code)
	}
	waitFor(t, h, "no process left", func() bool { return len(h.Processes()) == 0 })
	// cmd.exe was killed before its child returned: the rest of its line
	// never ran.
	if h.fs.Exists(`C:\after.txt`) {
		t.Errorf("the ended cmd.exe went on with its line after its child ended")
	}
	// A tree ended from its root goes at once.
	runMZ(t, c, `schtasks /run /tn tree`)
	waitFor(t, h, "a new tree", func() bool { return len(h.processesByImage("sleep.exe")) == 1 })
	root := h.processesByImage("cmd.exe")
	out, _, code = runMZ(t, c, "taskkill /PID "+strconv.Itoa(root[0])+" /T /F")
	if code != 0 || strings.Count(out, "SUCCESS") != 2 || !strings.Contains(out, "(child process of PID "+strconv.Itoa(root[0])+")") {
		t.Errorf("taskkill /T: exit %d\n%s", code, out)
	}
	waitFor(t, h, "the tree gone", func() bool { return len(h.Processes()) == 0 })
	if st := h.Stats(); st.ProcessesKilled != 4 {
		t.Errorf("processes killed = %d, want 4", st.ProcessesKilled)
	}
	if out, errOut, code := runMZ(t, c, "taskkill /PID 4 /F"); out != "" || errOut != "ERROR: The process \"4\" not found.\r\n" || code != 128 {
		t.Errorf("taskkill of no process: %q %q %d", out, errOut, code)
	}
}

// A task's process outlives the shell and the connection that started it,
// runs as SYSTEM outside the shell's memory cap, and wusa installs there.
func TestTaskOutlivesItsShellAndRunsWhatAShellMayNot(t *testing.T) {
	t.Parallel()
	f := startFleet(t, FleetOptions{Hosts: 1, Profile: "2008r2", Dir: t.TempDir(), Scenario: mustScenario(t, `
defaults:
  files:
    'C:\patches\KB5034439.msu': msu
    'C:\scripts\work.bat': "@echo off\r\nwhoami > C:\\who.txt\r\njava -Xmx512m -jar C:\\tools\\big.jar > C:\\java.txt 2>&1\r\nwusa.exe C:\\patches\\KB5034439.msu /quiet /norestart\r\necho %errorlevel% > C:\\wusa.txt\r\nC:\\tools\\sleep.exe 600\r\n"
`)})
	h := f.Hosts()[0]
	c := mzClient(t, f, h, ntlmSealed, "PT60S")
	if _, _, code := runMZ(t, c, `wusa.exe C:\patches\KB5034439.msu /quiet /norestart`); code != 5 {
		t.Errorf("wusa from the shell exited %d, want 5", code)
	}
	runMZ(t, c, `schtasks /create /tn work /tr C:\scripts\work.bat /sc once /st 23:00 /ru SYSTEM`)
	runMZ(t, c, `schtasks /run /tn work`)
	waitFor(t, h, "the task at its last command", func() bool { return len(h.processesByImage("sleep.exe")) == 1 })
	// The connection and every shell go; the task does not.
	h.mu.Lock()
	for id := range h.shells {
		h.dropShellLocked(id)
	}
	h.mu.Unlock()
	if got := h.processesByImage("sleep.exe"); len(got) != 1 {
		t.Fatalf("the task's program died with the shells: %v", imagesRunning(h))
	}
	for path, want := range map[string]string{`C:\who.txt`: "nt authority\\system\r\n", `C:\wusa.txt`: "3010 \r\n",
		`C:\java.txt`: "simulated JVM: C:\\tools\\big.jar ran with a 512 MB heap\r\n"} {
		data, err := h.fs.ReadFile(path)
		if err != nil || string(data) != want {
			t.Errorf("%s = %q, %v; want %q", path, data, err, want)
		}
	}
	if _, ok := h.machine.Hotfix("KB5034439"); !ok || !h.machine.RebootPending() {
		t.Errorf("the task's install left no update or no pending restart")
	}
	// A restart ends the task with its tree.
	h.rebootNow()
	waitFor(t, h, "the restart to end the task", func() bool { return len(h.Processes()) == 0 && taskStatus(h, `\work`) == "Ready" })
	if ti, _ := h.Task(`\work`); ti.LastResult != schedTaskTerminated {
		t.Errorf("last result after a restart = %d, want 267014", ti.LastResult)
	}
}

func TestOnlyAnAdministratorRegistersTasks(t *testing.T) {
	t.Parallel()
	f := startFleet(t, FleetOptions{Hosts: 1, Dir: t.TempDir(), Scenario: mustScenario(t, "defaults: {account: non_admin}\n")})
	h := f.Hosts()[0]
	c := mzClient(t, f, h, ntlmSealed, "PT60S")
	out, errOut, code := runMZ(t, c, `schtasks /create /tn x /tr C:\tools\sleep.exe /sc once /st 23:00 /ru SYSTEM`)
	if out != "" || errOut != "ERROR: Access is denied.\r\n" || code != 1 {
		t.Errorf("non-administrator create: stdout %q stderr %q exit %d", out, errOut, code)
	}
}

func TestChcpChangesTheConsoleOfTheCommand(t *testing.T) {
	t.Parallel()
	f := startFleet(t, FleetOptions{Hosts: 1, Dir: t.TempDir(), Scenario: mustScenario(t, "defaults: {output_encoding: cp932}\n")})
	h := f.Hosts()[0]
	c := mzClient(t, f, h, ntlmSealed, "PT60S")
	// masterzen asks the shell for code page 65001.
	tests := []struct{ command, stdout string }{
		{"chcp", "Active code page: 65001\r\n"},
		{"chcp 932 >nul & echo 日本", "\x93\xfa\x96\x7b\r\n"},
		{"echo 日本", "日本\r\n"},
		{"chcp 1234", "Invalid code page\r\n"},
	}
	for _, tt := range tests {
		out, _, _ := runMZ(t, c, tt.command)
		if out != tt.stdout {
			t.Errorf("%q: stdout %q, want %q", tt.command, out, tt.stdout)
		}
	}
}

// During a network cut the host answers nothing, but what runs on it goes
// on; afterwards it serves again.
func TestNetworkCutSilencesTheHostButNotItsWork(t *testing.T) {
	t.Parallel()
	f, h := masterzenFleet(t, ntlmSealed, "", nil)
	c := mzClient(t, f, h, ntlmSealed, "PT60S")
	runMZ(t, c, `schtasks /create /tn t /tr "cmd /c C:\tools\sleep.exe 0.2 & echo done> C:\done.txt" /sc once /st 23:00 /ru SYSTEM`)
	runMZ(t, c, `schtasks /run /tn t`)
	f.SetNetworkCut(true)
	// Any request, even one that would only get a 401, goes unanswered.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL(), strings.NewReader("<x/>"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	cancel()
	if err == nil {
		_ = resp.Body.Close()
		t.Errorf("a request got an answer (%s) through a network cut", resp.Status)
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a request during the cut failed with %v, want no answer until its deadline", err)
	}
	waitFor(t, h, "the task to finish during the cut", func() bool { return taskStatus(h, `\t`) == "Ready" })
	if data, err := h.fs.ReadFile(`C:\done.txt`); err != nil || string(data) != "done\r\n" {
		t.Errorf("the task's work during the cut: %q, %v", data, err)
	}
	f.SetNetworkCut(false)
	if out, _, code := runMZ(t, c, "hostname"); out != "sim-0001\r\n" || code != 0 {
		t.Errorf("after the cut: %q exit %d", out, code)
	}
}
