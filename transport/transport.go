// Package transport is the contract between the runner and every way of
// reaching a Windows host: a Session runs one step at a time and reports its
// exit code, output and, on failure, a classified error.
//
// It deliberately knows nothing about WinRM, SSM, playbooks or reports; those
// packages depend on it, never the other way round.
package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Kind says how a step's body is run on the host.
type Kind string

// The step kinds. Their string values appear in reports and plans.
const (
	// KindPowerShell runs Command.Script in the 64-bit Windows PowerShell.
	KindPowerShell Kind = "powershell"
	// KindCmd runs Command.Line under cmd.exe /c, quoted by its author.
	KindCmd Kind = "cmd"
	// KindArgv runs Command.Argv[0] with Argv[1:] as its exact argv.
	KindArgv Kind = "command"
	// KindReboot restarts the host (see Rebooter); it is never passed to
	// Session.Run.
	KindReboot Kind = "reboot"
	// KindCopy writes Command.Copy's files from the controller to the host.
	KindCopy Kind = "copy"
	// KindDownload has the host fetch Command.Download's URL itself.
	KindDownload Kind = "download"
	// KindFetch brings Command.Fetch's files from the host to the
	// controller.
	KindFetch Kind = "fetch"
)

// IsFile reports whether k moves files (copy, download, fetch) rather than
// running a program.
func (k Kind) IsFile() bool { return k == KindCopy || k == KindDownload || k == KindFetch }

// Command is one step as a transport sees it: already expanded for the host,
// with exactly one of Script, Line or Argv set according to Kind.
type Command struct {
	// Name is the step's name as the playbook gives it, for what a
	// transport shows people about the step (SSM's command Comment); it
	// may be empty and changes nothing about how the step runs.
	Name   string
	Kind   Kind
	Script string   // KindPowerShell
	Line   string   // KindCmd
	Argv   []string // KindArgv: program first
	// Copy, Download and Fetch are the file steps' bodies.
	Copy     *CopySpec         // KindCopy
	Download *DownloadSpec     // KindDownload
	Fetch    *FetchSpec        // KindFetch
	Env      map[string]string // extra environment variables for the process
	Workdir  string            // working directory; empty means the shell's default

	// RunAs says who runs the process; the zero value runs it in the
	// session's own logon (over WinRM a WinRS shell, a network logon).
	RunAs RunAs
	// Task names the step's run outside the session when the transport
	// runs it detached (see TaskRunner): the runner chooses the name and
	// records it before Run, so that a later run of fleetrun finds the step
	// again by the same name. Run with a name that already ran follows that
	// run to its end; a step is never started twice under one name. Empty:
	// the transport names the task and forgets it itself.
	Task string

	// OutputEncoding is how the step's stdout and stderr are decoded into
	// the Result: "" or "auto" (output that is valid UTF-8 stays UTF-8,
	// other output is decoded with the host's code page,
	// Target.OutputEncoding), "utf-8", or a code page name (cp932,
	// shift_jis, windows-1252...) applied whatever the bytes are. Each
	// stream is decoded as a whole, so a character split between two
	// answers of the host is never broken.
	OutputEncoding string

	// Stdout and Stderr, when not nil, receive every byte the process wrote,
	// undecoded and uncapped, as it arrives (for per-host logs). They are
	// called from the session's goroutine; they must not block for long.
	Stdout io.Writer
	Stderr io.Writer
}

// Result is what a finished process left behind. A Result is returned only
// when the process ran to completion (or was ended by the host) and produced
// an exit code; any other outcome is an error.
type Result struct {
	// ExitCode is the Windows process exit code, a DWORD: 0xC0000005 is
	// 3221225477, never negative.
	ExitCode uint32
	// Stdout and Stderr are the decoded output (the host's output encoding),
	// capped at the session's limit; the Truncated flags say a cap was hit.
	Stdout, Stderr                   string
	StdoutTruncated, StderrTruncated bool
	// Files are what a file step found or moved, one per file, in the
	// order of the step's files (copy) or as the host listed them (fetch).
	Files []FileResult
	// Unchanged: a copy or download found every destination already
	// holding the required bytes and wrote nothing (the step's status is
	// then "unchanged").
	Unchanged bool
}

