package ssm

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go/middleware"
)

// Sending a step once.
//
// SendCommand takes no idempotency token (the API reference lists none,
// unlike, say, EC2's RunInstances ClientToken): a request AWS carried out
// but whose answer was lost (a reset connection, a 5xx from a front end,
// an answer after the client stopped waiting) created a command that
// runs, and sending the request again runs the step a second time. The
// SDK's standard retryer does exactly that for such failures. So:
//
//   - every SendCommand carries a Comment unique to the run and the
//     command ("fleetrun <run> <step> #<n>"), which AWS keeps with the
//     command and ListCommands returns;
//   - the SDK retries a SendCommand only when the failure proves AWS did
//     not take it: a throttling answer (a 4xx), or a connection that never
//     carried the request (a failed dial or name lookup);
//   - after any other failure the coordinator lists the commands requested
//     since just before the first attempt (ListCommands, InvokedAfter and
//     DocumentName filters, every page) and looks for the Comment: found,
//     the command is adopted (its CommandId is watched as if the answer had
//     come); not found in two listings, the request is sent again, with the
//     same Comment.

// maxComment is the longest Comment SendCommand accepts (the API
// reference's length constraint).
const maxComment = 100

// lookupMisses is how many listings in a row must miss a command before
// its SendCommand is sent again: a second look, a poll interval later,
// gives a command just created the time to show.
const lookupMisses = 2

// lookBack is how far before the first attempt (by AWS's clock, as its
// answers' Date headers give it) a lookup lists commands: the Date
// header has whole seconds, and the request may have waited in queues.
const lookBack = 2 * time.Minute

// comment is the Comment of the command the coordinator sends n-th for a
// step named name: the run's token, the step, and n. The name is cut (and
// control characters blanked) to keep the whole within maxComment bytes,
// which is within the limit however AWS counts characters.
func (c *coordinator) comment(name string, n int64) string {
	if name == "" {
		name = "step"
	}
	prefix := "fleetrun " + c.run + " "
	suffix := fmt.Sprintf(" #%d", n)
	room := maxComment - len(prefix) - len(suffix)
	var b strings.Builder
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			r = ' '
		}
		if b.Len()+utf8.RuneLen(r) > room {
			break
		}
		b.WriteRune(r)
	}
	return prefix + b.String() + suffix
}

// sendCommand sends in (whose Comment is unique) and returns the id of the
// command it created, sending again only when AWS cannot have created it;
// stillWanted says whether any host still waits for the command (none: a
// lost request is not sent again). The error, when the command's fate
// could not be learnt, is an *unresolvedSend.
func (c *coordinator) sendCommand(in *ssm.SendCommandInput, stillWanted func() bool) (string, error) {
	since := c.stats.awsNow().Add(-lookBack)
	for attempt := 1; ; attempt++ {
		var out *ssm.SendCommandOutput
		err := c.call(c.ctx, "SendCommand", func(ctx context.Context) (err error) {
			out, err = c.api.SendCommand(ctx, in, c.sendOptions)
			return err
		})
		if err == nil {
			return aws.ToString(out.Command.CommandId), nil
		}
		if c.ctx.Err() != nil || !mayHaveLanded(err) {
			return "", err
		}
		id, lerr := c.resolve(aws.ToString(in.Comment), aws.ToString(in.DocumentName), since)
		switch {
		case lerr != nil:
			return "", &unresolvedSend{comment: aws.ToString(in.Comment), send: err, lookup: lerr}
		case id != "":
			c.stats.add(func(s *Stats) { s.Adopted++ })
			return id, nil
		case attempt >= c.opts.MaxAttempts || !stillWanted():
			return "", err
		}
		c.stats.add(func(s *Stats) { s.Resent++ })
	}
}

// resolve looks for the command with the given Comment among those
// requested since since. It returns its id, or "" once lookupMisses
// listings in a row have not found it. Listings that fail are tried
// again, maxPollFailures times, with the polls' pauses.
func (c *coordinator) resolve(comment, document string, since time.Time) (string, error) {
	pause := c.opts.PollInterval
	misses, failures := 0, 0
	for {
		id, err := c.lookup(comment, document, since)
		switch {
		case err == nil && id != "":
			return id, nil
		case err == nil:
			misses++
			if misses >= lookupMisses {
				return "", nil
			}
		default:
			failures++
			if failures >= maxPollFailures || c.ctx.Err() != nil {
				return "", err
			}
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return "", c.ctx.Err()
		}
		pause = min(2*pause, c.opts.MaxPollInterval)
	}
}

