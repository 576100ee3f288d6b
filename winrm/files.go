package winrm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
)

// File steps (docs/design.md, "Files to and from hosts") run fleetrun's
// file scripts in the session's shell, one command per copied file, one
// per download and per fetch. Unlike other steps their output is a
// protocol: short ASCII lines for copy and download, frames with file
// bytes for fetch, which never go through the output captures.

// maxProtocolOut bounds what is kept of a copy's or download's stdout:
// a few lines, and a download's failed tries.
const maxProtocolOut = 64 << 10

// runFile runs a copy, download or fetch step; like Run, a step cut short
// by ctx stops its command and drops the shell.
func (s *Session) runFile(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	if cmd.RunAs != transport.RunAsSession {
		return transport.Result{}, &transport.Error{Class: transport.ClassConfig,
			Message: fmt.Sprintf("%s: a %s step runs in the WinRS shell; run_as %q is not supported for it", s.name, cmd.Kind, cmd.RunAs)}
	}
	if (cmd.Kind == transport.KindCopy && cmd.Copy == nil) || (cmd.Kind == transport.KindDownload && cmd.Download == nil) ||
		(cmd.Kind == transport.KindFetch && (cmd.Fetch == nil || cmd.Fetch.Sink == nil)) {
		return transport.Result{}, &transport.Error{Class: transport.ClassInternal,
			Message: fmt.Sprintf("%s: a %s step without its specification", s.name, cmd.Kind)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(ctx); err != nil {
		return transport.Result{}, err
	}
	var res transport.Result
	var err error
	switch cmd.Kind {
	case transport.KindCopy:
		res, err = s.runCopy(ctx, cmd)
	case transport.KindDownload:
		res, err = s.runDownload(ctx, cmd)
	default:
		res, err = s.runFetch(ctx, cmd)
	}
	if err != nil && ctx.Err() != nil {
		s.abandonShell(ctx)
		return transport.Result{}, contextError(ctx, s.name)
	}
	return res, err
}

// limitedBuffer keeps up to max bytes and notes whether more came.
type limitedBuffer struct {
	max  int
	b    []byte
	over bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	k := min(len(p), l.max-len(l.b))
	l.b = append(l.b, p[:k]...)
	l.over = l.over || k < len(p)
	return len(p), nil
}

// scriptLine is the first line of a file script's stderr, its message.
func scriptLine(c *capture) string {
	t := strings.TrimSpace(string(c.bytes()))
	first, _, _ := strings.Cut(t, "\n")
	return strings.TrimSpace(first)
}

// runCopy copies the step's files one after another.
func (s *Session) runCopy(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	res := transport.Result{Unchanged: true}
	for _, f := range cmd.Copy.Files {
		fr, err := s.copyFile(ctx, cmd, f)
		if err != nil {
			return transport.Result{}, err
		}
		res.Files = append(res.Files, fr)
		res.Unchanged = res.Unchanged && fr.Unchanged
	}
	return res, nil
}

// copyFile runs the copy script for one file: it starts the command, waits
// for the script's first line, sends the file when the script asks for it
// (W) and reads the outcome. s.mu is held.
func (s *Session) copyFile(ctx context.Context, cmd transport.Command, f transport.CopyFile) (transport.FileResult, error) {
	if f.Src == nil {
		return transport.FileResult{}, &transport.Error{Class: transport.ClassInternal,
			Message: fmt.Sprintf("%s: copy to %s: no source", s.name, f.Dest)}
	}
	r, err := launcher.RenderCopy(launcher.CopyPayload{Dest: f.Dest, SHA256: f.Src.SHA256(), Size: f.Src.Size()})
	if err != nil {
		return transport.FileResult{}, &transport.Error{Class: transport.ClassInternal, Err: err, Message: fmt.Sprintf("%s: %v", s.name, err)}
	}
	what := fmt.Sprintf("%s: copy of %s to %s", s.name, f.Origin, f.Dest)
	id, err := s.startCommand(ctx, r)
	if err != nil {
		return transport.FileResult{}, inFile(err, what)
	}
	out := &limitedBuffer{max: maxProtocolOut}
	stderr := &capture{max: maxScriptStderr}
	untilLine := true
	consume := func(stream string, data []byte) (bool, error) {
		w, log := io.Writer(out), cmd.Stdout
		if stream == "stderr" {
			w, log = stderr, cmd.Stderr
		}
		_, _ = w.Write(data)
		if log != nil {
			// A failing log writer must not fail the step.
			_, _ = log.Write(data)
		}
		return untilLine && bytes.IndexByte(out.b, '\n') >= 0, nil
	}
	done, code, err := s.receiveFn(ctx, id, consume)
	if err != nil {
		s.failed(ctx, err)
		return transport.FileResult{}, inFile(err, what)
	}
	untilLine = false
	var sent int64
	if !done {
		first, perr := launcher.ParseCopyOutput(out.b)
		switch {
		case perr != nil:
			err = s.protocolError(fmt.Errorf("copy to %s: %w", f.Dest, perr))
		case first.Ready:
			sent, err = s.sendBlob(ctx, id, f.Src, f.Origin)
			if err != nil && ctx.Err() == nil && !transport.IsTransient(err) {
				// The script may have ended early (a disk that filled
				// up) and the Send been refused for it: its own
				// message says more than the Send's fault.
				if code, ok := s.outcomeAfterSend(ctx, id, consume); ok && code != 0 {
					return transport.FileResult{}, s.copyFailure(f, code, stderr)
				}
			}
		case !first.Unchanged:
			err = s.protocolError(fmt.Errorf("copy to %s: the copy script's first line is neither U nor W: %.80q", f.Dest, out.b))
		}
		if err == nil {
			// untilLine is off: this wait ends with the command.
			_, code, err = s.receiveFn(ctx, id, consume)
		}
		if err != nil {
			s.failed(ctx, err)
			return transport.FileResult{}, inFile(err, what)
		}
	}
	if code != 0 {
		return transport.FileResult{}, s.copyFailure(f, code, stderr)
	}
	o, perr := launcher.ParseCopyOutput(out.b)
	switch {
	case perr != nil || out.over:
		if perr == nil {
			perr = fmt.Errorf("more than %d bytes of output", maxProtocolOut)
		}
		return transport.FileResult{}, s.protocolError(fmt.Errorf("copy to %s: %w", f.Dest, perr))
	case o.Unchanged:
		return transport.FileResult{Path: f.Dest, Size: f.Src.Size(), SHA256: f.Src.SHA256(), Unchanged: true}, nil
	case !o.Done:
		return transport.FileResult{}, s.protocolError(fmt.Errorf("copy to %s: the script ended without saying the file was written", f.Dest))
	case o.SHA256 != f.Src.SHA256():
		return transport.FileResult{}, &transport.Error{Class: transport.ClassHashMismatch,
			Message: fmt.Sprintf("%s: copy of %s to %s: the host reports SHA-256 %s, the source has %s", s.name, f.Origin, f.Dest, o.SHA256, f.Src.SHA256())}
	}
	return transport.FileResult{Path: f.Dest, Size: f.Src.Size(), SHA256: o.SHA256, Sent: sent}, nil
}

// outcomeAfterSend waits briefly for the command's end after a Send
// failed, to learn whether the script ended first.
func (s *Session) outcomeAfterSend(ctx context.Context, id string, consume func(string, []byte) (bool, error)) (uint32, bool) {
	rctx, cancel := context.WithTimeout(ctx, s.opts.CleanupTimeout)
	defer cancel()
	done, code, err := s.receiveFn(rctx, id, consume)
	return code, err == nil && done
}

// copyFailure explains a copy script's non-zero exit code.
func (s *Session) copyFailure(f transport.CopyFile, code uint32, stderr *capture) error {
	msg := scriptLine(stderr)
	where := fmt.Sprintf("%s: copy of %s to %s", s.name, f.Origin, f.Dest)
	switch code {
	case launcher.FileExitHashMismatch:
		return &transport.Error{Class: transport.ClassHashMismatch, Code: code,
			Message: fmt.Sprintf("%s: the bytes that arrived are not the source's (%s); nothing was kept", where, msg),
			Hint:    "the source changed while it was sent, or the bytes were damaged on the way; run the step again"}
	case launcher.FileExitShort:
		return &transport.Error{Class: transport.ClassProtocol, Code: code, Transient: true,
			Message: fmt.Sprintf("%s: the host received fewer bytes than were sent (%s)", where, msg)}
	case launcher.FileExitBadInput:
		return &transport.Error{Class: transport.ClassUnexpectedExit, Code: code,
			Message: fmt.Sprintf("%s failed: %s", where, msg),
			Hint:    "check that the destination is a file path the account can write (its folder is created)"}
	}
	return &transport.Error{Class: transport.ClassUnexpectedExit, Code: code,
		Message: fmt.Sprintf("%s: the copy script exited with %d: %s", where, code, msg)}
}

// inFile adds what a file step was doing to the message of err, keeping
// its class (and so whether the runner retries).
func inFile(err error, what string) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		return fmt.Errorf("%s: %w", what, err)
	}
	out := *te
	out.Message = what + ": " + te.Error()
	if te.Message != "" {
		out.Message = what + ": " + te.Message
	}
	out.Err = err
	return &out
}

