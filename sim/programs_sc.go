package sim

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
)

// scCmd is a parsed sc.exe command line.
type scCmd struct {
	verb string // query, queryex, start or stop
	// name is the service as written; empty for an enumeration.
	name string
	// state filters an enumeration: active (sc's default), inactive or
	// all.
	state string
}

// parseScArgs reads sc.exe's argv after the program name. Modelled:
// query and queryex (one service, or an enumeration with an optional
// "state= active|inactive|all" and "type= service"), start NAME and stop
// NAME. Everything else (other verbs, a \\server, other options, the
// arguments of start) is reported as not modelled. As in sc.exe, an
// option is a word ending in "=" followed by its value as the next word,
// so "state=all" written as one word is a service name.
func parseScArgs(args []string) (scCmd, bool) {
	var c scCmd
	if len(args) == 0 {
		return c, false
	}
	c.verb = strings.ToLower(args[0])
	rest := args[1:]
	switch c.verb {
	case "query", "queryex":
		c.state = "active"
		if len(rest) > 0 && !strings.HasSuffix(rest[0], "=") {
			c.name = rest[0]
			return c, len(rest) == 1
		}
		for len(rest) > 0 {
			if len(rest) < 2 {
				return c, false
			}
			opt, val := strings.ToLower(rest[0]), strings.ToLower(rest[1])
			switch {
			case opt == "state=" && (val == "active" || val == "inactive" || val == "all"):
				c.state = val
			case opt == "type=" && val == "service":
			default:
				return c, false
			}
			rest = rest[2:]
		}
		return c, true
	case "start", "stop":
		if len(rest) != 1 {
			return c, false
		}
		c.name = rest[0]
		return c, true
	}
	return c, false
}

// sc.exe's failure messages: the failing call, the Win32 error and its
// system message; sc.exe exits with that error code.
func scFailed(call string, code int) string {
	msg := map[int]string{
		5:    "Access is denied.",
		1056: "An instance of the service is already running.",
		1060: "The specified service does not exist as an installed service.",
		1062: "The service has not been started.",
	}[code]
	return fmt.Sprintf("[SC] %s FAILED %d:\r\n\r\n%s\r\n\r\n", call, code, msg)
}

