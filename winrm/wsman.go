package winrm

import (
	"bytes"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"

	mz "github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"
)

// WS-Man URIs this package sends or expects (docs/winrm-reference.md).
const (
	nsSoap   = "http://www.w3.org/2003/05/soap-envelope"
	nsAddr   = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsWSMan  = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	nsShell  = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	nsFault  = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
	nsConfig = "http://schemas.microsoft.com/wbem/wsman/1/config"
	nsMSWSM  = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"

	resourceShell  = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
	resourceConfig = "http://schemas.microsoft.com/wbem/wsman/1/config"
	resourceOS     = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem"

	actionCommand = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
	actionGet     = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
	stateDone     = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
)

// WS-Man fault codes this package acts on (docs/winrm-reference.md §4).
const (
	// CodeOperationTimeout: a Receive found no output within its
	// OperationTimeout; the client simply asks again.
	CodeOperationTimeout uint32 = 2150858793
	// CodeShellNotFound: the shell or command no longer exists (idle
	// timeout, deleted, host restarted).
	CodeShellNotFound uint32 = 2150858843
	// CodeMaxShellsPerUser: the user has as many shells open as
	// winrm/config/winrs MaxShellsPerUser allows.
	CodeMaxShellsPerUser uint32 = 2150859173
	// CodeMaxOperationsPerUser: the user's shells used up
	// MaxConcurrentOperationsPerUser; Signal does not give operations back,
	// only deleting the shell does.
	CodeMaxOperationsPerUser uint32 = 2150859174
	// CodeAccessDenied is E_ACCESSDENIED as WinRM reports it.
	CodeAccessDenied uint32 = 2147942405
	// CodeFileNotFound is ERROR_FILE_NOT_FOUND as an HRESULT.
	CodeFileNotFound uint32 = 2147942402
)

// params are the request header settings: OperationTimeout, locale and
// the largest response the client accepts (153600 bytes, which fits even
// WinRM 2.0's default MaxEnvelopeSizekb of 150).
func params(operationTimeout string) *mz.Parameters {
	return mz.NewParameters(operationTimeout, "en-US", 153600)
}

// The messages of every step go through templates (templates.go): each
// kind is built once with masterzen/winrm's builders and its values are
// spliced in afterwards, with a fresh message ID written as masterzen
// writes it.

func createShellMessage(url, timeout string) []byte {
	return fromTemplate("create "+timeout, []string{url, lowerMessageID()}, func(v []string) string {
		return withID(mz.NewOpenShellRequest(v[0], params(timeout)).String(), v[1])
	})
}

func deleteShellMessage(url, timeout, shellID string) []byte {
	return fromTemplate("delete "+timeout, []string{url, shellID, lowerMessageID()}, func(v []string) string {
		return withID(mz.NewDeleteShellRequest(v[0], v[1], params(timeout)).String(), v[2])
	})
}

func signalMessage(url, timeout, shellID, commandID string) []byte {
	return fromTemplate("signal "+timeout, []string{url, shellID, commandID, lowerMessageID()}, func(v []string) string {
		return withID(mz.NewSignalRequest(v[0], v[1], v[2], params(timeout)).String(), v[3])
	})
}

func receiveMessage(url, shellID, commandID, operationTimeout string) []byte {
	return fromTemplate("receive "+operationTimeout, []string{url, shellID, commandID, lowerMessageID()}, func(v []string) string {
		return withID(mz.NewGetOutputRequest(v[0], v[1], v[2], "stdout stderr", params(operationTimeout)).String(), v[3])
	})
}

func sendMessage(url, timeout, shellID, commandID string, data []byte, end bool) []byte {
	return []byte(mz.NewSendInputRequest(url, shellID, commandID, data, end, params(timeout)).String())
}

