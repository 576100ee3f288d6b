package sim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
)

// taskPrograms are the programs around the Task Scheduler and processes:
// schtasks.exe, taskkill.exe and chcp.com.
func (h *Host) taskPrograms() map[string]cmdexe.Program {
	return map[string]cmdexe.Program{
		`c:\windows\system32\schtasks.exe`: h.schtasks,
		`c:\windows\system32\taskkill.exe`: h.taskkill,
		`c:\windows\system32\chcp.com`:     h.chcp,
		`c:\tools\emit.exe`:                h.emit,
	}
}

// switches reads Windows-style options (/x or -x, case-insensitive): those
// in withValue take the next argument. It returns the options by lower-case
// name, in order, and the first argument it does not know.
func switches(args []string, withValue, flags map[string]bool) (map[string][]string, string) {
	opts := map[string][]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || (a[0] != '/' && a[0] != '-') {
			return opts, a
		}
		name := strings.ToLower(a[1:])
		switch {
		case withValue[name]:
			if i+1 >= len(args) {
				return opts, a
			}
			opts[name] = append(opts[name], args[i+1])
			i++
		case flags[name]:
			opts[name] = append(opts[name], "")
		default:
			return opts, a
		}
	}
	return opts, ""
}

func first(opts map[string][]string, name string) (string, bool) {
	v, ok := opts[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// schtasks is schtasks.exe: /create, /run, /end, /delete and /query of
// tasks on this host, with Windows' messages (Microsoft's schtasks
// documentation). Remote machines (/s), XML definitions and other verbs
// are not modelled and say so.
func (h *Host) schtasks(ctx context.Context, p *cmdexe.Proc) uint32 {
	args := p.Args[1:]
	if len(args) == 0 {
		args = []string{"/query"}
	}
	verb := strings.ToLower(args[0])
	errOut := func(format string, a ...any) uint32 {
		h.writeHost(p.Stderr, fmt.Sprintf(format, a...))
		return 1
	}
	if !h.schedulerRunning() {
		// The Task Scheduler service is stopped: schtasks cannot connect
		// to it (ERROR_SERVICE_NOT_ACTIVE; the wording is Windows' message
		// for that error, unverified as schtasks prints it).
		return errOut("ERROR: The service has not been started.\r\n")
	}
	usage := func(bad string) uint32 {
		return errOut("ERROR: Invalid argument/option - '%s'.\r\nType \"SCHTASKS %s /?\" for usage.\r\n", bad, strings.ToUpper(verb))
	}
	ps := procFrom(ctx)
	switch verb {
	case "/create", "-create":
		opts, bad := switches(args[1:], map[string]bool{"tn": true, "tr": true, "sc": true, "st": true, "sd": true, "ru": true, "rl": true, "mo": true}, map[string]bool{"f": true})
		if bad != "" {
			return usage(bad)
		}
		name, okN := first(opts, "tn")
		tr, okT := first(opts, "tr")
		sc, okS := first(opts, "sc")
		if !okN || !okT || !okS {
			return errOut("ERROR: Invalid syntax. Mandatory option '%s' is missing.\r\nType \"SCHTASKS /CREATE /?\" for usage.\r\n", missingOf(okN, okT))
		}
		trigger, ok := map[string]string{"once": "One Time Only", "onstart": "At system start up", "onlogon": "At logon time"}[strings.ToLower(sc)]
		if !ok {
			return errOut("simulated host: schtasks /create /sc %s is not modelled (ONCE, ONSTART and ONLOGON are)\r\n", sc)
		}
		if strings.EqualFold(sc, "once") {
			if _, ok := first(opts, "st"); !ok {
				return errOut("ERROR: No start time specified.\r\n")
			}
		}
		user := ps.user
		if ru, ok := first(opts, "ru"); ok {
			user = ru
			if strings.EqualFold(ru, "SYSTEM") || strings.EqualFold(ru, `NT AUTHORITY\SYSTEM`) {
				user = "SYSTEM"
			}
		}
		rl, _ := first(opts, "rl")
		program, rest := splitTaskToRun(tr)
		_, replace := opts["f"]
		err := h.registerTask(ps, taskSpec{path: name, program: program, args: rest, user: user, highest: strings.EqualFold(rl, "highest"), trigger: trigger}, replace)
		switch {
		case errors.Is(err, errTaskExists):
			// Without /F schtasks asks before replacing (unverified wording
			// of the refusal; the question is Windows').
			h.writeHost(p.Stdout, fmt.Sprintf("WARNING: The task name \"%s\" already exists. Do you want to replace it (Y/N)? ", name))
			if !answeredYes(p.Stdin) {
				h.writeHost(p.Stdout, "\r\n")
				return 1
			}
			if err := h.registerTask(ps, taskSpec{path: name, program: program, args: rest, user: user, highest: strings.EqualFold(rl, "highest"), trigger: trigger}, true); err != nil {
				return errOut("ERROR: %s.\r\n", sentence(err))
			}
		case err != nil:
			return errOut("ERROR: %s.\r\n", sentence(err))
		}
		h.writeHost(p.Stdout, fmt.Sprintf("SUCCESS: The scheduled task \"%s\" has successfully been created.\r\n", name))
		return 0
	case "/run", "-run", "/end", "-end":
		opts, bad := switches(args[1:], map[string]bool{"tn": true}, map[string]bool{"i": true})
		if bad != "" {
			return usage(bad)
		}
		name, ok := first(opts, "tn")
		if !ok {
			return errOut("ERROR: Invalid syntax. Mandatory option 'tn' is missing.\r\nType \"SCHTASKS %s /?\" for usage.\r\n", strings.ToUpper(verb))
		}
		if !h.cfg.Account.admin() && ps.logon == logonNetwork {
			return errOut("ERROR: Access is denied.\r\n")
		}
		if strings.HasSuffix(verb, "run") {
			// The task's lifetime is the host's, not schtasks'.
			if _, err := h.runTask(name); err != nil { //nolint:contextcheck // see above
				return errOut("ERROR: %s.\r\n", sentence(err))
			}
			h.writeHost(p.Stdout, fmt.Sprintf("SUCCESS: Attempted to run the scheduled task \"%s\".\r\n", name))
			return 0
		}
		// Ending a task that is not running is not an error to the Task
		// Scheduler API (unverified for schtasks.exe's own wording).
		if _, err := h.endTask(name); err != nil {
			return errOut("ERROR: %s.\r\n", sentence(err))
		}
		h.writeHost(p.Stdout, fmt.Sprintf("SUCCESS: The scheduled task \"%s\" has been terminated successfully.\r\n", name))
		return 0
	case "/delete", "-delete":
		opts, bad := switches(args[1:], map[string]bool{"tn": true}, map[string]bool{"f": true})
		if bad != "" {
			return usage(bad)
		}
		name, ok := first(opts, "tn")
		if !ok {
			return errOut("ERROR: Invalid syntax. Mandatory option 'tn' is missing.\r\nType \"SCHTASKS /DELETE /?\" for usage.\r\n")
		}
		if _, exists := h.Task(name); !exists {
			return errOut("ERROR: The system cannot find the file specified.\r\n")
		}
		if _, force := opts["f"]; !force {
			h.writeHost(p.Stdout, fmt.Sprintf("WARNING: Are you sure you want to remove the task \"%s\" (Y/N )? ", name))
			if !answeredYes(p.Stdin) {
				h.writeHost(p.Stdout, "\r\n")
				return 1
			}
		}
		if !h.cfg.Account.admin() && ps.logon == logonNetwork {
			return errOut("ERROR: Access is denied.\r\n")
		}
		if err := h.deleteTask(name); err != nil {
			return errOut("ERROR: %s.\r\n", sentence(err))
		}
		h.writeHost(p.Stdout, fmt.Sprintf("SUCCESS: The scheduled task \"%s\" was successfully deleted.\r\n", name))
		return 0
	case "/query", "-query":
		opts, bad := switches(args[1:], map[string]bool{"tn": true, "fo": true}, map[string]bool{"v": true, "nh": true})
		if bad != "" {
			return usage(bad)
		}
		var tasks []TaskInfo
		if name, ok := first(opts, "tn"); ok {
			t, exists := h.Task(name)
			if !exists {
				return errOut("ERROR: The system cannot find the file specified.\r\n")
			}
			tasks = []TaskInfo{t}
		} else {
			tasks = h.Tasks()
		}
		format, _ := first(opts, "fo")
		_, verbose := opts["v"]
		_, noHeader := opts["nh"]
		out, problem := h.formatTasks(tasks, strings.ToLower(format), verbose, noHeader)
		if problem != "" {
			return errOut("%s\r\n", problem)
		}
		h.writeHost(p.Stdout, out)
		return 0
	}
	return errOut("simulated host: schtasks %s is not modelled (/create, /run, /end, /delete and /query are)\r\n", args[0])
}

func missingOf(tn, tr bool) string {
	switch {
	case !tn:
		return "tn"
	case !tr:
		return "tr"
	}
	return "sc"
}

// sentence turns an error into the sentence schtasks prints after
// "ERROR: " (capitalised, without a full stop).
func sentence(err error) string {
	s := err.Error()
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// answeredYes reads an answer to a (Y/N) question from stdin.
func answeredYes(r io.Reader) bool {
	line, _ := bufio.NewReader(io.LimitReader(r, 256)).ReadString('\n')
	return strings.EqualFold(strings.TrimSpace(line), "y")
}

// splitTaskToRun splits schtasks' /TR value into the program and its
// arguments: a quoted program runs to its closing quote, else to the first
// space.
func splitTaskToRun(tr string) (program, args string) {
	tr = strings.TrimSpace(tr)
	if strings.HasPrefix(tr, `"`) {
		if end := strings.IndexByte(tr[1:], '"'); end >= 0 {
			return tr[1 : 1+end], strings.TrimSpace(tr[2+end:])
		}
		return strings.Trim(tr, `"`), ""
	}
	program, args, _ = strings.Cut(tr, " ")
	return program, strings.TrimSpace(args)
}

// neverRun is the Last Run Time of a task that never ran.
var neverRun = time.Date(1999, 11, 30, 0, 0, 0, 0, time.UTC)

// usTime formats a time the way en-US Windows shows it: 1/2/2026 3:04:05 PM.
func usTime(t time.Time) string { return t.Format("1/2/2006 3:04:05 PM") }

// formatTasks renders tasks as schtasks /query does: TABLE (default),
// LIST or CSV, verbose with /v; or the message for what it refuses.
func (h *Host) formatTasks(tasks []TaskInfo, format string, verbose, noHeader bool) (out, problem string) {
	var b strings.Builder
	lastRun := func(t TaskInfo) string {
		if t.LastRunTime.IsZero() {
			return usTime(neverRun)
		}
		return usTime(t.LastRunTime)
	}
	folderOf := func(p string) (string, string) {
		i := strings.LastIndexByte(p, '\\')
		if i <= 0 {
			return `\`, p[i+1:]
		}
		return p[:i], p[i+1:]
	}
	switch format {
	case "", "table":
		if verbose {
			return "", "simulated host: schtasks /query /v is modelled with /fo LIST and CSV only"
		}
		folder := ""
		for _, t := range tasks {
			dir, name := folderOf(t.Path)
			if dir != folder {
				folder = dir
				fmt.Fprintf(&b, "\r\nFolder: %s\r\n", dir)
				if !noHeader {
					fmt.Fprintf(&b, "%-40s %-22s %-15s\r\n%s %s %s\r\n", "TaskName", "Next Run Time", "Status",
						strings.Repeat("=", 40), strings.Repeat("=", 22), strings.Repeat("=", 15))
				}
			}
			fmt.Fprintf(&b, "%-40s %-22s %-15s\r\n", name, "N/A", t.Status)
		}
		if len(tasks) == 0 {
			b.WriteString("INFO: There are no scheduled tasks presently available at your access level.\r\n")
		}
	case "list":
		for _, t := range tasks {
			dir, _ := folderOf(t.Path)
			row := [][2]string{{"Folder", dir}, {"HostName", strings.ToUpper(h.cfg.Name)}, {"TaskName", t.Path}, {"Next Run Time", "N/A"}, {"Status", t.Status}}
			if verbose {
				row = append(row, [][2]string{
					{"Logon Mode", "Interactive/Background"}, {"Last Run Time", lastRun(t)},
					{"Last Result", strconv.FormatInt(int64(int32(t.LastResult)), 10)}, {"Author", "N/A"},
					{"Task To Run", t.TaskToRun}, {"Start In", "N/A"}, {"Comment", "N/A"},
					{"Scheduled Task State", "Enabled"}, {"Run As User", t.RunAsUser}, {"Schedule Type", t.Trigger},
				}...)
			}
			b.WriteString("\r\n")
			for _, kv := range row {
				fmt.Fprintf(&b, "%-38s%s\r\n", kv[0]+":", kv[1])
			}
		}
	case "csv":
		cols := []string{"TaskName", "Next Run Time", "Status"}
		if verbose {
			cols = append(cols, "Last Run Time", "Last Result", "Task To Run", "Run As User")
		}
		if !noHeader {
			b.WriteString(csvRow(cols))
		}
		for _, t := range tasks {
			vals := []string{t.Path, "N/A", t.Status}
			if verbose {
				vals = append(vals, lastRun(t), strconv.FormatInt(int64(int32(t.LastResult)), 10), t.TaskToRun, t.RunAsUser)
			}
			b.WriteString(csvRow(vals))
		}
	default:
		return "", "ERROR: Invalid value for /FO option. Valid values are \"TABLE\", \"LIST\" and \"CSV\"."
	}
	return b.String(), ""
}

func csvRow(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
	}
	return strings.Join(q, ",") + "\r\n"
}

// taskkill is taskkill.exe /PID n | /IM image [/T] [/F]. The simulated
// processes are console programs without windows, which taskkill can only
// end with /F; /T ends each process's descendants too.
func (h *Host) taskkill(_ context.Context, p *cmdexe.Proc) uint32 {
	opts, bad := switches(p.Args[1:], map[string]bool{"pid": true, "im": true}, map[string]bool{"t": true, "f": true})
	if bad != "" || (len(opts["pid"]) == 0 && len(opts["im"]) == 0) {
		h.writeHost(p.Stderr, "ERROR: Invalid syntax. Neither /FI nor /PID nor /IM were specified.\r\nType \"TASKKILL /?\" for usage.\r\n")
		return 1
	}
	_, tree := opts["t"]
	_, force := opts["f"]
	var pids []int
	code := uint32(0)
	for _, v := range opts["pid"] {
		n, err := strconv.Atoi(v)
		if err != nil || !h.running(n) {
			h.writeHost(p.Stderr, fmt.Sprintf("ERROR: The process \"%s\" not found.\r\n", v))
			code = 128
			continue
		}
		pids = append(pids, n)
	}
	for _, image := range opts["im"] {
		found := h.processesByImage(image)
		if len(found) == 0 {
			h.writeHost(p.Stderr, fmt.Sprintf("ERROR: The process \"%s\" not found.\r\n", image))
			code = 128
		}
		pids = append(pids, found...)
	}
	for _, pid := range pids {
		if !force {
			h.writeHost(p.Stderr, fmt.Sprintf("ERROR: The process with PID %d could not be terminated.\r\nReason: This process can only be terminated forcefully (with /F option).\r\n", pid))
			code = 1
			continue
		}
		for _, v := range h.killTree(pid, tree) {
			if v.parent != 0 && v.pid != pid {
				h.writeHost(p.Stdout, fmt.Sprintf("SUCCESS: The process with PID %d (child process of PID %d) has been terminated.\r\n", v.pid, v.parent))
			} else {
				h.writeHost(p.Stdout, fmt.Sprintf("SUCCESS: The process with PID %d has been terminated.\r\n", v.pid))
			}
		}
	}
	return code
}

// chcp is chcp.com: it shows or sets the code page of the console the
// process is attached to (every process of the tree sharing it).
func (h *Host) chcp(ctx context.Context, p *cmdexe.Proc) uint32 {
	con := procFrom(ctx).console
	if len(p.Args) < 2 {
		h.writeHost(p.Stdout, fmt.Sprintf("Active code page: %d\r\n", con.CodePage()))
		return 0
	}
	n, err := strconv.Atoi(p.Args[1])
	switch {
	case err != nil:
		h.writeHost(p.Stdout, "Parameter format not correct - "+p.Args[1]+"\r\n")
		return 1
	case n != 437 && n != 850 && n != 932 && n != 1252 && n != 65001:
		h.writeHost(p.Stdout, "Invalid code page\r\n")
		return 1
	}
	con.setCodePage(n)
	h.writeHost(p.Stdout, fmt.Sprintf("Active code page: %d\r\n", n))
	return 0
}

// emit is C:\tools\emit.exe CODE [STDOUT [STDERR]], a test program: it
// writes STDOUT and STDERR (each with CR LF) in the host's encoding and
// exits with CODE, a DWORD. Tests compare a step's output and exit code
// across ways of running it.
func (h *Host) emit(_ context.Context, p *cmdexe.Proc) uint32 {
	if len(p.Args) < 2 {
		h.writeHost(p.Stderr, "usage: emit.exe CODE [STDOUT [STDERR]]\r\n")
		return 1
	}
	code, err := strconv.ParseUint(p.Args[1], 0, 32)
	if err != nil {
		h.writeHost(p.Stderr, fmt.Sprintf("emit.exe: bad exit code %q\r\n", p.Args[1]))
		return 1
	}
	if len(p.Args) > 2 {
		h.writeHost(p.Stdout, p.Args[2]+"\r\n")
	}
	if len(p.Args) > 3 {
		h.writeHost(p.Stderr, p.Args[3]+"\r\n")
	}
	return uint32(code)
}
