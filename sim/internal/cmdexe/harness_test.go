package cmdexe

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// memFS is an in-memory FS; names compare case-insensitively.
type memFS struct {
	mu    sync.Mutex
	files map[string][]byte
	dirs  map[string]bool
}

func newMemFS(files map[string]string, dirs ...string) *memFS {
	m := &memFS{files: map[string][]byte{}, dirs: map[string]bool{}}
	for name, data := range files {
		m.files[strings.ToLower(name)] = []byte(data)
	}
	for _, d := range dirs {
		m.dirs[strings.ToLower(d)] = true
	}
	return m
}

func (m *memFS) ReadFile(path string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.files[strings.ToLower(path)]
	if !ok {
		return nil, fmt.Errorf("read %s: %w", path, fs.ErrNotExist)
	}
	return append([]byte(nil), data...), nil
}

func (m *memFS) WriteFile(path string, data []byte, appendTo bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := strings.ToLower(path)
	dir := key[:strings.LastIndexByte(key, '\\')]
	if !m.dirs[dir] && !isRoot(dir+`\`) {
		return fmt.Errorf("write %s: %w", path, fs.ErrNotExist)
	}
	if appendTo {
		m.files[key] = append(m.files[key], data...)
	} else {
		m.files[key] = append([]byte(nil), data...)
	}
	return nil
}

func (m *memFS) Exists(path string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := strings.ToLower(path)
	_, ok := m.files[key]
	return ok || m.dirs[key]
}

func (m *memFS) file(path string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.files[strings.ToLower(path)]
	return string(data), ok
}

// procRecord is what the recording program saw.
type procRecord struct {
	Name, CommandLine string
	Args              []string
}

// fleet wires a memFS and a set of simulated programs into a Lookup,
// cmd.exe included.
type fleet struct {
	fs    *memFS
	mu    sync.Mutex
	procs []procRecord
	progs map[string]Program
}

func newFleet(files map[string]string) *fleet {
	f := &fleet{fs: newMemFS(files,
		`C:\Users`, `C:\Users\admin`, `C:\Windows`, `C:\Windows\System32`,
		`C:\tools`, `C:\Program Files`, `C:\Program Files\App`, `C:\temp`)}
	record := func(_ context.Context, p *Proc) uint32 {
		f.mu.Lock()
		f.procs = append(f.procs, procRecord{Name: p.Name, CommandLine: p.CommandLine, Args: p.Args})
		f.mu.Unlock()
		return 0
	}
	f.progs = map[string]Program{
		`c:\windows\system32\cmd.exe`: Cmd(f.fs, f.lookup),
		`c:\windows\system32\hostname.exe`: func(_ context.Context, p *Proc) uint32 {
			fmt.Fprint(p.Stdout, "WEB-01\r\n")
			return 0
		},
		`c:\tools\args.exe`:          record,
		`c:\program files\app\x.exe`: record,
		`c:\windows\system32\winrm.cmd.exe`: func(_ context.Context, p *Proc) uint32 {
			return 0
		},
		// exitcode.exe N exits with N (parsed as a uint32).
		`c:\tools\exitcode.exe`: func(_ context.Context, p *Proc) uint32 {
			if len(p.Args) < 2 {
				return 0
			}
			n, _ := strconv.ParseUint(p.Args[1], 10, 32)
			return uint32(n)
		},
		// upper.exe copies stdin to stdout in upper case.
		`c:\tools\upper.exe`: func(_ context.Context, p *Proc) uint32 {
			data, _ := io.ReadAll(p.Stdin)
			fmt.Fprint(p.Stdout, strings.ToUpper(string(data)))
			return 0
		},
		// env.exe prints the variables it was given and its directory.
		`c:\tools\printenv.exe`: func(_ context.Context, p *Proc) uint32 {
			for _, name := range p.Args[1:] {
				v, _ := p.Env.Get(name)
				fmt.Fprintf(p.Stdout, "%s=%s\r\n", name, v)
			}
			fmt.Fprintf(p.Stdout, "cwd=%s\r\n", p.Env.Cwd())
			return 0
		},
		// stderr.exe writes its first argument to stderr.
		`c:\tools\stderr.exe`: func(_ context.Context, p *Proc) uint32 {
			fmt.Fprintf(p.Stderr, "%s\r\n", p.Args[1])
			return 2
		},
		// waitctx.exe returns when ctx ends.
		`c:\tools\waitctx.exe`: func(ctx context.Context, p *Proc) uint32 {
			<-ctx.Done()
			return 1
		},
	}
	return f
}

func (f *fleet) lookup(path string) (Program, bool) {
	p, ok := f.progs[strings.ToLower(path)]
	return p, ok
}

func (f *fleet) records() []procRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]procRecord(nil), f.procs...)
}

func testEnv() *Env {
	return NewEnv(map[string]string{
		"PATH":         `C:\Windows\system32;C:\Windows;C:\tools`,
		"PATHEXT":      ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC",
		"SystemRoot":   `C:\Windows`,
		"COMPUTERNAME": "WEB-01",
		"USERNAME":     "admin",
	}, `C:\Users\admin`)
}

type result struct {
	Stdout, Stderr string
	Code           uint32
}

// run executes line through Run over a fresh fleet with the given files.
func run(t *testing.T, f *fleet, env *Env, line string, stdin string) result {
	t.Helper()
	if f == nil {
		f = newFleet(nil)
	}
	if env == nil {
		env = testEnv()
	}
	var out, errb strings.Builder
	code := Run(context.Background(), line, env, f.fs, f.lookup, strings.NewReader(stdin), &out, &errb)
	return result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// runCmd runs a full cmd.exe command line through the Cmd program.
func runCmd(t *testing.T, f *fleet, commandLine string, stdin string) result {
	t.Helper()
	if f == nil {
		f = newFleet(nil)
	}
	var out, errb strings.Builder
	p := &Proc{
		Name:        `C:\Windows\System32\cmd.exe`,
		CommandLine: commandLine,
		Args:        ParseArgs(commandLine),
		Env:         testEnv(),
		Stdin:       strings.NewReader(stdin),
		Stdout:      &out,
		Stderr:      &errb,
	}
	prog, _ := f.lookup(p.Name)
	code := prog(context.Background(), p)
	return result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}