func (s *Session) protocolError(err error) *transport.Error {
	return &transport.Error{Class: transport.ClassProtocol, Err: err, Message: fmt.Sprintf("%s: %v", s.name, err)}
}

// runDownload has the host download the step's URL.
func (s *Session) runDownload(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	d := cmd.Download
	r, err := launcher.RenderDownload(launcher.DownloadPayload{URL: d.URL, Dest: d.Dest, SHA256: d.SHA256, Retries: d.Retries, Proxy: d.Proxy},
		launcher.RenderOptions{MaxCommandLine: s.opts.MaxCommandLine})
	if err != nil {
		return transport.Result{}, &transport.Error{Class: transport.ClassInternal, Err: err,
			Message: fmt.Sprintf("%s: %s", s.name, strings.ReplaceAll(err.Error(), d.URL, redactURL(d.URL)))}
	}
	out := &limitedBuffer{max: maxProtocolOut}
	stderr := &capture{max: maxScriptStderr}
	var stdoutW, stderrW io.Writer = out, stderr
	if cmd.Stdout != nil {
		stdoutW = io.MultiWriter(out, cmd.Stdout)
	}
	if cmd.Stderr != nil {
		stderrW = io.MultiWriter(stderr, cmd.Stderr)
	}
	where := fmt.Sprintf("%s: download of %s to %s", s.name, redactURL(d.URL), d.Dest)
	code, err := s.exec(ctx, r, stdoutW, stderrW)
	if err != nil {
		return transport.Result{}, inFile(err, where)
	}
	msg := scriptLine(stderr)
	switch code {
	case 0:
	case launcher.FileExitHashMismatch:
		return transport.Result{}, &transport.Error{Class: transport.ClassHashMismatch, Code: code,
			Message: fmt.Sprintf("%s: %s; nothing was kept", where, msg),
			Hint:    "the URL serves other bytes than the sha256 the step requires: fix the URL or the sha256"}
	case launcher.FileExitDownloadFailed:
		return transport.Result{}, &transport.Error{Class: transport.ClassUnexpectedExit, Code: code,
			Message: fmt.Sprintf("%s failed: %s", where, msg),
			Hint:    "the host itself downloads: check that it can reach the URL (DNS, firewall, proxy)"}
	default:
		return transport.Result{}, &transport.Error{Class: transport.ClassUnexpectedExit, Code: code,
			Message: fmt.Sprintf("%s: the download script exited with %d: %s", where, code, msg)}
	}
	o, perr := launcher.ParseDownloadOutput(out.b)
	switch {
	case perr != nil || out.over:
		if perr == nil {
			perr = fmt.Errorf("more than %d bytes of output", maxProtocolOut)
		}
		return transport.Result{}, s.protocolError(fmt.Errorf("download to %s: %w", d.Dest, perr))
	case o.Unchanged:
		return transport.Result{Unchanged: true, Stdout: triesText(o.Tries),
			Files: []transport.FileResult{{Path: d.Dest, Size: o.Size, SHA256: d.SHA256, Unchanged: true}}}, nil
	case !o.Done:
		return transport.Result{}, s.protocolError(fmt.Errorf("download to %s: the script ended without saying the file was written", d.Dest))
	case o.SHA256 != d.SHA256:
		return transport.Result{}, &transport.Error{Class: transport.ClassHashMismatch,
			Message: fmt.Sprintf("%s: the host reports SHA-256 %s, the step requires %s", where, o.SHA256, d.SHA256)}
	}
	return transport.Result{Stdout: triesText(o.Tries), Files: []transport.FileResult{{Path: d.Dest, Size: o.Size, SHA256: o.SHA256}}}, nil
}

