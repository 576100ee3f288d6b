package sim

import (
	"crypto/md5" //nolint:gosec // S3's ETag and Content-MD5 are MD5 by definition
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The simulated Amazon S3 the fleet's AWS endpoint serves beside SSM: the
// objects the SSM agent uploads (command output) and those a client puts
// (fleetrun's transfer bucket), with the three object actions a Run
// Command client and a downloading host need:
//
//   - PutObject (PUT /bucket/key), read as a stream of at most
//     s3MaxObject bytes, checked against x-amz-content-sha256 and
//     Content-MD5 when the client sends them;
//   - HeadObject (HEAD /bucket/key);
//   - GetObject (GET /bucket/key), signed in the Authorization header or
//     presigned in the query string.
//
// Only path-style addressing on loopback is served. Buckets exist
// implicitly (any valid name); there is no ListObjects, no multipart
// upload, no ranges. Requests must carry SigV4 authentication (a header
// or a presigned query); anonymous requests are refused as a private
// bucket refuses them. The sim does not know the callers' secret keys, so
// it does not verify signatures cryptographically: it checks the shape
// of the authentication and, for presigned URLs, every query parameter
// and the expiry exactly as S3 does (see presignedAuth).

// s3MaxObject bounds one object of the simulated S3. S3 takes 5 GiB in
// one PutObject (the API reference's PutObject page); the sim keeps
// objects in memory and stops at 256 MiB with the same error.
const s3MaxObject = 256 << 20

// s3MaxPresignExpiry is the longest X-Amz-Expires S3 accepts: seven days
// (Amazon S3 API reference, "Authenticating Requests: Using Query
// Parameters (AWS Signature Version 4)").
const s3MaxPresignExpiry = 604800

// s3Object is one stored object.
type s3Object struct {
	data     []byte
	etag     string // quoted hex MD5, as S3 gives it for a single-part upload
	modified time.Time
}

// S3Stats counts what the simulated S3 served.
type S3Stats struct {
	// Puts, Heads and Gets count the PutObject, HeadObject and GetObject
	// requests that succeeded (an object stored, found, sent).
	Puts  int64 `json:"puts"`
	Heads int64 `json:"heads"`
	Gets  int64 `json:"gets"`
	// PresignedGets counts the GetObjects among Gets that came with a
	// presigned URL (a host downloading).
	PresignedGets int64 `json:"presigned_gets"`
	// BytesPut counts the bytes of objects stored, BytesGot those sent by
	// GetObject.
	BytesPut int64 `json:"bytes_put"`
	BytesGot int64 `json:"bytes_got"`
	// Refused counts requests answered with an error (denied, expired,
	// malformed, missing object).
	Refused int64 `json:"refused"`
}

// s3Error is an error answer of S3's REST protocol: an XML document with
// Code and Message.
type s3Error struct {
	status int
	code   string
	msg    string
	// extra are further elements of the document (Expires, ServerTime).
	extra [][2]string
}

func (e *s3Error) Error() string { return e.code + ": " + e.msg }

// writeS3Error answers e; a HEAD answer has no body, as S3's.
func writeS3Error(w http.ResponseWriter, r *http.Request, e *s3Error) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.status)
	if r.Method == http.MethodHead {
		return
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<Error><Code>")
	_ = xml.EscapeText(&b, []byte(e.code)) // a strings.Builder does not fail
	b.WriteString("</Code><Message>")
	_ = xml.EscapeText(&b, []byte(e.msg))
	b.WriteString("</Message>")
	for _, kv := range e.extra {
		b.WriteString("<" + kv[0] + ">")
		_ = xml.EscapeText(&b, []byte(kv[1]))
		b.WriteString("</" + kv[0] + ">")
	}
	b.WriteString("</Error>")
	_, _ = io.WriteString(w, b.String()) // a failed write is the client's disconnect
}

// serveS3 answers the S3 object actions (path style: /bucket/key).
func (s *ssmServer) serveS3(w http.ResponseWriter, r *http.Request) {
	action := map[string]string{http.MethodGet: "GetObject", http.MethodHead: "HeadObject", http.MethodPut: "PutObject"}[r.Method]
	s.mu.Lock()
	s.calls["S3."+action]++
	s.mu.Unlock()
	bucket, key, presigned, e := s.s3Request(r)
	if e == nil {
		switch r.Method {
		case http.MethodPut:
			e = s.putObject(w, r, bucket, key)
		default:
			e = s.getObject(w, r, bucket+"/"+key, presigned)
		}
	}
	if e != nil {
		s.mu.Lock()
		s.s3stats.Refused++
		s.mu.Unlock()
		writeS3Error(w, r, e)
	}
}