// commandMessage is masterzen/winrm's Command request with one difference:
// WINRS_CONSOLEMODE_STDIN is FALSE when the client sends stdin, so that the
// process gets a pipe that ends at End="true" (a console never ends).
// Content is XML-escaped rather than wrapped in CDATA. It comes from a
// template per timeout, stdin mode and shape of the arguments, so the
// launcher's argument (tens of kilobytes of base64) is copied once, into
// the message.
func commandMessage(url, timeout, shellID string, command string, args []string, pipeStdin bool) []byte {
	shape := make([]byte, 0, 1+len(args))
	vals := []string{url, shellID, messageID()}
	for _, c := range append([]string{command}, args...) {
		e := escapeText(c)
		if e == "" {
			// The DOM writes an empty element as <x/>: part of the shape.
			shape = append(shape, '0')
			continue
		}
		shape = append(shape, '1')
		vals = append(vals, e)
	}
	key := "command " + timeout + " " + strconv.FormatBool(pipeStdin) + " " + string(shape)
	return fromTemplateInto(messageBuffer(), key, vals, func(v []string) string {
		contents := make([]string, len(shape))
		k := 3
		for i, c := range shape {
			if c == '1' {
				contents[i], k = v[k], k+1
			}
		}
		return commandDOM(v[2], v[0], timeout, v[1], contents, pipeStdin)
	})
}

// commandDOM builds the Command message with the given message ID and
// escaped contents (the command, then its arguments).
func commandDOM(id, url, timeout, shellID string, contents []string, pipeStdin bool) string {
	msg := soap.NewMessage()
	console := "TRUE"
	if pipeStdin {
		console = "FALSE"
	}
	p := params(timeout)
	msg.Header().
		To(url).
		ReplyTo("http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous").
		MaxEnvelopeSize(p.EnvelopeSize).
		Id(id).
		Locale(p.Locale).
		Timeout(p.Timeout).
		Action(actionCommand).
		ResourceURI(resourceShell).
		ShellId(shellID).
		AddOption(soap.NewHeaderOption("WINRS_CONSOLEMODE_STDIN", console)).
		AddOption(soap.NewHeaderOption("WINRS_SKIP_CMD_SHELL", "FALSE")).
		Build()
	body := msg.CreateBodyElement("CommandLine", soap.DOM_NS_WIN_SHELL)
	msg.CreateElement(body, "Command", soap.DOM_NS_WIN_SHELL).SetContent(contents[0])
	for _, c := range contents[1:] {
		msg.CreateElement(body, "Arguments", soap.DOM_NS_WIN_SHELL).SetContent(c)
	}
	return msg.String()
}

// getMessage is a WS-Transfer Get of a resource (no selectors).
func getMessage(url, timeout, resourceURI string) []byte {
	msg := soap.NewMessage()
	p := params(timeout)
	msg.Header().
		To(url).
		ReplyTo("http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous").
		MaxEnvelopeSize(p.EnvelopeSize).
		Id(messageID()).
		Locale(p.Locale).
		Timeout(p.Timeout).
		Action(actionGet).
		ResourceURI(resourceURI).
		Build()
	msg.NewBody()
	return []byte(msg.String())
}

// messageID is a fresh uuid:… message ID (a random, version 4 UUID).
func messageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("uuid:%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// escapeText escapes s as character data, as xml.EscapeText does; text
// with nothing to escape (base64, most command lines) is returned as it is.
// The five markup characters and tab, newline and carriage return are
// written here; runs of control and non-ASCII bytes go through
// xml.EscapeText itself, which decides what is a valid rune and what
// becomes U+FFFD. Such a run holds whole UTF-8 sequences (their bytes are
// all non-ASCII), so it decodes as it would within s. The result is built
// in one buffer of about the right size: the compressed launcher, 8,000
// characters with quotes, is escaped for every step run.
func escapeText(s string) string {
	i := 0
	for i < len(s) && !needsEscape[s[i]] {
		i++
	}
	if i == len(s) {
		return s
	}
	if len(s) >= minMemoEscape {
		if m := lastEscape.Load(); m != nil && m.in == s {
			return m.out
		}
		out := escapeFrom(s, i)
		lastEscape.Store(&escaped{in: s, out: out})
		return out
	}
	return escapeFrom(s, i)
}

// escaped is a text and its escaped form.
type escaped struct{ in, out string }

// lastEscape is the last long text escapeText escaped: every host of a
// run sends the same compressed launcher line, which is escaped once.
var lastEscape atomic.Pointer[escaped]

// minMemoEscape is the shortest text lastEscape keeps.
const minMemoEscape = 1024

// escapeFrom is escapeText for s whose first byte to escape is s[i].
func escapeFrom(s string, i int) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/8 + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		plain := i
		for i < len(s) && !needsEscape[s[i]] {
			i++
		}
		b.WriteString(s[plain:i])
		if i == len(s) {
			break
		}
		if e := xmlEntity[s[i]]; e != "" {
			b.WriteString(e)
			i++
			continue
		}
		other := i
		for i < len(s) && needsEscape[s[i]] && xmlEntity[s[i]] == "" {
			i++
		}
		_ = xml.EscapeText(&b, []byte(s[other:i])) // writes to a strings.Builder never fail
	}
	return b.String()
}

