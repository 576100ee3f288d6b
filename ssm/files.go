package ssm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
)

// File steps over SSM (docs/design.md, "Files to and from hosts"). The
// agent carries no file bytes: a copy's sources go to the inventory's S3
// transfer bucket, uploaded by the controller once per run (key
// <transfer_prefix>/<sha256>, skipped when S3 already holds it), and each
// host runs fleetrun's download script through the agent with a
// presigned GET URL; a download step runs the same script with its own
// URL (an s3:// URL presigned by the controller). The instances need
// network access to S3, no IAM permission: the URL carries the
// controller's. Fetch is not supported yet.

// defaultCopyRetries is how many further tries a host makes after a
// failed transfer of a copy's file from S3 (a download step's default).
const defaultCopyRetries = 2

// maxPresignExpiry is the longest a presigned URL may live: seven days
// (Amazon S3 API reference, "Authenticating Requests: Using Query
// Parameters (AWS Signature Version 4)", X-Amz-Expires).
const maxPresignExpiry = 7 * 24 * time.Hour

// presignSpare is how much longer than the step that asked for it a
// presigned URL lives, so that later hosts of the same step reuse it (and
// share the command, whose text carries the URL).
const presignSpare = time.Hour

// runFile runs a copy, download or fetch step.
func (s *Session) runFile(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	host := s.hc.name
	switch cmd.Kind {
	case transport.KindFetch:
		return transport.Result{}, &transport.Error{Class: transport.ClassConfig,
			Message: host + ": fetch over SSM is not supported yet",
			Hint:    "reach the host over WinRM for fetch steps, or have a step upload the files to S3 itself"}
	case transport.KindDownload:
		d := cmd.Download
		if d == nil {
			return transport.Result{}, &transport.Error{Class: transport.ClassInternal, Message: host + ": a download step without its download"}
		}
		url, shown := d.URL, d.URL
		if bucket, key, ok, err := parseS3URL(d.URL); err != nil {
			return transport.Result{}, &transport.Error{Class: transport.ClassConfig, Message: fmt.Sprintf("%s: download to %s: %v", host, d.Dest, err)}
		} else if ok {
			url, err = s.c.xfer.presign(ctx, bucket, key, s.urlLifetime(ctx))
			if err != nil {
				return transport.Result{}, s3Failure(ctx, host, "presigning a GET of "+d.URL, bucket, err)
			}
		}
		fr, out, err := s.download(ctx, cmd, launcher.DownloadPayload{URL: url, Dest: d.Dest, SHA256: d.SHA256, Retries: d.Retries, Proxy: d.Proxy}, -1, shown)
		out.Files = []transport.FileResult{fr}
		out.Unchanged = fr.Unchanged
		return out, err
	case transport.KindCopy:
		return s.copyFiles(ctx, cmd)
	}
	return transport.Result{}, &transport.Error{Class: transport.ClassInternal, Message: fmt.Sprintf("%s: %q is no file step", host, cmd.Kind)}
}

