package psmodel

import (
	"errors"
	"io/fs"
	"sort"
	"strings"
)

// fileObject is a FileInfo or DirectoryInfo; short makes ToString give
// the name only, as items Get-ChildItem enumerates do in Windows
// PowerShell 5.1.
func fileObject(fi FileInfo, short bool) *Object {
	typ := "System.IO.FileInfo"
	mode := "-a----"
	if fi.Dir {
		typ, mode = "System.IO.DirectoryInfo", "d-----"
	}
	o := &Object{Types: []string{typ, "System.IO.FileSystemInfo"}, Closed: true}
	name := fi.Name
	ext := ""
	if i := strings.LastIndexByte(name, '.'); i >= 0 && !fi.Dir {
		ext = name[i:]
	}
	base := strings.TrimSuffix(name, ext)
	o.add("Name", name).add("FullName", fi.Path).add("Extension", ext).add("BaseName", base)
	o.add("Mode", mode).add("LastWriteTime", DateTime{T: fi.ModTime}).add("Exists", true).add("PSIsContainer", fi.Dir)
	o.add("PSPath", "Microsoft.PowerShell.Core\\FileSystem::"+fi.Path).add("PSParentPath", "Microsoft.PowerShell.Core\\FileSystem::"+parentPath(fi.Path))
	o.add("PSChildName", name)
	if fi.Dir {
		o.add("Parent", parentPath(fi.Path))
	} else {
		o.add("Length", fi.Size).add("DirectoryName", parentPath(fi.Path))
	}
	o.str = func() string {
		if short {
			return name
		}
		return fi.Path
	}
	o.view = fileView
	return o
}

// fileView is the table Get-ChildItem shows, grouped by directory.
var fileView = &view{
	group: func(o *Object) string {
		p, _ := o.Prop("FullName")
		return "    Directory: " + parentPath(toStr(p))
	},
	cols: []column{
		{label: "Mode", width: 7, get: func(o *Object) any { v, _ := o.Prop("Mode"); return v }},
		{label: "LastWriteTime", width: 25, right: true, get: func(o *Object) any {
			v, _ := o.Prop("LastWriteTime")
			t := v.(DateTime).T
			d, _ := formatDate(t, "d")
			h, _ := formatDate(t, "t")
			return padLeft(d, 10) + " " + padLeft(h, 8)
		}},
		{label: "Length", width: 14, right: true, get: func(o *Object) any { v, _ := o.Prop("Length"); return v }},
		{label: "Name", get: func(o *Object) any { v, _ := o.Prop("Name"); return v }},
	},
}

func padLeft(s string, w int) string {
	if len(s) >= w {
		return s
	}
	return strings.Repeat(" ", w-len(s)) + s
}

// pathErrors turn file system errors into Get-Content-style records.
func (c *cmdCall) pathNotFound(p string) *ErrorRecord {
	shown := p
	rec := c.record("System.Management.Automation.ItemNotFoundException", "Cannot find path '"+shown+"' because it does not exist.", "ObjectNotFound", "PathNotFound", shown, "String")
	rec.Target = shown
	return rec
}

// accessDenied is what a cmdlet reports for a path the process may not
// reach, such as a file share from a network logon without delegated
// credentials.
func (c *cmdCall) accessDenied(p, fqid string) *ErrorRecord {
	rec := c.record("System.UnauthorizedAccessException", "Access is denied", "PermissionDenied", fqid, p, "String")
	rec.Target = p
	return rec
}

// expandPath resolves a path with wildcards in its last part to the
// items that match; literal paths are returned as they are.
func (c *cmdCall) expandPath(p string, literal bool) ([]string, error) {
	in := c.in
	full := in.resolvePath(p)
	if literal || !strings.ContainsAny(leafName(full), "*?[") {
		if strings.ContainsAny(parentPath(full), "*?") && !literal {
			return nil, c.notModelled()
		}
		return []string{full}, nil
	}
	dir := parentPath(full)
	if strings.ContainsAny(dir, "*?") {
		return nil, c.notModelled()
	}
	entries, err := in.host.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, err
		}
		return nil, nil
	}
	var out []string
	pat := leafName(full)
	for _, e := range entries {
		if wildcardMatch(pat, e.Name) {
			out = append(out, e.Path)
		}
	}
	return out, nil
}