// FileResult is one file a file step handled.
type FileResult struct {
	// Path is the file's path on the host.
	Path string
	// Local is where a fetched file was stored on the controller.
	Local string
	// Size is the file's length in bytes, SHA256 its lower-case hex
	// SHA-256 as the host computed it (and, for copy and fetch, the
	// controller checked).
	Size   int64
	SHA256 string
	// Unchanged: the destination already held these bytes.
	Unchanged bool
	// Sent is how many of the file's bytes crossed the connection (0 when
	// unchanged or downloaded by the host).
	Sent int64
}

// Blob is a file's content on the controller, opened and hashed once per
// run and read by every host's transfer concurrently (io.ReaderAt must be
// safe for that, as *os.File is).
type Blob interface {
	io.ReaderAt
	Size() int64
	SHA256() string // lower-case hex
}

// CopySpec is a copy step's files.
type CopySpec struct {
	Files []CopyFile
}

// CopyFile is one file of a copy step.
type CopyFile struct {
	// Dest is the full Windows path the file must end at.
	Dest string
	Src  Blob
	// Origin names the source on the controller, for messages.
	Origin string
}

// DownloadSpec is a download step: the host fetches URL to Dest and keeps
// it only when its SHA-256 is SHA256.
type DownloadSpec struct {
	URL    string
	Dest   string
	SHA256 string // lower-case hex, required
	// Retries is how many further tries the host makes after a failed
	// transfer (never after a hash mismatch); Proxy, when set, is the
	// HTTP proxy URL the host uses.
	Retries int
	Proxy   string
}

// FetchSpec is a fetch step: the files matching Src on the host are sent
// to the controller and stored through Sink.
type FetchSpec struct {
	// Src is a Windows path, or a pattern with * and ? in its last
	// element.
	Src string
	// MaxBytes bounds the total size fetched from one host; more is an
	// error before any byte is sent.
	MaxBytes int64
	// Optional: no matching file is not an error.
	Optional bool
	Sink     FetchSink
}

// FetchSink stores fetched files on the controller.
type FetchSink interface {
	// Create starts storing the file the host knows as path (name is its
	// last element), size bytes long.
	Create(path, name string, size int64) (FetchWriter, error)
}

// FetchWriter receives one fetched file's bytes. Commit keeps the file
// once the transport has checked its SHA-256 and returns where it was
// stored; Abort removes whatever was written.
type FetchWriter interface {
	io.Writer
	Commit(sha256 string) (local string, err error)
	Abort()
}

// Session is an open connection to one host, able to run steps one after
// another. Implementations need not be safe for concurrent Run calls; the
// runner runs one step at a time per host.
type Session interface {
	// Run executes cmd and waits for it to finish or for ctx to end. When ctx
	// ends first the remote process is terminated (best effort, bounded) and
	// the error has class ClassTimeout or ClassInterrupted.
	Run(ctx context.Context, cmd Command) (Result, error)
	// Close releases the remote shell and connections. It is bounded by ctx
	// and safe to call more than once.
	Close(ctx context.Context) error
}

// RunAs is who runs a step's process on the host.
type RunAs string

// Run-as values; the strings are the playbook's run_as values.
const (
	// RunAsSession runs the process in the session's own logon.
	RunAsSession RunAs = ""
	// RunAsSystem runs it as SYSTEM with highest privileges, outside the
	// session: over WinRM a one-shot scheduled task, which a network logon
	// cannot be refused what it refuses a remote caller, and which outlives
	// the shell and the controller.
	RunAsSystem RunAs = "system"
)

