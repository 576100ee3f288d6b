package psmodel

import (
	"context"
	"io"
	"time"
)

// Host is the machine and process a script runs in, as the model reaches
// them. The simulator implements it on a simulated host; tests implement
// it in a few lines.
type Host interface {
	Process
	Files
	Machine
}

// Process is the powershell.exe process: what it knows about itself, its
// environment and current directory, its clock, how it writes text, and
// the programs it starts.
type Process interface {
	// Facts describes the machine and the process; it does not change
	// while a script runs.
	Facts() Facts
	// Now is the host's clock.
	Now() time.Time
	// Sleep waits d on the host's clock. It returns ctx's error when the
	// process is stopped first.
	Sleep(ctx context.Context, d time.Duration) error

	// Getenv reads a process environment variable (names compare
	// case-insensitively).
	Getenv(name string) (string, bool)
	// Setenv sets a process environment variable; programs started
	// afterwards inherit it.
	Setenv(name, value string)
	// Unsetenv removes a process environment variable.
	Unsetenv(name string)
	// Dir is the current file system location; programs start in it.
	Dir() string
	// Chdir changes the current location; the caller checked that dir
	// exists.
	Chdir(dir string)

	// FindProgram resolves a command name to something PowerShell runs
	// outside itself, as its command discovery does: a name with a path
	// is taken relative to the current directory, a bare name is searched
	// in PATH, and a name without an extension is tried with PATHEXT's.
	// It returns fs.ErrNotExist when there is no such program and
	// fs.ErrPermission when the process may not reach it (a file share
	// from a network logon without delegation).
	FindProgram(name string) (Program, error)
	// Run starts a program with a full command line (program included,
	// as .NET's Process.Start builds it), waits for it and returns its
	// exit code. The program writes its own bytes to stdout and stderr.
	Run(ctx context.Context, prog Program, commandLine string, stdin io.Reader, stdout, stderr io.Writer) uint32

	// Encode turns text into the bytes this process writes; Decode reads
	// a program's output bytes as text, as PowerShell does when it
	// captures them (with Console.OutputEncoding); DecodeFile reads a
	// text file that has no byte-order mark (Get-Content's default, the
	// system's ANSI code page).
	Encode(s string) []byte
	Decode(b []byte) string
	DecodeFile(b []byte) string
}

// Program is a command PowerShell found outside itself.
type Program struct {
	// Path is the full path, as PowerShell reports it (Get-Command's
	// Source).
	Path string
	// Script is set for a .ps1 file, which PowerShell runs itself.
	Script bool
}

// Facts are what a script can learn about the machine and its process.
type Facts struct {
	ComputerName string // sim-0001
	UserName     string // fleetrun, or SYSTEM
	UserDomain   string // the computer name in upper case for a local account
	// PSVersion is the full Windows PowerShell version (5.1.17763.1).
	PSVersion      string
	Is64BitProcess bool
	Is64BitOS      bool
	// OSCaption, OSVersion and OSBuild are Win32_OperatingSystem's
	// Caption, Version and BuildNumber.
	OSCaption string
	OSVersion string
	OSBuild   string
	// LastBoot is when the machine last started.
	LastBoot time.Time
	// ExecutionPolicies by scope: Process, CurrentUser, LocalMachine
	// (missing scopes are Undefined).
	ExecutionPolicies map[string]string
	// SystemDrive ("C:") and its space in bytes.
	SystemDrive    string
	DiskFreeBytes  int64
	DiskTotalBytes int64
	// NetworkLogon is set when the process runs in a network logon (a
	// WinRS shell), where Windows refuses several things to remote
	// callers.
	NetworkLogon bool
}

// Files is the file system as the process sees it. Paths are absolute
// Windows paths; names compare case-insensitively. Errors wrap
// fs.ErrNotExist for what is missing and fs.ErrPermission for what the
// process may not reach.
type Files interface {
	ReadFile(path string) ([]byte, error)
	WriteFile(path string, data []byte, appendTo bool) error
	// Stat describes a file or directory.
	Stat(path string) (FileInfo, error)
	// ReadDir lists a directory's entries sorted by name.
	ReadDir(path string) ([]FileInfo, error)
	// Mkdir creates a directory and its parents.
	Mkdir(path string) error
	// Remove deletes a file or an empty directory.
	Remove(path string) error
}

// FileInfo is a file or directory.
type FileInfo struct {
	Path    string // full path as stored
	Name    string
	Dir     bool
	Size    int64
	ModTime time.Time
}

// Machine is the state of the machine beyond the file system that
// scripts read and change.
type Machine interface {
	// RegistryKey returns a key's values; ok is false when the key does
	// not exist. path is written as PowerShell spells it (HKLM:\...).
	RegistryKey(path string) (values []RegValue, ok bool)
	// Services lists the services by name.
	Services() []Service
	// SetServiceRunning starts or stops a service. It returns
	// fs.ErrNotExist for an unknown service and fs.ErrPermission when the
	// account may not control services.
	SetServiceRunning(name string, running bool) error
	// Hotfixes lists the installed updates by KB number.
	Hotfixes() []Hotfix
	// AvailableUpdates lists the KB numbers Windows Update offers that are
	// not installed.
	AvailableUpdates() []string
	// InstallUpdate records an update as installed and a restart as
	// pending; it reports false when it was installed already.
	InstallUpdate(kb string) bool
}

// RegValue is one registry value.
type RegValue struct {
	Name string
	// Type is REG_SZ, REG_EXPAND_SZ, REG_MULTI_SZ, REG_DWORD or REG_QWORD.
	Type  string
	Data  string
	DWord uint64
}

// Service is a Windows service.
type Service struct {
	Name        string
	DisplayName string
	Running     bool
}

// Hotfix is an installed update as Win32_QuickFixEngineering lists it.
type Hotfix struct {
	ID          string // KB5034439
	Description string
	InstalledBy string
	InstalledOn time.Time
}
