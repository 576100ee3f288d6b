package psmodel

import (
	"sort"
	"strings"
	"time"
)

// cmdlets are the modelled cmdlets, by lower-case name.
var cmdlets = map[string]*cmdletInfo{}

func defCmdlet(c *cmdletInfo) {
	cmdlets[strings.ToLower(c.name)] = c
}

// aliases are Windows PowerShell 5.1's built-in aliases of modelled and
// unmodelled commands (Get-Alias on a stock 5.1).
var aliases = map[string]string{
	"echo": "Write-Output", "write": "Write-Output",
	"cd": "Set-Location", "chdir": "Set-Location", "sl": "Set-Location",
	"pwd": "Get-Location", "gl": "Get-Location",
	"dir": "Get-ChildItem", "ls": "Get-ChildItem", "gci": "Get-ChildItem",
	"cat": "Get-Content", "gc": "Get-Content", "type": "Get-Content",
	"sc": "Set-Content", "ac": "Add-Content",
	"ni": "New-Item", "md": "mkdir",
	"rm": "Remove-Item", "del": "Remove-Item", "erase": "Remove-Item", "rd": "Remove-Item", "rmdir": "Remove-Item", "ri": "Remove-Item",
	"gi": "Get-Item", "gp": "Get-ItemProperty", "gpv": "Get-ItemPropertyValue",
	"gsv": "Get-Service", "sasv": "Start-Service", "spsv": "Stop-Service",
	"where": "Where-Object", "?": "Where-Object",
	"foreach": "ForEach-Object", "%": "ForEach-Object",
	"select": "Select-Object", "sort": "Sort-Object", "measure": "Measure-Object",
	"sleep": "Start-Sleep", "gcm": "Get-Command", "gwmi": "Get-WmiObject", "gcim": "Get-CimInstance",
	"ft": "Format-Table", "fl": "Format-List", "oh": "Out-Host",
	"copy": "Copy-Item", "cp": "Copy-Item", "cpi": "Copy-Item",
	"move": "Move-Item", "mv": "Move-Item", "mi": "Move-Item",
	"gdr": "Get-PSDrive",
	"iex": "Invoke-Expression", "icm": "Invoke-Command", "iwr": "Invoke-WebRequest", "curl": "Invoke-WebRequest", "wget": "Invoke-WebRequest",
	"irm": "Invoke-RestMethod", "gps": "Get-Process", "ps": "Get-Process", "kill": "Stop-Process", "spps": "Stop-Process",
	"saps": "Start-Process", "start": "Start-Process", "gm": "Get-Member", "group": "Group-Object", "tee": "Tee-Object",
	"cls": "Clear-Host", "clear": "Clear-Host", "h": "Get-History", "history": "Get-History", "r": "Invoke-History",
	"ren": "Rename-Item", "rni": "Rename-Item", "si": "Set-Item", "sp": "Set-ItemProperty", "rp": "Remove-ItemProperty",
	"clc": "Clear-Content", "cli": "Clear-Item", "clp": "Clear-ItemProperty", "cvpa": "Convert-Path", "rvpa": "Resolve-Path",
	"gal": "Get-Alias", "sal": "Set-Alias", "nal": "New-Alias", "epal": "Export-Alias", "ipal": "Import-Alias",
	"gv": "Get-Variable", "sv": "Set-Variable", "set": "Set-Variable", "nv": "New-Variable", "rv": "Remove-Variable", "clv": "Clear-Variable",
	"gm0": "Get-Member", "gjb": "Get-Job", "sajb": "Start-Job", "rcjb": "Receive-Job", "wjb": "Wait-Job", "rjb": "Remove-Job", "spjb": "Stop-Job",
	"ipmo": "Import-Module", "gmo": "Get-Module", "rmo": "Remove-Module", "nmo": "New-Module",
	"epcsv": "Export-Csv", "ipcsv": "Import-Csv", "compare": "Compare-Object", "diff": "Compare-Object",
	"fc": "Format-Custom", "fw": "Format-Wide", "ogv": "Out-GridView", "lp": "Out-Printer",
	"nsn": "New-PSSession", "gsn": "Get-PSSession", "rsn": "Remove-PSSession", "etsn": "Enter-PSSession", "exsn": "Exit-PSSession",
	"pushd": "Push-Location", "popd": "Pop-Location", "gu": "Get-Unique", "gcs": "Get-PSCallStack", "dbp": "Disable-PSBreakpoint",
	"ebp": "Enable-PSBreakpoint", "gbp": "Get-PSBreakpoint", "rbp": "Remove-PSBreakpoint", "sbp": "Set-PSBreakpoint",
	"ise": "powershell_ise.exe", "mount": "New-PSDrive", "ndr": "New-PSDrive", "rdr": "Remove-PSDrive", "shcm": "Show-Command",
	"trcm": "Trace-Command", "wjb0": "Wait-Job", "gin": "Get-ComputerInfo", "gtz": "Get-TimeZone", "stz": "Set-TimeZone",
	"scb": "Set-Clipboard", "gcb": "Get-Clipboard", "rwmi": "Remove-WmiObject", "swmi": "Set-WmiInstance", "iwmi": "Invoke-WmiMethod",
	"nwsn": "New-PSWorkflowSession", "ihy": "Invoke-History", "ghy": "Get-History", "chy": "Clear-History", "man": "help",
	"sls": "Select-String", "ft0": "Format-Table",
}