// xmlEntity is what xml.EscapeText writes for the markup characters and
// the three whitespace controls it escapes.
var xmlEntity = [256]string{
	'"': "&#34;", '\'': "&#39;", '&': "&amp;", '<': "&lt;", '>': "&gt;",
	'\t': "&#x9;", '\n': "&#xA;", '\r': "&#xD;",
}

// needsEscape marks the bytes escapeText does not pass through as they
// are: control characters, non-ASCII, and the characters xml.EscapeText
// escapes. A table: the launcher's argument, tens of kilobytes, is scanned
// for every Command.
var needsEscape = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c < 0x20 || c >= 0x7f || c == '"' || c == '&' || c == '\'' || c == '<' || c == '>'
	}
	return t
}()

// sendOverhead is the size of a Send envelope without its base64 content
// (headers, IDs, the Stream element), with room to spare; see
// sendChunkSize.
const sendOverhead = 4096

// sendChunkSize is how many raw stdin bytes fit in one Send envelope of at
// most maxEnvelopeKB kilobytes once base64-encoded. masterzen/winrm sends
// EnvelopeSize-1000 raw bytes, whose base64 is a third larger than the
// envelope limit: WinRM 2.0 (150 KB) answers 413.
func sendChunkSize(maxEnvelopeKB int) int {
	if maxEnvelopeKB <= 0 {
		maxEnvelopeKB = 150
	}
	room := maxEnvelopeKB*1024 - sendOverhead
	n := room / 4 * 3
	if n < 1024 {
		n = 1024
	}
	return n
}

// fault is a SOAP fault as WinRM sends it.
type fault struct {
	Code    string // s:Code/s:Value, e.g. s:Receiver
	Subcode string // s:Subcode/s:Value, e.g. w:TimedOut
	Reason  string
	// WSManCode is f:WSManFault/@Code (or MSFT_WmiError/error_Code); 0
	// when absent.
	WSManCode uint32
	Message   string // f:Message, text of nested elements included
	Machine   string
}

// text returns the most specific human message of the fault.
func (f *fault) text() string {
	msg := strings.TrimSpace(f.Message)
	if msg == "" {
		msg = strings.TrimSpace(f.Reason)
	}
	if msg == "" {
		msg = strings.TrimSpace(f.Code + " " + f.Subcode)
	}
	return collapseSpace(msg)
}

func collapseSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

// response is a parsed WS-Man response envelope: the fields this package
// reads, wherever they appear in the body.
type response struct {
	Action string
	Fault  *fault

	ShellID   string // Create: Selector Name="ShellId" (or rsp:ShellId)
	CommandID string // Command

	Streams  []streamChunk // Receive
	Done     bool          // Receive: CommandState Done seen
	ExitCode *uint32       // Receive: ExitCode of a Done command

	// Elements holds, for Get responses (config, WMI), the text of the
	// elements below the body's root element, keyed by their local names
	// from there joined with "/" ("MaxEnvelopeSizekb",
	// "Winrs/MaxMemoryPerShellMB", "LastBootUpTime/Datetime"); for a
	// repeated element the first occurrence wins.
	Elements map[string]string
}

type streamChunk struct {
	Name string
	Data []byte
	End  bool
}

// errNotSOAP says a body is not a SOAP envelope.
var errNotSOAP = errors.New("response is not a SOAP envelope")