func defineFileCmdlets() {
	defCmdlet(&cmdletInfo{name: "Set-Location",
		params: []paramSpec{{name: "Path", pos: 0}, {name: "LiteralPath", aliases: []string{"pspath"}, pos: -1}},
		end: func(c *cmdCall) error {
			name := "Path"
			if c.has("LiteralPath") {
				name = "LiteralPath"
			}
			if !c.has(name) {
				return c.notModelled()
			}
			p := c.str(name)
			if isRegistryPath(p) || isOtherProvider(p) {
				return c.notModelled()
			}
			full := c.in.resolvePath(p)
			fi, err := c.in.host.Stat(full)
			switch {
			case errors.Is(err, fs.ErrPermission):
				return c.writeError(c.accessDenied(full, "ItemExistsUnauthorizedAccessError"))
			case err != nil:
				return c.writeError(c.pathNotFound(full))
			case !fi.Dir:
				return c.notModelled()
			}
			c.in.host.Chdir(fi.Path)
			return nil
		}})
	defCmdlet(&cmdletInfo{name: "Get-Location",
		end: func(c *cmdCall) error { return c.emit(c.in.pathInfo(c.in.host.Dir())) }})
	defCmdlet(&cmdletInfo{name: "Test-Path",
		params: []paramSpec{{name: "Path", pos: 0}, {name: "LiteralPath", aliases: []string{"pspath"}, pos: -1}, {name: "PathType", aliases: []string{"type"}, pos: -1}},
		end:    testPathEnd})
	defCmdlet(&cmdletInfo{name: "Get-Content",
		params: []paramSpec{{name: "Path", pos: 0}, {name: "LiteralPath", aliases: []string{"pspath"}, pos: -1}, {name: "Raw", sw: true, pos: -1},
			{name: "TotalCount", aliases: []string{"first", "head"}, pos: -1}, {name: "Tail", aliases: []string{"last"}, pos: -1}, {name: "Encoding", pos: -1}},
		end: getContentEnd})
	for _, spec := range []struct {
		name   string
		append bool
	}{{"Set-Content", false}, {"Add-Content", true}} {
		spec := spec
		defCmdlet(&cmdletInfo{name: spec.name,
			params: []paramSpec{{name: "Path", pos: 0}, {name: "Value", pos: 1}, {name: "LiteralPath", aliases: []string{"pspath"}, pos: -1},
				{name: "Encoding", pos: -1}, {name: "Force", sw: true, pos: -1}, {name: "NoNewline", sw: true, pos: -1}},
			process: collectInput,
			end:     func(c *cmdCall) error { return setContentEnd(c, spec.append) }})
	}
	defCmdlet(&cmdletInfo{name: "Out-File",
		params: []paramSpec{{name: "FilePath", aliases: []string{"path"}, pos: 0}, {name: "Encoding", pos: 1}, {name: "Append", sw: true, pos: -1},
			{name: "Force", sw: true, pos: -1}, {name: "NoNewline", sw: true, pos: -1}, {name: "InputObject", pos: -1}},
		process: collectInput,
		end: func(c *cmdCall) error {
			items := c.inputItems()
			text := outString(items)
			if c.sw("NoNewline") {
				var b strings.Builder
				for _, v := range items {
					b.WriteString(toStr(v))
				}
				text = b.String()
			}
			enc, err := c.encoding("unicode")
			if err != nil {
				return err
			}
			path := c.in.resolvePath(c.str("FilePath"))
			return c.writeFile(path, text, enc, c.sw("Append"))
		}})
	newItem := &cmdletInfo{name: "New-Item",
		params: []paramSpec{{name: "Path", pos: 0}, {name: "Name", pos: -1}, {name: "ItemType", aliases: []string{"type"}, pos: -1},
			{name: "Value", pos: -1}, {name: "Force", sw: true, pos: -1}},
		end: func(c *cmdCall) error { return newItemEnd(c, strings.ToLower(c.str("ItemType"))) }}
	defCmdlet(newItem)
	cmdlets["mkdir"] = &cmdletInfo{name: "New-Item", params: newItem.params, end: func(c *cmdCall) error { return newItemEnd(c, "directory") }}
	defCmdlet(&cmdletInfo{name: "Remove-Item",
		params: []paramSpec{{name: "Path", pos: 0}, {name: "LiteralPath", aliases: []string{"pspath"}, pos: -1}, {name: "Recurse", sw: true, pos: -1},
			{name: "Force", sw: true, pos: -1}},
		process: func(c *cmdCall, v any) error {
			o, ok := v.(*Object)
			if !ok {
				return removeItems(c, []string{toStr(v)}, false)
			}
			p, ok := o.Prop("FullName")
			if !ok {
				return c.notModelled()
			}
			return removeItems(c, []string{toStr(p)}, true)
		},
		end: func(c *cmdCall) error {
			name := "Path"
			if c.has("LiteralPath") {
				name = "LiteralPath"
			}
			if !c.has(name) {
				if c.gotInput {
					return nil
				}
				return c.notModelled()
			}
			paths, err := c.pathArg(name)
			if err != nil {
				return err
			}
			return removeItems(c, paths, name == "LiteralPath")
		}})
	defCmdlet(&cmdletInfo{name: "Get-ChildItem",
		params: []paramSpec{{name: "Path", pos: 0}, {name: "LiteralPath", aliases: []string{"pspath"}, pos: -1}, {name: "Filter", pos: 1},
			{name: "Recurse", aliases: []string{"s"}, sw: true, pos: -1}, {name: "File", sw: true, pos: -1}, {name: "Directory", aliases: []string{"ad"}, sw: true, pos: -1},
			{name: "Name", sw: true, pos: -1}, {name: "Force", sw: true, pos: -1}},
		end: getChildItemEnd})
	defCmdlet(&cmdletInfo{name: "Get-Item",
		params: []paramSpec{{name: "Path", pos: 0}, {name: "LiteralPath", aliases: []string{"pspath"}, pos: -1}, {name: "Force", sw: true, pos: -1}},
		end: func(c *cmdCall) error {
			name := "Path"
			if c.has("LiteralPath") {
				name = "LiteralPath"
			}
			paths, err := c.pathArg(name)
			if err != nil {
				return err
			}
			for _, p := range paths {
				if isRegistryPath(p) || isOtherProvider(p) {
					return c.notModelled()
				}
				items, err := c.expandPath(p, name == "LiteralPath")
				if err != nil {
					return c.writeError(c.accessDenied(c.in.resolvePath(p), "ItemExistsUnauthorizedAccessError"))
				}
				found := false
				for _, full := range items {
					fi, err := c.in.host.Stat(full)
					switch {
					case errors.Is(err, fs.ErrPermission):
						if err := c.writeError(c.accessDenied(full, "ItemExistsUnauthorizedAccessError")); err != nil {
							return err
						}
						found = true
						continue
					case err != nil:
						continue
					}
					found = true
					if err := c.emit(fileObject(fi, false)); err != nil {
						return err
					}
				}
				if !found {
					if err := c.writeError(c.pathNotFound(c.in.resolvePath(p))); err != nil {
						return err
					}
				}
			}
			return nil
		}})
	for _, spec := range []struct {
		name string
		move bool
	}{{"Copy-Item", false}, {"Move-Item", true}} {
		spec := spec
		defCmdlet(&cmdletInfo{name: spec.name,
			params: []paramSpec{{name: "Path", pos: 0}, {name: "Destination", pos: 1}, {name: "LiteralPath", aliases: []string{"pspath"}, pos: -1},
				{name: "Force", sw: true, pos: -1}},
			end: func(c *cmdCall) error { return copyItemEnd(c, spec.move) }})
	}
	defCmdlet(&cmdletInfo{name: "Get-ItemProperty",
		params: []paramSpec{{name: "Path", pos: 0}, {name: "Name", pos: 1}, {name: "LiteralPath", aliases: []string{"pspath"}, pos: -1}},
		end:    func(c *cmdCall) error { return itemPropertyEnd(c, false) }})
	defCmdlet(&cmdletInfo{name: "Get-ItemPropertyValue",
		params: []paramSpec{{name: "Path", pos: 0}, {name: "Name", pos: 1}, {name: "LiteralPath", aliases: []string{"pspath"}, pos: -1}},
		end:    func(c *cmdCall) error { return itemPropertyEnd(c, true) }})
}

