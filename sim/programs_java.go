package sim

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
)

// javaCmd is a parsed java command line (the Java 8 launcher's rules:
// options up to the main class or -jar FILE, the application's arguments
// after it).
type javaCmd struct {
	heapMB      int64 // -Xmx, in MB; 256 when not given
	version     bool  // -version: print the version and exit
	showVersion bool  // -showversion: print it and go on
	jar         string
	classpath   string
	cpSet       bool
	mainClass   string
	args        []string
	// fatal is the launcher's or the VM's complaint about the command
	// line ("" when it is fine); usage says the launcher's usage text
	// follows it.
	fatal string
	usage bool
}

var xmxRE = regexp.MustCompile(`^-Xmx(\d+)([kKmMgG]?)$`)

// vmFatal ends a VM option complaint the way HotSpot does.
const vmFatal = "Error: Could not create the Java Virtual Machine.\r\nError: A fatal exception has occurred. Program will exit.\r\n"

// vmOption applies one VM option (from the command line or an
// environment variable) and reports false for one the VM rejects, having
// set c.fatal.
func (c *javaCmd) vmOption(a string) bool {
	switch {
	case strings.HasPrefix(a, "-Xmx"):
		m := xmxRE.FindStringSubmatch(a)
		if m == nil {
			c.fatal = "Invalid maximum heap size: " + a + "\r\n" + vmFatal
			return false
		}
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n > 1<<40 {
			c.fatal = "Invalid maximum heap size: " + a + "\r\n" + vmFatal
			return false
		}
		switch strings.ToLower(m[2]) {
		case "k":
			c.heapMB = n / 1024
		case "g":
			c.heapMB = n * 1024
		case "m":
			c.heapMB = n
		default:
			c.heapMB = n / (1024 * 1024)
		}
	case strings.HasPrefix(a, "-D") && len(a) > 2,
		strings.HasPrefix(a, "-X"), // -Xms, -Xss, -XX:..., -Xbootclasspath/a:...
		a == "-server", a == "-client", a == "-d64",
		a == "-ea", a == "-da", a == "-esa", a == "-dsa",
		strings.HasPrefix(a, "-ea:"), strings.HasPrefix(a, "-da:"),
		strings.HasPrefix(a, "-enableassertions"), strings.HasPrefix(a, "-disableassertions"),
		strings.HasPrefix(a, "-verbose"), strings.HasPrefix(a, "-javaagent:"),
		strings.HasPrefix(a, "-agentlib:"), strings.HasPrefix(a, "-agentpath:"), strings.HasPrefix(a, "-splash:"):
	default:
		c.fatal = "Unrecognized option: " + a + "\r\n" + vmFatal
		return false
	}
	return true
}

// parseJavaArgs reads java's argv after the program name. envOpts are the
// options of JAVA_TOOL_OPTIONS, which come before the command line's (so
// the command line's -Xmx wins).
func parseJavaArgs(args, envOpts []string) javaCmd {
	c := javaCmd{heapMB: 256}
	for _, a := range envOpts {
		if !c.vmOption(a) {
			return c
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-jar":
			if i+1 >= len(args) {
				c.fatal, c.usage = "Error: -jar requires jar file specification\r\n", true
				return c
			}
			c.jar, c.args = args[i+1], args[i+2:]
			return c
		case a == "-cp" || a == "-classpath":
			if i+1 >= len(args) {
				c.fatal, c.usage = "Error: "+a+" requires class path specification\r\n", true
				return c
			}
			i++
			c.classpath, c.cpSet = args[i], true
		case a == "-version":
			c.version = true
		case a == "-showversion":
			c.showVersion = true
		case strings.HasPrefix(a, "-"):
			if !c.vmOption(a) {
				return c
			}
		default:
			c.mainClass, c.args = a, args[i+1:]
			return c
		}
	}
	return c
}

const javaVersion = "java version \"1.8.0_202\"\r\nJava(TM) SE Runtime Environment (build 1.8.0_202-b08)\r\nJava HotSpot(TM) 64-Bit Server VM (build 25.202-b08, mixed mode)\r\n"

const javaUsage = "Usage: java [-options] class [args...]\r\n           (to execute a class)\r\n   or  java [-options] -jar jarfile [args...]\r\n           (to execute a jar file)\r\n"

