package winrm

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Every request is a POST to the endpoint's one URL with two or three
// headers. Building each as an *http.Request (parsing the URL again, a
// header map, a context) and having Request.Write sort and copy its
// headers cost more than the rest of sending it. writeRequest writes the
// same bytes directly (TestWriteRequestWritesWhatRequestWriteWrites): the
// request line and Host header, which net/http works out from the URL,
// are taken from a request net/http wrote once per endpoint; then
// Content-Length, the other headers in key order, and the body.

// requestHead is the start of every request to one URL: the request line,
// Host and User-Agent, as Request.Write writes them.
type requestHead struct {
	once sync.Once
	head string
	err  error
}

// postRequest is what http.ReadResponse is told every answer is to: it
// reads only the method.
var postRequest = &http.Request{Method: http.MethodPost}

// get returns the head of POSTs to url, working it out on first use.
func (h *requestHead) get(url string) (string, error) {
	h.once.Do(func() {
		req, err := http.NewRequest(http.MethodPost, url, nil)
		if err != nil {
			h.err = err
			return
		}
		req.Header.Set("User-Agent", "fleetrun")
		var b bytes.Buffer
		if err := req.Write(&b); err != nil {
			h.err = err
			return
		}
		head, _, ok := strings.Cut(b.String(), "Content-Length: ")
		if !ok {
			h.err = fmt.Errorf("unexpected request head %q", b.String())
			return
		}
		h.head = head
	})
	return h.head, h.err
}

// requestExcluded are the headers Request.Write writes itself, or not at
// all, rather than from the header map (net/http's reqWriteExcludeHeader).
var requestExcluded = map[string]bool{"Host": true, "User-Agent": true, "Content-Length": true, "Transfer-Encoding": true, "Trailer": true}

// headerNewlines are replaced as Header.Write replaces them in values.
var headerNewlines = strings.NewReplacer("\n", " ", "\r", " ")

// writeRequest writes a POST as Request.Write writes it for a request
// made with http.NewRequest, header's values copied in, Content-Type set
// to soapContentType when header has none and User-Agent set to
// "fleetrun": head (see requestHead), Content-Length n, the other headers
// sorted by key, then the body that writeBody writes (n bytes).
func writeRequest(w *bytes.Buffer, head string, header http.Header, n int, writeBody func(*bytes.Buffer)) {
	w.WriteString(head)
	w.WriteString("Content-Length: ")
	var num [20]byte
	w.Write(strconv.AppendInt(num[:0], int64(n), 10))
	w.WriteString("\r\n")
	var keyBuf [8]string
	keys := keyBuf[:0]
	for k := range header {
		if !requestExcluded[k] {
			keys = append(keys, k)
		}
	}
	if ct := header["Content-Type"]; len(ct) == 0 || ct[0] == "" {
		if ct == nil {
			keys = append(keys, "Content-Type")
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		values := header[k]
		if k == "Content-Type" && (len(values) == 0 || values[0] == "") {
			values = []string{soapContentType}
		}
		for _, v := range values {
			if strings.ContainsAny(v, "\r\n") {
				v = headerNewlines.Replace(v)
			}
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(strings.Trim(v, " \t\n\r"))
			w.WriteString("\r\n")
		}
	}
	w.WriteString("\r\n")
	writeBody(w)
}

// requestWriter adapts writeRequest to roundTripWith.
func requestWriter(head string, header http.Header, n int, writeBody func(*bytes.Buffer)) func(*bytes.Buffer) error {
	return func(w *bytes.Buffer) error {
		writeRequest(w, head, header, n, writeBody)
		return nil
	}
}
