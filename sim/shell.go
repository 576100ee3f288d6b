package sim

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// shell is one WinRS shell on a host. Its fields are guarded by the host's
// mutex, except what commands guard themselves.
type shell struct {
	id          string
	owner       string
	clientIP    string
	env         []EnvVar
	workdir     string
	idleTimeout time.Duration
	codepage    int
	// memoryMB is MaxMemoryPerShellMB when the shell was created (0 =
	// unlimited): WinRS applies quota changes to new shells.
	memoryMB   int
	lastActive time.Time
	// ops counts the shell's Commands: WinRS counts each against
	// MaxConcurrentOperationsPerUser and Signal does not give it back.
	ops      int
	commands map[string]*command
}

// command is one process started by a Command request: its output waiting
// to be received, its stdin, and its state.
type command struct {
	id     string
	cancel context.CancelFunc

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	chunks  []outChunk
	pending int // bytes in chunks
	// busy counts the process's activities that are computing rather than
	// waiting (sleeping, reading stdin). A Receive answers once output is
	// there and the process has nothing more to say right now, so quick
	// programs deliver their output and exit status in one response, as
	// Windows does.
	busy     int
	exited   bool
	exitCode uint32
	finished bool // Done was delivered
	// afterDone runs once after the response delivering Done was written.
	afterDone func()

	stdin      []byte
	stdinEnded bool
}

func newCommand(id string, cancel context.CancelFunc) *command {
	return &command{id: id, cancel: cancel, changed: make(chan struct{}), busy: 1}
}

// notifyLocked wakes every waiter; c.mu is held.
func (c *command) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// write appends output written by the process.
func (c *command) write(stream string, p []byte) {
	if len(p) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exited {
		return
	}
	if n := len(c.chunks); n > 0 && n >= maxChunksPerCommand && c.chunks[n-1].stream == stream {
		// A program writing byte by byte would otherwise turn into
		// thousands of elements; past a few dozen, merge.
		c.chunks[n-1].data = append(c.chunks[n-1].data, p...)
	} else {
		c.chunks = append(c.chunks, outChunk{stream: stream, data: append([]byte(nil), p...)})
	}
	c.pending += len(p)
	c.notifyLocked()
}

const maxChunksPerCommand = 64

// block marks the process as waiting; unblock as computing again.
func (c *command) block() {
	c.mu.Lock()
	c.busy--
	c.notifyLocked()
	c.mu.Unlock()
}

func (c *command) unblock() {
	c.mu.Lock()
	c.busy++
	c.mu.Unlock()
}

// exit records the process's exit status.
func (c *command) exit(code uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exited {
		return
	}
	c.exited = true
	c.exitCode = code
	c.busy = 0
	c.stdinEnded = true
	c.notifyLocked()
}

// stdinBacklog is how much stdin the process has not read yet.
func (c *command) stdinBacklog() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.stdin)
}

// send appends stdin data; end closes stdin.
func (c *command) send(p []byte, end bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stdin = append(c.stdin, p...)
	if end {
		c.stdinEnded = true
	}
	c.notifyLocked()
}

// ready reports whether a Receive can answer now; c.mu is held.
func (c *command) readyLocked(budget int) bool {
	return c.exited || (len(c.chunks) > 0 && c.busy <= 0) || c.pending >= budget
}

// takeLocked removes up to budget bytes of output for a response; c.mu is
// held. When everything was taken from an exited process, the response
// closes the streams and reports Done.
func (c *command) takeLocked(budget int) *receiveState {
	st := &receiveState{commandID: c.id}
	used := 0
	for len(c.chunks) > 0 {
		ch := c.chunks[0]
		if used+len(ch.data) > budget {
			if room := budget - used; room > 0 && used == 0 {
				st.chunks = append(st.chunks, outChunk{stream: ch.stream, data: ch.data[:room]})
				c.chunks[0].data = ch.data[room:]
				used += room
			}
			break
		}
		st.chunks = append(st.chunks, ch)
		used += len(ch.data)
		c.chunks = c.chunks[1:]
	}
	c.pending -= used
	if used > 0 {
		c.notifyLocked() // a writer waiting for room may go on
	}
	if c.exited && len(c.chunks) == 0 {
		st.ended = []string{"stdout", "stderr"}
		st.done = true
		st.exitCode = c.exitCode
		c.finished = true
	}
	return st
}

// stdinReader is a process's view of its stdin: it blocks (as a waiting
// process) until data arrives, stdin ends, or the process is stopped.
type stdinReader struct {
	ctx context.Context
	c   *command
}

func (r *stdinReader) Read(p []byte) (int, error) {
	c := r.c
	c.mu.Lock()
	for len(c.stdin) == 0 && !c.stdinEnded {
		c.busy--
		c.notifyLocked()
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-r.ctx.Done():
			c.unblock()
			return 0, r.ctx.Err()
		}
		c.mu.Lock()
		c.busy++
	}
	defer c.mu.Unlock()
	if len(c.stdin) == 0 {
		return 0, io.EOF
	}
	full := len(c.stdin) >= maxStdinBacklog
	n := copy(p, c.stdin)
	c.stdin = c.stdin[n:]
	if full && len(c.stdin) < maxStdinBacklog {
		c.notifyLocked() // a Send waiting for room may answer
	}
	return n, nil
}

// maxStdinBacklog is how much stdin a process may have unread before a
// Send waits for it to read some.
const maxStdinBacklog = 1 << 20

// waitStdinRoom waits until the process has less than maxStdinBacklog of
// stdin unread, has ended, ctx ended or the timer fired, so a client
// sending a large file faster than the process reads it holds the host
// to a bounded amount of it.
func (c *command) waitStdinRoom(ctx context.Context, timer <-chan time.Time) {
	c.mu.Lock()
	for len(c.stdin) >= maxStdinBacklog && !c.exited {
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-timer:
			return
		}
		c.mu.Lock()
	}
	c.mu.Unlock()
}

// streamWriter is a process's stdout or stderr. Like a console pipe whose
// reader is slow, it makes a process that has much output waiting wait
// (when ctx is set) until Receives take some, so a process writing a large
// file (a fetch) holds a bounded amount of it in memory.
type streamWriter struct {
	ctx    context.Context
	c      *command
	stream string
}

// maxPendingOutput is how much output a process may have waiting before
// its writes wait for a Receive.
const maxPendingOutput = 1 << 20

func (w *streamWriter) Write(p []byte) (int, error) {
	if w.ctx != nil && len(p) > 0 {
		if err := w.c.waitRoom(w.ctx); err != nil {
			return 0, err
		}
	}
	w.c.write(w.stream, p)
	return len(p), nil
}

// waitRoom waits, as a waiting process, until less than maxPendingOutput
// of output is waiting, the process ended or ctx ended.
func (c *command) waitRoom(ctx context.Context) error {
	c.mu.Lock()
	for c.pending >= maxPendingOutput && !c.exited {
		c.busy--
		c.notifyLocked()
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			c.unblock()
			return fmt.Errorf("write output: %w", ctx.Err())
		}
		c.mu.Lock()
		c.busy++
	}
	c.mu.Unlock()
	return nil
}