func testPathEnd(c *cmdCall) error {
	in := c.in
	name := "Path"
	if c.has("LiteralPath") {
		name = "LiteralPath"
	}
	paths, err := c.pathArg(name)
	if err != nil {
		return err
	}
	kind := strings.ToLower(c.str("PathType"))
	switch kind {
	case "", "any", "container", "leaf":
	default:
		return c.notModelled()
	}
	for _, p := range paths {
		ok := false
		switch {
		case isRegistryPath(p):
			_, exists := in.host.RegistryKey(p)
			ok = exists && kind != "leaf"
		case isOtherProvider(p):
			return c.notModelled()
		default:
			items, err := c.expandPath(p, name == "LiteralPath")
			if err != nil {
				items = nil
			}
			for _, full := range items {
				fi, err := in.host.Stat(full)
				if err != nil {
					// A share the process may not reach does not exist
					// for Test-Path.
					continue
				}
				if kind == "leaf" && fi.Dir || kind == "container" && !fi.Dir {
					continue
				}
				ok = true
				break
			}
		}
		if err := c.emit(ok); err != nil {
			return err
		}
	}
	return nil
}

// encoding reads -Encoding, with def when it is missing.
func (c *cmdCall) encoding(def string) (string, error) {
	if !c.has("Encoding") {
		return def, nil
	}
	e := strings.ToLower(c.str("Encoding"))
	switch e {
	case "utf8", "unicode", "ascii", "default", "oem", "string":
		if e == "string" {
			e = "unicode"
		}
		return e, nil
	}
	return "", c.notModelled()
}

