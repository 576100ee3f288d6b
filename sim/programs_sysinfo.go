package sim

import (
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"strings"
	"time"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
)

// notModelled refuses, loudly, an invocation the simulator does not model:
// a message naming the program and its arguments on stderr and exit code
// 1, never a quiet success.
func (h *Host) notModelled(p *cmdexe.Proc) uint32 {
	text := programBase(p.Name)
	if args := toolArgs(p); len(args) > 1 {
		text += " " + strings.Join(args[1:], " ")
	}
	h.writeHost(p.Stderr, "simulated host: "+text+" is not modelled\r\n")
	return 1
}

// toolArgs is the argv of a Windows command-line tool that reads its own
// command line: cmd.exe ends the program name at a "/" (so `ipconfig/all`
// runs ipconfig.exe) but hands the program the line as typed, whose first
// C-runtime argument is then "ipconfig/all"; the tools split it there
// themselves, which is why `ipconfig/all` works on Windows.
func toolArgs(p *cmdexe.Proc) []string {
	if len(p.Args) == 0 {
		return []string{""}
	}
	first := p.Args[0]
	base := strings.LastIndexAny(first, `\:`) + 1
	if k := strings.IndexByte(first[base:], '/'); k > 0 {
		return append([]string{first[:base+k], first[base+k:]}, p.Args[1:]...)
	}
	return p.Args
}

// programBase is a program's file name without directory and ".exe", in
// lower case: `C:\Windows\System32\REG.EXE` → "reg".
func programBase(path string) string {
	base := strings.ToLower(path[strings.LastIndexAny(path, `\/`)+1:])
	return strings.TrimSuffix(base, ".exe")
}

// network is the one network adapter every simulated host has: "Ethernet",
// the host's address in a /24 whose gateway (and DNS server) is .1, and a
// MAC address derived from the host name in Hyper-V's 00-15-5D range.
type network struct {
	Address, Mask, Gateway, MAC string
}

func (h *Host) network() network {
	addr := h.cfg.Address
	if addr == "" && h.ln != nil {
		addr = h.Address()
	}
	n := network{Address: addr, Mask: "255.255.255.0", Gateway: addr}
	if ip := net.ParseIP(addr).To4(); ip != nil {
		n.Gateway = fmt.Sprintf("%d.%d.%d.1", ip[0], ip[1], ip[2])
	}
	f := fnv.New32a()
	_, _ = f.Write([]byte(h.cfg.Name)) // hash writes never fail
	s := f.Sum32()
	n.MAC = fmt.Sprintf("00-15-5D-%02X-%02X-%02X", byte(s>>16), byte(s>>8), byte(s))
	return n
}

const nicDescription = "Microsoft Hyper-V Network Adapter"

// ipconfig is ipconfig.exe with no argument or /all, in the layout of
// Windows Server (a leading blank line, "Windows IP Configuration", one
// "Ethernet adapter Ethernet:" section; "/all" adds the host section and
// the adapter's details, with the "(Preferred) " suffix real output has).
// The other documented switches (/release, /renew, /flushdns, ...) are not
// modelled; anything else gets ipconfig's own complaint and exit code 1.
func (h *Host) ipconfig(_ context.Context, p *cmdexe.Proc) uint32 {
	args := toolArgs(p)
	all := false
	switch {
	case len(args) == 1:
	case len(args) == 2 && (strings.EqualFold(args[1], "/all") || strings.EqualFold(args[1], "-all")):
		all = true
	case ipconfigKnown(args[1]):
		return h.notModelled(p)
	default:
		// ipconfig's complaint, then its usage text (abbreviated here).
		h.writeHost(p.Stdout, "\r\nError: unrecognized or incomplete command line.\r\n\r\nUSAGE:\r\n    ipconfig [/allcompartments] [/? | /all | ...]\r\n\r\n")
		return 1
	}
	n := h.network()
	var b strings.Builder
	b.WriteString("\r\nWindows IP Configuration\r\n\r\n")
	if all {
		fmt.Fprintf(&b, "   Host Name . . . . . . . . . . . . : %s\r\n", h.cfg.Name)
		b.WriteString("   Primary Dns Suffix  . . . . . . . : \r\n")
		b.WriteString("   Node Type . . . . . . . . . . . . : Hybrid\r\n")
		b.WriteString("   IP Routing Enabled. . . . . . . . : No\r\n")
		b.WriteString("   WINS Proxy Enabled. . . . . . . . : No\r\n")
	}
	b.WriteString("\r\nEthernet adapter Ethernet:\r\n\r\n")
	b.WriteString("   Connection-specific DNS Suffix  . : \r\n")
	if all {
		fmt.Fprintf(&b, "   Description . . . . . . . . . . . : %s\r\n", nicDescription)
		fmt.Fprintf(&b, "   Physical Address. . . . . . . . . : %s\r\n", n.MAC)
		b.WriteString("   DHCP Enabled. . . . . . . . . . . : No\r\n")
		b.WriteString("   Autoconfiguration Enabled . . . . : Yes\r\n")
		fmt.Fprintf(&b, "   IPv4 Address. . . . . . . . . . . : %s(Preferred) \r\n", n.Address)
	} else {
		fmt.Fprintf(&b, "   IPv4 Address. . . . . . . . . . . : %s\r\n", n.Address)
	}
	fmt.Fprintf(&b, "   Subnet Mask . . . . . . . . . . . : %s\r\n", n.Mask)
	fmt.Fprintf(&b, "   Default Gateway . . . . . . . . . : %s\r\n", n.Gateway)
	if all {
		fmt.Fprintf(&b, "   DNS Servers . . . . . . . . . . . : %s\r\n", n.Gateway)
		b.WriteString("   NetBIOS over Tcpip. . . . . . . . : Enabled\r\n")
	}
	h.writeHost(p.Stdout, b.String())
	return 0
}

