package psmodel

import (
	"strings"
)

// The Windows Update Agent COM API (Microsoft.Update.Session): search,
// download and install. WUA refuses its downloader and installer to a
// remote caller, which a WinRS shell's network logon is: MSDN "Using WUA
// From a Remote Computer"; PSWindowsUpdate issues 17 and 65;
// PowerShell/PowerShell#15207. The search works.

// errAccessDenied is E_ACCESSDENIED as .NET surfaces it from COM.
const wuaAccessDenied = "Access is denied. (Exception from HRESULT: 0x80070005 (E_ACCESSDENIED))"

func (in *interp) newComObject(c *cmdCall, progID string) (*Object, error) {
	switch strings.ToLower(progID) {
	case "microsoft.update.session":
		return in.wuaSession(), nil
	case "microsoft.update.updatecoll":
		return newUpdateCollection(nil), nil
	}
	return nil, c.notModelled()
}

func comTypes(name string) []string {
	return []string{"System.__ComObject#{" + name + "}", "System.__ComObject"}
}

func (in *interp) wuaSession() *Object {
	o := &Object{Types: comTypes("IUpdateSession3"), Closed: true}
	o.props = append(o.props, settable("ClientApplicationID", ""), settable("ReadOnly", false))
	o.addMethod("CreateUpdateSearcher", func(in *interp, args []any) (any, error) {
		if len(args) != 0 {
			return nil, in.notModelled(in.lastExtent())
		}
		return in.wuaSearcher(), nil
	})
	for _, name := range []string{"CreateUpdateDownloader", "CreateUpdateInstaller"} {
		name := name
		o.addMethod(name, func(in *interp, args []any) (any, error) {
			if len(args) != 0 {
				return nil, in.notModelled(in.lastExtent())
			}
			if in.facts.NetworkLogon {
				return nil, in.methodError(in.lastExtent(), name, 0, &Exception{Type: "System.UnauthorizedAccessException", Message: wuaAccessDenied})
			}
			if name == "CreateUpdateDownloader" {
				return in.wuaDownloader(), nil
			}
			return in.wuaInstaller(), nil
		})
	}
	o.str = func() string { return "System.__ComObject" }
	return o
}

// settable is a property a script may assign.
func settable(name string, v any) *prop {
	p := &prop{name: name, value: v}
	p.set = func(x any) error {
		p.value = x
		return nil
	}
	return p
}

func (in *interp) wuaSearcher() *Object {
	o := &Object{Types: comTypes("IUpdateSearcher3"), Closed: true}
	o.props = append(o.props, settable("Online", true), settable("ServerSelection", 0), settable("ClientApplicationID", ""))
	o.addMethod("Search", func(in *interp, args []any) (any, error) {
		ext := in.lastExtent()
		if len(args) != 1 {
			return nil, in.notModelled(ext)
		}
		installed, ok := parseWUACriteria(toStr(args[0]))
		if !ok {
			return nil, in.notModelled(ext)
		}
		var updates []any
		if installed {
			for _, h := range in.host.Hotfixes() {
				updates = append(updates, in.wuaUpdate(h.ID, true))
			}
		} else {
			for _, kb := range in.host.AvailableUpdates() {
				updates = append(updates, in.wuaUpdate(kb, false))
			}
		}
		r := &Object{Types: comTypes("ISearchResult"), Closed: true}
		r.add("ResultCode", 2).add("Updates", newUpdateCollection(updates))
		r.str = func() string { return "System.__ComObject" }
		return r, nil
	})
	o.str = func() string { return "System.__ComObject" }
	return o
}

// parseWUACriteria reads a search criteria string; installed is what
// IsInstalled asks for. Clauses other than the common filters are not
// modelled.
func parseWUACriteria(s string) (installed, ok bool) {
	seen := false
	for _, clause := range strings.Split(strings.ToLower(s), " and ") {
		c := strings.ReplaceAll(strings.TrimSpace(clause), " ", "")
		c = strings.Trim(c, "()")
		switch c {
		case "isinstalled=0":
			installed, seen = false, true
		case "isinstalled=1":
			installed, seen = true, true
		case "type='software'", "ishidden=0", "isassigned=1", "browseonly=0", "deploymentaction='installation'", "autoselectonwebsites=1":
		default:
			return false, false
		}
	}
	return installed, seen
}

func (in *interp) wuaUpdate(kb string, installed bool) *Object {
	num := strings.TrimPrefix(strings.ToUpper(kb), "KB")
	o := &Object{Types: comTypes("IUpdate5"), Closed: true}
	o.add("Title", "Update for "+strings.TrimPrefix(in.facts.OSCaption, "Microsoft ")+" (KB"+num+")")
	o.add("KBArticleIDs", newStringCollection([]any{num}))
	o.add("IsInstalled", installed).add("IsHidden", false).add("IsMandatory", false).add("RebootRequired", false)
	o.props = append(o.props, settable("IsDownloaded", installed))
	o.add("EulaAccepted", true).add("Description", "Install this update to resolve issues in Windows.")
	o.addMethod("AcceptEula", func(*interp, []any) (any, error) { return nil, nil })
	o.str = func() string { return "System.__ComObject" }
	return o
}

