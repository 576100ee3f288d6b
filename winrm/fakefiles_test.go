package winrm

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/winquote"
)

// fileHost is a small WS-Man endpoint for the file steps' tests: Basic
// authentication over plain HTTP, one shell, and the file scripts done by
// Go code on an in-memory file system, following the wire contract in
// docs/design.md. It checks every Send against its MaxEnvelopeSizekb as
// Windows does (413). The simulated fleet does the same with the real
// protocol around it; this one lets a test count and break single
// requests.
type fileHost struct {
	t          testing.TB
	envelopeKB int

	mu    sync.Mutex
	files map[string][]byte
	// urls are what downloads fetch; a URL not here fails every try.
	urls map[string][]byte
	cmds map[string]*fileCmd
	next int
	// sendSizes are the raw bytes of every Send with data, in order;
	// envelopes the sizes of their requests.
	sendSizes []int
	envelopes []int
	// resetAtSend, when > 0, drops the connection instead of answering
	// that Send (counted from 1), once.
	resetAtSend int
	// diskFullAt, when > 0, ends a copy with exit code 2 once it holds
	// that many bytes; later Sends to it are refused with a fault.
	diskFullAt int
	// holdAtSend, when > 0, leaves that Send unanswered until the client
	// gives it up.
	holdAtSend int
	requests   map[string]int
	// changeWhileFetching flips a byte of a fetched file after its frame
	// header, as a file written while it is read.
	changeWhileFetching bool
}

// fileCmd is one command of the file scripts.
type fileCmd struct {
	kind    string // copy, download, fetch
	doc     map[string]any
	stdin   bytes.Buffer
	out     []byte // stdout not yet received
	errOut  []byte
	done    bool
	code    int
	waiting bool // a copy that said W and waits for End
}

