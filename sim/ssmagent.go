package sim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetrun/fleetrun/sim/internal/cmdexe"
)

// The SSM agent of a simulated host: it runs an AWS-RunPowerShellScript
// command's script with the host model, as the real agent does (the
// commands joined by newlines into _script.ps1, run with powershell.exe
// -f as SYSTEM, outside any WinRS shell), and reports the SSM statuses.

const (
	// ssmMarker starts fleetrun's SSM shim (docs/design.md).
	ssmMarker = "# fleetrun-ssm v1"
	// ssmRebootStandIn is the exit code fleetrun's shim reports for 3010.
	ssmRebootStandIn = 0x2F1E0BC2
	// ssmRebootExitCode makes the SSM agent reboot the instance and run the
	// script again.
	ssmRebootExitCode = 3010
	// ssmMaxReboots bounds the reboot-and-run-again loop of a script that
	// keeps exiting 3010.
	ssmMaxReboots = 3
	// ssmStoppedCode is the agent's exit code for a process it killed
	// (timeout or cancellation).
	ssmStoppedCode = -1
)

// startLocked starts an invocation: it waits for the instance to be online
// (delivery), runs the script and records the outcome. s.mu is held.
func (s *ssmServer) startLocked(c *ssmCommand, inv *ssmInvocation) {
	h := inv.host
	ctx, cancel := context.WithCancel(h.ctx)
	inv.cancel = cancel
	h.mu.Lock()
	started := h.goProcLocked(func() {
		defer cancel()
		s.deliver(ctx, c, inv)
	})
	h.mu.Unlock()
	if !started {
		cancel()
		inv.status, inv.details = "Failed", "Undeliverable"
	}
}

// deliver runs one invocation to its end.
func (s *ssmServer) deliver(ctx context.Context, c *ssmCommand, inv *ssmInvocation) {
	h := inv.host
	clock := s.f.clock
	if h.cfg.Faults.Hang.Always {
		// An agent that takes commands but never answers for them: Run
		// Command gives up on delivering.
		if !h.wait(ctx, s.delivery) {
			s.finish(c, inv, "Cancelled", "Cancelled", ssmStoppedCode, nil, nil)
			return
		}
		s.finish(c, inv, "Failed", "Undeliverable", 0, nil, nil)
		return
	}
	// Delivery: the agent picks the command up once the instance is online
	// (a host that refuses connections or is rebooting is not), within the
	// command's delivery timeout.
	dctx, dcancel := context.WithCancel(ctx)
	deliveryTimer := clock.AfterFunc(c.deliveryTimeout, dcancel)
	err := h.WaitOnline(dctx)
	if err == nil && !h.wait(dctx, s.delivery) {
		err = dctx.Err()
	}
	timedOut := !deliveryTimer.Stop()
	dcancel()
	if err != nil {
		switch {
		case ctx.Err() != nil:
			s.finish(c, inv, "Cancelled", "Cancelled", ssmStoppedCode, nil, nil)
		case timedOut:
			s.finish(c, inv, "TimedOut", "DeliveryTimedOut", 0, nil, nil)
		}
		return
	}
	s.mu.Lock()
	if inv.cancelled {
		s.mu.Unlock()
		s.finish(c, inv, "Cancelled", "Cancelled", ssmStoppedCode, nil, nil)
		return
	}
	inv.status, inv.details, inv.started = "InProgress", "InProgress", clock.Now()
	s.mu.Unlock()

	var stdout, stderr lockedBuffer
	for reboots := 0; ; reboots++ {
		ectx, ecancel := context.WithCancel(ctx)
		var timedOut atomic.Bool
		timer := clock.AfterFunc(c.executionTime, func() {
			timedOut.Store(true)
			ecancel()
		})
		var code uint32
		var after func()
		if strings.HasPrefix(c.script, ssmRebootMarker) {
			code = s.rebootScript(ectx, h, inv.instance, c.script)
		} else {
			code, after = h.runSSMScript(ectx, c.id, inv.instance, c.script, &stdout, &stderr)
		}
		timer.Stop()
		ecancel()
		switch {
		case timedOut.Load():
			s.finish(c, inv, "TimedOut", "ExecutionTimedOut", ssmStoppedCode, stdout.Bytes(), stderr.Bytes())
		case ctx.Err() != nil:
			s.finish(c, inv, "Cancelled", "Cancelled", ssmStoppedCode, stdout.Bytes(), stderr.Bytes())
		case code == ssmRebootExitCode && reboots < ssmMaxReboots:
			// The agent reboots the instance and runs the script again
			// once it is back (send-commands-reboot in the SSM guide).
			h.rebootNow()
			if h.WaitOnline(ctx) != nil {
				s.finish(c, inv, "Cancelled", "Cancelled", ssmStoppedCode, stdout.Bytes(), stderr.Bytes())
				return
			}
			continue
		case code == 0:
			s.finish(c, inv, "Success", "Success", 0, stdout.Bytes(), stderr.Bytes())
		default:
			// The agent marks a failed plugin by adding the process's
			// error to stderr, as Go's os/exec prints it on Windows.
			msg := "failed to run commands: exit status " + windowsExitStatus(code)
			stderr.WriteString(msg)
			s.finish(c, inv, "Failed", "Failed", int32(code), stdout.Bytes(), stderr.Bytes())
		}
		if after != nil {
			after()
		}
		return
	}
}