// java is a Java 8 runtime. It needs its heap (-Xmx, 256 MB by default)
// plus 64 MB of the shell's memory quota, or fails as HotSpot does when it
// cannot reserve the heap. `-jar FILE` runs the jar; `-cp`/`-classpath
// CLASSPATH MainClass [args]` looks the class up along the classpath
// (entries split on ";", relative to the working directory, missing
// entries skipped as the JVM skips them; a jar file counts as holding any
// class, a directory holds the classes whose .class file exists under it,
// `dir\*` means every jar in dir) and fails with Java 8's "Could not find
// or load main class" when no entry has it. The simulated main class
// prints one line and then its arguments, one a line, exactly as it got
// them. JAVA_TOOL_OPTIONS is honoured and announced on stderr ("Picked
// up ...") as the JVM does.
func (h *Host) java(ctx context.Context, p *cmdexe.Proc) uint32 {
	var envOpts []string
	if v, ok := p.Env.Get("JAVA_TOOL_OPTIONS"); ok && v != "" {
		h.writeHost(p.Stderr, "Picked up JAVA_TOOL_OPTIONS: "+v+"\r\n")
		envOpts = strings.Fields(v)
	}
	c := parseJavaArgs(p.Args[1:], envOpts)
	if c.fatal != "" {
		msg := c.fatal
		if c.usage {
			msg += javaUsage
		}
		h.writeHost(p.Stderr, msg)
		return 1
	}
	need := c.heapMB + 64
	if limit := procFrom(ctx).memoryMB; limit > 0 && int64(limit) < need {
		h.writeHost(p.Stderr, "Error occurred during initialization of VM\r\nCould not reserve enough space for object heap\r\n")
		return 1
	}
	if c.version || c.showVersion {
		h.writeHost(p.Stderr, javaVersion)
		if c.version {
			return 0
		}
	}
	switch {
	case c.jar != "":
		h.writeHost(p.Stdout, fmt.Sprintf("simulated JVM: %s ran with a %d MB heap\r\n", c.jar, c.heapMB))
		return 0
	case c.mainClass == "":
		h.writeHost(p.Stderr, javaUsage)
		return 1
	}
	cp := c.classpath
	if !c.cpSet {
		cp = "."
		if v, ok := p.Env.Get("CLASSPATH"); ok && v != "" {
			cp = v
		}
	}
	if !h.classOnPath(procFrom(ctx), p.Env.Cwd(), cp, c.mainClass) {
		h.writeHost(p.Stderr, "Error: Could not find or load main class "+c.mainClass+"\r\n")
		return 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, "simulated JVM: %s ran with a %d MB heap\r\n", c.mainClass, c.heapMB)
	for _, a := range c.args {
		b.WriteString(a + "\r\n")
	}
	h.writeHost(p.Stdout, b.String())
	return 0
}

// classOnPath reports whether some classpath entry provides class.
func (h *Host) classOnPath(ps *procState, cwd, classpath, class string) bool {
	fsys := h.fsFor(ps)
	rel := strings.ReplaceAll(strings.ReplaceAll(class, ".", `\`), "/", `\`) + ".class"
	isJar := func(name string) bool {
		l := strings.ToLower(name)
		return strings.HasSuffix(l, ".jar") || strings.HasSuffix(l, ".zip")
	}
	for _, e := range strings.Split(classpath, ";") {
		if e == "" {
			e = "." // an empty entry is the working directory
		}
		if dir, ok := strings.CutSuffix(strings.ReplaceAll(e, "/", `\`), `\*`); ok || e == "*" {
			if e == "*" {
				dir = "."
			}
			entries, _, _ := fsys.List(resolveWindowsPath(cwd, dir))
			for _, f := range entries {
				if !f.Dir && strings.HasSuffix(strings.ToLower(f.Name), ".jar") {
					return true
				}
			}
			continue
		}
		path := resolveWindowsPath(cwd, e)
		if fsys.Access(path) != nil {
			continue
		}
		if fsys.v.IsDir(path) {
			if fsys.Exists(strings.TrimRight(path, `\`) + `\` + rel) {
				return true
			}
			continue
		}
		if isJar(path) && fsys.Exists(path) {
			return true
		}
	}
	return false
}
