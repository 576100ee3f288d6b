// Package wsman reads WS-Management requests as Windows' WinRM service
// receives them: the SOAP 1.2 envelope, the addressing and WS-Man headers,
// and the bodies of the WinRS shell operations.
//
// It only parses; answering requests, and everything about shells and
// hosts, is left to package sim.
package wsman

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// XML namespaces of WS-Management as Windows writes them.
const (
	NSSOAP        = "http://www.w3.org/2003/05/soap-envelope"
	NSAddressing  = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	NSTransfer    = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
	NSEventing    = "http://schemas.xmlsoap.org/ws/2004/08/eventing"
	NSEnumeration = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
	NSWSMan       = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	NSMSWSMan     = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
	NSShell       = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	NSFault       = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
	NSConfig      = "http://schemas.microsoft.com/wbem/wsman/1/config"
	NSCIM         = "http://schemas.dmtf.org/wbem/wscim/1/common"
	NSXSI         = "http://www.w3.org/2001/XMLSchema-instance"

	AnonymousAddress = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
)

// Actions and resource URIs the simulator answers.
const (
	ActionCreate  = NSTransfer + "/Create"
	ActionDelete  = NSTransfer + "/Delete"
	ActionGet     = NSTransfer + "/Get"
	ActionCommand = NSShell + "/Command"
	ActionSend    = NSShell + "/Send"
	ActionReceive = NSShell + "/Receive"
	ActionSignal  = NSShell + "/Signal"

	ActionFault           = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
	ActionAddressingFault = NSAddressing + "/fault"

	ResourceShellCmd  = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
	ResourceConfig    = "http://schemas.microsoft.com/wbem/wsman/1/config"
	ResourceWinrs     = "http://schemas.microsoft.com/wbem/wsman/1/config/winrs"
	ResourceWin32OS   = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem"
	ResourceWMIPrefix = "http://schemas.microsoft.com/wbem/wsman/1/wmi/"

	SignalTerminate = NSShell + "/signal/terminate"
	SignalCtrlC     = NSShell + "/signal/ctrl_c"
	SignalCtrlBreak = NSShell + "/signal/ctrl_break"

	StateRunning = NSShell + "/CommandState/Running"
	StateDone    = NSShell + "/CommandState/Done"
)

// Request is one parsed WS-Management request envelope: the headers the
// simulator acts on and the body of the shell operations. Fields a request
// does not carry are zero.
type Request struct {
	Action      string
	MessageID   string
	To          string
	ResourceURI string
	// OperationTimeout is the parsed w:OperationTimeout; zero when absent.
	OperationTimeout time.Duration
	// MaxEnvelopeSize is w:MaxEnvelopeSize in bytes; zero when absent.
	MaxEnvelopeSize int
	// Selectors and Options map names to values as sent (names are
	// case-sensitive on the wire; lookups here fold case as Windows does).
	Selectors map[string]string
	Options   map[string]string

	Shell       *ShellSpec
	CommandLine *CommandLine
	Send        *SendBody
	Receive     *ReceiveBody
	Signal      *SignalBody
}

// Selector returns the named selector, matching the name case-insensitively.
func (r *Request) Selector(name string) string { return lookupFold(r.Selectors, name) }

// Option returns the named option, matching the name case-insensitively.
func (r *Request) Option(name string) string { return lookupFold(r.Options, name) }

