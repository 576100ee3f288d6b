package psmodel

import (
	"errors"
	"io/fs"
	"strings"
	"time"
)

// serviceObject is a System.ServiceProcess.ServiceController.
func serviceObject(s Service) *Object {
	o := &Object{Types: []string{"System.ServiceProcess.ServiceController"}, Closed: true}
	o.add("Name", s.Name).add("ServiceName", s.Name).add("DisplayName", s.DisplayName).add("Status", serviceStatus(s.Running))
	o.add("MachineName", ".")
	o.str = func() string { return "System.ServiceProcess.ServiceController" }
	o.view = serviceView
	return o
}

// serviceView is Get-Service's table: Status, Name and DisplayName in
// columns of 8, 18 and 38 characters (the ServiceController view of
// Windows PowerShell 5.1's format data).
var serviceView = &view{cols: []column{
	{label: "Status", width: 8, get: func(o *Object) any { v, _ := o.Prop("Status"); return v }},
	{label: "Name", width: 18, get: func(o *Object) any { v, _ := o.Prop("Name"); return v }},
	{label: "DisplayName", width: 38, get: func(o *Object) any { v, _ := o.Prop("DisplayName"); return v }},
}}

// hotfixObject is a Win32_QuickFixEngineering instance as Get-HotFix
// returns it.
func hotfixObject(h Hotfix, computer string) *Object {
	o := &Object{Types: []string{"System.Management.ManagementObject#root\\cimv2\\Win32_QuickFixEngineering", "System.Management.ManagementObject"}, Closed: true}
	on := h.InstalledOn
	// Win32_QuickFixEngineering records the day only.
	day := time.Date(on.Year(), on.Month(), on.Day(), 0, 0, 0, 0, time.UTC)
	src := strings.ToUpper(computer)
	o.add("Source", src).add("CSName", src).add("Description", h.Description).add("HotFixID", h.ID).add("InstalledBy", h.InstalledBy)
	o.add("InstalledOn", DateTime{T: day}).add("Caption", "http://support.microsoft.com/?kbid="+strings.TrimPrefix(strings.ToUpper(h.ID), "KB"))
	o.add("FixComments", "").add("ServicePackInEffect", "").add("Name", nil).add("Status", nil)
	o.str = func() string {
		return `\\` + src + `\root\cimv2:Win32_QuickFixEngineering.HotFixID="` + h.ID + `",ServicePackInEffect=""`
	}
	o.view = hotfixView
	return o
}

// hotfixView is Get-HotFix's table (the Get-HotFix documentation's
// example output).
var hotfixView = &view{cols: []column{
	{label: "Source", width: 14, get: func(o *Object) any { v, _ := o.Prop("Source"); return v }},
	{label: "Description", width: 16, get: func(o *Object) any { v, _ := o.Prop("Description"); return v }},
	{label: "HotFixID", width: 13, get: func(o *Object) any { v, _ := o.Prop("HotFixID"); return v }},
	{label: "InstalledBy", width: 20, get: func(o *Object) any { v, _ := o.Prop("InstalledBy"); return v }},
	{label: "InstalledOn", get: func(o *Object) any { v, _ := o.Prop("InstalledOn"); return v }},
}}

