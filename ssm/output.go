package ssm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/unicode"

	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
)

// What SSM does to output (the SSM agent's limits).
const (
	// inlineStdout and inlineStderr are the bytes of each stream
	// GetCommandInvocation returns; longer streams are cut and end with
	// truncatedSuffix.
	inlineStdout    = 24000
	inlineStderr    = 8000
	truncatedSuffix = "--output truncated--"
	// pluginOutputCap is the size of a plugin's combined Output in
	// ListCommandInvocations; errTitle separates stdout from stderr in it
	// and pluginTruncated ends a cut stdout.
	pluginOutputCap = 2500
	errTitle        = "\n----------ERROR-------\n"
	pluginTruncated = "\n---Output truncated---"
	// agentFailure starts the line the agent adds to stderr when the
	// script exits with a code other than 0.
	agentFailure = "failed to run commands: exit status "
)

// outcome turns a finished invocation into the step's outcome, reading
// the output it needs: nothing more when the plugin's Output is provably
// the whole stdout and stderr is empty, else GetCommandInvocation, or S3
// when the command uploaded its output there.
func (c *coordinator) outcome(cmd *command, w *waiter, inv ssmtypes.CommandInvocation) outcome {
	var plugin ssmtypes.CommandPlugin
	if len(inv.CommandPlugins) > 0 {
		plugin = inv.CommandPlugins[0]
	}
	code, terr := classifyInvocation(w.name, w.instance, inv.Status, aws.ToString(inv.StatusDetails), plugin.ResponseCode)
	if terr != nil {
		return outcome{err: terr}
	}
	var stdout, stderr []byte
	var outCut, errCut bool
	// Inline output arrives as JSON text, already UTF-8 (bytes the agent
	// could not read as UTF-8 are U+FFFD there); only S3 keeps the
	// program's bytes for the step's output encoding, or auto with the
	// host's code page, to decode.
	decode := func(b []byte) string { return decodeOutput(nil, b) }
	switch {
	case cmd.key.bucket != "":
		decode = func(b []byte) string { return decodeStep(w.stepEnc, w.enc, b) }
		var err error
		stdout, outCut, err = c.readS3(aws.ToString(plugin.StandardOutputUrl), aws.ToString(inv.StandardOutputUrl))
		if err == nil {
			stderr, errCut, err = c.readS3(aws.ToString(plugin.StandardErrorUrl), aws.ToString(inv.StandardErrorUrl))
		}
		if err != nil {
			return outcome{err: c.apiError(c.ctx, w.name, "S3 GetObject", err)}
		}
	case plainOutput(aws.ToString(plugin.Output)):
		stdout = []byte(aws.ToString(plugin.Output))
	default:
		var out *ssm.GetCommandInvocationOutput
		err := c.call(c.ctx, "GetCommandInvocation", func(ctx context.Context) (err error) {
			out, err = c.api.GetCommandInvocation(ctx, &ssm.GetCommandInvocationInput{CommandId: aws.String(cmd.id), InstanceId: aws.String(w.instance)})
			return err
		})
		if err != nil {
			return outcome{err: c.apiError(c.ctx, w.name, "GetCommandInvocation", err)}
		}
		stdout, outCut = inline(aws.ToString(out.StandardOutputContent), inlineStdout)
		stderr, errCut = inline(aws.ToString(out.StandardErrorContent), inlineStderr)
	}
	if inv.Status == ssmtypes.CommandInvocationStatusFailed && !errCut {
		stderr = stripAgentFailure(stderr, uint32(plugin.ResponseCode))
	}
	capStream := func(b []byte, cut bool) ([]byte, bool) {
		if len(b) > c.opts.OutputCap {
			return b[:c.opts.OutputCap], true
		}
		return b, cut
	}
	keptOut, outCut := capStream(stdout, outCut)
	keptErr, errCut := capStream(stderr, errCut)
	return outcome{
		res: transport.Result{
			ExitCode: code,
			Stdout:   decode(keptOut), Stderr: decode(keptErr),
			StdoutTruncated: outCut, StderrTruncated: errCut,
		},
		stdout: stdout, stderr: stderr,
	}
}

