package preflight

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Script is the PowerShell text of check 6. It runs through the same
// launcher as ordinary steps and prints one line of JSON. It must work on
// Windows PowerShell 2.0 (the default on 2008 R2): no ConvertTo-Json, no
// [Environment]::Is64BitProcess (.NET 4), so JSON is assembled by hand and
// bitness comes from the pointer size (Get-Service and WindowsPrincipal
// are there in 2.0). The first line is the marker the simulated hosts
// recognise (docs/design.md).
const Script = `# fleetrun-preflight v1
# Facts for fleetrun's pre-flight checks, printed as one line of JSON.
function frQ([string]$s) {
    '"' + ($s -replace '\\', '\\' -replace '"', '\"') + '"'
}
$frVersion = $PSVersionTable.PSVersion.ToString()
$frProc64 = [IntPtr]::Size -eq 8
$frOS64 = Test-Path -LiteralPath (Join-Path $env:SystemRoot 'SysWOW64')
$frPolicy64 = [string](Get-ExecutionPolicy)
# The 32-bit PowerShell has its own settings: a 32-bit scheduler or agent
# starts it, and its ExecutionPolicy may still be Restricted.
$frPolicy32 = ''
$frPS32 = Join-Path $env:SystemRoot 'SysWOW64\WindowsPowerShell\v1.0\powershell.exe'
if (Test-Path -LiteralPath $frPS32) {
    $frPolicy32 = (& $frPS32 -NoLogo -NoProfile -NonInteractive -Command 'Get-ExecutionPolicy' | Out-String).Trim()
}
# Whether this session's token holds Administrators: UAC strips it from a
# local administrator's network logon while LocalAccountTokenFilterPolicy
# is 0 (KB 951016), and a Remote Management Users member never had it.
$frAdmin = ([Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
# Steps that run as SYSTEM go through the Task Scheduler.
$frSchedule = ''
$frSvc = Get-Service -Name Schedule -ErrorAction SilentlyContinue
if ($frSvc) {
    $frSchedule = [string]$frSvc.Status
}
$frDrive = $env:SystemDrive
$frDisk = Get-WmiObject -Class Win32_LogicalDisk -Filter ("DeviceID='" + $frDrive + "'")
$frFree = 0
$frSize = 0
if ($frDisk) {
    $frFree = [int64]$frDisk.FreeSpace
    $frSize = [int64]$frDisk.Size
}
'{"ps_version":' + (frQ $frVersion) +
    ',"is64bit_process":' + "$frProc64".ToLower() +
    ',"is64bit_os":' + "$frOS64".ToLower() +
    ',"execution_policy_64":' + (frQ $frPolicy64) +
    ',"execution_policy_32":' + (frQ $frPolicy32) +
    ',"system_drive":' + (frQ $frDrive) +
    ',"disk_free_bytes":' + $frFree +
    ',"disk_total_bytes":' + $frSize +
    ',"is_admin":' + "$frAdmin".ToLower() +
    ',"task_scheduler":' + (frQ $frSchedule) + '}'
`

// PSFacts is what the script reports.
type PSFacts struct {
	Version           string `json:"ps_version"`
	Is64BitProcess    bool   `json:"is64bit_process"`
	Is64BitOS         bool   `json:"is64bit_os"`
	ExecutionPolicy64 string `json:"execution_policy_64"`
	ExecutionPolicy32 string `json:"execution_policy_32"`
	SystemDrive       string `json:"system_drive"`
	DiskFreeBytes     int64  `json:"disk_free_bytes"`
	DiskTotalBytes    int64  `json:"disk_total_bytes"`
	// IsAdmin says whether the session's token is a full administrator's
	// (nil when the host did not say).
	IsAdmin *bool `json:"is_admin"`
	// TaskScheduler is the Schedule service's status, "Running" or
	// "Stopped" (or another ServiceControllerStatus); "" when the service
	// is missing or the host did not say.
	TaskScheduler string `json:"task_scheduler"`
}

// parseFacts reads the script's output: the last line that is a JSON
// object (a profile script or module could print before it).
func parseFacts(stdout string) (PSFacts, error) {
	lines := strings.Split(strings.ReplaceAll(stdout, "\r\n", "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var f PSFacts
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			return PSFacts{}, fmt.Errorf("the PowerShell facts are not valid JSON: %w", err)
		}
		if f.Version == "" {
			return PSFacts{}, fmt.Errorf("the PowerShell facts lack ps_version")
		}
		return f, nil
	}
	return PSFacts{}, fmt.Errorf("the PowerShell check printed no facts (output %q)", clip(stdout, 200))
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