// fileMarkers are the first lines of fleetrun's file scripts
// (docs/design.md, "Files to and from hosts").
var fileMarkers = map[string]bool{"# fleetrun-copy v1": true, "# fleetrun-download v1": true, "# fleetrun-fetch v1": true}

// ssmRebootMarker starts fleetrun's SSM reboot script (docs/design.md).
const ssmRebootMarker = "# fleetrun-ssm-reboot v1"

var (
	rebootTokenRE = regexp.MustCompile(`(?m)^\$frT = '([A-Za-z0-9-]+)'$`)
	rebootDelayRE = regexp.MustCompile(`(?m)^Start-Sleep -Seconds ([0-9]+)$`)
)

// rebootScript answers fleetrun's SSM reboot script as the script behaves
// on Windows: the first run stores its token (in the registry there) and
// exits 3010 after the pre-reboot delay, which makes the agent restart the
// instance and run it again; the second run finds the token, removes it
// and exits 0. Only the token and the delay are read from the text.
func (s *ssmServer) rebootScript(ctx context.Context, h *Host, instance, script string) uint32 {
	h.stats.count(&h.stats.programs, "fleetrun-ssm-reboot")
	m := rebootTokenRE.FindStringSubmatch(script)
	if m == nil {
		return 1
	}
	key := instance + "/" + m[1]
	s.mu.Lock()
	seen := s.rebootTokens[key]
	if seen {
		delete(s.rebootTokens, key)
	} else {
		s.rebootTokens[key] = true
	}
	s.mu.Unlock()
	if seen {
		return 0
	}
	if d := rebootDelayRE.FindStringSubmatch(script); d != nil {
		secs, _ := strconv.Atoi(d[1]) // digits only
		if !h.wait(ctx, time.Duration(secs)*time.Second) {
			return 0xFFFFFFFF
		}
	}
	return ssmRebootExitCode
}

// windowsExitStatus writes an exit code as Go's os.ProcessState does on
// Windows: decimal below 65536, hexadecimal above.
func windowsExitStatus(code uint32) string {
	if code >= 1<<16 {
		return fmt.Sprintf("0x%x", code)
	}
	return fmt.Sprint(code)
}

// finish records an invocation's end and uploads its output when the
// command names a bucket (only non-empty streams, as the agent does).
func (s *ssmServer) finish(c *ssmCommand, inv *ssmInvocation, status, details string, code int32, stdout, stderr []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv.status, inv.details, inv.code = status, details, code
	inv.stdout, inv.stderr = stdout, stderr
	inv.finished = s.f.clock.Now()
	if inv.started.IsZero() && len(stdout)+len(stderr) > 0 {
		inv.started = inv.finished
	}
	if c.bucket == "" {
		return
	}
	if len(stdout) > 0 {
		s.putOutputLocked(c.bucket+"/"+s3Key(c, inv.instance, "stdout"), stdout)
	}
	if len(stderr) > 0 {
		s.putOutputLocked(c.bucket+"/"+s3Key(c, inv.instance, "stderr"), stderr)
	}
}