// unmodelledCmdlets are commands Windows PowerShell 5.1 (and the modules
// of a Windows Server) has that the model does not: calling one is
// refused as not modelled rather than reported as unknown.
var unmodelledCmdlets = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`
Invoke-Expression Invoke-Command Invoke-WebRequest Invoke-RestMethod Get-Process Stop-Process Start-Process Wait-Process
Get-Member Group-Object Tee-Object Clear-Host Get-History Invoke-History Clear-History Rename-Item Set-Item Set-ItemProperty
Remove-ItemProperty New-ItemProperty Rename-ItemProperty Copy-ItemProperty Move-ItemProperty Clear-Content Clear-Item
Clear-ItemProperty Convert-Path Resolve-Path Get-Alias Set-Alias New-Alias Export-Alias Import-Alias Get-Variable Set-Variable
New-Variable Remove-Variable Clear-Variable Get-Job Start-Job Receive-Job Wait-Job Remove-Job Stop-Job Import-Module Get-Module
Remove-Module New-Module Export-Csv Import-Csv ConvertTo-Csv ConvertFrom-Csv Compare-Object Format-Custom Format-Wide Out-GridView
Out-Printer New-PSSession Get-PSSession Remove-PSSession Enter-PSSession Exit-PSSession Push-Location Pop-Location Get-Unique
Get-PSCallStack New-PSDrive Remove-PSDrive Show-Command Trace-Command Get-ComputerInfo Get-TimeZone Set-TimeZone Set-Clipboard
Get-Clipboard Remove-WmiObject Set-WmiInstance Invoke-WmiMethod Invoke-CimMethod Set-CimInstance New-CimInstance Remove-CimInstance
Get-CimClass New-CimSession Select-String help Get-Help Update-Help Write-Information Write-Progress Read-Host Get-Credential
ConvertTo-Json ConvertFrom-Json ConvertTo-Xml ConvertTo-Html ConvertTo-SecureString ConvertFrom-SecureString ConvertFrom-StringData
Export-Clixml Import-Clixml Get-Random Get-Uptime Get-Culture Get-UICulture Get-Host Get-EventLog Write-EventLog New-EventLog
Get-WinEvent Clear-EventLog Limit-EventLog Show-EventLog Remove-EventLog Set-Service New-Service Remove-Service Suspend-Service
Resume-Service Restart-Computer Stop-Computer Rename-Computer Add-Computer Remove-Computer Test-Connection Test-NetConnection
Resolve-DnsName Get-NetAdapter Get-NetIPAddress Get-NetIPConfiguration Get-NetRoute Get-NetFirewallRule New-NetFirewallRule
Set-NetFirewallRule Enable-NetFirewallRule Disable-NetFirewallRule Get-NetTCPConnection Get-DnsClientServerAddress
Set-DnsClientServerAddress Get-ScheduledTask Register-ScheduledTask Unregister-ScheduledTask Start-ScheduledTask Stop-ScheduledTask
New-ScheduledTaskAction New-ScheduledTaskTrigger New-ScheduledTaskPrincipal New-ScheduledTaskSettingsSet Set-ScheduledTask
Get-ScheduledTaskInfo Get-WindowsFeature Install-WindowsFeature Uninstall-WindowsFeature Add-WindowsFeature Remove-WindowsFeature
Get-WindowsOptionalFeature Enable-WindowsOptionalFeature Disable-WindowsOptionalFeature Add-WindowsPackage Get-WindowsPackage
Remove-WindowsPackage Get-Disk Get-Volume Get-Partition Resize-Partition Get-PhysicalDisk Initialize-Disk New-Partition
Format-Volume Get-SmbShare New-SmbShare Get-SmbMapping New-SmbMapping Get-LocalUser New-LocalUser Set-LocalUser Remove-LocalUser
Get-LocalGroup Get-LocalGroupMember Add-LocalGroupMember Remove-LocalGroupMember Get-Acl Set-Acl Get-AuthenticodeSignature
Set-AuthenticodeSignature Get-PfxCertificate Set-ExecutionPolicy Unblock-File Get-FileHash Compress-Archive Expand-Archive
Get-PackageProvider Install-PackageProvider Find-Package Install-Package Get-Package Uninstall-Package Find-Module Install-Module
Update-Module Get-InstalledModule Uninstall-Module Register-PSRepository Set-PSRepository Get-PSRepository Enable-PSRemoting
Disable-PSRemoting Set-WSManQuickConfig Test-WSMan Get-WSManInstance Set-WSManInstance Set-Item Get-Counter Measure-Command
Add-Type Update-TypeData Update-FormatData Set-PSDebug Start-Transcript Stop-Transcript Get-TraceSource
New-TimeSpan Set-Date Get-EventSubscriber Register-ObjectEvent Register-EngineEvent Unregister-Event Wait-Event Get-Event
Remove-Event New-Event Send-MailMessage Get-ChildItem0 Get-MpComputerStatus Set-MpPreference Get-MpPreference Add-MpPreference
Start-MpScan Update-MpSignature Get-BitLockerVolume Enable-BitLocker Suspend-BitLocker Get-WUList Install-WindowsUpdate
Get-WindowsUpdate Get-WUHistory Invoke-WUJob Get-Hotfix0 Start-BitsTransfer Get-BitsTransfer Get-ItemProperty0 Get-PSProvider
Get-PSSnapin Add-PSSnapin Start-DscConfiguration Get-DscConfiguration Test-DscConfiguration Get-DscLocalConfigurationManager
Set-DscLocalConfigurationManager Get-ExecutionPolicy0 Get-ComputerRestorePoint Checkpoint-Computer Get-Certificate Get-ChildItem1
New-SelfSignedCertificate Export-Certificate Import-Certificate Export-PfxCertificate Import-PfxCertificate Out-File0 Get-Date0
Sort-Object0 Get-SmbServerConfiguration Set-SmbServerConfiguration Get-NetConnectionProfile Set-NetConnectionProfile New-Guid
Test-ComputerSecureChannel Reset-ComputerMachinePassword Get-WmiObject0 Register-WmiEvent Get-ItemPropertyValue0 Wait-Debugger
Debug-Process Get-StorageJob Get-TypeData Remove-TypeData Get-FormatData Export-FormatData Get-ControlPanelItem Show-ControlPanelItem
Clear-RecycleBin Get-PSReadlineOption Set-PSReadlineOption Out-String0 Select-Xml Get-ServiceState Get-Command0 Get-Verb
Write-Output0 Test-ModuleManifest New-ModuleManifest Import-PowerShellDataFile Get-TimeZone0 Join-String Get-Error
mkdir0 powershell_ise.exe`) {
		unmodelledCmdlets[strings.ToLower(n)] = true
	}
	// mkdir is a function in Windows PowerShell that calls New-Item.
	delete(unmodelledCmdlets, "mkdir0")
}