// s3BucketRE is a bucket name as S3 accepts it for new buckets (the
// bucket naming rules of the S3 user guide).
var s3BucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// s3Request reads the bucket and key of a path-style request and checks
// its authentication; presigned says it came with a presigned URL.
func (s *ssmServer) s3Request(r *http.Request) (bucket, key string, presigned bool, e *s3Error) {
	path, err := url.PathUnescape(r.URL.EscapedPath())
	if err != nil {
		return "", "", false, &s3Error{status: http.StatusBadRequest, code: "InvalidURI", msg: "Couldn't parse the specified URI."}
	}
	bucket, key, _ = strings.Cut(strings.TrimPrefix(path, "/"), "/")
	switch {
	case bucket == "":
		return "", "", false, &s3Error{status: http.StatusNotImplemented, code: "NotImplemented", msg: "the simulated S3 does not list buckets"}
	case !s3BucketRE.MatchString(bucket) || strings.Contains(bucket, ".."):
		return "", "", false, &s3Error{status: http.StatusBadRequest, code: "InvalidBucketName", msg: "The specified bucket is not valid."}
	case key == "":
		return "", "", false, &s3Error{status: http.StatusNotImplemented, code: "NotImplemented", msg: "the simulated S3 serves objects only, not bucket operations"}
	}
	q := r.URL.Query()
	switch {
	case q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential"):
		return bucket, key, true, s.presignedAuth(q)
	case strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential="):
		return bucket, key, false, nil
	}
	return "", "", false, &s3Error{status: http.StatusForbidden, code: "AccessDenied", msg: "Access Denied"}
}

var (
	amzSignatureRE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	amzCredentialRE = regexp.MustCompile(`^([^/]+)/([0-9]{8})/([a-z0-9-]+)/s3/aws4_request$`)
)

// amzDateLayout is X-Amz-Date's ISO 8601 basic format.
const amzDateLayout = "20060102T150405Z"