// copyFiles runs a copy step: each file staged in S3, then downloaded by
// the host.
func (s *Session) copyFiles(ctx context.Context, cmd transport.Command) (transport.Result, error) {
	host := s.hc.name
	bucket := s.hc.transferBucket
	if bucket == "" {
		return transport.Result{}, &transport.Error{Class: transport.ClassConfig,
			Message: fmt.Sprintf("%s: a copy over SSM goes through an S3 bucket, and the inventory names none: set ssm: {transfer_bucket: ...}", host),
			Hint:    "the controller uploads each source to that bucket once (key <transfer_prefix>/<sha256>) and the hosts download it with presigned URLs: the controller's credentials need s3:PutObject and s3:GetObject on it, the instances only network access to S3"}
	}
	if cmd.Copy == nil || len(cmd.Copy.Files) == 0 {
		return transport.Result{}, &transport.Error{Class: transport.ClassInternal, Message: host + ": a copy step without files"}
	}
	var res transport.Result
	var stdout, stderr strings.Builder
	unchanged := true
	for _, f := range cmd.Copy.Files {
		if f.Src == nil {
			return res, &transport.Error{Class: transport.ClassInternal, Message: fmt.Sprintf("%s: copy to %s: no source", host, f.Dest)}
		}
		key := transferKey(s.hc.transferPrefix, f.Src.SHA256())
		shown := "s3://" + bucket + "/" + key
		if err := s.c.xfer.stage(ctx, bucket, key, f.Src); err != nil {
			return res, s3Failure(ctx, host, fmt.Sprintf("uploading %s to %s", f.Origin, shown), bucket, err)
		}
		url, err := s.c.xfer.presign(ctx, bucket, key, s.urlLifetime(ctx))
		if err != nil {
			return res, s3Failure(ctx, host, "presigning a GET of "+shown, bucket, err)
		}
		fr, out, err := s.download(ctx, cmd, launcher.DownloadPayload{URL: url, Dest: f.Dest, SHA256: f.Src.SHA256(), Retries: defaultCopyRetries}, f.Src.Size(), shown)
		stdout.WriteString(out.Stdout)
		stderr.WriteString(out.Stderr)
		res.Stdout, res.Stderr = stdout.String(), stderr.String()
		if err != nil {
			return res, err
		}
		res.Files = append(res.Files, fr)
		unchanged = unchanged && fr.Unchanged
	}
	res.Unchanged = unchanged
	return res, nil
}

// transferKey is the S3 key of a copy source.
func transferKey(prefix, sha string) string {
	if p := strings.Trim(prefix, "/"); p != "" {
		return p + "/" + sha
	}
	return sha
}

// urlLifetime is how long a URL handed to a host must stay valid: until
// the step's command may still be delivered and run.
func (s *Session) urlLifetime(ctx context.Context) time.Duration {
	return s.c.opts.DeliveryTimeout + time.Duration(executionTimeout(ctx, time.Now()))*time.Second
}

// download runs the download script on the host for p and reads what it
// said. size is the file's expected size (-1: unknown). shown replaces
// p.URL in everything shown or logged: a presigned URL is a credential.
func (s *Session) download(ctx context.Context, cmd transport.Command, p launcher.DownloadPayload, size int64, shown string) (transport.FileResult, transport.Result, error) {
	host := s.hc.name
	fr := transport.FileResult{Path: p.Dest}
	text, err := launcher.DownloadScript(p)
	if err != nil {
		return fr, transport.Result{}, &transport.Error{Class: transport.ClassInternal, Err: err, Message: fmt.Sprintf("%s: %v", host, err)}
	}
	res, err := s.run(ctx, cmd.Name, text, transport.Command{})
	if err != nil {
		return fr, transport.Result{}, err
	}
	hide := func(t string) string {
		if p.URL != shown && p.URL != "" {
			t = strings.ReplaceAll(t, p.URL, shown)
		}
		return t
	}
	res.Stdout, res.Stderr = hide(res.Stdout), hide(res.Stderr)
	if cmd.Stdout != nil && res.Stdout != "" {
		_, _ = io.WriteString(cmd.Stdout, res.Stdout) // the caller's log must not fail the step
	}
	if cmd.Stderr != nil && res.Stderr != "" {
		_, _ = io.WriteString(cmd.Stderr, res.Stderr)
	}
	out := transport.Result{Stdout: res.Stdout, Stderr: res.Stderr, StdoutTruncated: res.StdoutTruncated, StderrTruncated: res.StderrTruncated}
	said := strings.TrimSpace(res.Stderr)
	switch res.ExitCode {
	case 0:
	case launcher.FileExitHashMismatch:
		return fr, out, &transport.Error{Class: transport.ClassHashMismatch, Code: res.ExitCode,
			Message: fmt.Sprintf("%s: %s to %s: %s", host, shown, p.Dest, orExit(said, res.ExitCode))}
	case launcher.FileExitDownloadFailed:
		return fr, out, &transport.Error{Class: transport.ClassUnexpectedExit, Code: res.ExitCode,
			Message: fmt.Sprintf("%s: the host could not download %s to %s: %s", host, shown, p.Dest, orExit(said, res.ExitCode)),
			Hint:    "the host must reach the URL itself (for S3: a route to S3 or a gateway endpoint, and a proxy that lets it through)"}
	default:
		return fr, out, &transport.Error{Class: transport.ClassUnexpectedExit, Code: res.ExitCode,
			Message: fmt.Sprintf("%s: downloading %s to %s: %s", host, shown, p.Dest, orExit(said, res.ExitCode))}
	}
	o, err := launcher.ParseDownloadOutput([]byte(res.Stdout))
	switch {
	case err != nil:
		return fr, out, &transport.Error{Class: transport.ClassProtocol, Err: err, Message: fmt.Sprintf("%s: download to %s: %v", host, p.Dest, err)}
	case o.Unchanged:
		fr.Unchanged, fr.SHA256, fr.Size = true, p.SHA256, o.Size
	case !o.Done:
		return fr, out, &transport.Error{Class: transport.ClassProtocol,
			Message: fmt.Sprintf("%s: the download script for %s exited 0 without saying it downloaded the file or found it in place", host, p.Dest)}
	case o.SHA256 != p.SHA256 || (size >= 0 && o.Size != size):
		return fr, out, &transport.Error{Class: transport.ClassHashMismatch,
			Message: fmt.Sprintf("%s: %s holds %d bytes with SHA-256 %s, not the %s required", host, p.Dest, o.Size, o.SHA256, p.SHA256)}
	default:
		fr.SHA256, fr.Size = o.SHA256, o.Size
	}
	return fr, out, nil
}