// ExitClassifier is implemented by sessions that can explain an unexpected
// exit code better than "unexpected exit" — for example a WinRM session that
// knows the host's MaxMemoryPerShellMB and recognises an out-of-memory
// failure, or that Windows refuses an installer to a remote caller.
// ClassifyExit returns nil when it has nothing to add.
type ExitClassifier interface {
	ClassifyExit(cmd Command, res Result) *Error
}

// TaskRunner is implemented by sessions that run some steps detached from
// the session, as tasks on the host that outlive it (WinRM with
// RunAsSystem). For those steps the runner names the task, records it in
// its journal before Run, and once it has recorded the step's result calls
// Forget, so that a task whose result is lost (the controller died) is
// found again rather than started twice.
type TaskRunner interface {
	// Detaches reports whether Run would run cmd as a task.
	Detaches(cmd Command) bool
	// Forget removes what a finished task left on the host: the task and
	// its files. It is bounded by ctx; a task that is already gone is not
	// an error.
	Forget(ctx context.Context, task string) error
}

// StepRunner is implemented by sessions that can run several consecutive
// steps in one launch on the host (a step run, docs/design.md): one remote
// command instead of one per step, the host applying each step's timeout,
// accepted codes and retries itself and stopping where the runner would
// have stopped. The runner still judges every attempt from what the
// observer is told, so results are step by step as with Run.
type StepRunner interface {
	// RunsTogether reports whether cmd may be part of a step run.
	RunsTogether(cmd Command) bool
	// RunSteps runs steps in order and reports each attempt to obs as the
	// host reports it, from the session's goroutine. It returns nil when
	// the host reported the run over (every step done, or stopped at a
	// failure); an error means the run broke (a lost connection, ctx
	// ended: then with class ClassTimeout or ClassInterrupted, as Run) and
	// the attempt obs saw start without finishing did not finish.
	RunSteps(ctx context.Context, steps []RunStep, obs RunObserver) error
}

// RunStep is one step of a step run with the rules the host applies to it.
type RunStep struct {
	// Index is the step's index in the playbook (what the host's frames
	// name it by).
	Index   int
	Command Command
	// Timeout bounds each attempt (zero: none); an attempt past it is
	// ended on the host and not retried.
	Timeout time.Duration
	// Accept are the exit codes that end the step well, RetryOn those
	// worth another attempt while attempts are left (Retries more at
	// most), after RetryDelays[attempt-1].
	Accept      []uint32
	RetryOn     []uint32
	Retries     int
	RetryDelays []time.Duration
	// ContinueOnError lets the run go on after the step failed.
	ContinueOnError bool
}

// RunObserver receives a step run's attempts. k is the step's position in
// the run's steps, attempt counts from 1, and at is the time since the run
// started on the host's clock.
type RunObserver interface {
	// AttemptStarted returns the writers that receive the attempt's raw
	// output as it arrives (nil for none).
	AttemptStarted(k, attempt int, at time.Duration) (stdout, stderr io.Writer)
	// AttemptFinished reports the attempt's result (its exit code and
	// decoded output), or that it ran past its timeout and was ended.
	AttemptFinished(k, attempt int, res Result, timedOut bool, at time.Duration)
}

// AgentReporter is implemented by sessions that reach their host through
// an agent on it which a service keeps track of (the SSM agent): what the
// service knew of the agent when the session was opened.
type AgentReporter interface {
	Agent() AgentInfo
}

// AgentInfo is what a service knows of a host's agent.
type AgentInfo struct {
	// Service names the service ("AWS Systems Manager").
	Service string
	// ID is the host's identity there (the managed instance id).
	ID string
	// PingStatus is the agent's status as the service reports it
	// ("Online", "ConnectionLost", "Inactive").
	PingStatus string
	// LastPing is when the service last heard from the agent (zero when
	// it did not say).
	LastPing time.Time
	// Version is the agent's version.
	Version string
	// Platform is the operating system the agent reports (name and
	// version).
	Platform string
}

