package cmdexe

import (
	"sort"
	"strconv"
	"strings"
)

// Var is one environment variable.
type Var struct {
	Name, Value string
}

// Env is the state a cmd.exe process carries from command to command: its
// environment variables (names compare case-insensitively and keep the case
// they were first set with), its current directory and its last
// errorlevel. A simulated program receives a copy (Clone), as a child
// process receives a copy of its parent's environment block.
//
// Variables are kept in the order Windows keeps an environment block, which
// is the order `set` lists them in: a new name is inserted before the first
// existing name that sorts after it, comparing names in upper case
// (RtlSetEnvironmentVariable behaves so; the recordings
// test_winrs_environment.yml and test_winrs_noprofile.yml show where cmd.exe
// puts PROMPT by that rule).
//
// An Env is not safe for concurrent use.
type Env struct {
	vars       []Var
	cwd        string
	errorLevel int32

	// Version is the text `ver` prints between its blank line and CRLF,
	// such as "Microsoft Windows [Version 10.0.17763.1]". Empty means that
	// Windows Server 2019 text.
	Version string
}

// defaultVersion is what `ver` prints on Windows Server 2019 (RTM build).
const defaultVersion = "Microsoft Windows [Version 10.0.17763.1]"

// NewEnv returns an environment holding vars, sorted as Windows sorts an
// environment block, with cwd as the current directory (a Windows path such
// as `C:\Users\admin`; empty means `C:\`) and errorlevel 0. Names that
// differ only in case collapse into one; which of them wins is unspecified.
func NewEnv(vars map[string]string, cwd string) *Env {
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := strings.ToUpper(names[i]), strings.ToUpper(names[j])
		if a != b {
			return a < b
		}
		return names[i] < names[j]
	})
	e := &Env{cwd: cleanCwd(cwd)}
	for _, name := range names {
		e.Set(name, vars[name])
	}
	return e
}

// NewEnvList returns an environment holding vars in exactly the given order
// (for reproducing a recorded environment block byte for byte); later
// duplicates of a name replace the earlier value in place.
func NewEnvList(vars []Var, cwd string) *Env {
	e := &Env{cwd: cleanCwd(cwd)}
	for _, v := range vars {
		if i := e.index(v.Name); i >= 0 {
			e.vars[i].Value = v.Value
			continue
		}
		e.vars = append(e.vars, v)
	}
	return e
}

func cleanCwd(cwd string) string {
	if cwd == "" {
		return `C:\`
	}
	return cwd
}

func (e *Env) index(name string) int {
	for i, v := range e.vars {
		if strings.EqualFold(v.Name, name) {
			return i
		}
	}
	return -1
}

// Get returns the value of the variable name (case-insensitive) and whether
// it is set. It sees only real variables, not cmd.exe's dynamic ones such as
// %CD% and %ERRORLEVEL%.
func (e *Env) Get(name string) (string, bool) {
	if i := e.index(name); i >= 0 {
		return e.vars[i].Value, true
	}
	return "", false
}

// Set sets name to value, keeping the existing name's case if the variable
// exists and inserting it in block order otherwise. An empty value is
// stored as such; use Unset to remove a variable.
func (e *Env) Set(name, value string) {
	if i := e.index(name); i >= 0 {
		e.vars[i].Value = value
		return
	}
	up := strings.ToUpper(name)
	at := len(e.vars)
	for i, v := range e.vars {
		if strings.ToUpper(v.Name) > up {
			at = i
			break
		}
	}
	e.vars = append(e.vars, Var{})
	copy(e.vars[at+1:], e.vars[at:])
	e.vars[at] = Var{Name: name, Value: value}
}

// Unset removes name; it is not an error if it is not set.
func (e *Env) Unset(name string) {
	if i := e.index(name); i >= 0 {
		e.vars = append(e.vars[:i], e.vars[i+1:]...)
	}
}

// Vars returns a copy of the variables in block order.
func (e *Env) Vars() []Var {
	return append([]Var(nil), e.vars...)
}

// Environ returns the variables as NAME=value strings in block order.
func (e *Env) Environ() []string {
	out := make([]string, len(e.vars))
	for i, v := range e.vars {
		out[i] = v.Name + "=" + v.Value
	}
	return out
}

// Cwd returns the current directory.
func (e *Env) Cwd() string { return e.cwd }

// SetCwd sets the current directory without checking that it exists.
func (e *Env) SetCwd(dir string) { e.cwd = cleanCwd(dir) }

// ErrorLevel returns the last errorlevel. cmd.exe keeps it as a signed
// 32-bit number: a program that exits with 0xC0000005 leaves -1073741819,
// which is what %ERRORLEVEL% prints.
func (e *Env) ErrorLevel() int32 { return e.errorLevel }

// SetErrorLevel sets the errorlevel.
func (e *Env) SetErrorLevel(n int32) { e.errorLevel = n }

// Clone returns an independent copy of e.
func (e *Env) Clone() *Env {
	c := *e
	c.vars = append([]Var(nil), e.vars...)
	return &c
}

// lookup resolves name as %name% does: a real variable first, then the
// dynamic variables cmd.exe computes (`set /?`). RANDOM, DATE and TIME are
// not modelled and stay undefined.
func (e *Env) lookup(name string, cmdline string) (string, bool) {
	if v, ok := e.Get(name); ok {
		return v, true
	}
	switch strings.ToUpper(name) {
	case "CD":
		return e.cwd, true
	case "ERRORLEVEL":
		return strconv.Itoa(int(e.errorLevel)), true
	case "CMDEXTVERSION":
		return "2", true
	case "CMDCMDLINE":
		if cmdline != "" {
			return cmdline, true
		}
	}
	return "", false
}

func (e *Env) version() string {
	if e.Version != "" {
		return e.Version
	}
	return defaultVersion
}
