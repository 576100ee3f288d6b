package sim

import (
	"strings"
	"testing"
)

func TestIpconfigAndSysteminfo(t *testing.T) {
	t.Parallel()
	f, _ := progFleet(t, 2, `
host_settings:
  sim-0001:
    installed_kbs: [KB5005030, KB4514366]
  sim-0002:
    profile: 2008r2
`)
	ipconfig := crlf("",
		"Windows IP Configuration",
		"",
		"",
		"Ethernet adapter Ethernet:",
		"",
		"   Connection-specific DNS Suffix  . : ",
		"   IPv4 Address. . . . . . . . . . . : 127.0.0.1",
		"   Subnet Mask . . . . . . . . . . . : 255.255.255.0",
		"   Default Gateway . . . . . . . . . : 127.0.0.1")
	ipconfigAll := crlf("",
		"Windows IP Configuration",
		"",
		"   Host Name . . . . . . . . . . . . : sim-0001",
		"   Primary Dns Suffix  . . . . . . . : ",
		"   Node Type . . . . . . . . . . . . : Hybrid",
		"   IP Routing Enabled. . . . . . . . : No",
		"   WINS Proxy Enabled. . . . . . . . : No",
		"",
		"Ethernet adapter Ethernet:",
		"",
		"   Connection-specific DNS Suffix  . : ",
		"   Description . . . . . . . . . . . : Microsoft Hyper-V Network Adapter",
		"   Physical Address. . . . . . . . . : 00-15-5D-7A-2B-98",
		"   DHCP Enabled. . . . . . . . . . . : No",
		"   Autoconfiguration Enabled . . . . : Yes",
		"   IPv4 Address. . . . . . . . . . . : 127.0.0.1(Preferred) ",
		"   Subnet Mask . . . . . . . . . . . : 255.255.255.0",
		"   Default Gateway . . . . . . . . . : 127.0.0.1",
		"   DNS Servers . . . . . . . . . . . : 127.0.0.1",
		"   NetBIOS over Tcpip. . . . . . . . : Enabled")
	sysinfo := func(name, osName, osVersion, hotfixes string, hyperV bool) string {
		lines := []string{"",
			"Host Name:                 " + name,
			"OS Name:                   " + osName,
			"OS Version:                " + osVersion,
			"OS Manufacturer:           Microsoft Corporation",
			"OS Configuration:          Standalone Server",
			"OS Build Type:             Multiprocessor Free",
			"Registered Owner:          Windows User",
			"Registered Organization:   ",
			"Product ID:                00430-00000-00000-AA000",
			"Original Install Date:     12/2/2023, 9:00:00 AM",
			"System Boot Time:          3/1/2024, 9:00:00 AM",
			"System Manufacturer:       Microsoft Corporation",
			"System Model:              Virtual Machine",
			"System Type:               x64-based PC",
			"Processor(s):              1 Processor(s) Installed.",
			"                           [01]: Intel64 Family 6 Model 85 Stepping 7 GenuineIntel ~2494 Mhz",
			"BIOS Version:              Microsoft Corporation Hyper-V UEFI Release v4.0, 11/1/2019",
			`Windows Directory:         C:\Windows`,
			`System Directory:          C:\Windows\system32`,
			`Boot Device:               \Device\HarddiskVolume1`,
			"System Locale:             en-us;English (United States)",
			"Input Locale:              en-us;English (United States)",
			"Time Zone:                 (UTC) Coordinated Universal Time",
			"Total Physical Memory:     8,191 MB",
			"Available Physical Memory: 6,143 MB",
			"Virtual Memory: Max Size:  9,471 MB",
			"Virtual Memory: Available: 7,423 MB",
			"Virtual Memory: In Use:    2,048 MB",
			`Page File Location(s):     C:\pagefile.sys`,
			"Domain:                    WORKGROUP",
			"Logon Server:              N/A",
		}
		lines = append(lines, strings.Split(hotfixes, "\n")...)
		lines = append(lines,
			"Network Card(s):           1 NIC(s) Installed.",
			"                           [01]: Microsoft Hyper-V Network Adapter",
			"                                 Connection Name: Ethernet",
			"                                 DHCP Enabled:    No",
			"                                 IP address(es)",
			"                                 [01]: 127.0.0.1")
		if hyperV {
			lines = append(lines, "Hyper-V Requirements:      A hypervisor has been detected. Features required for Hyper-V will not be displayed.")
		}
		return crlf(lines...)
	}
	t.Run("2019", func(t *testing.T) {
		t.Parallel()
		c := mzClient(t, f, f.Hosts()[0], basicHTTP, "PT60S")
		runCases(t, c, []progCase{
			{name: "ipconfig shows the adapter", command: "ipconfig", stdout: ipconfig},
			{name: "ipconfig /all adds host and adapter details", command: "ipconfig /all", stdout: ipconfigAll},
			{name: "cmd.exe ends the program name at a slash and ipconfig reads the rest", command: "ipconfig/all", stdout: ipconfigAll},
			{name: "the full path works too", command: `C:\Windows\System32\ipconfig.exe -ALL`, stdout: ipconfigAll},
			{name: "an unknown ipconfig switch is ipconfig's own error", command: "ipconfig /bogus",
				stdout: "\r\nError: unrecognized or incomplete command line.\r\n\r\nUSAGE:\r\n    ipconfig [/allcompartments] [/? | /all | ...]\r\n\r\n", code: 1},
			{name: "a documented ipconfig switch that is not modelled is refused loudly", command: "ipconfig /flushdns",
				stderr: "simulated host: ipconfig /flushdns is not modelled\r\n", code: notModelledExit},
			{name: "systeminfo lists the host, its OS, boot time and hotfixes", command: "systeminfo",
				stdout: sysinfo("SIM-0001", "Microsoft Windows Server 2019 Datacenter", "10.0.17763 N/A Build 17763",
					"Hotfix(s):                 2 Hotfix(s) Installed.\n                           [01]: KB4514366\n                           [02]: KB5005030", true)},
			{name: "systeminfo /fo csv is not modelled", command: "systeminfo /fo csv",
				stderr: "simulated host: systeminfo /fo csv is not modelled\r\n", code: notModelledExit},
			{name: "an unknown systeminfo argument is its own error", command: "systeminfo /x",
				stderr: "ERROR: Invalid argument/option - '/x'.\r\nType \"SYSTEMINFO /?\" for usage.\r\n", code: 1},
		})
	})
	t.Run("2008 R2 without hotfixes", func(t *testing.T) {
		t.Parallel()
		c := mzClient(t, f, f.Hosts()[1], basicHTTP, "PT60S")
		runCases(t, c, []progCase{
			{name: "systeminfo of a 2008 R2 SP1 host with no hotfix", command: "systeminfo",
				stdout: sysinfo("SIM-0002", "Microsoft Windows Server 2008 R2 Datacenter", "6.1.7601 Service Pack 1 Build 7601",
					"Hotfix(s):                 N/A", false)},
		})
	})
}