func newStringCollection(items []any) *Object {
	o := &Object{Types: comTypes("IStringCollection"), Closed: true}
	o.items = func() []any { return items }
	o.add("Count", len(items))
	o.addMethod("Item", func(in *interp, args []any) (any, error) { return collectionItem(in, items, args) })
	o.str = func() string { return "System.__ComObject" }
	return o
}

func collectionItem(in *interp, items []any, args []any) (any, error) {
	if len(args) != 1 {
		return nil, in.notModelled(in.lastExtent())
	}
	i, err := toInt(args[0])
	if err != nil || i < 0 || i >= len(items) {
		return nil, in.methodError(in.lastExtent(), "Item", 1, &Exception{Type: "System.ArgumentException", Message: "Value does not fall within the expected range."})
	}
	return items[i], nil
}

// newUpdateCollection is an IUpdateCollection (Microsoft.Update.UpdateColl).
func newUpdateCollection(items []any) *Object {
	o := &Object{Types: comTypes("IUpdateCollection"), Closed: true}
	list := append([]any(nil), items...)
	o.items = func() []any { return list }
	o.props = append(o.props, &prop{name: "Count", get: func() any { return len(list) }})
	o.addMethod("Item", func(in *interp, args []any) (any, error) { return collectionItem(in, list, args) })
	o.addMethod("Add", func(in *interp, args []any) (any, error) {
		if len(args) != 1 {
			return nil, in.notModelled(in.lastExtent())
		}
		list = append(list, args[0])
		return len(list) - 1, nil
	})
	o.addMethod("Clear", func(*interp, []any) (any, error) {
		list = nil
		return nil, nil
	})
	o.str = func() string { return "System.__ComObject" }
	return o
}

// updatesOf reads an Updates property a script assigned.
func updatesOf(o *Object) []*Object {
	v, _ := o.Prop("Updates")
	var out []*Object
	for _, u := range enumerate(v) {
		if uo, ok := u.(*Object); ok {
			out = append(out, uo)
		}
	}
	return out
}

func (in *interp) wuaDownloader() *Object {
	o := &Object{Types: comTypes("IUpdateDownloader"), Closed: true}
	o.props = append(o.props, settable("Updates", nil), settable("Priority", 2), settable("IsForced", false), settable("ClientApplicationID", ""))
	o.addMethod("Download", func(in *interp, args []any) (any, error) {
		ext := in.lastExtent()
		if len(args) != 0 {
			return nil, in.notModelled(ext)
		}
		updates := updatesOf(o)
		if len(updates) == 0 {
			// WU_E_NO_UPDATE: the collection is empty.
			return nil, in.methodError(ext, "Download", 0, &Exception{Type: "System.Runtime.InteropServices.COMException", Message: "Exception from HRESULT: 0x80240024"})
		}
		for _, u := range updates {
			if p := u.find("IsDownloaded"); p != nil && p.set != nil {
				_ = p.set(true) // a settable property's setter cannot fail
			}
		}
		return wuaResult(false), nil
	})
	o.str = func() string { return "System.__ComObject" }
	return o
}

func (in *interp) wuaInstaller() *Object {
	o := &Object{Types: comTypes("IUpdateInstaller"), Closed: true}
	o.props = append(o.props, settable("Updates", nil), settable("ForceQuiet", false), settable("AllowSourcePrompts", true),
		settable("IsForced", false), settable("ClientApplicationID", ""))
	o.add("IsBusy", false).add("RebootRequiredBeforeInstallation", false)
	o.addMethod("Install", func(in *interp, args []any) (any, error) {
		ext := in.lastExtent()
		if len(args) != 0 {
			return nil, in.notModelled(ext)
		}
		updates := updatesOf(o)
		if len(updates) == 0 {
			return nil, in.methodError(ext, "Install", 0, &Exception{Type: "System.Runtime.InteropServices.COMException", Message: "Exception from HRESULT: 0x80240024"})
		}
		var kbs []string
		for _, u := range updates {
			if d, _ := u.Prop("IsDownloaded"); !toBool(d) {
				// Installing what was never downloaded is not modelled.
				return nil, in.notModelled(ext)
			}
			ids, _ := u.Prop("KBArticleIDs")
			for _, id := range enumerate(ids) {
				kbs = append(kbs, "KB"+toStr(id))
			}
		}
		for _, kb := range kbs {
			in.host.InstallUpdate(kb)
		}
		return wuaResult(true), nil
	})
	o.str = func() string { return "System.__ComObject" }
	return o
}

// wuaResult is an IInstallationResult / IDownloadResult: orcSucceeded.
func wuaResult(install bool) *Object {
	o := &Object{Types: comTypes("IInstallationResult"), Closed: true}
	o.add("ResultCode", 2).add("HResult", 0)
	if install {
		o.add("RebootRequired", true)
	}
	o.str = func() string { return "System.__ComObject" }
	return o
}