func newFileHost(t testing.TB, envelopeKB int) (*fileHost, transport.Target) {
	h := &fileHost{t: t, envelopeKB: envelopeKB, files: map[string][]byte{}, urls: map[string][]byte{},
		cmds: map[string]*fileCmd{}, requests: map[string]int{}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	return h, transport.Target{Name: "fake-01", Address: u.Hostname(), Port: port, Auth: "basic", User: "u", Password: "p", AllowUnencrypted: true}
}

var (
	reAction    = regexp.MustCompile(`<a:Action mustUnderstand="true">([^<]+)</a:Action>`)
	reResource  = regexp.MustCompile(`<w:ResourceURI mustUnderstand="true">([^<]+)</w:ResourceURI>`)
	reArguments = regexp.MustCompile(`<rsp:Arguments>([^<]*)</rsp:Arguments>`)
	reCommandID = regexp.MustCompile(`CommandId="([^"]+)"`)
	reStream    = regexp.MustCompile(`<rsp:Stream([^>]*?)(?:/>|>([^<]*)</rsp:Stream>)`)
	rePayload   = regexp.MustCompile(`(?m)^\$fleetrunPayload = '([A-Za-z0-9+/=]*)'`)
)

func (h *fileHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	msg := string(body)
	action := ""
	if m := reAction.FindStringSubmatch(msg); m != nil {
		action = m[1][strings.LastIndex(m[1], "/")+1:]
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests[action]++
	if len(body) > h.envelopeKB*1024 {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	switch action {
	case "Get":
		if m := reResource.FindStringSubmatch(msg); m == nil || m[1] != resourceConfig {
			h.fault(w, 2150858778, "unknown resource")
			return
		}
		h.answer(w, fmt.Sprintf(`<cfg:Config xmlns:cfg="%s"><cfg:MaxEnvelopeSizekb>%d</cfg:MaxEnvelopeSizekb></cfg:Config>`, nsConfig, h.envelopeKB))
	case "Create":
		h.answer(w, `<rsp:Shell><rsp:ShellId>SHELL-1</rsp:ShellId></rsp:Shell>`)
	case "Command":
		args := reArguments.FindAllStringSubmatch(msg, -1)
		if len(args) == 0 {
			h.fault(w, 1, "no arguments")
			return
		}
		text, err := winquote.DecodeCommand(args[len(args)-1][1])
		if err != nil {
			h.fault(w, 1, err.Error())
			return
		}
		c := &fileCmd{}
		switch first, _, _ := strings.Cut(text, "\n"); first {
		case launcher.CopyMarker:
			c.kind = "copy"
		case launcher.DownloadMarker:
			c.kind = "download"
		case launcher.FetchMarker:
			c.kind = "fetch"
		default:
			h.fault(w, 1, "not a file script: "+first)
			return
		}
		lit := rePayload.FindStringSubmatch(text)
		if lit == nil {
			h.fault(w, 1, "no payload statement")
			return
		}
		if lit[1] != "" {
			c.doc = decodeDoc(h.t, lit[1])
			h.start(c)
		}
		h.next++
		id := fmt.Sprintf("CMD-%d", h.next)
		h.cmds[id] = c
		h.answer(w, `<rsp:CommandResponse><rsp:CommandId>`+id+`</rsp:CommandId></rsp:CommandResponse>`)
	case "Send":
		c := h.command(msg)
		m := reStream.FindStringSubmatch(msg)
		if c == nil || m == nil {
			h.fault(w, CodeShellNotFound, "no such command")
			return
		}
		data, _ := base64.StdEncoding.DecodeString(m[2])
		if len(data) > 0 {
			h.sendSizes = append(h.sendSizes, len(data))
			h.envelopes = append(h.envelopes, len(body))
			if len(h.sendSizes) == h.holdAtSend {
				h.holdAtSend = 0
				h.mu.Unlock()
				<-r.Context().Done()
				h.mu.Lock()
				return
			}
			if len(h.sendSizes) == h.resetAtSend {
				h.resetAtSend = 0
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					_ = conn.Close()
				}
				return
			}
		}
		if c.done {
			// Windows refuses input to a process that has ended.
			h.fault(w, 2147942632, "The pipe is being closed.")
			return
		}
		c.stdin.Write(data)
		if h.diskFullAt > 0 && c.waiting && c.stdin.Len() >= h.diskFullAt {
			c.waiting = false
			c.exit(2, "fleetrun-copy: There is not enough space on the disk.")
		}
		if strings.Contains(m[1], `End="true"`) {
			h.stdinEnded(c)
		}
		h.answer(w, `<rsp:SendResponse/>`)
	case "Receive":
		id := ""
		if m := reCommandID.FindStringSubmatch(msg); m != nil {
			id = m[1]
		}
		c := h.cmds[id]
		if c == nil {
			h.fault(w, CodeShellNotFound, "no such command")
			return
		}
		var b strings.Builder
		b.WriteString(`<rsp:ReceiveResponse>`)
		// At most 64 KB of stdout per answer, so a fetch takes several.
		n := min(len(c.out), 64<<10)
		if n > 0 {
			fmt.Fprintf(&b, `<rsp:Stream Name="stdout" CommandId="%s">%s</rsp:Stream>`, id, base64.StdEncoding.EncodeToString(c.out[:n]))
			c.out = c.out[n:]
		}
		if len(c.errOut) > 0 {
			fmt.Fprintf(&b, `<rsp:Stream Name="stderr" CommandId="%s">%s</rsp:Stream>`, id, base64.StdEncoding.EncodeToString(c.errOut))
			c.errOut = nil
		}
		if c.done && len(c.out) == 0 {
			fmt.Fprintf(&b, `<rsp:CommandState CommandId="%s" State="%s"><rsp:ExitCode>%d</rsp:ExitCode></rsp:CommandState>`, id, stateDone, c.code)
		} else if n == 0 {
			// A command that waits for stdin prints nothing more: the
			// Receive times out as Windows' does.
			h.fault(w, CodeOperationTimeout, "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.")
			return
		}
		b.WriteString(`</rsp:ReceiveResponse>`)
		h.answer(w, b.String())
	case "Signal":
		h.answer(w, `<rsp:SignalResponse/>`)
	case "Delete":
		h.answer(w, ``)
	default:
		h.fault(w, 1, "unknown action "+action)
	}
}

func decodeDoc(t testing.TB, b64 string) map[string]any {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		t.Errorf("payload base64: %v", err)
		return nil
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Errorf("payload JSON: %v", err)
	}
	return doc
}

func (h *fileHost) command(msg string) *fileCmd {
	if m := reCommandID.FindStringSubmatch(msg); m != nil {
		return h.cmds[m[1]]
	}
	return nil
}

func (h *fileHost) answer(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", soapContentType)
	fmt.Fprintf(w, `<s:Envelope xmlns:s="%s" xmlns:a="%s" xmlns:w="%s" xmlns:rsp="%s"><s:Header></s:Header><s:Body>%s</s:Body></s:Envelope>`,
		nsSoap, nsAddr, nsWSMan, nsShell, body)
}

func (h *fileHost) fault(w http.ResponseWriter, code uint32, text string) {
	w.Header().Set("Content-Type", soapContentType)
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `<s:Envelope xmlns:s="%s" xmlns:f="%s"><s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code><s:Reason><s:Text xml:lang="en-US">%s</s:Text></s:Reason><s:Detail><f:WSManFault Code="%d" Machine="fake"><f:Message>%s</f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>`,
		nsSoap, nsFault, text, code, text)
}

func (c *fileCmd) exit(code int, stderr string) {
	c.done, c.code = true, code
	if stderr != "" {
		c.errOut = append(c.errOut, stderr+"\r\n"...)
	}
}