// Rebooter is implemented by sessions that can restart their host and wait
// until it is back: WinRM answering again and the boot time changed.
// Reboot is bounded by ctx; when the host does not come back in time the
// error has class ClassRebootTimeout. After a successful Reboot the session
// is usable again (a new shell is opened for the next step).
type Rebooter interface {
	Reboot(ctx context.Context, opts RebootOptions) error
}

// RebootOptions say how to reboot.
type RebootOptions struct {
	// AlreadyInitiated means the host is restarting by itself (an
	// installer exited 1641): do not issue a restart, only wait.
	AlreadyInitiated bool
	// PreRebootDelay is the delay Windows waits before restarting
	// (shutdown /t); zero restarts at once.
	PreRebootDelay time.Duration
	// TestCommand, when set, is a PowerShell script run once the host is
	// back; the reboot counts as done only when it exits 0.
	TestCommand string
	// PollInterval is how often to probe the host while waiting (default
	// chosen by the transport).
	PollInterval time.Duration
}

// Class is the kind of a failure, as reports show it and as the runner's
// retry and budget logic branch on it.
type Class string

// Error classes; the strings are part of the JSON report contract.
const (
	ClassDNS            Class = "dns"
	ClassRefused        Class = "refused"
	ClassConnectTimeout Class = "connect_timeout"
	ClassTLS            Class = "tls"
	ClassAuth           Class = "auth"
	ClassWSManFault     Class = "wsman_fault"
	ClassMemoryCap      Class = "memory_cap"
	ClassTimeout        Class = "timeout"
	ClassUnexpectedExit Class = "unexpected_exit"
	ClassRebootTimeout  Class = "reboot_timeout"
	ClassInterrupted    Class = "interrupted"
	ClassInternal       Class = "internal"
	// ClassConnectionLost: the host (or something between) reset or closed
	// the connection, when connecting or later.
	ClassConnectionLost Class = "connection_lost"
	// ClassProtocol: the host answered outside the protocol: an HTTP error
	// whose body is no WS-Man fault (a proxy's page, a crashed service),
	// an answer that cannot be read, an answer that lacks what it must
	// carry.
	ClassProtocol Class = "protocol"
	// ClassRemoteDenied: Windows refuses what the step does to a remote
	// caller (a network logon): wusa installing an update, the Windows
	// Update Agent's downloader and installer, a file share on another
	// machine (the second hop).
	ClassRemoteDenied Class = "remote_denied"
	// ClassHashMismatch: a file's SHA-256 on arrival is not the one
	// required (a copy's source, a download's sha256); nothing was kept
	// under the destination name.
	ClassHashMismatch Class = "hash_mismatch"
	// ClassNotFound: what a step names does not exist on the host: a
	// fetch's source matched no file, or the step's program is not there
	// (an argv step's file, a cmd line's first word, a PowerShell
	// command); the step keeps the exit code it ended with.
	ClassNotFound Class = "not_found"
	// ClassConfig: the step cannot run over this host's transport as the
	// inventory configures it (a copy over SSM without an S3 bucket).
	ClassConfig Class = "config"
)

// Unreachable reports whether a failure of this class means the host could
// not be reached or logged into at all (reported as host status
// "unreachable" when no step ran).
func (c Class) Unreachable() bool {
	switch c {
	case ClassDNS, ClassRefused, ClassConnectTimeout, ClassTLS, ClassAuth, ClassConnectionLost:
		return true
	}
	return false
}

