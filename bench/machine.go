package bench

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes where a benchmark ran.
type Machine struct {
	CPUModel    string
	Cores       int   // logical CPUs
	MemoryBytes int64 // MemTotal
	Kernel      string
	OS          string
	GoVersion   string
	Python      string // "Python 3.11.2"; empty when no python was found
	Pywinrm     string // Debian package version of python3-winrm; empty when unknown
	LoadAverage string // /proc/loadavg's first three fields when the run started
}

// DescribeMachine reads the machine's description from /proc, /etc and the
// given python; what cannot be read stays empty.
func DescribeMachine(ctx context.Context, python string) Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = ParseCPUModel(data)
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemoryBytes = ParseMemTotal(data)
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	if data, err := os.ReadFile("/etc/os-release"); err == nil {
		m.OS = ParseOSRelease(data)
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) >= 3 {
			m.LoadAverage = strings.Join(f[:3], " ")
		}
	}
	if python != "" {
		if out, err := exec.CommandContext(ctx, python, "--version").CombinedOutput(); err == nil {
			m.Python = strings.TrimSpace(string(out))
		}
	}
	if out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f", "${Version}", "python3-winrm").Output(); err == nil {
		m.Pywinrm = strings.TrimSpace(string(out))
	}
	return m
}

// ParseCPUModel returns the first "model name" of /proc/cpuinfo (or, on
// machines without one, its first "Hardware" or "cpu model" line).
func ParseCPUModel(cpuinfo []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	fallback := ""
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch key {
		case "model name":
			return value
		case "Hardware", "cpu model":
			if fallback == "" {
				fallback = value
			}
		}
	}
	return fallback
}

// ParseMemTotal returns MemTotal of /proc/meminfo in bytes, 0 when absent.
func ParseMemTotal(meminfo []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 || n > 1<<52 {
			return 0
		}
		if len(f) > 1 && strings.EqualFold(f[1], "kB") {
			n *= 1024
		}
		return n
	}
	return 0
}

// ParseOSRelease returns PRETTY_NAME of an os-release file, unquoted.
func ParseOSRelease(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME=")
		if !ok {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			return u
		}
		return strings.Trim(v, `"'`)
	}
	return ""
}