// start runs a command whose payload is known.
func (h *fileHost) start(c *fileCmd) {
	str := func(k string) string { s, _ := c.doc[k].(string); return s }
	num := func(k string) int64 { f, _ := c.doc[k].(float64); return int64(f) }
	switch c.kind {
	case "copy":
		dest := str("dest")
		if strings.HasPrefix(dest, `Z:\`) {
			c.exit(2, `fleetrun-copy: Could not find a part of the path 'Z:\'.`)
			return
		}
		if b, ok := h.files[dest]; ok && int64(len(b)) == num("size") && hexSHA(b) == str("sha256") {
			c.out = append(c.out, "U\n"...)
			c.exit(0, "")
			return
		}
		c.out = append(c.out, "W\n"...)
		c.waiting = true
	case "download":
		dest, u := str("dest"), str("url")
		if b, ok := h.files[dest]; ok && hexSHA(b) == str("sha256") {
			c.out = fmt.Appendf(c.out, "U %d\n", len(b))
			c.exit(0, "")
			return
		}
		b, ok := h.urls[u]
		if !ok {
			tries := num("retries") + 1
			for i := range tries {
				c.out = append(c.out, fmt.Sprintf("T %d The remote server returned an error: (404) Not Found.\n", i+1)...)
			}
			c.exit(6, fmt.Sprintf("fleetrun-download: %d tries failed; the last: The remote server returned an error: (404) Not Found.", tries))
			return
		}
		if got := hexSHA(b); got != str("sha256") {
			c.exit(4, fmt.Sprintf("fleetrun-download: the downloaded bytes have SHA-256 %s, not %s", got, str("sha256")))
			return
		}
		h.files[dest] = b
		c.out = append(c.out, fmt.Sprintf("D %s %d\n", hexSHA(b), len(b))...)
		c.exit(0, "")
	case "fetch":
		src := str("src")
		dir, pattern := src[:strings.LastIndex(src, `\`)+1], src[strings.LastIndex(src, `\`)+1:]
		var names []string
		var total int64
		for p, b := range h.files {
			if !strings.EqualFold(p[:strings.LastIndex(p, `\`)+1], dir) {
				continue
			}
			if ok, _ := path.Match(strings.ToLower(pattern), strings.ToLower(p[len(dir):])); ok {
				names = append(names, p)
				total += int64(len(b))
			}
		}
		sort.Strings(names)
		if len(names) == 0 {
			c.out = append(c.out, "N\n"...)
			c.exit(0, "")
			return
		}
		if total > num("max_bytes") {
			c.exit(5, fmt.Sprintf("fleetrun-fetch: %d files hold %d bytes, more than max_bytes (%d)", len(names), total, num("max_bytes")))
			return
		}
		for _, p := range names {
			b := h.files[p]
			c.out = append(c.out, fmt.Sprintf("F %d %s %s\n", len(b), hexSHA(b), base64.StdEncoding.EncodeToString([]byte(p)))...)
			start := len(c.out)
			c.out = append(c.out, b...)
			if h.changeWhileFetching && len(b) > 0 {
				c.out[start] ^= 0xff
			}
		}
		c.out = append(c.out, "Z\n"...)
		c.exit(0, "")
	}
}

// stdinEnded finishes a copy, or starts a download whose payload came on
// stdin.
func (h *fileHost) stdinEnded(c *fileCmd) {
	if c.doc == nil {
		c.doc = decodeDoc(h.t, c.stdin.String())
		h.start(c)
		return
	}
	if !c.waiting {
		return
	}
	c.waiting = false
	str := func(k string) string { s, _ := c.doc[k].(string); return s }
	size, _ := c.doc["size"].(float64)
	data := c.stdin.Bytes()
	if int64(len(data)) != int64(size) {
		c.exit(3, fmt.Sprintf("fleetrun-copy: stdin ended after %d of %d bytes", len(data), int64(size)))
		return
	}
	if got := hexSHA(data); got != str("sha256") {
		c.exit(4, fmt.Sprintf("fleetrun-copy: received SHA-256 %s, not %s", got, str("sha256")))
		return
	}
	h.files[str("dest")] = append([]byte(nil), data...)
	c.out = append(c.out, "D "+str("sha256")+"\n"...)
	c.exit(0, "")
}

func (h *fileHost) stats() (sendSizes, envelopes []int, requests map[string]int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	req := map[string]int{}
	for k, v := range h.requests {
		req[k] = v
	}
	return append([]int(nil), h.sendSizes...), append([]int(nil), h.envelopes...), req
}

func (h *fileHost) file(p string) ([]byte, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.files[p]
	return b, ok
}

func runCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}