func lookupFold(m map[string]string, name string) string {
	if v, ok := m[name]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// ShellSpec is the rsp:Shell body of a Create request.
type ShellSpec struct {
	InputStreams     string
	OutputStreams    string
	Environment      []EnvVar
	WorkingDirectory string
	// IdleTimeOut is the requested idle timeout as written (an xs:duration
	// such as PT60S); empty when absent.
	IdleTimeOut string
	Lifetime    string
	Name        string
}

// EnvVar is one rsp:Variable of a shell's environment.
type EnvVar struct {
	Name  string
	Value string
}

// CommandLine is the rsp:CommandLine body of a Command request.
type CommandLine struct {
	// CommandID is the optional client-chosen @CommandId.
	CommandID string
	Command   string
	Arguments []string
}

// SendBody is the rsp:Send body: one stream chunk, already base64-decoded.
type SendBody struct {
	Stream    string
	CommandID string
	End       bool
	Data      []byte
}

// ReceiveBody is the rsp:Receive body.
type ReceiveBody struct {
	CommandID string
	Streams   string
}

// SignalBody is the rsp:Signal body.
type SignalBody struct {
	CommandID string
	Code      string
}

// xml mapping of the request envelope; encoding/xml matches namespaces, so
// any prefixes a client chooses work.
type xmlEnvelope struct {
	XMLName xml.Name  `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Header  xmlHeader `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	Body    xmlBody   `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

type xmlHeader struct {
	Action           string        `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
	MessageID        string        `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing MessageID"`
	To               string        `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing To"`
	ResourceURI      string        `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd ResourceURI"`
	OperationTimeout string        `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OperationTimeout"`
	MaxEnvelopeSize  string        `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd MaxEnvelopeSize"`
	SelectorSet      *xmlNamedSet  `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd SelectorSet"`
	OptionSet        *xmlOptionSet `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OptionSet"`
}

type xmlNamedSet struct {
	Items []xmlNamed `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd Selector"`
}

type xmlOptionSet struct {
	Items []xmlNamed `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd Option"`
}

type xmlNamed struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:",chardata"`
}

type xmlBody struct {
	Shell       *xmlShell       `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Shell"`
	CommandLine *xmlCommandLine `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandLine"`
	Send        *xmlSend        `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Send"`
	Receive     *xmlReceive     `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Receive"`
	Signal      *xmlSignal      `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Signal"`
}

type xmlShell struct {
	InputStreams     string          `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell InputStreams"`
	OutputStreams    string          `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell OutputStreams"`
	Environment      *xmlEnvironment `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Environment"`
	WorkingDirectory string          `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell WorkingDirectory"`
	IdleTimeOut      string          `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell IdleTimeOut"`
	Lifetime         string          `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Lifetime"`
	Name             string          `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Name"`
}

type xmlEnvironment struct {
	Variables []xmlNamed `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Variable"`
}

type xmlCommandLine struct {
	CommandID string   `xml:"CommandId,attr"`
	Command   string   `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Command"`
	Arguments []string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Arguments"`
}

type xmlSend struct {
	Streams []xmlStream `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Stream"`
}

type xmlStream struct {
	Name      string `xml:"Name,attr"`
	CommandID string `xml:"CommandId,attr"`
	End       string `xml:"End,attr"`
	Data      string `xml:",chardata"`
}

type xmlReceive struct {
	DesiredStream *xmlDesired `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell DesiredStream"`
}

type xmlDesired struct {
	CommandID string `xml:"CommandId,attr"`
	Streams   string `xml:",chardata"`
}

type xmlSignal struct {
	CommandID string `xml:"CommandId,attr"`
	Code      string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Code"`
}

// ErrMalformed marks requests that are not a WS-Management envelope the
// simulator can read; they are answered with a schema-validation fault.
var ErrMalformed = errors.New("malformed request")

