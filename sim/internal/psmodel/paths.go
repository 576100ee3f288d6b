package psmodel

import (
	"strings"
)

// isRegistryPath reports whether a path names the registry
// (HKLM:\..., Registry::HKEY_LOCAL_MACHINE\...).
func isRegistryPath(p string) bool {
	l := strings.ToLower(p)
	return strings.HasPrefix(l, "hklm:") || strings.HasPrefix(l, "hkcu:") || strings.HasPrefix(l, "registry::") ||
		strings.HasPrefix(l, "microsoft.powershell.core\\registry::")
}

// isOtherProvider reports paths of providers the model does not have
// (env:, cert:, function:, variable:, alias:, wsman:).
func isOtherProvider(p string) bool {
	l := strings.ToLower(p)
	for _, d := range []string{"env:", "cert:", "function:", "variable:", "alias:", "wsman:"} {
		if strings.HasPrefix(l, d) {
			return true
		}
	}
	return strings.Contains(l, "::") && !strings.HasPrefix(l, "filesystem::") && !strings.HasPrefix(l, "microsoft.powershell.core\\filesystem::") && !isRegistryPath(p)
}

func isRooted(p string) bool {
	return len(p) >= 2 && p[1] == ':' || strings.HasPrefix(p, `\`) || strings.HasPrefix(p, "/")
}

// isUNC reports whether p is \\server\share\...
func isUNC(p string) bool {
	return strings.HasPrefix(strings.ReplaceAll(p, "/", `\`), `\\`)
}

// resolvePath makes a file system path absolute against the current
// location and cleans it: separators, "." and "..".
func (in *interp) resolvePath(p string) string {
	if p == "" || isRegistryPath(p) || isOtherProvider(p) {
		return p
	}
	for _, prefix := range []string{"microsoft.powershell.core\\filesystem::", "filesystem::"} {
		if strings.HasPrefix(strings.ToLower(p), prefix) {
			p = p[len(prefix):]
		}
	}
	p = strings.ReplaceAll(p, "/", `\`)
	if strings.HasPrefix(p, "~") {
		home, _ := in.host.Getenv("USERPROFILE")
		p = home + p[1:]
	}
	switch {
	case strings.HasPrefix(p, `\\`):
		return `\\` + cleanSegments(p[2:], 2)
	case len(p) >= 2 && p[1] == ':':
		return strings.ToUpper(p[:1]) + ":" + `\` + cleanSegments(strings.TrimPrefix(p[2:], `\`), 0)
	case strings.HasPrefix(p, `\`):
		cwd := in.host.Dir()
		return cwd[:2] + `\` + cleanSegments(p[1:], 0)
	}
	cwd := strings.TrimRight(in.host.Dir(), `\`)
	if isUNC(cwd) {
		return `\\` + cleanSegments(cwd[2:]+`\`+p, 2)
	}
	return cwd[:2] + `\` + cleanSegments(cwd[min(3, len(cwd)):]+`\`+p, 0)
}

// cleanSegments resolves "." and ".." in a relative path, keeping the
// first keep segments (a UNC path's server and share).
func cleanSegments(p string, keep int) string {
	var out []string
	for i, seg := range strings.Split(p, `\`) {
		switch {
		case seg == "" || seg == ".":
			continue
		case seg == ".." && len(out) > keep && i >= 0:
			out = out[:len(out)-1]
			continue
		case seg == "..":
			continue
		}
		out = append(out, seg)
	}
	return strings.Join(out, `\`)
}

// parentPath is Split-Path -Parent.
func parentPath(p string) string {
	p = strings.TrimRight(p, `\/`)
	i := strings.LastIndexAny(p, `\/`)
	switch {
	case i < 0:
		return ""
	case i == 2 && p[1] == ':':
		return p[:3]
	case i == 0:
		return p[:1]
	}
	return p[:i]
}

// leafName is Split-Path -Leaf.
func leafName(p string) string {
	p = strings.TrimRight(p, `\/`)
	return p[strings.LastIndexAny(p, `\/`)+1:]
}

// pathInfo is a PathInfo object (Get-Location, $pwd).
func (in *interp) pathInfo(dir string) *Object {
	o := &Object{Types: []string{"System.Management.Automation.PathInfo"}, Closed: true}
	drive := ""
	if len(dir) >= 2 && dir[1] == ':' {
		drive = dir[:1]
	}
	o.add("Drive", drive).add("Provider", "Microsoft.PowerShell.Core\\FileSystem").add("ProviderPath", dir).add("Path", dir)
	o.str = func() string { return dir }
	o.view = &view{cols: []column{{label: "Path", get: func(o *Object) any { return dir }}}}
	return o
}