// sc is sc.exe: query and queryex (of one service, or an enumeration of
// the active ones by default, "state= all" for all), start and stop on the
// machine state's services, in sc.exe's layout (the trailing blanks after
// TYPE and STATE included, as real output has them). A missing service is
// error 1060, starting a running one 1056, stopping a stopped one 1062,
// starting or stopping without administrator rights 5; the exit code is
// the error. Stopping WinRM (which would end the shell asking) and every
// other verb are not modelled.
func (h *Host) sc(ctx context.Context, p *cmdexe.Proc) uint32 {
	c, ok := parseScArgs(toolArgs(p)[1:])
	if !ok || (c.verb == "stop" && strings.EqualFold(c.name, "WinRM")) {
		return h.notModelled(p)
	}
	ex := c.verb == "queryex"
	switch c.verb {
	case "query", "queryex":
		if c.name == "" {
			var b strings.Builder
			// Services() is sorted by name, case-insensitively, as the
			// service control manager enumerates them.
			for _, s := range h.machine.Services() {
				if (c.state == "active" && !s.Running) || (c.state == "inactive" && s.Running) {
					continue
				}
				fmt.Fprintf(&b, "\r\nSERVICE_NAME: %s\r\nDISPLAY_NAME: %s\r\n", s.Name, s.DisplayName)
				b.WriteString(scStatus(s, s.Running, ex))
			}
			h.writeHost(p.Stdout, b.String())
			return 0
		}
		s, ok := h.machine.Service(c.name)
		if !ok {
			h.writeHost(p.Stdout, scFailed("EnumQueryServicesStatus:OpenService", 1060))
			return 1060
		}
		h.writeHost(p.Stdout, "\r\nSERVICE_NAME: "+c.name+"\r\n"+scStatus(s, s.Running, ex))
		return 0
	}
	// start and stop change the service: administrators only (the
	// service's default security descriptor); tasks and the SSM agent run
	// as SYSTEM.
	ps := procFrom(ctx)
	if _, ok := h.machine.Service(c.name); !ok {
		h.writeHost(p.Stdout, scFailed("OpenService", 1060))
		return 1060
	}
	if ps.remote() && !h.cfg.Account.admin() {
		h.writeHost(p.Stdout, scFailed("OpenService", 5))
		return 5
	}
	start := c.verb == "start"
	before, _ := h.machine.setServiceRunning(c.name, start)
	switch {
	case start && before.Running:
		h.writeHost(p.Stdout, scFailed("StartService", 1056))
		return 1056
	case !start && !before.Running:
		h.writeHost(p.Stdout, scFailed("ControlService", 1062))
		return 1062
	}
	// The answer shows the service on its way: START_PENDING with a wait
	// hint, its process id and flags; STOP_PENDING. The simulated service
	// gets there at once.
	var b strings.Builder
	fmt.Fprintf(&b, "\r\nSERVICE_NAME: %s\r\n", c.name)
	fmt.Fprintf(&b, "        TYPE               : %s  \r\n", scType(before.Type))
	if start {
		b.WriteString("        STATE              : 2  START_PENDING \r\n")
		b.WriteString("                                (NOT_STOPPABLE, NOT_PAUSABLE, IGNORES_SHUTDOWN)\r\n")
	} else {
		b.WriteString("        STATE              : 3  STOP_PENDING \r\n")
		b.WriteString("                                (STOPPABLE, NOT_PAUSABLE, ACCEPTS_SHUTDOWN)\r\n")
	}
	b.WriteString("        WIN32_EXIT_CODE    : 0  (0x0)\r\n")
	b.WriteString("        SERVICE_EXIT_CODE  : 0  (0x0)\r\n")
	b.WriteString("        CHECKPOINT         : 0x0\r\n")
	if start {
		b.WriteString("        WAIT_HINT          : 0x7d0\r\n")
		fmt.Fprintf(&b, "        PID                : %d\r\n", servicePID(before.Name))
		b.WriteString("        FLAGS              : \r\n")
	} else {
		b.WriteString("        WAIT_HINT          : 0x0\r\n")
	}
	h.writeHost(p.Stdout, b.String())
	return 0
}

// scStatus is the status block of one service; ex adds queryex's PID and
// FLAGS lines. A stopped service reports exit code 1077
// (ERROR_SERVICE_NEVER_STARTED), as one not started since boot does.
func scStatus(s Service, running, ex bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "        TYPE               : %s  \r\n", scType(s.Type))
	if running {
		b.WriteString("        STATE              : 4  RUNNING \r\n")
		b.WriteString("                                (STOPPABLE, NOT_PAUSABLE, ACCEPTS_SHUTDOWN)\r\n")
		b.WriteString("        WIN32_EXIT_CODE    : 0  (0x0)\r\n")
	} else {
		b.WriteString("        STATE              : 1  STOPPED \r\n")
		b.WriteString("        WIN32_EXIT_CODE    : 1077  (0x435)\r\n")
	}
	b.WriteString("        SERVICE_EXIT_CODE  : 0  (0x0)\r\n")
	b.WriteString("        CHECKPOINT         : 0x0\r\n")
	b.WriteString("        WAIT_HINT          : 0x0\r\n")
	if ex {
		pid := 0
		if running {
			pid = servicePID(s.Name)
		}
		fmt.Fprintf(&b, "        PID                : %d\r\n", pid)
		b.WriteString("        FLAGS              : \r\n")
	}
	return b.String()
}

// scType is sc.exe's TYPE value: the hexadecimal service type and its
// name.
func scType(t int) string {
	switch t {
	case 10:
		return "10  WIN32_OWN_PROCESS"
	case 20:
		return "20  WIN32_SHARE_PROCESS"
	}
	return "30  WIN32"
}

// servicePID is a running service's process id: fixed per service name, a
// multiple of 4 as Windows process ids are.
func servicePID(name string) int {
	f := fnv.New32a()
	_, _ = f.Write([]byte(strings.ToLower(name))) // hash writes never fail
	return int(400 + (f.Sum32()%2000)*4)
}