// ipconfigKnown reports whether a is one of ipconfig's documented switches
// (`ipconfig /?`), which the simulator does not model.
func ipconfigKnown(a string) bool {
	switch strings.ToLower(strings.Replace(a, "-", "/", 1)) {
	case "/?", "/allcompartments", "/release", "/release6", "/renew", "/renew6", "/flushdns",
		"/displaydns", "/registerdns", "/showclassid", "/setclassid", "/showclassid6", "/setclassid6":
		return true
	}
	return false
}

// sysinfoTime is how systeminfo writes a time in the en-US locale.
func sysinfoTime(t time.Time) string { return t.UTC().Format("1/2/2006, 3:04:05 PM") }

// systeminfo is systeminfo.exe without arguments: the list layout with its
// values at column 28. What the simulator knows comes from the host: name,
// the profile's OS, the boot time, the installed updates (the machine
// state), the network adapter; the rest is a plain Hyper-V guest in UTC.
// /S, /U, /P, /FO and /NH are not modelled; other arguments get
// systeminfo's "Invalid argument/option" error and exit code 1.
func (h *Host) systeminfo(_ context.Context, p *cmdexe.Proc) uint32 {
	if args := toolArgs(p); len(args) > 1 {
		switch strings.ToLower(strings.Replace(args[1], "-", "/", 1)) {
		case "/s", "/u", "/p", "/fo", "/nh", "/?":
			return h.notModelled(p)
		}
		h.writeHost(p.Stderr, "ERROR: Invalid argument/option - '"+args[1]+"'.\r\nType \"SYSTEMINFO /?\" for usage.\r\n")
		return 1
	}
	prof := h.cfg.Profile
	osVersion := prof.Version + " N/A Build " + prof.BuildNumber
	if prof.Name == "2008r2" {
		osVersion = prof.Version + " Service Pack 1 Build " + prof.BuildNumber
	}
	boot := h.BootTime()
	installed := h.machine.installDate()
	n := h.network()

	var b strings.Builder
	line := func(label, value string) { fmt.Fprintf(&b, "%-27s%s\r\n", label, value) }
	more := func(value string) { fmt.Fprintf(&b, "%27s%s\r\n", "", value) }
	b.WriteString("\r\n")
	line("Host Name:", strings.ToUpper(h.cfg.Name))
	line("OS Name:", prof.Caption)
	line("OS Version:", osVersion)
	line("OS Manufacturer:", "Microsoft Corporation")
	line("OS Configuration:", "Standalone Server")
	line("OS Build Type:", "Multiprocessor Free")
	line("Registered Owner:", "Windows User")
	line("Registered Organization:", "")
	line("Product ID:", "00430-00000-00000-AA000")
	line("Original Install Date:", sysinfoTime(installed))
	line("System Boot Time:", sysinfoTime(boot))
	line("System Manufacturer:", "Microsoft Corporation")
	line("System Model:", "Virtual Machine")
	line("System Type:", "x64-based PC")
	line("Processor(s):", "1 Processor(s) Installed.")
	more("[01]: Intel64 Family 6 Model 85 Stepping 7 GenuineIntel ~2494 Mhz")
	line("BIOS Version:", "Microsoft Corporation Hyper-V UEFI Release v4.0, 11/1/2019")
	line("Windows Directory:", `C:\Windows`)
	line("System Directory:", `C:\Windows\system32`)
	line("Boot Device:", `\Device\HarddiskVolume1`)
	line("System Locale:", "en-us;English (United States)")
	line("Input Locale:", "en-us;English (United States)")
	line("Time Zone:", "(UTC) Coordinated Universal Time")
	line("Total Physical Memory:", "8,191 MB")
	line("Available Physical Memory:", "6,143 MB")
	line("Virtual Memory: Max Size:", "9,471 MB")
	line("Virtual Memory: Available:", "7,423 MB")
	line("Virtual Memory: In Use:", "2,048 MB")
	line("Page File Location(s):", `C:\pagefile.sys`)
	line("Domain:", "WORKGROUP")
	// A network logon has no LOGONSERVER, so WinRS shells see N/A.
	line("Logon Server:", "N/A")
	fixes := h.machine.Hotfixes()
	if len(fixes) == 0 {
		line("Hotfix(s):", "N/A")
	} else {
		line("Hotfix(s):", fmt.Sprintf("%d Hotfix(s) Installed.", len(fixes)))
		for i, f := range fixes {
			more(fmt.Sprintf("[%02d]: %s", i+1, f.ID))
		}
	}
	line("Network Card(s):", "1 NIC(s) Installed.")
	more("[01]: " + nicDescription)
	more("      Connection Name: Ethernet")
	more("      DHCP Enabled:    No")
	more("      IP address(es)")
	more("      [01]: " + n.Address)
	if prof.Name != "2008r2" {
		// The Hyper-V Requirements section came with Windows Server 2012.
		line("Hyper-V Requirements:", "A hypervisor has been detected. Features required for Hyper-V will not be displayed.")
	}
	h.writeHost(p.Stdout, b.String())
	return 0
}