func defineMachineCmdlets() {
	defCmdlet(&cmdletInfo{name: "Get-Service",
		params: []paramSpec{{name: "Name", aliases: []string{"servicename"}, pos: 0}, {name: "DisplayName", pos: -1}},
		process: func(c *cmdCall, v any) error {
			return getServices(c, []string{toStr(v)}, false)
		},
		end: func(c *cmdCall) error {
			if c.gotInput && !c.has("Name") {
				return nil
			}
			if c.has("DisplayName") {
				return getServices(c, c.strs("DisplayName"), true)
			}
			if !c.has("Name") {
				return getServices(c, []string{"*"}, false)
			}
			return getServices(c, c.strs("Name"), false)
		}})
	for _, spec := range []struct {
		name         string
		stop, start  bool
		verb, fqid   string
		category     string
		errorCommand string
	}{
		{"Start-Service", false, true, "started", "CouldNotStartService", "OpenError", ""},
		{"Stop-Service", true, false, "stopped", "CouldNotStopService", "CloseError", ""},
		{"Restart-Service", true, true, "stopped", "CouldNotStopService", "CloseError", ""},
	} {
		spec := spec
		defCmdlet(&cmdletInfo{name: spec.name,
			params: []paramSpec{{name: "Name", aliases: []string{"servicename"}, pos: 0}, {name: "InputObject", pos: -1}, {name: "Force", sw: true, pos: -1},
				{name: "PassThru", sw: true, pos: -1}, {name: "NoWait", sw: true, pos: -1}},
			process: func(c *cmdCall, v any) error {
				if o, ok := v.(*Object); ok {
					n, _ := o.Prop("Name")
					return controlServices(c, []string{toStr(n)}, spec.stop, spec.start, spec.verb, spec.fqid, spec.category)
				}
				return controlServices(c, []string{toStr(v)}, spec.stop, spec.start, spec.verb, spec.fqid, spec.category)
			},
			end: func(c *cmdCall) error {
				if c.gotInput {
					return nil
				}
				if c.has("InputObject") {
					var names []string
					for _, v := range enumerateArgs(c.get("InputObject")) {
						if o, ok := v.(*Object); ok {
							n, _ := o.Prop("Name")
							names = append(names, toStr(n))
						}
					}
					return controlServices(c, names, spec.stop, spec.start, spec.verb, spec.fqid, spec.category)
				}
				if !c.has("Name") {
					return c.notModelled()
				}
				return controlServices(c, c.strs("Name"), spec.stop, spec.start, spec.verb, spec.fqid, spec.category)
			}})
	}
	defCmdlet(&cmdletInfo{name: "Get-HotFix",
		params: []paramSpec{{name: "Id", aliases: []string{"hfid"}, pos: 0}, {name: "Description", pos: -1}, {name: "ComputerName", aliases: []string{"cn", "__server", "ipaddress"}, pos: -1}},
		end:    getHotFixEnd})
	defCmdlet(&cmdletInfo{name: "Get-PSDrive",
		params: []paramSpec{{name: "Name", pos: 0}},
		end:    getPSDriveEnd})
	defCmdlet(&cmdletInfo{name: "Get-ExecutionPolicy",
		params: []paramSpec{{name: "Scope", pos: 0}, {name: "List", sw: true, pos: -1}},
		end:    getExecutionPolicyEnd})
	for _, name := range []string{"Get-CimInstance", "Get-WmiObject"} {
		name := name
		defCmdlet(&cmdletInfo{name: name,
			params: []paramSpec{{name: "ClassName", aliases: []string{"class"}, pos: 0}},
			end:    func(c *cmdCall) error { return getInstanceEnd(c, name == "Get-CimInstance") }})
	}
}

func getServices(c *cmdCall, names []string, byDisplay bool) error {
	all := c.in.host.Services()
	for _, n := range names {
		found := false
		for _, s := range all {
			key := s.Name
			if byDisplay {
				key = s.DisplayName
			}
			if !wildcardMatch(n, key) {
				continue
			}
			found = true
			if err := c.emit(serviceObject(s)); err != nil {
				return err
			}
		}
		if !found && !strings.ContainsAny(n, "*?[") {
			msg := "Cannot find any service with service name '" + n + "'."
			fqid := "NoServiceFoundForGivenName"
			if byDisplay {
				msg = "Cannot find any service with display name '" + n + "'."
				fqid = "NoServiceFoundForGivenDisplayName"
			}
			rec := c.record("Microsoft.PowerShell.Commands.ServiceCommandException", msg, "ObjectNotFound", fqid, n, "String")
			rec.Target = n
			if err := c.writeError(rec); err != nil {
				return err
			}
		}
	}
	return nil
}

func controlServices(c *cmdCall, names []string, stop, start bool, verb, fqid, category string) error {
	in := c.in
	for _, n := range names {
		var svc *Service
		for _, s := range in.host.Services() {
			if strings.EqualFold(s.Name, n) {
				s := s
				svc = &s
				break
			}
		}
		if svc == nil {
			rec := c.record("Microsoft.PowerShell.Commands.ServiceCommandException", "Cannot find any service with service name '"+n+"'.", "ObjectNotFound", "NoServiceFoundForGivenName", n, "String")
			if err := c.writeError(rec); err != nil {
				return err
			}
			continue
		}
		fail := func(verb, fqid, category string) error {
			msg := "Service '" + svc.DisplayName + " (" + svc.Name + ")' cannot be " + verb + " due to the following error: Cannot open " + svc.Name + " service on computer '.'."
			rec := c.record("Microsoft.PowerShell.Commands.ServiceCommandException", msg, category, fqid, "System.ServiceProcess.ServiceController", "ServiceController")
			return c.writeError(rec)
		}
		if stop {
			if err := in.host.SetServiceRunning(svc.Name, false); err != nil {
				if errors.Is(err, fs.ErrPermission) {
					if err := fail("stopped", "CouldNotStopService", "CloseError"); err != nil {
						return err
					}
					continue
				}
				return c.notModelled()
			}
		}
		if start {
			if err := in.host.SetServiceRunning(svc.Name, true); err != nil {
				if errors.Is(err, fs.ErrPermission) {
					if err := fail("started", "CouldNotStartService", "OpenError"); err != nil {
						return err
					}
					continue
				}
				return c.notModelled()
			}
		}
		if c.sw("PassThru") {
			s := *svc
			s.Running = start
			if err := c.emit(serviceObject(s)); err != nil {
				return err
			}
		}
	}
	return nil
}