// The cmdlets themselves.
func init() {
	defCmdlet(&cmdletInfo{name: "Write-Output",
		params:  []paramSpec{{name: "InputObject", pos: 0, rest: true}, {name: "NoEnumerate", sw: true, pos: -1}},
		process: func(c *cmdCall, v any) error { return c.emit(v) },
		end: func(c *cmdCall) error {
			for _, v := range enumerateArgs(c.get("InputObject")) {
				if !c.has("InputObject") {
					break
				}
				if c.sw("NoEnumerate") {
					if err := c.emit(v); err != nil {
						return err
					}
					continue
				}
				for _, e := range enumerate(v) {
					if err := c.emit(e); err != nil {
						return err
					}
				}
			}
			return nil
		}})
	defCmdlet(&cmdletInfo{name: "Write-Host",
		params: []paramSpec{{name: "Object", pos: 0, rest: true}, {name: "NoNewline", sw: true, pos: -1}, {name: "Separator", pos: -1},
			{name: "ForegroundColor", aliases: []string{"fore", "foregroundcolor"}, pos: -1}, {name: "BackgroundColor", pos: -1}},
		process: func(c *cmdCall, v any) error { return c.in.con.host(hostText(v, " "), !c.sw("NoNewline")) },
		end: func(c *cmdCall) error {
			if !c.has("Object") {
				if c.gotInput {
					return nil
				}
				return c.in.con.host("", !c.sw("NoNewline"))
			}
			sep := " "
			if c.has("Separator") {
				sep = c.str("Separator")
			}
			var parts []string
			for _, v := range enumerateArgs(c.get("Object")) {
				parts = append(parts, hostText(v, sep))
			}
			return c.in.con.host(strings.Join(parts, sep), !c.sw("NoNewline"))
		}})
	defCmdlet(&cmdletInfo{name: "Write-Error",
		params: []paramSpec{{name: "Message", aliases: []string{"msg"}, pos: 0}},
		end: func(c *cmdCall) error {
			return c.writeError(c.in.writeErrorRecord(c, c.str("Message")))
		}})
	defCmdlet(&cmdletInfo{name: "Write-Warning",
		params: []paramSpec{{name: "Message", aliases: []string{"msg"}, pos: 0}},
		end: func(c *cmdCall) error {
			act := c.wa
			if act == "" {
				act = c.in.preference("WarningPreference")
			}
			switch act {
			case "silentlycontinue", "ignore":
				return nil
			case "continue":
				return c.in.con.stream("WARNING", c.str("Message"))
			}
			return c.notModelled()
		}})
	defCmdlet(&cmdletInfo{name: "Write-Verbose",
		params: []paramSpec{{name: "Message", aliases: []string{"msg"}, pos: 0}},
		end: func(c *cmdCall) error {
			if c.verbose || c.in.preference("VerbosePreference") == "continue" {
				return c.in.con.stream("VERBOSE", c.str("Message"))
			}
			return nil
		}})
	defCmdlet(&cmdletInfo{name: "Write-Debug",
		params: []paramSpec{{name: "Message", aliases: []string{"msg"}, pos: 0}},
		end: func(c *cmdCall) error {
			if c.in.preference("DebugPreference") == "continue" {
				return c.in.con.stream("DEBUG", c.str("Message"))
			}
			return nil
		}})
	defCmdlet(&cmdletInfo{name: "Start-Sleep",
		params: []paramSpec{{name: "Seconds", aliases: []string{"s"}, pos: 0}, {name: "Milliseconds", aliases: []string{"m"}, pos: -1}},
		end: func(c *cmdCall) error {
			var d time.Duration
			switch {
			case c.has("Milliseconds"):
				n, err := c.int("Milliseconds")
				if err != nil {
					return err
				}
				d = time.Duration(n) * time.Millisecond
			case c.has("Seconds"):
				n, err := c.int("Seconds")
				if err != nil {
					return err
				}
				d = time.Duration(n) * time.Second
			default:
				return c.notModelled()
			}
			if d < 0 {
				return c.notModelled()
			}
			return c.in.host.Sleep(c.in.ctx, d)
		}})
	defCmdlet(&cmdletInfo{name: "Out-Null",
		params:  []paramSpec{{name: "InputObject", pos: -1}},
		process: func(*cmdCall, any) error { return nil },
		end:     func(*cmdCall) error { return nil }})
	defCmdlet(&cmdletInfo{name: "Out-Default",
		params:  []paramSpec{{name: "InputObject", pos: -1}},
		process: func(c *cmdCall, v any) error { return c.in.con.object(v) },
		end:     func(c *cmdCall) error { return c.in.con.flush() }})
	cmdlets["out-host"] = &cmdletInfo{name: "Out-Host", params: cmdlets["out-default"].params, process: cmdlets["out-default"].process, end: cmdlets["out-default"].end}
	defCmdlet(&cmdletInfo{name: "Out-String",
		params: []paramSpec{{name: "InputObject", pos: -1}, {name: "Stream", sw: true, pos: -1}},
		process: func(c *cmdCall, v any) error {
			items, _ := c.state.([]any)
			c.state = append(items, v)
			return nil
		},
		end: func(c *cmdCall) error {
			items, _ := c.state.([]any)
			if c.has("InputObject") {
				items = append(items, enumerate(c.get("InputObject"))...)
			}
			text := outString(items)
			if c.sw("Stream") {
				for _, l := range splitLines(text) {
					if err := c.emit(l); err != nil {
						return err
					}
				}
				return nil
			}
			return c.emit(text)
		}})
	defCmdlet(&cmdletInfo{name: "Where-Object",
		params: []paramSpec{{name: "FilterScript", pos: 0}, {name: "Property", pos: -1}, {name: "Value", pos: 1}, {name: "InputObject", pos: -1},
			{name: "EQ", sw: true, pos: -1}, {name: "NE", sw: true, pos: -1}, {name: "GT", sw: true, pos: -1}, {name: "GE", sw: true, pos: -1},
			{name: "LT", sw: true, pos: -1}, {name: "LE", sw: true, pos: -1}, {name: "Like", sw: true, pos: -1}, {name: "NotLike", sw: true, pos: -1},
			{name: "Match", sw: true, pos: -1}, {name: "NotMatch", sw: true, pos: -1}, {name: "Contains", sw: true, pos: -1},
			{name: "NotContains", sw: true, pos: -1}, {name: "In", sw: true, pos: -1}, {name: "NotIn", sw: true, pos: -1},
			{name: "CEQ", sw: true, pos: -1}, {name: "CNE", sw: true, pos: -1}, {name: "CLike", sw: true, pos: -1}, {name: "CMatch", sw: true, pos: -1},
			{name: "Is", sw: true, pos: -1}, {name: "IsNot", sw: true, pos: -1}},
		process: whereProcess,
		end: func(c *cmdCall) error {
			if c.has("InputObject") && !c.gotInput {
				return whereProcess(c, c.get("InputObject"))
			}
			return nil
		}})
	defCmdlet(&cmdletInfo{name: "ForEach-Object",
		params: []paramSpec{{name: "Process", pos: 0, rest: true}, {name: "Begin", pos: -1}, {name: "End", pos: -1}, {name: "InputObject", pos: -1},
			{name: "MemberName", pos: -1}},
		begin: func(c *cmdCall) error {
			if b, ok := c.get("Begin").(*BlockValue); ok {
				return c.in.runItemBlock(b, nil, false, c.out, c.cmd.Extent)
			}
			return nil
		},
		process: foreachProcess,
		end: func(c *cmdCall) error {
			if !c.gotInput {
				if c.has("InputObject") {
					for _, v := range enumerateArgs(c.get("InputObject")) {
						if err := foreachProcess(c, v); err != nil {
							return err
						}
					}
				} else if c.first {
					if err := foreachProcess(c, nil); err != nil {
						return err
					}
				}
			}
			if b, ok := c.get("End").(*BlockValue); ok {
				return c.in.runItemBlock(b, nil, false, c.out, c.cmd.Extent)
			}
			return nil
		}})
	defCmdlet(&cmdletInfo{name: "Select-Object",
		params: []paramSpec{{name: "Property", pos: 0}, {name: "ExpandProperty", pos: -1}, {name: "First", pos: -1}, {name: "Last", pos: -1},
			{name: "Skip", pos: -1}, {name: "Unique", sw: true, pos: -1}, {name: "InputObject", pos: -1}},
		process: collectInput,
		end:     selectEnd})
	defCmdlet(&cmdletInfo{name: "Sort-Object",
		params:  []paramSpec{{name: "Property", pos: 0}, {name: "Descending", sw: true, pos: -1}, {name: "Unique", sw: true, pos: -1}, {name: "InputObject", pos: -1}},
		process: collectInput,
		end:     sortEnd})
	defCmdlet(&cmdletInfo{name: "Measure-Object",
		params: []paramSpec{{name: "Property", pos: 0}, {name: "Sum", sw: true, pos: -1}, {name: "Average", sw: true, pos: -1},
			{name: "Maximum", sw: true, pos: -1}, {name: "Minimum", sw: true, pos: -1}, {name: "InputObject", pos: -1}},
		process: collectInput,
		end:     measureEnd})
	defCmdlet(&cmdletInfo{name: "Format-Table",
		params:  []paramSpec{{name: "Property", pos: 0}, {name: "AutoSize", sw: true, pos: -1}, {name: "Wrap", sw: true, pos: -1}, {name: "HideTableHeaders", sw: true, pos: -1}, {name: "InputObject", pos: -1}},
		process: collectInput,
		end:     func(c *cmdCall) error { return formatEnd(c, false) }})
	defCmdlet(&cmdletInfo{name: "Format-List",
		params:  []paramSpec{{name: "Property", pos: 0}, {name: "InputObject", pos: -1}},
		process: collectInput,
		end:     func(c *cmdCall) error { return formatEnd(c, true) }})
	defCmdlet(&cmdletInfo{name: "Get-Date",
		params: []paramSpec{{name: "Date", aliases: []string{"lastwritetime"}, pos: 0}, {name: "Format", pos: -1}},
		end: func(c *cmdCall) error {
			t := c.in.host.Now()
			if c.has("Date") {
				v, err := c.in.cast("datetime", c.get("Date"), c.cmd.Extent)
				if err != nil {
					return err
				}
				t = v.(DateTime).T
			}
			if c.has("Format") {
				s, ok := formatDate(t, c.str("Format"))
				if !ok {
					return c.notModelled()
				}
				return c.emit(s)
			}
			return c.emit(DateTime{T: t})
		}})
	defCmdlet(&cmdletInfo{name: "Set-StrictMode",
		params: []paramSpec{{name: "Version", aliases: []string{"v"}, pos: -1}, {name: "Off", sw: true, pos: -1}},
		end: func(c *cmdCall) error {
			switch {
			case c.sw("Off"):
				c.in.strict = 0
			case c.has("Version"):
				switch v := strings.ToLower(c.str("Version")); v {
				case "1", "1.0":
					c.in.strict = 1
				case "2", "2.0":
					c.in.strict = 2
				case "3", "3.0", "latest":
					c.in.strict = 3
				default:
					return c.notModelled()
				}
			default:
				return c.notModelled()
			}
			return nil
		}})
	defCmdlet(&cmdletInfo{name: "Get-Command",
		params: []paramSpec{{name: "Name", pos: 0, rest: true}},
		end:    getCommandEnd})
	defCmdlet(&cmdletInfo{name: "New-Object",
		params: []paramSpec{{name: "TypeName", pos: 0}, {name: "ArgumentList", aliases: []string{"args"}, pos: 1}, {name: "ComObject", pos: -1}, {name: "Property", pos: -1}},
		end:    newObjectEnd})
	defCmdlet(&cmdletInfo{name: "Join-Path",
		params: []paramSpec{{name: "Path", aliases: []string{"pspath"}, pos: 0}, {name: "ChildPath", pos: 1}},
		end: func(c *cmdCall) error {
			child := c.str("ChildPath")
			for _, p := range c.strs("Path") {
				p = strings.TrimRight(p, `\/`)
				if err := c.emit(p + `\` + strings.TrimLeft(child, `\/`)); err != nil {
					return err
				}
			}
			return nil
		}})
	defCmdlet(&cmdletInfo{name: "Split-Path",
		params: []paramSpec{{name: "Path", pos: 0}, {name: "Parent", sw: true, pos: -1}, {name: "Leaf", sw: true, pos: -1},
			{name: "Qualifier", sw: true, pos: -1}, {name: "NoQualifier", sw: true, pos: -1}, {name: "IsAbsolute", sw: true, pos: -1}},
		end: func(c *cmdCall) error {
			for _, p := range c.strs("Path") {
				var out any
				switch {
				case c.sw("Leaf"):
					out = leafName(p)
				case c.sw("Qualifier"):
					if len(p) >= 2 && p[1] == ':' {
						out = p[:2]
					} else {
						return c.notModelled()
					}
				case c.sw("NoQualifier"):
					if len(p) >= 2 && p[1] == ':' {
						out = p[2:]
					} else {
						out = p
					}
				case c.sw("IsAbsolute"):
					out = isRooted(p)
				default:
					out = parentPath(p)
				}
				if err := c.emit(out); err != nil {
					return err
				}
			}
			return nil
		}})
	defineFileCmdlets()
	defineMachineCmdlets()
}

// hostText is how Write-Host prints a value: collections joined with the
// separator.
func hostText(v any, sep string) string {
	if isCollection(v) {
		return joinItems(enumerate(v), sep)
	}
	return toStr(v)
}

// writeErrorRecord is the record Write-Error makes. Write-Error gives it
// the invocation of the code that called it, not its own
// (WriteErrorCommand sets $MyInvocation's), so the console shows the
// script or function name before the message and the position of the
// call.
func (in *interp) writeErrorRecord(c *cmdCall, msg string) *ErrorRecord {
	rec := newRecord("Microsoft.PowerShell.Commands.WriteErrorException", msg, "NotSpecified", "Microsoft.PowerShell.Commands.WriteErrorException")
	rec.Activity = "Write-Error"
	fr := in.frames[len(in.frames)-1]
	switch fr.kind {
	case frameTop:
		switch in.opts.Mode {
		case ModeCommand:
			rec.Command = in.scriptText
		case ModeFile:
			rec.Command = in.opts.ScriptName
		case ModeLauncher:
			// The user's script is a script block the launcher invokes as
			// "& $frB *>&1" ("2>&1" on PowerShell 2.0).
			call := "& $frB *>&1"
			if in.psMajor() < 3 {
				call = "& $frB 2>&1"
			}
			rec.Position = newSource(call).PositionMessage(Extent{0, len(call)})
			rec.HasInvocation = true
		}
	case frameFunction:
		rec.Command = fr.name
		if fr.src != nil {
			rec.Position = fr.src.PositionMessage(fr.call)
			rec.HasInvocation = true
		}
	case frameBlock, frameScript:
		rec.Command = fr.text
		if fr.kind == frameScript {
			rec.Command = fr.name
		}
		if fr.src != nil {
			rec.Position = fr.src.PositionMessage(fr.call)
			rec.HasInvocation = true
		}
	}
	return rec
}

// runItemBlock runs a script block for one pipeline item, dot-sourced
// with $_ set, as ForEach-Object and Where-Object do; its output goes to
// out.
func (in *interp) runItemBlock(b *BlockValue, item any, hasItem bool, out *pipeOut, ext Extent) error {
	prev, had := in.cur.vars["_"]
	prevItem, hadItem := in.cur.vars["psitem"]
	err := in.invokeBlock(b.Block, &frame{kind: frameBlock, text: b.Text, call: ext, src: in.src}, nil, nil, out, true, item, hasItem, ext)
	restoreVar(in.cur, "_", prev, had)
	restoreVar(in.cur, "psitem", prevItem, hadItem)
	return err
}

func whereProcess(c *cmdCall, v any) error {
	in := c.in
	if err := in.step(); err != nil {
		return err
	}
	if b, ok := c.get("FilterScript").(*BlockValue); ok {
		var got []any
		err := in.runItemBlock(b, v, true, &pipeOut{emit: func(x any) error {
			got = append(got, x)
			return nil
		}}, c.cmd.Extent)
		if err != nil {
			return err
		}
		if toBool(collapse(got)) {
			return c.emit(v)
		}
		return nil
	}
	prop := c.str("Property")
	if !c.has("Property") {
		if !c.has("FilterScript") {
			return c.notModelled()
		}
		prop = c.str("FilterScript")
	}
	pv, err := in.getMember(v, prop, c.cmd.Extent)
	if err != nil {
		return err
	}
	ops := []string{"eq", "ne", "gt", "ge", "lt", "le", "like", "notlike", "match", "notmatch", "contains", "notcontains", "in", "notin", "ceq", "cne", "clike", "cmatch", "is", "isnot"}
	op := ""
	for _, o := range ops {
		if c.sw(o) {
			if op != "" {
				return c.notModelled()
			}
			op = o
		}
	}
	if op == "" {
		if c.has("Value") {
			op = "eq"
		} else {
			if toBool(pv) {
				return c.emit(v)
			}
			return nil
		}
	}
	val := c.get("Value")
	x := &BinaryExpr{Extent: c.cmd.Extent, L: &VarExpr{Extent: c.cmd.Extent}, R: &VarExpr{Extent: c.cmd.Extent}}
	var ok bool
	cs := strings.HasPrefix(op, "c") && op != "contains"
	base := op
	if cs {
		base = op[1:]
	}
	switch base {
	case "contains", "notcontains", "in", "notin", "is", "isnot":
		x.Op = base
		r, err := in.binaryValues(x, pv, val)
		if err != nil {
			return err
		}
		ok = toBool(r)
	default:
		ok, err = in.compareOp(base, pv, val, cs, x, false)
		if err != nil {
			return err
		}
	}
	if ok {
		return c.emit(v)
	}
	return nil
}

// binaryValues applies a binary operator to values already evaluated.
func (in *interp) binaryValues(x *BinaryExpr, l, r any) (any, error) {
	saved := *x
	x.L = &valueExpr{v: l, Extent: x.Extent}
	x.R = &valueExpr{v: r, Extent: x.Extent}
	defer func() { *x = saved }()
	return in.binary(x)
}

// valueExpr is an already evaluated operand.
type valueExpr struct {
	Extent
	v any
}

func (*valueExpr) expr() {}

func foreachProcess(c *cmdCall, v any) error {
	in := c.in
	if err := in.step(); err != nil {
		return err
	}
	procs := enumerateArgs(c.get("Process"))
	if c.has("MemberName") {
		procs = []any{c.str("MemberName")}
	}
	for _, p := range procs {
		switch b := p.(type) {
		case *BlockValue:
			err := in.runItemBlock(b, v, true, c.out, c.cmd.Extent)
			if err != nil {
				return err
			}
		case string:
			if v == nil {
				continue
			}
			mv, err := in.getMember(v, b, c.cmd.Extent)
			if err != nil {
				return err
			}
			for _, e := range enumerateArgs(mv) {
				if mv == nil {
					break
				}
				if err := c.emit(e); err != nil {
					return err
				}
			}
		default:
			return c.notModelled()
		}
	}
	return nil
}

// collectInput keeps pipeline input for a cmdlet that works at the end.
func collectInput(c *cmdCall, v any) error {
	items, _ := c.state.([]any)
	if len(items) >= c.in.lim.ValueChars {
		return c.in.limitError("a collection too large")
	}
	c.state = append(items, v)
	return nil
}

// inputItems is the pipeline input, or -InputObject.
func (c *cmdCall) inputItems() []any {
	items, _ := c.state.([]any)
	if !c.gotInput && c.has("InputObject") {
		return enumerateArgs(c.get("InputObject"))
	}
	return items
}

func selectEnd(c *cmdCall) error {
	in := c.in
	items := c.inputItems()
	if c.has("Skip") {
		n, err := c.int("Skip")
		if err != nil {
			return err
		}
		if n > len(items) {
			n = len(items)
		}
		items = items[max(n, 0):]
	}
	if c.has("First") {
		n, err := c.int("First")
		if err != nil {
			return err
		}
		if n < len(items) {
			items = items[:max(n, 0)]
		}
	}
	if c.has("Last") {
		n, err := c.int("Last")
		if err != nil {
			return err
		}
		if n < len(items) {
			items = items[len(items)-max(n, 0):]
		}
	}
	var out []any
	props := enumerateArgs(c.get("Property"))
	for _, item := range items {
		if c.has("ExpandProperty") {
			name := c.str("ExpandProperty")
			if o, ok := item.(*Object); ok && !o.Closed {
				if _, found := o.Prop(name); !found {
					rec := c.record("System.Management.Automation.PSArgumentException", "Property \""+name+"\" cannot be found.", "InvalidArgument", "ExpandPropertyNotFound", toStr(item), "PSObject")
					if err := c.writeError(rec); err != nil {
						return err
					}
					continue
				}
			}
			v, err := in.getMember(item, name, c.cmd.Extent)
			if err != nil {
				return err
			}
			if v == nil {
				continue
			}
			out = append(out, enumerateArgs(v)...)
			continue
		}
		if !c.has("Property") {
			out = append(out, item)
			continue
		}
		o := newCustomObject()
		if len(props) == 0 {
			return c.notModelled()
		}
		for _, p := range props {
			name, v, err := in.selectProperty(c, item, p)
			if err != nil {
				return err
			}
			o.add(name, v)
		}
		out = append(out, o)
	}
	if c.sw("Unique") {
		var uniq []any
		for _, v := range out {
			dup := false
			for _, u := range uniq {
				if in.equal(u, v, true) && (!needsView(v) || toStr(u) == toStr(v)) {
					dup = true
					break
				}
			}
			if !dup {
				uniq = append(uniq, v)
			}
		}
		out = uniq
	}
	for _, v := range out {
		if err := c.emit(v); err != nil {
			return err
		}
	}
	return nil
}

// selectProperty computes one property of Select-Object: a name or a
// calculated property @{Name=...; Expression=...}.
func (in *interp) selectProperty(c *cmdCall, item, p any) (string, any, error) {
	switch p := p.(type) {
	case string:
		if strings.ContainsAny(p, "*?") {
			return "", nil, c.notModelled()
		}
		if item == nil {
			return p, nil, nil
		}
		v, err := in.getMember(item, p, c.cmd.Extent)
		return p, v, err
	case *Hashtable:
		var name string
		var expr any
		for i, k := range p.keys {
			key := strings.ToLower(toStr(k))
			switch key {
			case "n", "name", "l", "label":
				name = toStr(p.vals[i])
			case "e", "expression":
				expr = p.vals[i]
			default:
				return "", nil, c.notModelled()
			}
		}
		switch e := expr.(type) {
		case *BlockValue:
			var got []any
			err := in.runItemBlock(e, item, true, &pipeOut{emit: func(v any) error {
				got = append(got, v)
				return nil
			}}, c.cmd.Extent)
			return name, collapse(got), err
		case string:
			v, err := in.getMember(item, e, c.cmd.Extent)
			return name, v, err
		}
	}
	return "", nil, c.notModelled()
}

func sortEnd(c *cmdCall) error {
	in := c.in
	items := append([]any(nil), c.inputItems()...)
	keys := enumerateArgs(c.get("Property"))
	if !c.has("Property") {
		keys = nil
	}
	keyOf := func(v any) ([]any, error) {
		if len(keys) == 0 {
			return []any{v}, nil
		}
		var out []any
		for _, k := range keys {
			switch k := k.(type) {
			case string:
				if v == nil {
					out = append(out, nil)
					continue
				}
				x, err := in.getMember(v, k, c.cmd.Extent)
				if err != nil {
					return nil, err
				}
				out = append(out, x)
			case *BlockValue:
				var got []any
				err := in.runItemBlock(k, v, true, &pipeOut{emit: func(x any) error {
					got = append(got, x)
					return nil
				}}, c.cmd.Extent)
				if err != nil {
					return nil, err
				}
				out = append(out, collapse(got))
			default:
				return nil, c.notModelled()
			}
		}
		return out, nil
	}
	type keyed struct {
		v    any
		keys []any
	}
	list := make([]keyed, len(items))
	for i, v := range items {
		k, err := keyOf(v)
		if err != nil {
			return err
		}
		list[i] = keyed{v, k}
	}
	desc := c.sw("Descending")
	less := func(a, b keyed) bool {
		for i := range a.keys {
			r := sortCompare(a.keys[i], b.keys[i])
			if r != 0 {
				if desc {
					return r > 0
				}
				return r < 0
			}
		}
		return false
	}
	// A stable sort keeps equal items in their order, as Sort-Object does.
	sort.SliceStable(list, func(i, j int) bool { return less(list[i], list[j]) })
	var prev *keyed
	for i := range list {
		if c.sw("Unique") && prev != nil && sortCompare(prev.keys[0], list[i].keys[0]) == 0 {
			continue
		}
		prev = &list[i]
		if err := c.emit(list[i].v); err != nil {
			return err
		}
	}
	return nil
}

// sortCompare orders two values for Sort-Object: numbers numerically,
// everything else as case-insensitive text, $null first.
func sortCompare(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	if isNumber(a) && isNumber(b) {
		return numCompare(a, b)
	}
	if va, ok := a.(Version); ok {
		if vb, ok := b.(Version); ok {
			return va.compare(vb)
		}
	}
	if da, ok := a.(DateTime); ok {
		if db, ok := b.(DateTime); ok {
			return da.T.Compare(db.T)
		}
	}
	if ea, ok := a.(Enum); ok {
		if eb, ok := b.(Enum); ok {
			return ea.Value - eb.Value
		}
	}
	return strings.Compare(strings.ToLower(toStr(a)), strings.ToLower(toStr(b)))
}

func measureEnd(c *cmdCall) error {
	in := c.in
	items := c.inputItems()
	o := &Object{Types: []string{"Microsoft.PowerShell.Commands.GenericMeasureInfo"}, Closed: true}
	var vals []any
	prop := ""
	if c.has("Property") {
		prop = c.str("Property")
	}
	for _, v := range items {
		if prop == "" {
			vals = append(vals, v)
			continue
		}
		x, err := in.getMember(v, prop, c.cmd.Extent)
		if err != nil {
			return err
		}
		vals = append(vals, x)
	}
	var sum float64
	var minV, maxV any
	for _, v := range vals {
		if !c.sw("Sum") && !c.sw("Average") && !c.sw("Maximum") && !c.sw("Minimum") {
			break
		}
		n, err := toNumber(v)
		if err != nil {
			if c.sw("Sum") || c.sw("Average") {
				return in.convertFailure(err, c.cmd.Extent)
			}
		}
		sum += toFloat(n)
		if minV == nil || sortCompare(v, minV) < 0 {
			minV = v
		}
		if maxV == nil || sortCompare(v, maxV) > 0 {
			maxV = v
		}
	}
	o.add("Count", len(vals))
	var avg, s, mx, mn any
	if c.sw("Average") && len(vals) > 0 {
		avg = sum / float64(len(vals))
	}
	if c.sw("Sum") {
		s = sum
	}
	if c.sw("Maximum") && maxV != nil {
		n, _ := toNumber(maxV)
		mx = toFloat(n)
	}
	if c.sw("Minimum") && minV != nil {
		n, _ := toNumber(minV)
		mn = toFloat(n)
	}
	o.add("Average", avg).add("Sum", s).add("Maximum", mx).add("Minimum", mn).add("Property", nilIfEmpty(prop))
	o.view = &view{list: true}
	return c.emit(o)
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func formatEnd(c *cmdCall, list bool) error {
	items := c.inputItems()
	var props []string
	if c.has("Property") {
		for _, p := range enumerateArgs(c.get("Property")) {
			s, ok := p.(string)
			if !ok || strings.ContainsAny(s, "*?") {
				return c.notModelled()
			}
			props = append(props, s)
		}
	}
	text, err := formatExplicit(c, items, props, list)
	if err != nil {
		return err
	}
	return c.emit(&formatted{text: text})
}

func getCommandEnd(c *cmdCall) error {
	in := c.in
	for _, name := range c.strs("Name") {
		lower := strings.ToLower(name)
		var info *Object
		switch {
		case aliases[lower] != "":
			info = commandInfo(name, "Alias", "")
		case func() bool { _, ok := in.findFunction(lower); return ok }():
			info = commandInfo(name, "Function", "")
		case cmdlets[lower] != nil:
			info = commandInfo(cmdlets[lower].name, "Cmdlet", cmdletModule(cmdlets[lower].name))
		case unmodelledCmdlets[lower]:
			info = commandInfo(name, "Cmdlet", "")
		default:
			if strings.ContainsAny(name, "*?[") {
				return c.notModelled()
			}
			prog, err := in.host.FindProgram(name)
			if err == nil {
				kind := "Application"
				if prog.Script {
					kind = "ExternalScript"
				}
				info = commandInfo(leafName(prog.Path), kind, prog.Path)
				info.add("Path", prog.Path).add("Definition", prog.Path)
			}
		}
		if info == nil {
			msg := "The term '" + name + "' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."
			rec := c.record("System.Management.Automation.CommandNotFoundException", msg, "ObjectNotFound", "CommandNotFoundException", name, "String")
			if err := c.writeError(rec); err != nil {
				return err
			}
			continue
		}
		if err := c.emit(info); err != nil {
			return err
		}
	}
	return nil
}

func cmdletModule(name string) string {
	switch strings.ToLower(name) {
	case "get-hotfix", "get-service", "start-service", "stop-service", "restart-service", "get-content", "set-content", "add-content",
		"get-childitem", "get-item", "new-item", "remove-item", "copy-item", "move-item", "test-path", "get-location", "set-location",
		"get-itemproperty", "get-itempropertyvalue", "join-path", "split-path", "get-psdrive", "get-wmiobject":
		return "Microsoft.PowerShell.Management"
	case "get-ciminstance":
		return "CimCmdlets"
	case "get-executionpolicy":
		return "Microsoft.PowerShell.Security"
	case "foreach-object", "where-object":
		return "Microsoft.PowerShell.Core"
	}
	return "Microsoft.PowerShell.Utility"
}

// commandInfo is what Get-Command returns.
func commandInfo(name, kind, source string) *Object {
	o := &Object{Types: []string{"System.Management.Automation.CommandInfo"}, Closed: true}
	o.add("CommandType", Enum{Type: "System.Management.Automation.CommandTypes", Name: kind}).add("Name", name).add("Source", source)
	o.add("Version", nil)
	o.str = func() string { return name }
	o.view = &view{cols: []column{
		{label: "CommandType", width: 15, get: func(o *Object) any { v, _ := o.Prop("CommandType"); return v }},
		{label: "Name", width: 50, get: func(o *Object) any { v, _ := o.Prop("Name"); return v }},
		{label: "Version", width: 10, get: func(o *Object) any { v, _ := o.Prop("Version"); return v }},
		{label: "Source", get: func(o *Object) any { v, _ := o.Prop("Source"); return v }},
	}}
	return o
}

func newObjectEnd(c *cmdCall) error {
	in := c.in
	if c.has("ComObject") {
		o, err := in.newComObject(c, c.str("ComObject"))
		if err != nil {
			return err
		}
		return c.emit(o)
	}
	typ := strings.ToLower(strings.TrimPrefix(strings.ToLower(c.str("TypeName")), "system."))
	switch typ {
	case "collections.arraylist", "collections.generic.list[string]", "collections.generic.list[object]", "collections.generic.list[psobject]":
		if c.has("ArgumentList") || c.has("Property") {
			return c.notModelled()
		}
		return c.emit(&ArrayList{})
	case "collections.hashtable":
		return c.emit(newHashtable())
	case "psobject", "management.automation.psobject", "pscustomobject", "object":
		o := newCustomObject()
		if c.has("Property") {
			h, ok := c.get("Property").(*Hashtable)
			if !ok {
				return c.notModelled()
			}
			for i, k := range h.keys {
				o.add(toStr(k), h.vals[i])
			}
		}
		return c.emit(o)
	case "version":
		v, err := in.cast("version", c.get("ArgumentList"), c.cmd.Extent)
		if err != nil {
			return err
		}
		return c.emit(v)
	}
	return c.notModelled()
}