// presignedAuth checks a presigned URL's query parameters as S3 does
// (Amazon S3 API reference, "Authenticating Requests: Using Query
// Parameters (AWS Signature Version 4)"): the algorithm, the credential
// scope (access key, date, the endpoint's region, s3, aws4_request), the
// date, the expiry (1 second to 7 days), the signed headers (host at
// least) and the signature's form. A URL used after X-Amz-Date plus
// X-Amz-Expires is refused with 403 AccessDenied "Request has expired",
// by the fleet's clock. The signature itself is not recomputed: the sim
// does not hold the signer's secret key.
func (s *ssmServer) presignedAuth(q url.Values) *s3Error {
	bad := func(msg string) *s3Error {
		return &s3Error{status: http.StatusBadRequest, code: "AuthorizationQueryParametersError", msg: msg}
	}
	if q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" {
		return bad(`X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`)
	}
	cred := amzCredentialRE.FindStringSubmatch(q.Get("X-Amz-Credential"))
	if cred == nil {
		return bad(`Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`)
	}
	date, err := time.Parse(amzDateLayout, q.Get("X-Amz-Date"))
	if err != nil {
		return bad(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`)
	}
	if cred[2] != date.Format("20060102") {
		return bad("Error parsing the X-Amz-Credential parameter; incorrect date format. This date in the credential must be in the format \"yyyyMMdd\" and match X-Amz-Date.")
	}
	if cred[3] != s.region {
		return bad(fmt.Sprintf("Error parsing the X-Amz-Credential parameter; the region '%s' is wrong; expecting '%s'", cred[3], s.region))
	}
	expires, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	switch {
	case err != nil:
		return bad("X-Amz-Expires should be a number")
	case expires < 0:
		return bad("X-Amz-Expires must be non-negative")
	case expires > s3MaxPresignExpiry:
		return bad("X-Amz-Expires must be less than a week (in seconds) that is 604800")
	}
	if !slices.Contains(strings.Split(q.Get("X-Amz-SignedHeaders"), ";"), "host") {
		return bad("X-Amz-SignedHeaders must include host")
	}
	if !amzSignatureRE.MatchString(q.Get("X-Amz-Signature")) {
		return &s3Error{status: http.StatusForbidden, code: "SignatureDoesNotMatch",
			msg: "The request signature we calculated does not match the signature you provided. Check your key and signing method."}
	}
	now := s.f.clock.Now().UTC()
	if end := date.Add(time.Duration(expires) * time.Second); now.After(end) {
		return &s3Error{status: http.StatusForbidden, code: "AccessDenied", msg: "Request has expired",
			extra: [][2]string{{"X-Amz-Expires", strconv.Itoa(expires)}, {"Expires", end.Format(time.RFC3339)}, {"ServerTime", now.Format(time.RFC3339)}}}
	}
	return nil
}

// getObject answers GetObject and HeadObject.
func (s *ssmServer) getObject(w http.ResponseWriter, r *http.Request, name string, presigned bool) *s3Error {
	s.mu.Lock()
	obj := s.objects[name]
	if obj != nil {
		if r.Method == http.MethodHead {
			s.s3stats.Heads++
		} else {
			s.s3stats.Gets++
			s.s3stats.BytesGot += int64(len(obj.data))
			if presigned {
				s.s3stats.PresignedGets++
			}
		}
	}
	s.mu.Unlock()
	if obj == nil {
		return &s3Error{status: http.StatusNotFound, code: "NoSuchKey", msg: "The specified key does not exist."}
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(obj.data)))
	h.Set("ETag", obj.etag)
	h.Set("Last-Modified", obj.modified.UTC().Format(http.TimeFormat))
	if r.Method == http.MethodHead {
		return nil
	}
	_, _ = w.Write(obj.data) // a failed write is the client's disconnect; the data is never changed in place
	return nil
}

// putObject stores an object read from the request's body as it streams
// in, bounded by s3MaxObject.
func (s *ssmServer) putObject(w http.ResponseWriter, r *http.Request, bucket, key string) *s3Error {
	n := r.ContentLength
	if n < 0 {
		return &s3Error{status: http.StatusLengthRequired, code: "MissingContentLength", msg: "You must provide the Content-Length HTTP header."}
	}
	s.mu.Lock()
	limit := s.s3MaxObject
	s.mu.Unlock()
	if limit <= 0 {
		limit = s3MaxObject
	}
	if n > limit {
		return &s3Error{status: http.StatusBadRequest, code: "EntityTooLarge", msg: "Your proposed upload exceeds the maximum allowed size",
			extra: [][2]string{{"ProposedSize", strconv.FormatInt(n, 10)}, {"MaxSizeAllowed", strconv.FormatInt(limit, 10)}}}
	}
	declared := r.Header.Get("X-Amz-Content-Sha256")
	if strings.HasPrefix(declared, "STREAMING-") || r.Header.Get("Content-Encoding") == "aws-chunked" {
		return &s3Error{status: http.StatusNotImplemented, code: "NotImplemented", msg: "the simulated S3 does not decode aws-chunked uploads; send the payload whole"}
	}
	data := make([]byte, n)
	sum, md := sha256.New(), md5.New() //nolint:gosec // see the import
	got, err := io.ReadFull(io.TeeReader(r.Body, io.MultiWriter(sum, md)), data)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return &s3Error{status: http.StatusBadRequest, code: "IncompleteBody",
				msg: fmt.Sprintf("You did not provide the number of bytes specified by the Content-Length HTTP header (%d of %d)", got, n)}
		}
		return &s3Error{status: http.StatusBadRequest, code: "RequestTimeout", msg: "Your socket connection to the server was not read from or written to within the timeout period."}
	}
	if declared != "" && declared != "UNSIGNED-PAYLOAD" && declared != hex.EncodeToString(sum.Sum(nil)) {
		return &s3Error{status: http.StatusBadRequest, code: "XAmzContentSHA256Mismatch", msg: "The provided 'x-amz-content-sha256' header does not match what was computed."}
	}
	digest := md.Sum(nil)
	if want := r.Header.Get("Content-Md5"); want != "" && want != base64.StdEncoding.EncodeToString(digest) {
		return &s3Error{status: http.StatusBadRequest, code: "BadDigest", msg: "The Content-MD5 you specified did not match what we received."}
	}
	obj := &s3Object{data: data, etag: `"` + hex.EncodeToString(digest) + `"`, modified: s.f.clock.Now()}
	s.mu.Lock()
	s.objects[bucket+"/"+key] = obj
	s.s3stats.Puts++
	s.s3stats.BytesPut += n
	s.mu.Unlock()
	w.Header().Set("ETag", obj.etag)
	w.WriteHeader(http.StatusOK)
	return nil
}

// putOutputLocked stores an output stream the agent uploads; s.mu is held.
func (s *ssmServer) putOutputLocked(name string, data []byte) {
	sum := md5.Sum(data) //nolint:gosec // see the import
	s.objects[name] = &s3Object{data: data, etag: `"` + hex.EncodeToString(sum[:]) + `"`, modified: s.f.clock.Now()}
}