// Error is a classified failure. Transports return it (possibly wrapped);
// callers inspect it with errors.As.
type Error struct {
	Class Class
	// Code is the WS-Man fault code (or other numeric code from the remote
	// side) when there is one, else 0.
	Code uint32
	// Message says what happened, in words, without secrets.
	Message string
	// Hint says what to do next, when something useful can be said.
	Hint string
	// Transient marks failures worth retrying on a new attempt: connection
	// resets, a shell that vanished, a refused or timed-out connect.
	Transient bool
	// Unsettled marks the failure of a step run as a task (see TaskRunner)
	// whose task may still be running on the host: its outcome is unknown,
	// so a later run must follow it rather than start the step again.
	Unsettled bool
	// Err is the underlying cause, if any.
	Err error
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Code != 0 {
		return fmt.Sprintf("%s (code %d): %s", e.Class, e.Code, msg)
	}
	return fmt.Sprintf("%s: %s", e.Class, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Classify returns the Error inside err, or wraps an unclassified err as
// ClassInternal (or ClassTimeout/ClassInterrupted for context errors), so
// callers always have a class to report.
func Classify(err error) *Error {
	if err == nil {
		return nil
	}
	var te *Error
	if errors.As(err, &te) {
		return te
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Class: ClassTimeout, Message: err.Error(), Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Class: ClassInterrupted, Message: err.Error(), Err: err}
	}
	return &Error{Class: ClassInternal, Message: err.Error(), Err: err}
}

// IsUnsettled reports whether err is a classified failure marked
// Unsettled: a step's task may still be running on the host.
func IsUnsettled(err error) bool {
	var te *Error
	return errors.As(err, &te) && te.Unsettled
}

// IsTransient reports whether err is a classified failure marked Transient.
func IsTransient(err error) bool {
	var te *Error
	return errors.As(err, &te) && te.Transient
}

// Target is where and how to reach one host. The runner receives it from the
// inventory layer and hands it to a Dialer; transports read what they need.
type Target struct {
	Name    string
	Address string
	Port    int
	HTTPS   bool
	Auth    string // basic, ntlm, kerberos, certificate
	User    string
	// Password is the resolved secret. It must never be printed, logged or
	// put into an error message.
	Password           string `json:"-"`
	CAFile             string
	ClientCert         string
	ClientKey          string
	InsecureSkipVerify bool
	AllowUnencrypted   bool
	// OutputEncoding is the host's code page for output (utf-8 by
	// default, cp932, shift_jis, ...): what a step's output that is not
	// valid UTF-8 is decoded with, unless the step names its own
	// (Command.OutputEncoding).
	OutputEncoding string
	// Timeouts for connecting and for each request's response headers;
	// zero means the transport's default.
	ConnectTimeout time.Duration
	// SSM are the settings of hosts reached through AWS Systems Manager;
	// the other transports ignore them.
	SSM SSMTarget
	// SPN and Keytab are the Kerberos service principal of the host
	// (empty: HTTP/<Address>) and a keytab of the user's keys (used when
	// Password is empty); only auth kerberos reads them.
	SPN    string
	Keytab string
	// Vars are the host's variables as strings. They are the user's
	// template variables: no transport takes its settings from them,
	// except WinRM's Kerberos settings (krb5_conf, realm, and spn and
	// keytab when SPN and Keytab are empty).
	Vars map[string]string
}

// SSMTarget is how one host is reached through AWS Systems Manager Run
// Command. Empty strings mean the transport's defaults (its options, then
// the AWS environment and shared configuration).
type SSMTarget struct {
	// InstanceID is the managed instance (EC2 discovery sets it; a static
	// host gives it as ssm: {instance_id: ...}).
	InstanceID string
	// Region is the instance's region: the one EC2 discovery found it in,
	// else the inventory's ssm: {region: ...}.
	Region         string
	Profile        string
	Endpoint       string
	S3Endpoint     string
	OutputS3Bucket string
	OutputS3Prefix string
	Document       string
	// TransferBucket and TransferPrefix are where a copy step's sources
	// are uploaded (key TransferPrefix/<sha256>) for hosts to download;
	// without a bucket a copy fails with class config.
	TransferBucket string
	TransferPrefix string
}

// Dialer opens sessions. Dial must respect ctx for every network wait.
type Dialer interface {
	Dial(ctx context.Context, t Target) (Session, error)
}

// DialerFunc adapts a function to the Dialer interface.
type DialerFunc func(ctx context.Context, t Target) (Session, error)

// Dial calls f.
func (f DialerFunc) Dial(ctx context.Context, t Target) (Session, error) { return f(ctx, t) }