// orExit is the script's own word on a failure, or its exit code.
func orExit(said string, code uint32) string {
	if said != "" {
		return said
	}
	return fmt.Sprintf("the download script exited %d", code)
}

// parseS3URL reads s3://bucket/key; ok is false for other schemes.
func parseS3URL(raw string) (bucket, key string, ok bool, err error) {
	rest, found := strings.CutPrefix(raw, "s3://")
	if !found {
		if len(raw) >= 5 && strings.EqualFold(raw[:5], "s3://") {
			rest, found = raw[5:], true
		}
	}
	if !found {
		return "", "", false, nil
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" || key == "" {
		return "", "", true, fmt.Errorf("%q names no bucket and key (s3://bucket/key)", raw)
	}
	return bucket, key, true, nil
}

// s3Failure classifies a failed S3 call made for a host's step.
func s3Failure(ctx context.Context, host, what, bucket string, err error) *transport.Error {
	var te *transport.Error
	if errors.As(err, &te) {
		return te
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return contextError(ctx, host)
	}
	msg := fmt.Sprintf("%s: %s: %v", host, what, err)
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken":
			return &transport.Error{Class: transport.ClassAuth, Err: err, Message: msg,
				Hint: fmt.Sprintf("the controller's credentials need s3:PutObject and s3:GetObject on bucket %s", bucket)}
		case "NoSuchBucket", "PermanentRedirect", "AuthorizationHeaderMalformed", "InvalidBucketName":
			return &transport.Error{Class: transport.ClassConfig, Err: err, Message: msg,
				Hint: "check the inventory's ssm: {transfer_bucket: ...}: the bucket must exist, in the hosts' region"}
		}
		return &transport.Error{Class: transport.ClassInternal, Err: err, Message: msg}
	}
	return &transport.Error{Class: transport.ClassConnectTimeout, Transient: true, Err: err, Message: msg,
		Hint: "check that the controller reaches S3 (network, proxy, or ssm: {s3_endpoint: ...})"}
}

// transfers are a coordinator's uploads and presigned URLs, shared by
// every host it serves: each object is uploaded at most once per run,
// however many hosts copy it, and hosts of one step get the same URL (so
// their commands share a text and a SendCommand).
type transfers struct {
	s3 *s3.Client

	mu       sync.Mutex
	uploads  map[string]*upload   // bucket/key
	urls     map[string]presigned // bucket/key
	counters func(func(*Stats))   // the coordinator's Stats
}

// upload is one object's staging; done closes when err is set.
type upload struct {
	done chan struct{}
	err  error
}

// presigned is a presigned GET and when it stops working.
type presigned struct {
	url   string
	until time.Time
}