// ParseRequest reads one SOAP 1.2 WS-Management envelope. It checks only
// what it needs to act on the request: the envelope's shape, the header
// values' syntax, and base64 stream data. Unknown elements are ignored, as
// Windows ignores headers that are not mustUnderstand.
func ParseRequest(data []byte) (*Request, error) {
	cut, bulk := cutStreamText(data)
	env, err := decodeEnvelope(cut)
	if bulk != nil && (err != nil || env.Body.Send == nil || len(env.Body.Send.Streams) != 1 || env.Body.Send.Streams[0].Data != "") {
		// The text taken out was not a Send's one stream: decode the
		// document as it came.
		bulk = nil
		env, err = decodeEnvelope(data)
	}
	if err != nil {
		return nil, err
	}
	h := env.Header
	r := &Request{
		Action:      strings.TrimSpace(h.Action),
		MessageID:   strings.TrimSpace(h.MessageID),
		To:          strings.TrimSpace(h.To),
		ResourceURI: strings.TrimSpace(h.ResourceURI),
	}
	if h.OperationTimeout != "" {
		d, err := ParseDuration(strings.TrimSpace(h.OperationTimeout))
		if err != nil {
			return nil, &InvalidTimeoutError{value: h.OperationTimeout, err: err}
		}
		r.OperationTimeout = d
	}
	if s := strings.TrimSpace(h.MaxEnvelopeSize); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%w: MaxEnvelopeSize %q is not a positive integer", ErrMalformed, s)
		}
		r.MaxEnvelopeSize = n
	}
	if h.SelectorSet != nil {
		r.Selectors = make(map[string]string, len(h.SelectorSet.Items))
		for _, s := range h.SelectorSet.Items {
			r.Selectors[s.Name] = strings.TrimSpace(s.Value)
		}
	}
	if h.OptionSet != nil {
		r.Options = make(map[string]string, len(h.OptionSet.Items))
		for _, o := range h.OptionSet.Items {
			r.Options[o.Name] = strings.TrimSpace(o.Value)
		}
	}
	b := env.Body
	if s := b.Shell; s != nil {
		spec := &ShellSpec{
			InputStreams:     strings.TrimSpace(s.InputStreams),
			OutputStreams:    strings.TrimSpace(s.OutputStreams),
			WorkingDirectory: s.WorkingDirectory,
			IdleTimeOut:      strings.TrimSpace(s.IdleTimeOut),
			Lifetime:         strings.TrimSpace(s.Lifetime),
			Name:             s.Name,
		}
		if s.Environment != nil {
			for _, v := range s.Environment.Variables {
				spec.Environment = append(spec.Environment, EnvVar(v))
			}
		}
		r.Shell = spec
	}
	if c := b.CommandLine; c != nil {
		r.CommandLine = &CommandLine{
			CommandID: strings.TrimSpace(c.CommandID),
			Command:   c.Command,
			Arguments: c.Arguments,
		}
	}
	if s := b.Send; s != nil {
		if len(s.Streams) != 1 {
			return nil, fmt.Errorf("%w: Send carries %d streams, expected 1", ErrMalformed, len(s.Streams))
		}
		st := s.Streams[0]
		if bulk != nil {
			st.Data = string(bulk)
		}
		data, err := decodeBase64(st.Data)
		if err != nil {
			return nil, fmt.Errorf("%w: Send stream: %w", ErrMalformed, err)
		}
		r.Send = &SendBody{
			Stream:    st.Name,
			CommandID: strings.TrimSpace(st.CommandID),
			End:       strings.EqualFold(strings.TrimSpace(st.End), "true"),
			Data:      data,
		}
	}
	if rc := b.Receive; rc != nil {
		r.Receive = &ReceiveBody{}
		if rc.DesiredStream != nil {
			r.Receive.CommandID = strings.TrimSpace(rc.DesiredStream.CommandID)
			r.Receive.Streams = strings.TrimSpace(rc.DesiredStream.Streams)
		}
	}
	if s := b.Signal; s != nil {
		r.Signal = &SignalBody{CommandID: strings.TrimSpace(s.CommandID), Code: strings.TrimSpace(s.Code)}
	}
	return r, nil
}

// InvalidTimeoutError is an OperationTimeout Windows would refuse.
type InvalidTimeoutError struct {
	value string
	err   error
}

// Error says which value was refused.
func (e *InvalidTimeoutError) Error() string {
	return fmt.Sprintf("invalid OperationTimeout %q: %v", e.value, e.err)
}