func getHotFixEnd(c *cmdCall) error {
	in := c.in
	if c.has("ComputerName") {
		for _, n := range c.strs("ComputerName") {
			if n != "." && !strings.EqualFold(n, "localhost") && !strings.EqualFold(n, in.facts.ComputerName) {
				return c.notModelled()
			}
		}
	}
	all := in.host.Hotfixes()
	if c.has("Description") {
		for _, d := range c.strs("Description") {
			for _, h := range all {
				if wildcardMatch(d, h.Description) {
					if err := c.emit(hotfixObject(h, in.facts.ComputerName)); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	if !c.has("Id") {
		for _, h := range all {
			if err := c.emit(hotfixObject(h, in.facts.ComputerName)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, id := range c.strs("Id") {
		found := false
		for _, h := range all {
			if strings.EqualFold(h.ID, id) {
				found = true
				if err := c.emit(hotfixObject(h, in.facts.ComputerName)); err != nil {
					return err
				}
			}
		}
		if !found {
			// Get-HotFix reports a missing update for the computer it
			// asked, which for the local one it calls 'localhost'.
			rec := c.record("System.ArgumentException", "Cannot find the requested hotfix on the 'localhost' computer. Verify the input and run the command again.", "ObjectNotFound", "GetHotFixNoEntriesFound", "", "")
			if err := c.writeError(rec); err != nil {
				return err
			}
		}
	}
	return nil
}

func getPSDriveEnd(c *cmdCall) error {
	in := c.in
	if !c.has("Name") {
		return c.notModelled()
	}
	for _, n := range c.strs("Name") {
		n = strings.TrimSuffix(n, ":")
		drive := strings.TrimSuffix(in.facts.SystemDrive, ":")
		if drive == "" {
			drive = "C"
		}
		if !strings.EqualFold(n, drive) {
			switch strings.ToLower(n) {
			case "hklm", "hkcu", "env", "function", "variable", "alias", "cert", "wsman":
				return c.notModelled()
			}
			rec := c.record("System.Management.Automation.DriveNotFoundException", "Cannot find drive. A drive with the name '"+n+"' does not exist.", "ObjectNotFound", "GetLocationNoMatchingDrive", n, "String")
			if err := c.writeError(rec); err != nil {
				return err
			}
			continue
		}
		o := &Object{Types: []string{"System.Management.Automation.PSDriveInfo"}, Closed: true}
		free := in.facts.DiskFreeBytes
		used := in.facts.DiskTotalBytes - free
		cwd := in.host.Dir()
		loc := ""
		if len(cwd) > 3 && strings.EqualFold(cwd[:1], drive) {
			loc = cwd[3:]
		}
		o.add("Name", strings.ToUpper(drive)).add("Used", used).add("Free", free).add("Provider", "Microsoft.PowerShell.Core\\FileSystem")
		o.add("Root", strings.ToUpper(drive)+`:\`).add("CurrentLocation", loc).add("Description", "").add("DisplayRoot", nil)
		o.str = func() string { return strings.ToUpper(drive) }
		o.view = driveView
		if err := c.emit(o); err != nil {
			return err
		}
	}
	return nil
}

// driveView is Get-PSDrive's table.
var driveView = &view{cols: []column{
	{label: "Name", width: 10, get: func(o *Object) any { v, _ := o.Prop("Name"); return v }},
	{label: "Used (GB)", width: 13, right: true, get: func(o *Object) any { v, _ := o.Prop("Used"); return gb(v) }},
	{label: "Free (GB)", width: 13, right: true, get: func(o *Object) any { v, _ := o.Prop("Free"); return gb(v) }},
	{label: "Provider", width: 13, get: func(o *Object) any { return "FileSystem" }},
	{label: "Root", width: 50, get: func(o *Object) any { v, _ := o.Prop("Root"); return v }},
	{label: "CurrentLocation", right: true, get: func(o *Object) any { v, _ := o.Prop("CurrentLocation"); return v }},
}}

func gb(v any) string {
	n, ok := intOf(v)
	if !ok {
		return ""
	}
	s, _ := formatCustom(float64(n)/(1<<30), "###0.00")
	return s
}

// executionPolicyScopes are the scopes in precedence order.
var executionPolicyScopes = []string{"MachinePolicy", "UserPolicy", "Process", "CurrentUser", "LocalMachine"}

func getExecutionPolicyEnd(c *cmdCall) error {
	in := c.in
	policy := func(scope string) string {
		for k, v := range in.facts.ExecutionPolicies {
			if strings.EqualFold(k, scope) && v != "" {
				return v
			}
		}
		return "Undefined"
	}
	enum := func(name string) Enum {
		return Enum{Type: "Microsoft.PowerShell.ExecutionPolicy", Name: name}
	}
	if c.sw("List") {
		for _, s := range executionPolicyScopes {
			o := &Object{Types: []string{"System.Management.Automation.PSCustomObject"}, Closed: true}
			o.add("Scope", Enum{Type: "Microsoft.PowerShell.ExecutionPolicyScope", Name: s}).add("ExecutionPolicy", enum(policy(s)))
			o.view = policyView
			if err := c.emit(o); err != nil {
				return err
			}
		}
		return nil
	}
	if c.has("Scope") {
		scope := c.str("Scope")
		for _, s := range executionPolicyScopes {
			if strings.EqualFold(s, scope) {
				return c.emit(enum(policy(s)))
			}
		}
		return c.notModelled()
	}
	for _, s := range executionPolicyScopes {
		if p := policy(s); p != "Undefined" {
			return c.emit(enum(p))
		}
	}
	// Windows Server's default when nothing is set.
	return c.emit(enum("RemoteSigned"))
}

var policyView = &view{cols: []column{
	{label: "Scope", width: 13, right: true, get: func(o *Object) any { v, _ := o.Prop("Scope"); return v }},
	{label: "ExecutionPolicy", width: 15, right: true, get: func(o *Object) any { v, _ := o.Prop("ExecutionPolicy"); return v }},
}}

func getInstanceEnd(c *cmdCall, cim bool) error {
	in := c.in
	switch strings.ToLower(c.str("ClassName")) {
	case "win32_operatingsystem":
		o := &Object{Types: []string{"Microsoft.Management.Infrastructure.CimInstance#root/cimv2/Win32_OperatingSystem"}, Closed: true}
		if !cim {
			o.Types = []string{"System.Management.ManagementObject#root\\cimv2\\Win32_OperatingSystem"}
		}
		var boot any = DateTime{T: in.facts.LastBoot}
		if !cim {
			// WMI gives dates as DMTF strings.
			boot = in.facts.LastBoot.UTC().Format("20060102150405") + ".000000+000"
		}
		o.add("Caption", in.facts.OSCaption).add("Version", in.facts.OSVersion).add("BuildNumber", in.facts.OSBuild)
		o.add("OSArchitecture", "64-bit").add("CSName", strings.ToUpper(in.facts.ComputerName)).add("LastBootUpTime", boot)
		o.add("SystemDirectory", `C:\Windows\system32`).add("Organization", "").add("RegisteredUser", "Windows User").add("SerialNumber", "00000-00000-00000-AA000")
		o.add("SystemDrive", in.facts.SystemDrive).add("WindowsDirectory", `C:\Windows`)
		o.view = &view{cols: []column{
			{label: "SystemDirectory", get: func(o *Object) any { v, _ := o.Prop("SystemDirectory"); return v }},
			{label: "Organization", get: func(o *Object) any { v, _ := o.Prop("Organization"); return v }},
			{label: "BuildNumber", get: func(o *Object) any { v, _ := o.Prop("BuildNumber"); return v }},
			{label: "RegisteredUser", get: func(o *Object) any { v, _ := o.Prop("RegisteredUser"); return v }},
			{label: "SerialNumber", get: func(o *Object) any { v, _ := o.Prop("SerialNumber"); return v }},
			{label: "Version", get: func(o *Object) any { v, _ := o.Prop("Version"); return v }},
		}}
		return c.emit(o)
	case "win32_quickfixengineering":
		for _, h := range in.host.Hotfixes() {
			if err := c.emit(hotfixObject(h, in.facts.ComputerName)); err != nil {
				return err
			}
		}
		return nil
	}
	return c.notModelled()
}