// lookup lists, page by page, the commands of document requested since
// since and returns the id of the one with the given Comment ("" when
// none has it). ListCommands cannot filter by Comment; InstanceId could
// narrow the listing, but the API reference warns that a command still
// Pending has not reached its instances, which is just the state of a
// command whose answer was lost.
func (c *coordinator) lookup(comment, document string, since time.Time) (string, error) {
	in := &ssm.ListCommandsInput{
		Filters:    []types.CommandFilter{{Key: types.CommandFilterKeyInvokedAfter, Value: aws.String(since.UTC().Format(time.RFC3339))}},
		MaxResults: aws.Int32(50),
	}
	// A filter value is at most 128 characters; a longer document name (an
	// ARN) is left to the Comment to match.
	if document != "" && len(document) <= 128 {
		in.Filters = append(in.Filters, types.CommandFilter{Key: types.CommandFilterKeyDocumentName, Value: aws.String(document)})
	}
	for {
		var out *ssm.ListCommandsOutput
		err := c.call(c.ctx, "ListCommands", func(ctx context.Context) (err error) {
			out, err = c.api.ListCommands(ctx, in, c.answerOptions)
			return err
		})
		if err != nil {
			return "", err
		}
		for _, cmd := range out.Commands {
			if aws.ToString(cmd.Comment) == comment {
				return aws.ToString(cmd.CommandId), nil
			}
		}
		if aws.ToString(out.NextToken) == "" {
			return "", nil
		}
		in.NextToken = out.NextToken
	}
}

// unresolvedSend is a SendCommand whose answer was lost and whose command
// could not be looked up: it may have been created and be running.
type unresolvedSend struct {
	comment      string
	send, lookup error
}

func (e *unresolvedSend) Error() string {
	return fmt.Sprintf("the answer to SendCommand was lost (%v), and ListCommands could not say whether it created its command (%v)", e.send, e.lookup)
}

func (e *unresolvedSend) Unwrap() []error { return []error{e.send, e.lookup} }

// mayHaveLanded reports whether a failed SendCommand may have created its
// command: every failure may, except an error answer in the 4xx range
// (AWS refused the request: validation, access, throttling) and a request
// that never left (see unsent).
func mayHaveLanded(err error) bool {
	if unsent(err) {
		return false
	}
	status := 0
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return status < 400 || status >= 500
}

// unsent reports whether err shows that a request never reached AWS: the
// name did not resolve, the connection (or the proxy's tunnel) could not
// be opened, or the TLS handshake failed.
func unsent(err error) bool {
	var dns *net.DNSError
	var op *net.OpError
	var cert *tls.CertificateVerificationError
	var header tls.RecordHeaderError
	switch {
	case errors.As(err, &dns), errors.As(err, &cert), errors.As(err, &header):
		return true
	case errors.As(err, &op):
		return op.Op == "dial" || op.Op == "proxyconnect"
	}
	return false
}

// retryableSend is the SDK's retry rule for SendCommand: try again only
// what AWS provably did not take — a throttling answer (a modelled
// throttling code or HTTP 429, in the 4xx range), a request the SDK must
// sign again for a skewed clock (a 4xx too), a connection that could not
// be opened, or a name lookup that may work next time.
func retryableSend(err error) aws.Ternary {
	status := 0
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	if status >= 400 && status < 500 {
		var skew interface{ RetryableError() bool }
		return aws.BoolTernary(isThrottling(err) || status == http.StatusTooManyRequests || (errors.As(err, &skew) && skew.RetryableError()))
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return aws.BoolTernary(dns.IsTemporary || dns.IsTimeout)
	}
	var op *net.OpError
	return aws.BoolTernary(errors.As(err, &op) && (op.Op == "dial" || op.Op == "proxyconnect"))
}

// sendRetryer is the standard retryer with retryableSend as its only rule
// (after the SDK's own: a cancelled request is never retried).
func sendRetryer(o *Options) aws.Retryer {
	return retry.NewStandard(func(so *retry.StandardOptions) {
		standardOptions(o, so)
		so.Retryables = []retry.IsErrorRetryable{retry.NoRetryCanceledError{}, retry.IsErrorRetryableFunc(retryableSend)}
	})
}

// answerTimeout ends an attempt whose answer has not come within d. It
// sits right after the retry middleware, so it bounds each attempt, not
// the SDK's pauses between them; the SDK's HTTP client has no such bound
// of its own. An attempt it ended is not retried (the SDK takes it for a
// cancellation) and fails with a *noAnswer.
func answerTimeout(d time.Duration) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Finalize.Insert(middleware.FinalizeMiddlewareFunc("fleetrunAnswerTimeout",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				actx, cancel := context.WithTimeout(ctx, d)
				defer cancel()
				out, md, err := next.HandleFinalize(actx, in)
				if err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
					err = &noAnswer{after: d, err: err}
				}
				return out, md, err
			}), "Retry", middleware.After)
	}
}

// noAnswer is an attempt that got no answer in time.
type noAnswer struct {
	after time.Duration
	err   error
}

func (e *noAnswer) Error() string { return fmt.Sprintf("no answer within %v: %v", e.after, e.err) }
func (e *noAnswer) Unwrap() error { return e.err }
