package sim

import (
	"context"
	"testing"
	"time"
)

func TestDismAddPackage(t *testing.T) {
	t.Parallel()
	f, _ := progFleet(t, 5, `
  files:
    'C:\patches\windows10.0-kb5034439-x64.msu': msu
host_settings:
  sim-0001:
    installed_kbs: [KB5005030]
  sim-0005:
    account: non_admin
`)
	const banner = "\r\nDeployment Image Servicing and Management tool\r\nVersion: 10.0.17763.1\r\n\r\n"
	const image = "Image Version: 10.0.17763.1\r\n\r\n"
	const adding = "Processing 1 of 1 - Adding package Package_for_KB5034439~31bf3856ad364e35~amd64~~10.0.1.0\r\n" +
		"[==========================100.0%==========================]\r\n"
	const done = "The operation completed successfully.\r\n"
	const question = "Restart Windows to complete this operation.\r\nDo you want to restart the computer now? (Y/N) "
	const log = "The DISM log file can be found at C:\\Windows\\Logs\\DISM\\dism.log\r\n"
	const extract = `wusa.exe C:\patches\windows10.0-kb5034439-x64.msu /extract:C:\patches\kb5034439`
	const cab = `C:\patches\kb5034439\Windows10.0-KB5034439-x64.cab`

	t.Run("install, again, and the pending restart", func(t *testing.T) {
		t.Parallel()
		h := f.Hosts()[0]
		c := mzClient(t, f, h, basicHTTP, "PT60S")
		runCases(t, c, []progCase{
			{name: "a missing package is error 2", command: `dism /online /add-package /packagepath:C:\patches\nope.cab`,
				stdout: banner + image + "\r\nError: 2\r\n\r\nThe system cannot find the file specified.\r\n\r\n" + log, code: 2},
			{name: "wusa extracts the update from a shell", command: extract},
			{name: "a new update asks for a restart: 3010", command: `dism.exe /Online /Add-Package /PackagePath:` + cab + ` /NoRestart`,
				stdout: banner + image + adding + done, code: 3010},
			{name: "the same update again is already there: 0", command: `dism /online /add-package /packagepath:` + cab + ` /norestart`,
				stdout: banner + image + adding + done},
			{name: "the servicing stack's RebootPending key now exists (an empty key)",
				command: `reg query "HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending"`, stdout: "\r\n"},
			{name: "get-packages lists the installed updates", command: `dism /online /get-packages`, stdout: banner + image + "Packages listing: \r\n\r\n" +
				"Package Identity : Package_for_KB5005030~31bf3856ad364e35~amd64~~10.0.1.0\r\nState : Installed\r\nRelease Type : Update\r\nInstall Time : 1/31/2024 9:00 AM\r\n\r\n" +
				"Package Identity : Package_for_KB5034439~31bf3856ad364e35~amd64~~10.0.1.0\r\nState : Install Pending\r\nRelease Type : Update\r\nInstall Time : 3/1/2024 9:00 AM\r\n\r\n" +
				done},
		})
		if _, ok := h.machine.Hotfix("KB5034439"); !ok || !h.machine.RebootPending() {
			t.Errorf("after dism the update is not installed or no restart is pending")
		}
	})
	t.Run("a folder, and the question answered N", func(t *testing.T) {
		t.Parallel()
		h := f.Hosts()[1]
		c := mzClient(t, f, h, basicHTTP, "PT60S")
		runCases(t, c, []progCase{
			{name: "extract", command: extract},
			{name: "the folder holds the update (and WSUSSCAN.cab, which is no package)", command: `dism /online /add-package /packagepath:C:\patches\kb5034439`,
				stdin: "n\r\n", stdout: banner + image + adding + done + question, code: 3010},
		})
		if st := h.Stats(); st.Reboots != 0 || !h.Online() {
			t.Errorf("answering N restarted the host: %+v", st)
		}
	})
	t.Run("the question answered Y restarts the host", func(t *testing.T) {
		t.Parallel()
		h := f.Hosts()[2]
		c := mzClient(t, f, h, basicHTTP, "PT60S")
		runCases(t, c, []progCase{
			{name: "extract", command: extract},
			{name: "Y", command: `dism /online /add-package /packagepath:` + cab, stdin: "Y\r\n", stdout: banner + image + adding + done + question, code: 3010},
		})
		waitReboots(t, h, 1)
	})
	t.Run("quiet without norestart restarts without asking", func(t *testing.T) {
		t.Parallel()
		h := f.Hosts()[3]
		c := mzClient(t, f, h, basicHTTP, "PT60S")
		runCases(t, c, []progCase{
			{name: "extract", command: extract},
			{name: "quiet", command: `dism /online /add-package /packagepath:` + cab + ` /quiet`, code: 3010},
		})
		waitReboots(t, h, 1)
	})
	t.Run("refusals", func(t *testing.T) {
		t.Parallel()
		c := mzClient(t, f, f.Hosts()[4], basicHTTP, "PT60S")
		runCases(t, c, []progCase{
			{name: "DISM needs an administrator", command: `dism /online /add-package /packagepath:` + cab,
				stdout: banner + "\r\nError: 740\r\n\r\nElevated permissions are required to run DISM.\r\nUse an elevated command prompt to complete these tasks.\r\n\r\n" + log, code: 740},
		})
		c = mzClient(t, f, f.Hosts()[0], basicHTTP, "PT60S")
		runCases(t, c, []progCase{
			{name: "a misspelt option is DISM's error 87", command: `dism /online /add-pakage /packagepath:` + cab,
				stdout: banner + "\r\nError: 87\r\n\r\nThe add-pakage option is unknown.\r\nFor more information, refer to the help by running DISM.exe /?.\r\n\r\n" + log, code: 87},
			{name: "without /online a servicing command is unknown", command: `dism /add-package /packagepath:` + cab,
				stdout: banner + "\r\nError: 87\r\n\r\nThe add-package option is unknown.\r\nFor more information, refer to the help by running DISM.exe /?.\r\n\r\n" + log, code: 87},
			{name: "/quiet keeps the error and drops the banner", command: `dism /online /add-package /packagepath:C:\nope.cab /quiet /norestart`,
				stdout: "\r\nError: 2\r\n\r\nThe system cannot find the file specified.\r\n\r\n" + log, code: 2},
			{name: "other servicing commands are not modelled", command: `dism /online /cleanup-image /restorehealth`,
				stderr: "simulated host: dism /online /cleanup-image /restorehealth is not modelled\r\n", code: notModelledExit},
			{name: "offline images are not modelled", command: `dism /image:C:\mount /add-package /packagepath:` + cab,
				stderr: "simulated host: dism /image:C:\\mount /add-package /packagepath:" + cab + " is not modelled\r\n", code: notModelledExit},
			{name: "an .msu is not modelled", command: `dism /online /add-package /packagepath:C:\patches\windows10.0-kb5034439-x64.msu`,
				stderr: "simulated host: dism /add-package of C:\\patches\\windows10.0-kb5034439-x64.msu, which is not an update cabinet, is not modelled\r\n", code: notModelledExit},
		})
	})
}

// waitReboots waits until the host has gone down for a restart n times.
func waitReboots(t *testing.T, h *Host, n int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.WaitFor(ctx, func() bool { return h.Stats().Reboots >= n }); err != nil {
		t.Fatalf("reboots = %d, want %d: %v", h.Stats().Reboots, n, err)
	}
}
