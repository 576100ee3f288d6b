package sim

import (
	"context"
	"fmt"
	"strings"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
)

// reg.exe's messages (Windows Server's wording).
const (
	regNotFound      = "ERROR: The system was unable to find the specified registry key or value.\r\n"
	regInvalidSyntax = "ERROR: Invalid syntax.\r\n"
	regInvalidKey    = "ERROR: Invalid key name.\r\n"
	regQueryUsage    = "Type \"REG QUERY /?\" for usage.\r\n"
	regUsage         = "Type \"REG /?\" for usage.\r\n"
)

// regQuery is a parsed `reg query` command line.
type regQuery struct {
	// key is the key as the user wrote it after its root, without a
	// trailing backslash ("" for the root itself).
	key string
	// value is the /v name; valueSet says /v or /ve was given (/ve asks
	// for the default value, whose name is empty).
	value    string
	valueSet bool
}

// regParse is what parsing a reg command line decided.
type regParse int

const (
	regOK            regParse = iota
	regSyntax                 // ERROR: Invalid syntax. (exit 1)
	regBadKey                 // ERROR: Invalid key name. (exit 1)
	regBadVerb                // ERROR: Invalid argument/option - 'x'. (exit 1)
	regNotModelledOp          // valid for reg.exe, not modelled here
)

// parseRegArgs reads reg.exe's argv after the program name. Only QUERY on
// HKLM with /v, /ve and /reg:64 is modelled; the other verbs, roots,
// switches (/s, /f, /reg:32, ...) and remote keys are valid reg.exe and
// come back as regNotModelledOp. The checks follow reg.exe's: one /v,
// not with /ve, a value name after /v, switches only after the key.
func parseRegArgs(args []string) (regQuery, regParse) {
	var q regQuery
	if len(args) == 0 {
		return q, regSyntax
	}
	switch strings.ToLower(args[0]) {
	case "query":
	case "add", "delete", "copy", "save", "restore", "load", "unload", "compare", "export", "import", "flags",
		"/?", "-?", "/h", "-h":
		return q, regNotModelledOp
	default:
		return q, regBadVerb
	}
	if len(args) < 2 {
		return q, regSyntax
	}
	if args[1] == "/?" || args[1] == "-?" {
		return q, regNotModelledOp
	}
	key := args[1]
	if len(key) < 3 || strings.HasSuffix(key, `\\`) {
		return q, regBadKey
	}
	if strings.HasPrefix(key, `\\`) {
		return q, regNotModelledOp // a key on another machine
	}
	root, rest, _ := strings.Cut(key, `\`)
	switch strings.ToUpper(root) {
	case "HKLM", "HKEY_LOCAL_MACHINE":
	case "HKCU", "HKEY_CURRENT_USER", "HKCR", "HKEY_CLASSES_ROOT", "HKU", "HKEY_USERS", "HKCC", "HKEY_CURRENT_CONFIG":
		return q, regNotModelledOp
	default:
		return q, regBadKey
	}
	if strings.Contains(key, `\`) && rest == "" {
		return q, regBadKey // "HKLM\" names no key
	}
	q.key = strings.TrimSuffix(rest, `\`)
	notModelled := false
	for i := 2; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "/") && !strings.HasPrefix(a, "-") {
			return q, regSyntax
		}
		switch sw := strings.ToLower(a[1:]); sw {
		case "v":
			if q.valueSet || i+1 >= len(args) {
				return q, regSyntax
			}
			i++
			q.value, q.valueSet = args[i], true
		case "ve":
			if q.valueSet {
				return q, regSyntax
			}
			q.valueSet = true
		case "reg:64":
		case "reg:32", "s", "f", "k", "d", "c", "e", "z", "se", "t":
			notModelled = true
			if sw == "f" || sw == "se" || sw == "t" {
				i++ // these take an argument
			}
		default:
			return q, regSyntax
		}
	}
	if notModelled {
		return q, regNotModelledOp
	}
	return q, regOK
}

// reg is reg.exe: `reg query KEY [/v NAME | /ve]` on the machine state's
// HKLM, printed as reg.exe prints it (a blank line; the key and its values
// with a blank line after them when it has values; then its subkeys, one
// full path a line). A missing key or value is reg.exe's "unable to find"
// error with exit code 1. The layout follows Wine's conformance tests of
// reg.exe (programs/reg/tests/query.c), which pass on Windows.
func (h *Host) reg(_ context.Context, p *cmdexe.Proc) uint32 {
	args := toolArgs(p)
	q, res := parseRegArgs(args[1:])
	switch res {
	case regSyntax:
		usage := regQueryUsage
		if len(args) < 2 || !strings.EqualFold(args[1], "query") {
			usage = regUsage
		}
		h.writeHost(p.Stderr, regInvalidSyntax+usage)
		return 1
	case regBadKey:
		h.writeHost(p.Stderr, regInvalidKey+regQueryUsage)
		return 1
	case regBadVerb:
		h.writeHost(p.Stderr, "ERROR: Invalid argument/option - '"+args[1]+"'.\r\n"+regUsage)
		return 1
	case regNotModelledOp:
		return h.notModelled(p)
	}
	name := "HKEY_LOCAL_MACHINE"
	if q.key != "" {
		name += `\` + q.key
	}
	values, subkeys, ok := h.machine.registryKeyInfo(`HKLM\` + q.key)
	if !ok {
		h.writeHost(p.Stderr, regNotFound)
		return 1
	}
	var b strings.Builder
	b.WriteString("\r\n")
	if q.valueSet {
		for _, v := range values {
			if strings.EqualFold(v.Name, q.value) {
				b.WriteString(name + "\r\n" + regValueLine(v) + "\r\n")
				h.writeHost(p.Stdout, b.String())
				return 0
			}
		}
		h.writeHost(p.Stdout, b.String())
		if q.value == "" {
			// /ve on a key without a default value: reg.exe still
			// succeeds and says the value is not set.
			h.writeHost(p.Stdout, name+"\r\n    (Default)    REG_SZ    (value not set)\r\n")
			return 0
		}
		h.writeHost(p.Stderr, regNotFound)
		return 1
	}
	if len(values) > 0 {
		b.WriteString(name + "\r\n")
		for _, v := range values {
			b.WriteString(regValueLine(v))
		}
		b.WriteString("\r\n")
	}
	for _, s := range subkeys {
		b.WriteString(name + `\` + s + "\r\n")
	}
	h.writeHost(p.Stdout, b.String())
	return 0
}

// regValueLine is one value as reg.exe lists it: four spaces before and
// between the name, the type and the data.
func regValueLine(v RegValue) string {
	name := v.Name
	if name == "" {
		name = "(Default)"
	}
	var data string
	switch v.Type {
	case "REG_DWORD", "REG_QWORD":
		data = fmt.Sprintf("0x%x", v.DWord)
	case "REG_MULTI_SZ":
		data = strings.ReplaceAll(strings.TrimRight(v.Data, "\x00"), "\x00", `\0`)
	default:
		data = v.Data
	}
	return "    " + name + "    " + v.Type + "    " + data + "\r\n"
}
