package sealframe

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
)

// Serve hands next the plaintext of a sealed request as a plain request
// (r2: r's clone with its context, Content-Type contentType and body
// plain; Authorization removed), and answers with next's response sealed:
// seal turns the response body into a token header and sealed bytes,
// framed under protocol. An empty response body goes out as it is. The
// SOAP type stands in for a response without a Content-Type.
func Serve(w http.ResponseWriter, r2 *http.Request, plain []byte, contentType, protocol string, next http.Handler, seal func([]byte) (header, data []byte, err error)) {
	r2.Header.Del("Authorization")
	r2.Header.Set("Content-Type", contentType)
	r2.Header.Set("Content-Length", strconv.Itoa(len(plain)))
	r2.Body = io.NopCloser(bytes.NewReader(plain))
	r2.ContentLength = int64(len(plain))
	r2.TransferEncoding = nil
	rec := &recorder{header: w.Header().Clone()}
	next.ServeHTTP(rec, r2)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	out := w.Header()
	for k := range out {
		delete(out, k)
	}
	for k, v := range rec.header {
		out[k] = v
	}
	if rec.body.Len() == 0 {
		w.WriteHeader(rec.status)
		return
	}
	respType := rec.header.Get("Content-Type")
	if respType == "" {
		respType = "application/soap+xml;charset=UTF-8"
	}
	header, data, err := seal(rec.body.Bytes())
	if err != nil {
		http.Error(w, "sealing the answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	framed := Append(make([]byte, 0, rec.body.Len()+256), protocol, respType, rec.body.Len(), header, data)
	out.Set("Content-Type", ContentType(protocol))
	out.Set("Content-Length", strconv.Itoa(len(framed)))
	w.WriteHeader(rec.status)
	// A failed write means the client went away; there is nobody to tell.
	_, _ = w.Write(framed)
}

// recorder buffers a response so that it can be sealed.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rec *recorder) Header() http.Header { return rec.header }

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 && code >= 200 {
		rec.status = code
	}
}

func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.body.Write(b)
}

// MaxBody bounds a sealed request's body, which is read whole before it
// is unsealed.
const MaxBody = 64 << 20

// ReadBody reads a sealed request's body whole, at most MaxBody. When it
// cannot, it answers itself — 400 when the client went away mid-body
// (nobody reads that answer), 413 when the body is larger — and returns
// false.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return nil, false
	}
	if len(body) > MaxBody {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return nil, false
	}
	return body, true
}

// Drain reads what is left of a request body the handler answers itself
// (a handshake leg, a refusal). net/http discards at most 256 KiB of an
// unread body and then closes the connection, which would lose the
// connection's security context: clients resend the whole body with every
// handshake leg.
func Drain(r *http.Request) {
	// A read error means the client is gone; the answer is moot.
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, MaxBody))
}