func getContentEnd(c *cmdCall) error {
	in := c.in
	name := "Path"
	if c.has("LiteralPath") {
		name = "LiteralPath"
	}
	paths, err := c.pathArg(name)
	if err != nil {
		return err
	}
	if _, err := c.encoding("default"); err != nil {
		return err
	}
	for _, p := range paths {
		if isRegistryPath(p) || isOtherProvider(p) {
			return c.notModelled()
		}
		items, err := c.expandPath(p, name == "LiteralPath")
		if err != nil {
			if err := c.writeError(c.accessDenied(in.resolvePath(p), "ItemExistsUnauthorizedAccessError")); err != nil {
				return err
			}
			continue
		}
		if len(items) == 0 {
			if err := c.writeError(c.pathNotFound(in.resolvePath(p))); err != nil {
				return err
			}
			continue
		}
		for _, full := range items {
			fi, err := in.host.Stat(full)
			switch {
			case errors.Is(err, fs.ErrPermission):
				if err := c.writeError(c.accessDenied(full, "ItemExistsUnauthorizedAccessError")); err != nil {
					return err
				}
				continue
			case err != nil:
				if err := c.writeError(c.pathNotFound(full)); err != nil {
					return err
				}
				continue
			case fi.Dir:
				rec := c.record("System.UnauthorizedAccessException", "Access to the path '"+full+"' is denied.", "PermissionDenied", "GetContentReaderUnauthorizedAccessError", full, "String")
				if err := c.writeError(rec); err != nil {
					return err
				}
				continue
			}
			data, err := in.host.ReadFile(full)
			if err != nil {
				if err := c.writeError(c.accessDenied(full, "GetContentReaderUnauthorizedAccessError")); err != nil {
					return err
				}
				continue
			}
			text := decodeText(data, in.host, "")
			if c.sw("Raw") {
				if err := c.emit(text); err != nil {
					return err
				}
				continue
			}
			lines := splitLines(text)
			if c.has("TotalCount") {
				n, err := c.int("TotalCount")
				if err != nil {
					return err
				}
				if n >= 0 && n < len(lines) {
					lines = lines[:n]
				}
			}
			if c.has("Tail") {
				n, err := c.int("Tail")
				if err != nil {
					return err
				}
				if n >= 0 && n < len(lines) {
					lines = lines[len(lines)-n:]
				}
			}
			for _, l := range lines {
				if err := c.emit(l); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// writeFile writes text to a file as a content cmdlet, reporting a
// missing folder or an unreachable share as the cmdlet does.
func (c *cmdCall) writeFile(path, text, enc string, appendTo bool) error {
	in := c.in
	if isRegistryPath(path) || isOtherProvider(path) {
		return c.notModelled()
	}
	dir := parentPath(path)
	if fi, err := in.host.Stat(dir); err != nil || !fi.Dir {
		if errors.Is(err, fs.ErrPermission) {
			rec := c.record("System.UnauthorizedAccessException", "Access to the path '"+path+"' is denied.", "PermissionDenied", "GetContentWriterUnauthorizedAccessError", path, "String")
			return c.writeError(rec)
		}
		rec := c.record("System.IO.DirectoryNotFoundException", "Could not find a part of the path '"+path+"'.", "ObjectNotFound", "GetContentWriterDirectoryNotFoundError", path, "String")
		return c.writeError(rec)
	}
	if err := in.writeText(path, text, enc, appendTo, false); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			rec := c.record("System.UnauthorizedAccessException", "Access to the path '"+path+"' is denied.", "PermissionDenied", "GetContentWriterUnauthorizedAccessError", path, "String")
			return c.writeError(rec)
		}
		return c.notModelled()
	}
	return nil
}

func setContentEnd(c *cmdCall, appendTo bool) error {
	in := c.in
	enc, err := c.encoding("default")
	if err != nil {
		return err
	}
	values := c.inputItems()
	if c.has("Value") {
		values = enumerateArgs(c.get("Value"))
	}
	var b strings.Builder
	for _, v := range values {
		b.WriteString(toStr(v))
		if !c.sw("NoNewline") {
			b.WriteString("\r\n")
		}
	}
	name := "Path"
	if c.has("LiteralPath") {
		name = "LiteralPath"
	}
	paths, err := c.pathArg(name)
	if err != nil {
		return err
	}
	for _, p := range paths {
		if err := c.writeFile(in.resolvePath(p), b.String(), enc, appendTo); err != nil {
			return err
		}
	}
	return nil
}

func newItemEnd(c *cmdCall, kind string) error {
	in := c.in
	paths, err := c.pathArg("Path")
	if err != nil {
		return err
	}
	switch kind {
	case "", "file", "directory":
	default:
		return c.notModelled()
	}
	for _, p := range paths {
		if isRegistryPath(p) || isOtherProvider(p) {
			return c.notModelled()
		}
		full := in.resolvePath(p)
		if c.has("Name") {
			full = strings.TrimRight(full, `\`) + `\` + c.str("Name")
		}
		existing, statErr := in.host.Stat(full)
		if errors.Is(statErr, fs.ErrPermission) {
			if err := c.writeError(c.accessDenied(full, "NewItemUnauthorizedAccessError")); err != nil {
				return err
			}
			continue
		}
		if kind == "directory" {
			if statErr == nil {
				if !c.sw("Force") || !existing.Dir {
					rec := c.record("System.IO.IOException", "An item with the specified name "+full+" already exists.", "ResourceExists", "DirectoryExist", full, "String")
					if err := c.writeError(rec); err != nil {
						return err
					}
					continue
				}
			} else if err := in.host.Mkdir(full); err != nil {
				return c.notModelled()
			}
		} else {
			if statErr == nil && !c.sw("Force") {
				rec := c.record("System.IO.IOException", "The file '"+full+"' already exists.", "WriteError", "NewItemIOError", full, "String")
				if err := c.writeError(rec); err != nil {
					return err
				}
				continue
			}
			if statErr == nil && existing.Dir {
				return c.notModelled()
			}
			dir := parentPath(full)
			if fi, err := in.host.Stat(dir); err != nil || !fi.Dir {
				if !c.sw("Force") {
					rec := c.record("System.IO.DirectoryNotFoundException", "Could not find a part of the path '"+full+"'.", "WriteError", "NewItemIOError", full, "String")
					if err := c.writeError(rec); err != nil {
						return err
					}
					continue
				}
				if err := in.host.Mkdir(dir); err != nil {
					return c.notModelled()
				}
			}
			if err := in.host.WriteFile(full, in.host.Encode(c.str("Value")), false); err != nil {
				return c.notModelled()
			}
		}
		fi, err := in.host.Stat(full)
		if err != nil {
			return c.notModelled()
		}
		if err := c.emit(fileObject(fi, false)); err != nil {
			return err
		}
	}
	return nil
}

func removeItems(c *cmdCall, paths []string, literal bool) error {
	in := c.in
	for _, p := range paths {
		if isRegistryPath(p) || isOtherProvider(p) {
			return c.notModelled()
		}
		items, err := c.expandPath(p, literal)
		if err != nil {
			if err := c.writeError(c.accessDenied(in.resolvePath(p), "ItemExistsUnauthorizedAccessError")); err != nil {
				return err
			}
			continue
		}
		if len(items) == 0 && !strings.ContainsAny(leafName(p), "*?") {
			if err := c.writeError(c.pathNotFound(in.resolvePath(p))); err != nil {
				return err
			}
			continue
		}
		for _, full := range items {
			fi, err := in.host.Stat(full)
			if err != nil {
				if errors.Is(err, fs.ErrPermission) {
					if err := c.writeError(c.accessDenied(full, "RemoveItemUnauthorizedAccessError")); err != nil {
						return err
					}
					continue
				}
				if err := c.writeError(c.pathNotFound(full)); err != nil {
					return err
				}
				continue
			}
			if fi.Dir {
				entries, err := in.host.ReadDir(full)
				if err != nil {
					return c.notModelled()
				}
				if len(entries) > 0 && !c.sw("Recurse") {
					// Windows PowerShell would ask for confirmation; under
					// -NonInteractive that is an error the model does not
					// reproduce.
					return c.notModelled()
				}
				if err := removeTree(c, full, 0); err != nil {
					return err
				}
				continue
			}
			if err := in.host.Remove(full); err != nil {
				return c.notModelled()
			}
		}
	}
	return nil
}

func removeTree(c *cmdCall, dir string, depth int) error {
	in := c.in
	if depth > 64 {
		return c.notModelled()
	}
	entries, err := in.host.ReadDir(dir)
	if err != nil {
		return c.notModelled()
	}
	for _, e := range entries {
		if err := in.step(); err != nil {
			return err
		}
		if e.Dir {
			if err := removeTree(c, e.Path, depth+1); err != nil {
				return err
			}
			continue
		}
		if err := in.host.Remove(e.Path); err != nil {
			return c.notModelled()
		}
	}
	if err := in.host.Remove(dir); err != nil {
		return c.notModelled()
	}
	return nil
}

func getChildItemEnd(c *cmdCall) error {
	in := c.in
	name := "Path"
	if c.has("LiteralPath") {
		name = "LiteralPath"
	}
	paths := []string{in.host.Dir()}
	if c.has(name) {
		var err error
		if paths, err = c.pathArg(name); err != nil {
			return err
		}
	}
	filter := c.str("Filter")
	var walk func(dir string, depth int) error
	emitEntry := func(fi FileInfo) error {
		if c.sw("File") && fi.Dir || c.sw("Directory") && !fi.Dir {
			return nil
		}
		if filter != "" && !wildcardMatch(filter, fi.Name) {
			return nil
		}
		if c.sw("Name") {
			return c.emit(fi.Name)
		}
		return c.emit(fileObject(fi, true))
	}
	walk = func(dir string, depth int) error {
		if depth > 64 {
			return c.notModelled()
		}
		entries, err := in.host.ReadDir(dir)
		if err != nil {
			return c.notModelled()
		}
		sortDirsFirst(entries)
		for _, e := range entries {
			if err := in.step(); err != nil {
				return err
			}
			if err := emitEntry(e); err != nil {
				return err
			}
		}
		if c.sw("Recurse") {
			for _, e := range entries {
				if e.Dir {
					if err := walk(e.Path, depth+1); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	for _, p := range paths {
		if isRegistryPath(p) || isOtherProvider(p) {
			return c.notModelled()
		}
		items, err := c.expandPath(p, name == "LiteralPath")
		if err != nil {
			if err := c.writeError(c.accessDenied(in.resolvePath(p), "ItemExistsUnauthorizedAccessError")); err != nil {
				return err
			}
			continue
		}
		if len(items) == 0 && !strings.ContainsAny(leafName(p), "*?") {
			if err := c.writeError(c.pathNotFound(in.resolvePath(p))); err != nil {
				return err
			}
			continue
		}
		wild := len(items) != 1 || strings.ContainsAny(leafName(p), "*?")
		for _, full := range items {
			fi, err := in.host.Stat(full)
			switch {
			case errors.Is(err, fs.ErrPermission):
				if err := c.writeError(c.accessDenied(full, "ItemExistsUnauthorizedAccessError")); err != nil {
					return err
				}
				continue
			case err != nil:
				if err := c.writeError(c.pathNotFound(full)); err != nil {
					return err
				}
				continue
			}
			if fi.Dir && !wild {
				if _, err := in.host.ReadDir(full); errors.Is(err, fs.ErrPermission) {
					if err := c.writeError(c.accessDenied(full, "DirUnauthorizedAccessError")); err != nil {
						return err
					}
					continue
				}
				if err := walk(full, 0); err != nil {
					return err
				}
				continue
			}
			if err := emitEntry(fi); err != nil {
				return err
			}
		}
	}
	return nil
}

func sortDirsFirst(entries []FileInfo) {
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].Dir != entries[j].Dir {
			return entries[i].Dir
		}
		return strings.ToLower(entries[i].Name) < strings.ToLower(entries[j].Name)
	})
}

func copyItemEnd(c *cmdCall, move bool) error {
	in := c.in
	name := "Path"
	if c.has("LiteralPath") {
		name = "LiteralPath"
	}
	paths, err := c.pathArg(name)
	if err != nil {
		return err
	}
	if !c.has("Destination") {
		return c.notModelled()
	}
	dest := in.resolvePath(c.str("Destination"))
	for _, p := range paths {
		items, err := c.expandPath(p, name == "LiteralPath")
		if err != nil {
			if err := c.writeError(c.accessDenied(in.resolvePath(p), "ItemExistsUnauthorizedAccessError")); err != nil {
				return err
			}
			continue
		}
		if len(items) == 0 {
			if err := c.writeError(c.pathNotFound(in.resolvePath(p))); err != nil {
				return err
			}
			continue
		}
		for _, src := range items {
			fi, err := in.host.Stat(src)
			if err != nil {
				if errors.Is(err, fs.ErrPermission) {
					if err := c.writeError(c.accessDenied(src, "CopyFileInfoItemUnauthorizedAccessError")); err != nil {
						return err
					}
					continue
				}
				if err := c.writeError(c.pathNotFound(src)); err != nil {
					return err
				}
				continue
			}
			if fi.Dir {
				return c.notModelled()
			}
			target := dest
			if di, err := in.host.Stat(dest); err == nil && di.Dir {
				target = strings.TrimRight(dest, `\`) + `\` + fi.Name
			}
			data, err := in.host.ReadFile(src)
			if err != nil {
				return c.notModelled()
			}
			if err := c.writeFile(target, "", "", false); err != nil {
				return err
			}
			if err := in.host.WriteFile(target, data, false); err != nil {
				return c.notModelled()
			}
			if move {
				if err := in.host.Remove(src); err != nil {
					return c.notModelled()
				}
			}
		}
	}
	return nil
}

// regHive spells a registry path as the registry provider shows it.
func regProviderPath(p string) string {
	l := strings.ToLower(p)
	for _, prefix := range []string{"microsoft.powershell.core\\registry::", "registry::"} {
		if strings.HasPrefix(l, prefix) {
			p = p[len(prefix):]
			l = l[len(prefix):]
		}
	}
	switch {
	case strings.HasPrefix(l, "hklm:"):
		p = "HKEY_LOCAL_MACHINE" + strings.TrimRight(p[5:], `\`)
	case strings.HasPrefix(l, "hkcu:"):
		p = "HKEY_CURRENT_USER" + strings.TrimRight(p[5:], `\`)
	case strings.HasPrefix(l, "hklm\\"):
		p = "HKEY_LOCAL_MACHINE" + p[4:]
	}
	return strings.TrimRight(p, `\`)
}

// regValue is a registry value as PowerShell reads it.
func regValue(v RegValue) any {
	switch strings.ToUpper(v.Type) {
	case "REG_DWORD":
		return int(int32(uint32(v.DWord)))
	case "REG_QWORD":
		return int64(v.DWord)
	case "REG_MULTI_SZ":
		var out []any
		for _, s := range strings.Split(v.Data, "\x00") {
			if s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return v.Data
}

func itemPropertyEnd(c *cmdCall, valueOnly bool) error {
	in := c.in
	name := "Path"
	if c.has("LiteralPath") {
		name = "LiteralPath"
	}
	paths, err := c.pathArg(name)
	if err != nil {
		return err
	}
	names := c.strs("Name")
	if valueOnly && len(names) == 0 {
		return c.notModelled()
	}
	for _, p := range paths {
		if !isRegistryPath(p) || strings.ContainsAny(p, "*?") {
			return c.notModelled()
		}
		values, ok := in.host.RegistryKey(p)
		if !ok {
			if err := c.writeError(c.pathNotFound(p)); err != nil {
				return err
			}
			continue
		}
		provider := regProviderPath(p)
		o := &Object{Types: []string{"System.Management.Automation.PSCustomObject"}}
		find := func(n string) (RegValue, bool) {
			for _, v := range values {
				if strings.EqualFold(v.Name, n) {
					return v, true
				}
			}
			return RegValue{}, false
		}
		if len(names) == 0 {
			for _, v := range values {
				o.add(v.Name, regValue(v))
			}
		}
		missing := false
		for _, n := range names {
			if strings.ContainsAny(n, "*?") {
				return c.notModelled()
			}
			v, ok := find(n)
			if !ok {
				missing = true
				rec := c.record("System.Management.Automation.PSArgumentException", "Property "+n+" does not exist at path "+provider+".", "InvalidArgument", "System.Management.Automation.PSArgumentException", n, "String")
				if err := c.writeError(rec); err != nil {
					return err
				}
				continue
			}
			if valueOnly {
				if err := c.emit(regValue(v)); err != nil {
					return err
				}
				continue
			}
			o.add(v.Name, regValue(v))
		}
		if valueOnly || missing && len(o.props) == 0 {
			continue
		}
		o.add("PSPath", "Microsoft.PowerShell.Core\\Registry::"+provider)
		o.add("PSParentPath", "Microsoft.PowerShell.Core\\Registry::"+parentPath(provider))
		o.add("PSChildName", leafName(provider))
		o.add("PSDrive", strings.ToUpper(strings.SplitN(p, ":", 2)[0]))
		o.add("PSProvider", "Microsoft.PowerShell.Core\\Registry")
		o.view = &view{list: true}
		if err := c.emit(o); err != nil {
			return err
		}
	}
	return nil
}
