package bench

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// Usage is what one finished child process used.
type Usage struct {
	// Wall is the time from starting the process to its exit.
	Wall time.Duration
	// User and System are the CPU times of the process (rusage), its
	// children included once they were waited for.
	User, System time.Duration
	// MaxRSS is the peak resident set size in bytes (rusage ru_maxrss).
	MaxRSS int64
	// ExitCode is the process's exit status (-1 when a signal ended it).
	ExitCode int
}

// CPU is User + System.
func (u Usage) CPU() time.Duration { return u.User + u.System }

// Measure runs cmd to its end and reports what it used. A non-zero exit is
// not an error (the caller judges ExitCode); failing to start, or ctx
// ending, is. cmd must not have been started.
func Measure(ctx context.Context, cmd *exec.Cmd) (Usage, error) {
	if err := ctx.Err(); err != nil {
		return Usage{}, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Usage{}, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	stop := context.AfterFunc(ctx, func() {
		// The benchmark was cancelled: the child must not outlive it.
		_ = cmd.Process.Kill() // it may have exited already
	})
	err := cmd.Wait()
	stop()
	u := Usage{Wall: time.Since(start)}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return u, fmt.Errorf("wait for %s: %w", cmd.Path, err)
	}
	if cerr := ctx.Err(); cerr != nil {
		return u, cerr
	}
	fillUsage(&u, cmd)
	return u, nil
}

// fillUsage reads the rusage of a process that was waited for.
func fillUsage(u *Usage, cmd *exec.Cmd) {
	st := cmd.ProcessState
	if st == nil {
		return
	}
	u.ExitCode = st.ExitCode()
	u.User, u.System = st.UserTime(), st.SystemTime()
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		// Linux reports ru_maxrss in kilobytes.
		u.MaxRSS = int64(ru.Maxrss) * 1024
	}
}