// Unwrap returns the parse error.
func (e *InvalidTimeoutError) Unwrap() error { return e.err }

// ParseDuration parses the xs:duration forms WS-Management uses (PT60S,
// PT7200.000S, P0DT0H0M0S, PT1M30.5S). Years and months are refused: a
// timeout has no business with calendars.
func ParseDuration(s string) (time.Duration, error) {
	rest, ok := strings.CutPrefix(s, "P")
	if !ok || rest == "" {
		return 0, fmt.Errorf("duration %q does not start with P", s)
	}
	var total float64
	inTime := false
	seen := false
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return 0, fmt.Errorf("duration %q has two T designators", s)
			}
			inTime = true
			rest = rest[1:]
			continue
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, fmt.Errorf("duration %q is malformed", s)
		}
		v, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
		var unit float64
		switch d := rest[i]; {
		case d == 'D' && !inTime:
			unit = 24 * 3600
		case d == 'H' && inTime:
			unit = 3600
		case d == 'M' && inTime:
			unit = 60
		case d == 'S' && inTime:
			unit = 1
		default:
			return 0, fmt.Errorf("duration %q has unsupported designator %q", s, d)
		}
		total += v * unit
		seen = true
		rest = rest[i+1:]
	}
	if !seen {
		return 0, fmt.Errorf("duration %q has no value", s)
	}
	if total > float64(365*24*3600) {
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	return time.Duration(total * float64(time.Second)), nil
}

// FormatSeconds renders d as Windows echoes shell timeouts: PT7200.000S.
func FormatSeconds(d time.Duration) string {
	ms := d.Milliseconds()
	return fmt.Sprintf("PT%d.%03dS", ms/1000, ms%1000)
}

// decodeBase64 decodes stream data, ignoring the whitespace XML may carry
// around or inside it.
func decodeEnvelope(data []byte) (*xmlEnvelope, error) {
	var env xmlEnvelope
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return &env, nil
}

// bulkText is the length from which a Send's stream text is taken out of
// the document before XML decoding: encoding/xml reads text a byte at a
// time, which for a Send of a few hundred kilobytes of base64 costs more
// than everything else the host does with it.
const bulkText = 4096

// cutStreamText takes the text of a document's only Stream element out
// of it when that text is long and holds no reference (so XML decoding
// would return it unchanged but for line ends, which base64 decoding
// ignores), returning the document without it and the text; otherwise it
// returns the document as it is and nil. What is not base64 in the text
// fails its decoding as before.
func cutStreamText(data []byte) ([]byte, []byte) {
	var start int
	found := 0
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte("Stream"))
		if j < 0 {
			break
		}
		at := i + j
		i = at + len("Stream")
		if at == 0 || (data[at-1] != '<' && data[at-1] != ':') || i >= len(data) || !isTagEnd(data[i]) {
			continue
		}
		// A start tag: < or a prefix's colon, then a name ending here.
		if data[at-1] == ':' {
			k := bytes.LastIndexByte(data[:at], '<')
			if k < 0 || k+1 < len(data) && data[k+1] == '/' {
				continue
			}
		}
		found++
		start = at
	}
	if found != 1 {
		return data, nil
	}
	gt := bytes.IndexByte(data[start:], '>')
	if gt < 0 || data[start+gt-1] == '/' {
		return data, nil
	}
	textStart := start + gt + 1
	lt := bytes.IndexByte(data[textStart:], '<')
	if lt < bulkText {
		return data, nil
	}
	text := data[textStart : textStart+lt]
	if bytes.IndexByte(text, '&') >= 0 {
		// A reference XML decoding would replace; base64 has none.
		return data, nil
	}
	out := make([]byte, 0, len(data)-len(text))
	out = append(out, data[:textStart]...)
	out = append(out, data[textStart+lt:]...)
	return out, text
}

func isTagEnd(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '>' || c == '/'
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.Join(strings.Fields(s), "")
	out, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("base64: %w", err)
	}
	return out, nil
}