// triesText lists a download's failed tries, one line each, for the
// step's output.
func triesText(tries []string) string {
	var b strings.Builder
	for i, t := range tries {
		fmt.Fprintf(&b, "try %d failed: %s\n", i+1, t)
	}
	return b.String()
}

// redactURL is u without its query and user information, which may carry
// credentials (a presigned URL's signature).
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(a URL that does not parse)"
	}
	p.User = nil
	if p.RawQuery != "" {
		p.RawQuery = "..."
	}
	p.Fragment = ""
	return p.String()
}

// runFetch brings the files the step's source matches from the host into
// its sink.
func (s *Session) runFetch(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	spec := cmd.Fetch
	r, err := launcher.RenderFetch(launcher.FetchPayload{Src: spec.Src, MaxBytes: spec.MaxBytes})
	if err != nil {
		return transport.Result{}, &transport.Error{Class: transport.ClassInternal, Err: err, Message: fmt.Sprintf("%s: %v", s.name, err)}
	}
	where := fmt.Sprintf("%s: fetch of %s", s.name, spec.Src)
	id, err := s.startCommand(ctx, r)
	if err != nil {
		return transport.Result{}, inFile(err, where)
	}
	frames := newFetchFrames(s.name, spec)
	defer frames.abort()
	stderr := &capture{max: maxScriptStderr}
	_, code, err := s.receiveFn(ctx, id, func(stream string, data []byte) (bool, error) {
		if stream == "stderr" {
			_, _ = stderr.Write(data)
			if cmd.Stderr != nil {
				_, _ = cmd.Stderr.Write(data)
			}
			return false, nil
		}
		return false, frames.write(data)
	})
	if err != nil {
		s.failed(ctx, err)
		if err == frames.err { //nolint:errorlint // the parser's own error names the host and file already
			return transport.Result{}, err
		}
		return transport.Result{}, inFile(err, where)
	}
	switch code {
	case 0:
	case launcher.FileExitTooLarge:
		return transport.Result{}, &transport.Error{Class: transport.ClassUnexpectedExit, Code: code,
			Message: fmt.Sprintf("%s: the files are larger than the step's max_bytes of %d bytes, so none was sent (%s)", where, spec.MaxBytes, scriptLine(stderr)),
			Hint:    "raise max_bytes, or narrow src"}
	default:
		return transport.Result{}, &transport.Error{Class: transport.ClassUnexpectedExit, Code: code,
			Message: fmt.Sprintf("%s: the fetch script exited with %d: %s", where, code, scriptLine(stderr))}
	}
	if err := frames.finish(); err != nil {
		return transport.Result{}, err
	}
	if frames.notFound {
		if spec.Optional {
			return transport.Result{}, nil
		}
		return transport.Result{}, &transport.Error{Class: transport.ClassNotFound,
			Message: fmt.Sprintf("%s: no file matches", where),
			Hint:    "check src, or mark the step optional: true when there may be nothing to fetch"}
	}
	return transport.Result{Files: frames.files}, nil
}