// lockedBuffer is a process's output file.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// runSSMScript runs a command's script on the host as the SSM agent does
// and returns its exit code and work to do once the agent has reported
// (a restart that shutdown /t 0 scheduled). fleetrun's SSM shim is
// recognised by its marker: its payload goes to the launcher on stdin, and
// an exit code of 3010 leaves as the shim's stand-in. Other scripts run as
// a -File script. Memory caps do not apply: the agent's processes run
// outside WinRS.
func (h *Host) runSSMScript(ctx context.Context, commandID, instance, script string, stdout, stderr io.Writer) (uint32, func()) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := newCommand(commandID, cancel)
	ps := &procState{host: h, cmd: c, logon: logonAgent, user: "SYSTEM", console: newConsole(h.defaultCodepage()), tree: ctx}
	ctx = context.WithValue(ctx, procKey{}, ps)
	h.stats.add(&h.stats.commands, 1)
	h.stats.count(&h.stats.programs, "powershell.exe")
	if ps.sleep(ctx, h.cfg.ProcessStart+h.cfg.Faults.SlowStart) != nil {
		return 0xFFFFFFFF, nil
	}
	env := h.ssmEnv(commandID, instance)
	var code uint32
	if first, _, _ := strings.Cut(script, "\n"); strings.TrimSpace(first) == ssmMarker {
		h.stats.count(&h.stats.programs, "fleetrun-ssm-shim")
		m := payloadStatements(script)
		if len(m) != 1 {
			rawWrite(stderr, h.encodeHost(fmt.Sprintf("fleetrun ssm shim: %d $fleetrunPayload statements, expected 1\r\n", len(m))))
			return 1, nil
		}
		// The shim starts the stdin-variant launcher and writes the payload
		// to its stdin.
		h.stats.count(&h.stats.programs, "powershell.exe")
		h.stats.count(&h.stats.programs, "fleetrun-launcher")
		p := &cmdexe.Proc{Name: `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, Env: env,
			Stdin: strings.NewReader(m[0]), Stdout: stdout, Stderr: stderr}
		code = h.launcher(ctx, p, launcherMarker+"\n$fleetrunPayload = ''\n")
		if code == ssmRebootExitCode {
			code = ssmRebootStandIn
		}
	} else if first, _, _ := strings.Cut(script, "\n"); fileMarkers[strings.TrimSpace(first)] {
		// fleetrun's file scripts (copy, download, fetch) run as the
		// commands themselves; the host does what they do, by marker.
		var ok bool
		p := &cmdexe.Proc{Name: `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, Env: env,
			Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr}
		if code, ok = h.fileScript(ctx, p, script); !ok {
			rawWrite(stderr, h.encodeHost("fleetrun file script: the simulated host does not run "+strings.TrimSpace(first)+"\r\n"))
			code = 1
		}
	} else {
		r := &psRun{h: h, ps: ps, ctx: ctx, stdout: stdout, stderr: stderr, env: env, mode: psFile}
		r.enc = func(s string) []byte { return encodeConsole(ps.codepage(), s) }
		code = r.run(script)
	}
	c.mu.Lock()
	after := c.afterDone
	c.afterDone = nil
	c.mu.Unlock()
	return code, after
}

// ssmEnv is the environment of the agent's processes: SYSTEM's, in the
// command's orchestration folder.
func (h *Host) ssmEnv(commandID, instance string) *cmdexe.Env {
	return h.systemEnv(`C:\ProgramData\Amazon\SSM\InstanceData\` + instance + `\document\orchestration\` + commandID + `\awsrunPowerShellScript\0.awsrunPowerShellScript`)
}