// classifyInvocation maps a terminal invocation to the step's exit code or
// a classified error.
func classifyInvocation(host, instance string, status ssmtypes.CommandInvocationStatus, details string, responseCode int32) (uint32, *transport.Error) {
	switch status {
	case ssmtypes.CommandInvocationStatusSuccess:
		return launcher.SSMExitCode(uint32(responseCode)), nil
	case ssmtypes.CommandInvocationStatusFailed:
		switch details {
		case "Undeliverable", "Terminated":
			return 0, &transport.Error{Class: transport.ClassConnectTimeout,
				Message: fmt.Sprintf("%s: SSM could not deliver the command to %s (%s)", host, instance, details),
				Hint:    "the instance is stopped, terminated, or its SSM agent does not answer"}
		case "AccessDenied":
			return 0, &transport.Error{Class: transport.ClassAuth,
				Message: fmt.Sprintf("%s: SSM refused to run the command on %s (AccessDenied)", host, instance),
				Hint:    "the credentials need ssm:SendCommand on the instance and the document"}
		case "InvalidPlatform":
			return 0, &transport.Error{Class: transport.ClassInternal,
				Message: fmt.Sprintf("%s: %s is not a Windows instance (InvalidPlatform)", host, instance)}
		}
		// The script ran and exited with a code other than 0.
		return launcher.SSMExitCode(uint32(responseCode)), nil
	case ssmtypes.CommandInvocationStatusTimedOut:
		if details == "DeliveryTimedOut" || details == "Delivery Timed Out" {
			return 0, &transport.Error{Class: transport.ClassConnectTimeout,
				Message: fmt.Sprintf("%s: SSM could not deliver the command to %s before its delivery timeout", host, instance),
				Hint:    "the instance's SSM agent went offline (stopped, rebooting, or cut off from SSM)"}
		}
		return 0, &transport.Error{Class: transport.ClassTimeout,
			Message: fmt.Sprintf("%s: the command did not finish within its executionTimeout on %s", host, instance)}
	case ssmtypes.CommandInvocationStatusCancelled:
		return 0, &transport.Error{Class: transport.ClassInterrupted,
			Message: fmt.Sprintf("%s: the command on %s was cancelled outside this run", host, instance)}
	}
	return 0, &transport.Error{Class: transport.ClassInternal, Message: fmt.Sprintf("%s: unexpected SSM status %s (%s)", host, status, details)}
}

// plainOutput reports whether a plugin's Output is exactly the step's
// stdout with an empty stderr: short enough not to have been cut, with no
// error title and no truncation mark in it.
func plainOutput(out string) bool {
	return len(out) < pluginOutputCap && !strings.Contains(out, errTitle) && !strings.HasSuffix(out, pluginTruncated)
}

// inline turns an inline stream into its bytes, telling whether SSM cut
// it (and dropping the mark it added).
func inline(s string, limit int) ([]byte, bool) {
	if len(s) >= limit && strings.HasSuffix(s, truncatedSuffix) {
		return []byte(strings.TrimSuffix(s, truncatedSuffix)), true
	}
	return []byte(s), false
}

// stripAgentFailure removes the line the SSM agent adds to the stderr of a
// script that exited with code (as Go's os/exec writes it on Windows:
// decimal below 65536, hexadecimal above), so stderr is the step's own.
func stripAgentFailure(stderr []byte, code uint32) []byte {
	status := fmt.Sprint(code)
	if code >= 1<<16 {
		status = fmt.Sprintf("0x%x", code)
	}
	return bytes.TrimSuffix(stderr, []byte(agentFailure+status))
}