func TestRegQuery(t *testing.T) {
	t.Parallel()
	f, _ := progFleet(t, 1, "")
	c := mzClient(t, f, f.Hosts()[0], basicHTTP, "PT60S")
	const notFound = "ERROR: The system was unable to find the specified registry key or value.\r\n"
	runCases(t, c, []progCase{
		{name: "one value", command: `reg query "HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion" /v ProductName`,
			stdout: "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\r\n    ProductName    REG_SZ    Windows Server 2019 Datacenter\r\n\r\n"},
		{name: "a DWORD in hexadecimal, the key as typed, the value as stored", command: `reg query hklm\software\microsoft\windows\currentversion\policies\system /V enablelua`,
			stdout: "\r\nHKEY_LOCAL_MACHINE\\software\\microsoft\\windows\\currentversion\\policies\\system\r\n    EnableLUA    REG_DWORD    0x1\r\n\r\n"},
		{name: "every value of a key", command: `reg query HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System\`,
			stdout: crlf("", `HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System`,
				"    EnableLUA    REG_DWORD    0x1",
				"    LocalAccountTokenFilterPolicy    REG_DWORD    0x1",
				"")},
		{name: "a key with subkeys only lists them", command: `reg query HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion`,
			stdout: crlf("",
				`HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing`,
				`HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies`,
				`HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate`)},
		{name: "no restart pending: no RebootPending key", command: `reg query "HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending"`,
			stderr: notFound, code: 1},
		{name: "the usual pending-restart test in cmd", command: `reg query "HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending" >nul 2>&1 && echo pending || echo clean`,
			stdout: "clean\r\n", code: 1}, // ECHO leaves the errorlevel alone
		{name: "a missing key", command: `reg query HKLM\SOFTWARE\Nope`, stderr: notFound, code: 1},
		{name: "a missing value (after the blank line reg.exe has already written)", command: `reg query HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System /v Nope`,
			stdout: "\r\n", stderr: notFound, code: 1},
		{name: "/ve on a key without a default value", command: `reg query HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System /ve`,
			stdout: "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System\r\n    (Default)    REG_SZ    (value not set)\r\n"},
		{name: "/reg:64 is the native view", command: `reg query HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System /v EnableLUA /reg:64`,
			stdout: "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System\r\n    EnableLUA    REG_DWORD    0x1\r\n\r\n"},
		{name: "an unknown root is an invalid key name", command: `reg query FOO\bar`,
			stderr: "ERROR: Invalid key name.\r\nType \"REG QUERY /?\" for usage.\r\n", code: 1},
		{name: "an unknown switch is invalid syntax", command: `reg query HKLM\SOFTWARE /q`,
			stderr: "ERROR: Invalid syntax.\r\nType \"REG QUERY /?\" for usage.\r\n", code: 1},
		{name: "/v without a name is invalid syntax", command: `reg query HKLM\SOFTWARE /v`,
			stderr: "ERROR: Invalid syntax.\r\nType \"REG QUERY /?\" for usage.\r\n", code: 1},
		{name: "/v with /ve is invalid syntax", command: `reg query HKLM\SOFTWARE /v x /ve`,
			stderr: "ERROR: Invalid syntax.\r\nType \"REG QUERY /?\" for usage.\r\n", code: 1},
		{name: "reg alone", command: `reg`, stderr: "ERROR: Invalid syntax.\r\nType \"REG /?\" for usage.\r\n", code: 1},
		{name: "an unknown verb", command: `reg frob HKLM\x`, stderr: "ERROR: Invalid argument/option - 'frob'.\r\nType \"REG /?\" for usage.\r\n", code: 1},
		{name: "reg add is not modelled", command: `reg add HKLM\SOFTWARE\x /v y /t REG_DWORD /d 1 /f`,
			stderr: "simulated host: reg add HKLM\\SOFTWARE\\x /v y /t REG_DWORD /d 1 /f is not modelled\r\n", code: notModelledExit},
		{name: "HKCU is not modelled", command: `reg query HKCU\Software`,
			stderr: "simulated host: reg query HKCU\\Software is not modelled\r\n", code: notModelledExit},
		{name: "/s is not modelled", command: `reg query HKLM\SOFTWARE /s`,
			stderr: "simulated host: reg query HKLM\\SOFTWARE /s is not modelled\r\n", code: notModelledExit},
		{name: "the 32-bit view is not modelled", command: `reg query HKLM\SOFTWARE /reg:32`,
			stderr: "simulated host: reg query HKLM\\SOFTWARE /reg:32 is not modelled\r\n", code: notModelledExit},
	})
}

func TestScQueryStartStop(t *testing.T) {
	t.Parallel()
	f, _ := progFleet(t, 2, `
  services: {Spooler: stopped, W3SVC: running}
host_settings:
  sim-0002:
    account: non_admin
`)
	running := func(typ string) string {
		return crlf("        TYPE               : "+typ+"  ",
			"        STATE              : 4  RUNNING ",
			"                                (STOPPABLE, NOT_PAUSABLE, ACCEPTS_SHUTDOWN)",
			"        WIN32_EXIT_CODE    : 0  (0x0)",
			"        SERVICE_EXIT_CODE  : 0  (0x0)",
			"        CHECKPOINT         : 0x0",
			"        WAIT_HINT          : 0x0")
	}
	stopped := func(typ string) string {
		return crlf("        TYPE               : "+typ+"  ",
			"        STATE              : 1  STOPPED ",
			"        WIN32_EXIT_CODE    : 1077  (0x435)",
			"        SERVICE_EXIT_CODE  : 0  (0x0)",
			"        CHECKPOINT         : 0x0",
			"        WAIT_HINT          : 0x0")
	}
	const share, win32, own = "20  WIN32_SHARE_PROCESS", "30  WIN32", "10  WIN32_OWN_PROCESS"
	entry := func(name, display, block string) string {
		return "\r\nSERVICE_NAME: " + name + "\r\nDISPLAY_NAME: " + display + "\r\n" + block
	}
	active := entry("EventLog", "Windows Event Log", running(win32)) +
		entry("LanmanServer", "Server", running(win32)) +
		entry("Schedule", "Task Scheduler", running(win32)) +
		entry("W3SVC", "W3SVC", running(own)) +
		entry("Winmgmt", "Windows Management Instrumentation", running(win32)) +
		entry("WinRM", "Windows Remote Management (WS-Management)", running(share)) +
		entry("wuauserv", "Windows Update", running(win32))
	t.Run("administrator", func(t *testing.T) {
		t.Parallel()
		c := mzClient(t, f, f.Hosts()[0], basicHTTP, "PT60S")
		runCases(t, c, []progCase{
			{name: "a running service", command: "sc query WinRM", stdout: "\r\nSERVICE_NAME: WinRM\r\n" + running(share)},
			{name: "the name as typed", command: "sc query winrm", stdout: "\r\nSERVICE_NAME: winrm\r\n" + running(share)},
			{name: "a stopped service", command: "sc query TrustedInstaller", stdout: "\r\nSERVICE_NAME: TrustedInstaller\r\n" + stopped(own)},
			{name: "queryex adds the process id and flags", command: "sc queryex WinRM",
				stdout: "\r\nSERVICE_NAME: WinRM\r\n" + running(share) + crlf("        PID                : 3872", "        FLAGS              : ")},
			{name: "queryex of a stopped service has no process", command: "sc queryex Spooler",
				stdout: "\r\nSERVICE_NAME: Spooler\r\n" + stopped(own) + crlf("        PID                : 0", "        FLAGS              : ")},
			{name: "a missing service is error 1060", command: "sc query nosuch",
				stdout: "[SC] EnumQueryServicesStatus:OpenService FAILED 1060:\r\n\r\nThe specified service does not exist as an installed service.\r\n\r\n", code: 1060},
			{name: "state=all as one word is a service name", command: "sc query state=all",
				stdout: "[SC] EnumQueryServicesStatus:OpenService FAILED 1060:\r\n\r\nThe specified service does not exist as an installed service.\r\n\r\n", code: 1060},
			{name: "sc query lists the active services", command: "sc query", stdout: active},
			{name: "state= inactive lists the stopped ones", command: "sc query type= service state= inactive",
				stdout: entry("Spooler", "Spooler", stopped(own)) + entry("TrustedInstaller", "Windows Modules Installer", stopped(own))},
			{name: "start answers START_PENDING", command: "sc start Spooler", stdout: crlf("",
				"SERVICE_NAME: Spooler",
				"        TYPE               : 10  WIN32_OWN_PROCESS  ",
				"        STATE              : 2  START_PENDING ",
				"                                (NOT_STOPPABLE, NOT_PAUSABLE, IGNORES_SHUTDOWN)",
				"        WIN32_EXIT_CODE    : 0  (0x0)",
				"        SERVICE_EXIT_CODE  : 0  (0x0)",
				"        CHECKPOINT         : 0x0",
				"        WAIT_HINT          : 0x7d0",
				"        PID                : 2796",
				"        FLAGS              : ")},
			{name: "and the service runs", command: "sc query Spooler", stdout: "\r\nSERVICE_NAME: Spooler\r\n" + running(own)},
			{name: "starting a running service is error 1056", command: "sc start Spooler",
				stdout: "[SC] StartService FAILED 1056:\r\n\r\nAn instance of the service is already running.\r\n\r\n", code: 1056},
			{name: "stop answers STOP_PENDING", command: "sc stop Spooler", stdout: crlf("",
				"SERVICE_NAME: Spooler",
				"        TYPE               : 10  WIN32_OWN_PROCESS  ",
				"        STATE              : 3  STOP_PENDING ",
				"                                (STOPPABLE, NOT_PAUSABLE, ACCEPTS_SHUTDOWN)",
				"        WIN32_EXIT_CODE    : 0  (0x0)",
				"        SERVICE_EXIT_CODE  : 0  (0x0)",
				"        CHECKPOINT         : 0x0",
				"        WAIT_HINT          : 0x0")},
			{name: "stopping a stopped service is error 1062", command: "sc stop Spooler",
				stdout: "[SC] ControlService FAILED 1062:\r\n\r\nThe service has not been started.\r\n\r\n", code: 1062},
			{name: "starting a missing service is error 1060", command: "sc start nosuch",
				stdout: "[SC] OpenService FAILED 1060:\r\n\r\nThe specified service does not exist as an installed service.\r\n\r\n", code: 1060},
			{name: "stopping WinRM from its own shell is not modelled", command: "sc stop WinRM",
				stderr: "simulated host: sc stop WinRM is not modelled\r\n", code: notModelledExit},
			{name: "other verbs are not modelled", command: "sc config Spooler start= auto",
				stderr: "simulated host: sc config Spooler start= auto is not modelled\r\n", code: notModelledExit},
			{name: "a remote sc is not modelled", command: `sc \\other query WinRM`,
				stderr: "simulated host: sc \\\\other query WinRM is not modelled\r\n", code: notModelledExit},
		})
	})
	t.Run("not an administrator", func(t *testing.T) {
		t.Parallel()
		c := mzClient(t, f, f.Hosts()[1], basicHTTP, "PT60S")
		runCases(t, c, []progCase{
			{name: "anyone may query", command: "sc query Spooler", stdout: "\r\nSERVICE_NAME: Spooler\r\n" + stopped(own)},
			{name: "only administrators start services", command: "sc start Spooler",
				stdout: "[SC] OpenService FAILED 5:\r\n\r\nAccess is denied.\r\n\r\n", code: 5},
			{name: "nothing changed", command: "sc query Spooler", stdout: "\r\nSERVICE_NAME: Spooler\r\n" + stopped(own)},
		})
	})
}