// parseResponse reads a WS-Man response. It walks the tokens itself rather
// than unmarshalling into structs, because WinRM's responses vary in
// prefixes and nesting between versions; only namespaces and local names
// are matched. It never panics on hostile input (FuzzParseResponse).
//
// The tokens come from scanResponse (xmlscan.go) when the document keeps
// to the plain subset of XML WinRM writes, and from encoding/xml
// otherwise; both hand the same tokens to the same responseReader
// (FuzzScanResponse checks it).
func parseResponse(body []byte) (*response, error) {
	if r, ok := scanResponse(body); ok {
		return r, nil
	}
	return parseResponseCut(body, minCutStreams)
}

// parseResponseCut is parseResponse through encoding/xml alone, taking
// stream texts out of the decoder's way (cutStreams) in bodies of at least
// minCut bytes.
func parseResponseCut(body []byte, minCut int) (*response, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	next := dec.Token
	if len(body) >= minCut {
		if stripped, texts, ok := cutStreams(body); ok {
			dec = xml.NewDecoder(bytes.NewReader(stripped))
			next = streamTokens(dec, texts)
		}
	}
	dec.Strict = true
	p := newResponseReader()
	for {
		tok, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse response XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			err = p.start(t)
		case xml.CharData:
			p.charData(string(t))
		case xml.EndElement:
			err = p.end()
		}
		if err != nil {
			return nil, err
		}
	}
	return p.finish()
}

// responseReader builds a response from a document's tokens: its start
// tags (names translated to their namespaces), text and end tags.
type responseReader struct {
	r              *response
	path           []xml.Name
	pathBuf        [8]xml.Name // path's first backing array
	text           string      // the text since the last tag
	cur            *streamChunk
	inExitCode     bool
	faultDepth     int
	inWSManMessage int
	sawEnvelope    bool
}

func newResponseReader() *responseReader {
	p := &responseReader{r: &response{}, faultDepth: -1}
	p.path = p.pathBuf[:0]
	return p
}

func (p *responseReader) start(t xml.StartElement) error {
	r := p.r
	if len(p.path) == 0 {
		if t.Name.Space != nsSoap || t.Name.Local != "Envelope" {
			return errNotSOAP
		}
		p.sawEnvelope = true
	}
	p.path = append(p.path, t.Name)
	p.text = ""
	switch {
	case t.Name.Space == nsSoap && t.Name.Local == "Fault":
		r.Fault = &fault{}
		p.faultDepth = len(p.path)
	case r.Fault != nil && t.Name.Local == "WSManFault" && t.Name.Space == nsFault:
		if code, ok := attr(t, "Code"); ok {
			if n, err := strconv.ParseUint(strings.TrimSpace(code), 10, 32); err == nil {
				r.Fault.WSManCode = uint32(n)
			}
		}
		r.Fault.Machine, _ = attr(t, "Machine")
	case r.Fault != nil && t.Name.Local == "Message" && t.Name.Space == nsFault:
		p.inWSManMessage++
	case p.inWSManMessage > 0:
		p.inWSManMessage++
	case t.Name.Space == nsShell && t.Name.Local == "Stream":
		name, _ := attr(t, "Name")
		end, _ := attr(t, "End")
		r.Streams = append(r.Streams, streamChunk{Name: name, End: strings.EqualFold(end, "true")})
		p.cur = &r.Streams[len(r.Streams)-1]
	case t.Name.Space == nsShell && t.Name.Local == "CommandState":
		if st, _ := attr(t, "State"); st == stateDone {
			r.Done = true
		}
	case t.Name.Space == nsShell && t.Name.Local == "ExitCode":
		p.inExitCode = true
	case t.Name.Space == nsWSMan && t.Name.Local == "Selector":
		if n, _ := attr(t, "Name"); n == "ShellId" {
			p.text = ""
		}
	}
	return nil
}

func (p *responseReader) charData(t string) {
	if p.text == "" {
		p.text = t
	} else {
		p.text += t
	}
	if p.inWSManMessage > 0 {
		p.r.Fault.Message += t
	}
}