func newTransfers(c *s3.Client, counters func(func(*Stats))) *transfers {
	return &transfers{s3: c, uploads: map[string]*upload{}, urls: map[string]presigned{}, counters: counters}
}

// stage makes sure bucket/key holds blob: the first caller looks with
// HeadObject and uploads when the object is missing or of another size;
// callers that come while it works wait for it; later callers return at
// once. A failed staging is forgotten, so a later step or attempt tries
// again; a caller whose wait ends because the caller doing the work was
// cut short (its own step's deadline) does the work itself.
func (x *transfers) stage(ctx context.Context, bucket, key string, blob transport.Blob) error {
	name := bucket + "/" + key
	for {
		x.mu.Lock()
		u := x.uploads[name]
		if u == nil {
			u = &upload{done: make(chan struct{})}
			x.uploads[name] = u
			x.mu.Unlock()
			u.err = x.put(ctx, bucket, key, blob)
			if u.err != nil {
				x.mu.Lock()
				delete(x.uploads, name)
				x.mu.Unlock()
			}
			close(u.done)
			return u.err
		}
		x.mu.Unlock()
		select {
		case <-u.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if u.err == nil {
			return nil
		}
		if !errors.Is(u.err, context.Canceled) && !errors.Is(u.err, context.DeadlineExceeded) {
			return u.err
		}
	}
}

// put uploads blob to bucket/key unless S3 holds an object of its size
// there already (the key is the content's SHA-256). The body is read
// from the blob as it is sent, never held whole; the request carries the
// blob's known SHA-256 as its payload hash instead of reading the file
// once more to compute it.
func (x *transfers) put(ctx context.Context, bucket, key string, blob transport.Blob) error {
	head, err := x.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	switch {
	case err == nil && aws.ToInt64(head.ContentLength) == blob.Size():
		x.counters(func(s *Stats) { s.TransfersFound++ })
		return nil
	case err != nil && !notFound(err):
		return err
	}
	_, err = x.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key),
		Body:          io.NewSectionReader(blob, 0, blob.Size()),
		ContentLength: aws.Int64(blob.Size()),
		ContentType:   aws.String("application/octet-stream"),
	}, func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, knownPayloadHash(blob.SHA256()))
	})
	if err == nil {
		x.counters(func(s *Stats) {
			s.TransfersUploaded++
			s.TransferBytes += blob.Size()
		})
	}
	return err
}

// notFound reports whether an S3 error says the object is missing
// (HeadObject answers 404 without a body: the SDK calls it NotFound).
func notFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "NotFound" || ae.ErrorCode() == "NoSuchKey") {
		return true
	}
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

// knownPayloadHash gives the signer the payload's SHA-256, which the
// caller knows, so that it does not read the body to compute it; over
// HTTPS the SDK signs PutObject's payload as unsigned anyway.
func knownPayloadHash(sha string) func(*middleware.Stack) error {
	mw := middleware.FinalizeMiddlewareFunc("fleetrunKnownPayloadHash", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		return next.HandleFinalize(v4.SetPayloadHash(ctx, sha), in)
	})
	return func(st *middleware.Stack) error {
		if err := st.Finalize.Insert(mw, (*v4.ComputePayloadSHA256)(nil).ID(), middleware.Before); err != nil {
			return st.Finalize.Add(mw, middleware.Before)
		}
		return nil
	}
}

// presign returns a GET URL of bucket/key that stays valid for at least
// need: the one made for an earlier host when it still does, else a new
// one that lives need plus presignSpare (at most seven days).
func (x *transfers) presign(ctx context.Context, bucket, key string, need time.Duration) (string, error) {
	need = min(need, maxPresignExpiry)
	name := bucket + "/" + key
	x.mu.Lock()
	defer x.mu.Unlock()
	now := time.Now()
	if p, ok := x.urls[name]; ok && p.until.Sub(now) >= need {
		return p.url, nil
	}
	life := min(need+presignSpare, maxPresignExpiry)
	req, err := s3.NewPresignClient(x.s3).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}, s3.WithPresignExpires(life))
	if err != nil {
		return "", err
	}
	x.urls[name] = presigned{url: req.URL, until: now.Add(life)}
	return req.URL, nil
}