// readS3 reads a stream the agent uploaded; a missing object is an empty
// stream (the agent uploads only streams with output).
func (c *coordinator) readS3(urls ...string) ([]byte, bool, error) {
	var raw string
	for _, u := range urls {
		if u != "" {
			raw = u
			break
		}
	}
	if raw == "" {
		return nil, false, nil
	}
	bucket, key, err := s3Location(raw)
	if err != nil {
		return nil, false, err
	}
	var data []byte
	truncated := false
	err = c.call(c.ctx, "S3.GetObject", func(ctx context.Context) error {
		out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return err
		}
		defer out.Body.Close() //nolint:errcheck // read-only body
		data, err = io.ReadAll(io.LimitReader(out.Body, int64(c.opts.OutputCap)+1))
		if len(data) > c.opts.OutputCap {
			data, truncated = data[:c.opts.OutputCap], true
		}
		return err
	})
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return nil, false, nil
	}
	return data, truncated, err
}

// s3Location reads bucket and key from an S3 URL of the forms SSM
// returns: https://s3.REGION.amazonaws.com/BUCKET/KEY (path style) or
// https://BUCKET.s3.REGION.amazonaws.com/KEY (virtual-hosted style).
func s3Location(raw string) (bucket, key string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("output URL %q: %w", raw, err)
	}
	path := strings.TrimPrefix(u.Path, "/")
	if b, ok := strings.CutSuffix(u.Hostname(), ".amazonaws.com"); ok && !strings.HasPrefix(b, "s3.") && !strings.HasPrefix(b, "s3-") && b != "s3" {
		if i := strings.Index(b, ".s3"); i > 0 {
			return b[:i], path, nil
		}
	}
	bucket, key, ok := strings.Cut(path, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", fmt.Errorf("output URL %q names no bucket and key", raw)
	}
	return bucket, key, nil
}

// lookupEncoding returns the text encoding of a host's output by name:
// "" and "utf-8" mean UTF-8; cpNNN and windows-NNN are Windows code pages
// (cp932 is Shift JIS); otherwise any WHATWG or IANA name.
func lookupEncoding(name string) (encoding.Encoding, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	switch n {
	case "", "utf-8", "utf8", "cp65001":
		return unicode.UTF8, nil
	case "cp932", "windows-932", "ms932":
		return japanese.ShiftJIS, nil
	}
	if rest, ok := strings.CutPrefix(n, "cp"); ok {
		n = "windows-" + rest
	}
	if e, err := htmlindex.Get(n); err == nil {
		return e, nil
	}
	if e, err := ianaindex.IANA.Encoding(n); err == nil && e != nil {
		return e, nil
	}
	return nil, fmt.Errorf("unknown output encoding %q", name)
}

// stepEncoding returns the encoding a step's output_encoding forces, or
// nil for "auto" (and "").
func stepEncoding(name string) (encoding.Encoding, error) {
	if n := strings.ToLower(strings.TrimSpace(name)); n == "" || n == "auto" {
		return nil, nil
	}
	return lookupEncoding(name)
}

// decodeStep decodes a stream read from S3 (the program's own bytes): with
// the step's encoding when it names one, else as auto: valid UTF-8 stays
// UTF-8 (what PowerShell and cmd.exe write under a UTF-8 console), other
// bytes are a legacy program's and are decoded with host, the host's code
// page ("Code Pages", learn.microsoft.com/windows/win32/intl/code-pages).
// A stream cut at the output cap may end inside a character; that
// character does not count against UTF-8.
func decodeStep(step, host encoding.Encoding, b []byte) string {
	if step != nil {
		return decodeOutput(step, b)
	}
	if utf8.Valid(trimCutRune(b)) {
		return decodeOutput(unicode.UTF8, b)
	}
	return decodeOutput(host, b)
}

// trimCutRune leaves out an incomplete UTF-8 sequence at the end of b.
func trimCutRune(b []byte) []byte {
	for i := 1; i < utf8.UTFMax && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			break
		}
	}
	return b
}

// decodeOutput decodes output bytes; bytes invalid in the encoding become
// U+FFFD, so the result is always valid UTF-8. Inline output is already
// UTF-8 text (SSM's JSON), which the UTF-8 default leaves as it is.
func decodeOutput(enc encoding.Encoding, b []byte) string {
	if enc == nil || enc == unicode.UTF8 {
		return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
	}
	return string(bytes.ToValidUTF8(out, []byte("\uFFFD")))
}