func (p *responseReader) end() error {
	r, path := p.r, p.path
	if len(path) == 0 {
		return errNotSOAP
	}
	name := path[len(path)-1]
	value := strings.TrimSpace(p.text)
	switch {
	case name.Space == nsAddr && name.Local == "Action" && inHeader(path):
		r.Action = value
	case r.Fault != nil && len(path) > p.faultDepth && p.faultDepth > 0:
		switch {
		case name.Space == nsSoap && name.Local == "Value" && parentIs(path, "Subcode"):
			r.Fault.Subcode = value
		case name.Space == nsSoap && name.Local == "Value" && parentIs(path, "Code"):
			r.Fault.Code = value
		case name.Space == nsSoap && name.Local == "Text" && parentIs(path, "Reason"):
			r.Fault.Reason = value
		case strings.EqualFold(name.Local, "error_Code") && r.Fault.WSManCode == 0:
			if n, err := strconv.ParseUint(value, 10, 32); err == nil {
				r.Fault.WSManCode = uint32(n)
			}
		case name.Local == "Message" && name.Space != nsFault && r.Fault.Message == "" && value != "":
			// MSFT_WmiError carries its text in a Message property.
			r.Fault.Message = value
		}
		if name.Local == "Message" && name.Space == nsFault {
			p.inWSManMessage = 0
		} else if p.inWSManMessage > 0 {
			p.inWSManMessage--
		}
	case name.Space == nsShell && name.Local == "Stream" && p.cur != nil:
		data, err := decodeStream(p.text)
		if err != nil {
			return fmt.Errorf("decode %s stream: %w", p.cur.Name, err)
		}
		p.cur.Data = data
		p.cur = nil
	case name.Space == nsShell && name.Local == "ExitCode" && p.inExitCode:
		code, err := parseExitCode(value)
		if err != nil {
			return err
		}
		r.ExitCode = &code
		p.inExitCode = false
	case name.Space == nsShell && name.Local == "CommandId" && parentIs(path, "CommandResponse"):
		r.CommandID = value
	case name.Space == nsWSMan && name.Local == "Selector" && r.ShellID == "" && inBody(path):
		r.ShellID = value
	case name.Space == nsShell && name.Local == "ShellId" && parentIs(path, "Shell") && r.ShellID == "":
		r.ShellID = value
	}
	if inBody(path) && len(path) >= 4 {
		key := pathKey(path[3:])
		if r.Elements == nil {
			r.Elements = map[string]string{}
		}
		if _, seen := r.Elements[key]; !seen {
			r.Elements[key] = value
		}
	}
	p.path = path[:len(path)-1]
	p.text = ""
	return nil
}

func (p *responseReader) finish() (*response, error) {
	if !p.sawEnvelope {
		return nil, errNotSOAP
	}
	return p.r, nil
}

func attr(t xml.StartElement, local string) (string, bool) {
	for _, a := range t.Attr {
		if a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

// inHeader reports whether the innermost element of path is directly in
// s:Header.
func inHeader(path []xml.Name) bool {
	return len(path) >= 3 && path[1].Space == nsSoap && path[1].Local == "Header"
}

// inBody reports whether path lies inside s:Body.
func inBody(path []xml.Name) bool {
	return len(path) >= 3 && path[1].Space == nsSoap && path[1].Local == "Body"
}

func pathKey(path []xml.Name) string {
	if len(path) == 1 {
		return path[0].Local
	}
	parts := make([]string, len(path))
	for i, n := range path {
		parts[i] = n.Local
	}
	return strings.Join(parts, "/")
}

func parentIs(path []xml.Name, local string) bool {
	return len(path) >= 2 && path[len(path)-2].Local == local
}

// parseExitCode reads an ExitCode. Windows sends the DWORD unsigned
// (3221225477); a negative value (some servers send the int32) is taken
// as its two's complement, so both spellings give the same uint32.
func parseExitCode(s string) (uint32, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < -1<<31 || n > 1<<32-1 {
		return 0, fmt.Errorf("exit code %q is not a 32-bit value", s)
	}
	return uint32(n), nil
}

// validID reports whether a shell or command ID from the server is safe to
// put back into a request (they are GUIDs on Windows).
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '{', c == '}', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}
