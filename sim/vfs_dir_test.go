package sim

import (
	"testing"
	"time"
)

// TestCmdDirOnAHost runs cmd.exe's DIR on a host's file system: names as
// first written, sizes, dates of the host's clock (in UTC), the volume's
// serial number and the free space preflight reports.
func TestCmdDirOnAHost(t *testing.T) {
	t.Parallel()
	f, clock := progFleet(t, 1, `
  files:
    'C:\tools\report\lib\core.jar': "PK core jar"
    'C:\tools\report\lib\Extra.jar': "PK extra jar"
    'C:\tools\report\classes\com\example\Report.class': "cafebabe"
  preflight: {disk_free_bytes: 1234567890}
`)
	c := mzClient(t, f, f.Hosts()[0], basicHTTP, "PT60S")
	const header = " Volume in drive C has no label.\r\n Volume Serial Number is 9C7A-2B98\r\n\r\n"
	runCases(t, c, []progCase{
		{name: "a directory", command: `dir C:\tools\report`, stdout: header + crlf(
			` Directory of C:\tools\report`,
			"",
			"03/01/2024  09:00 AM    <DIR>          .",
			"03/01/2024  09:00 AM    <DIR>          ..",
			"03/01/2024  09:00 AM    <DIR>          classes",
			"03/01/2024  09:00 AM    <DIR>          lib",
			"               0 File(s)              0 bytes",
			"               4 Dir(s)   1,234,567,890 bytes free")},
		{name: "bare names keep their case", command: `dir /b C:\tools\report\lib`, stdout: "core.jar\r\nExtra.jar\r\n"},
		{name: "the drive root has no dot entries", command: `dir /b C:\`,
			stdout: crlf("patches", "Program Files", "Program Files (x86)", "ProgramData", "scripts", "tools", "Users", "Windows")},
		{name: "a missing path", command: `dir C:\tools\nope`, stdout: header + " Directory of C:\\tools\r\n\r\n", stderr: "File Not Found\r\n", code: 1},
	})
	// A file written later is dated then, and so is its directory.
	clock.Advance(90 * time.Minute)
	runCases(t, c, []progCase{
		{name: "a new file", command: `echo done> C:\tools\report\lib\run.log & dir C:\tools\report\lib`, stdout: header + crlf(
			` Directory of C:\tools\report\lib`,
			"",
			"03/01/2024  10:30 AM    <DIR>          .",
			"03/01/2024  10:30 AM    <DIR>          ..",
			"03/01/2024  09:00 AM                11 core.jar",
			"03/01/2024  09:00 AM                12 Extra.jar",
			"03/01/2024  10:30 AM                 7 run.log", // "done " and CR LF: the blank before & is echoed
			"               3 File(s)             30 bytes",
			"               2 Dir(s)   1,234,567,890 bytes free")},
	})
}

// TestFileSharesFromAShell checks the second hop: from a WinRS shell (a
// network logon) a share on another machine is out of reach unless the
// host receives delegated credentials.
func TestFileSharesFromAShell(t *testing.T) {
	t.Parallel()
	f, _ := progFleet(t, 2, `
host_settings:
  sim-0002:
    delegation: true
`)
	const denied = "Access is denied.\r\n"
	t.Run("without delegation", func(t *testing.T) {
		t.Parallel()
		c := mzClient(t, f, f.Hosts()[0], basicHTTP, "PT60S")
		runCases(t, c, []progCase{
			{name: "a program on a share", command: `\\fs01\tools\report.exe --all`, stderr: denied, code: 1},
			{name: "a batch file on a share", command: `\\fs01\tools\deploy.bat`, stderr: denied, code: 1},
			{name: "type", command: `type \\fs01\share\notes.txt`, stderr: denied, code: 1},
			{name: "dir", command: `dir \\fs01\share`, stderr: denied, code: 1},
			{name: "a redirection", command: `echo x> \\fs01\share\out.txt`, stderr: denied},
			{name: "if exist is false", command: `if exist \\fs01\share\notes.txt (echo yes) else (echo no)`, stdout: "no\r\n"},
		})
	})
	t.Run("with delegation", func(t *testing.T) {
		t.Parallel()
		c := mzClient(t, f, f.Hosts()[1], basicHTTP, "PT60S")
		runCases(t, c, []progCase{
			{name: "the share is reached and the program is not there", command: `\\fs01\tools\report.exe --all`,
				stderr: "'\\\\fs01\\tools\\report.exe' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", code: 9009},
			{name: "the file is not there either", command: `type \\fs01\share\notes.txt`,
				stderr: "The system cannot find the file specified.\r\n", code: 1},
		})
	})
}
