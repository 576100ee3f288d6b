package sim

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Root namespace declarations as Windows writes them for each kind of
// response (see the recordings in testdata/winrs-recordings).
const (
	rootOpen = `<s:Envelope xml:lang="en-US" xmlns:s="` + nsSOAP + `" xmlns:a="` + nsAddr + `"`
	nsDeclX  = ` xmlns:x="` + nsTransfer + `"`
	nsDeclEN = ` xmlns:e="` + nsEventing + `" xmlns:n="` + nsEnum + `"`
	nsDeclW  = ` xmlns:w="` + nsWSMan + `"`
	nsDeclR  = ` xmlns:rsp="` + nsShell + `"`
	nsDeclP  = ` xmlns:p="` + nsMSWSMan + `"`
)

// response is an envelope under construction.
type response struct {
	buf bytes.Buffer
}

// begin writes the root element and header. decl lists the extra
// namespace declarations in Windows' order.
func (w *response) begin(decl, action, relatesTo, messageID string) {
	w.buf.WriteString(rootOpen)
	w.buf.WriteString(decl)
	w.buf.WriteString(`><s:Header><a:Action>`)
	w.text(action)
	w.buf.WriteString(`</a:Action><a:MessageID>uuid:`)
	w.buf.WriteString(messageID)
	w.buf.WriteString(`</a:MessageID><a:To>` + anonymousAddress + `</a:To>`)
	if relatesTo != "" {
		w.buf.WriteString(`<a:RelatesTo>`)
		w.text(relatesTo)
		w.buf.WriteString(`</a:RelatesTo>`)
	}
	w.buf.WriteString(`</s:Header><s:Body>`)
}

func (w *response) end() []byte {
	w.buf.WriteString(`</s:Body></s:Envelope>`)
	return w.buf.Bytes()
}

func (w *response) raw(s string) { w.buf.WriteString(s) }

// text writes character data, escaped.
func (w *response) text(s string) {
	// xml.EscapeText escapes \n and \r too, which Windows does not; only
	// the markup characters need it in element content.
	if strings.ContainsAny(s, "<>&\"'") {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(s)) // writing to a strings.Builder cannot fail
		s = strings.NewReplacer("&#xA;", "\n", "&#xD;", "\r", "&#x9;", "\t").Replace(b.String())
	}
	w.buf.WriteString(s)
}

// attr writes name="value" with a leading space, escaped.
func (w *response) attr(name, value string) {
	w.buf.WriteByte(' ')
	w.buf.WriteString(name)
	w.buf.WriteString(`="`)
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(value)) // writing to a strings.Builder cannot fail
	w.buf.WriteString(b.String())
	w.buf.WriteByte('"')
}

// elem writes <name>text</name>.
func (w *response) elem(name, text string) {
	w.buf.WriteByte('<')
	w.buf.WriteString(name)
	w.buf.WriteByte('>')
	w.text(text)
	w.buf.WriteString("</")
	w.buf.WriteString(name)
	w.buf.WriteByte('>')
}

// createResponse renders a Create response for shell s.
func createResponse(relatesTo, messageID, address string, s *shellInfo) []byte {
	var w response
	w.begin(nsDeclX+nsDeclW+nsDeclR+nsDeclP, ActionCreate+"Response", relatesTo, messageID)
	w.raw(`<x:ResourceCreated><a:Address>`)
	w.text(address)
	w.raw(`</a:Address><a:ReferenceParameters><w:ResourceURI>` + ResourceShellCmd + `</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">`)
	w.text(s.ID)
	w.raw(`</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>`)
	w.raw(`<rsp:Shell xmlns:rsp="` + nsShell + `">`)
	w.elem("rsp:ShellId", s.ID)
	w.elem("rsp:ResourceUri", ResourceShellCmd)
	w.elem("rsp:Owner", s.Owner)
	w.elem("rsp:ClientIP", s.ClientIP)
	if len(s.Environment) > 0 {
		w.raw(`<rsp:Environment>`)
		for _, v := range s.Environment {
			w.raw(`<rsp:Variable`)
			// Windows echoes variable names without their backslashes
			// (test_winrs_environment.yml); the process still gets them.
			w.attr("Name", strings.ReplaceAll(v.Name, `\`, ""))
			w.raw(`>`)
			w.text(v.Value)
			w.raw(`</rsp:Variable>`)
		}
		w.raw(`</rsp:Environment>`)
	}
	if s.WorkingDirectory != "" {
		w.elem("rsp:WorkingDirectory", s.WorkingDirectory)
	}
	w.elem("rsp:IdleTimeOut", formatSeconds(s.IdleTimeout))
	w.elem("rsp:InputStreams", s.InputStreams)
	w.elem("rsp:OutputStreams", s.OutputStreams)
	w.raw(`<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>`)
	return w.end()
}

// shellInfo is what a Create response echoes about a new shell.
type shellInfo struct {
	ID               string
	Owner            string
	ClientIP         string
	Environment      []EnvVar
	WorkingDirectory string
	IdleTimeout      time.Duration
	InputStreams     string
	OutputStreams    string
}

func commandResponse(relatesTo, messageID, commandID string) []byte {
	var w response
	w.begin(nsDeclX+nsDeclW+nsDeclR+nsDeclP, ActionCommand+"Response", relatesTo, messageID)
	w.raw(`<rsp:CommandResponse>`)
	w.elem("rsp:CommandId", commandID)
	w.raw(`</rsp:CommandResponse>`)
	return w.end()
}

func sendResponse(relatesTo, messageID string) []byte {
	var w response
	w.begin(nsDeclX+nsDeclW+nsDeclR+nsDeclP, ActionSend+"Response", relatesTo, messageID)
	w.raw(`<rsp:SendResponse/>`)
	return w.end()
}

func signalResponse(relatesTo, messageID string) []byte {
	var w response
	w.begin(nsDeclX+nsDeclW+nsDeclR+nsDeclP, ActionSignal+"Response", relatesTo, messageID)
	w.raw(`<rsp:SignalResponse/>`)
	return w.end()
}

func deleteResponse(relatesTo, messageID string) []byte {
	var w response
	w.begin(nsDeclW+nsDeclP, ActionDelete+"Response", relatesTo, messageID)
	return w.end()
}

// outChunk is a piece of output as a program wrote it.
type outChunk struct {
	stream string // "stdout" or "stderr"
	data   []byte
}

// receiveState is what one Receive response reports.
type receiveState struct {
	commandID string
	chunks    []outChunk
	// ended lists the streams that closed in this response (End="true").
	ended    []string
	done     bool
	exitCode uint32
}

func receiveResponse(relatesTo, messageID string, st *receiveState) []byte {
	var w response
	w.begin(nsDeclW+nsDeclR+nsDeclP, ActionReceive+"Response", relatesTo, messageID)
	w.raw(`<rsp:ReceiveResponse>`)
	for _, c := range st.chunks {
		w.raw(`<rsp:Stream Name="` + c.stream + `"`)
		w.attr("CommandId", st.commandID)
		w.raw(`>`)
		w.raw(base64.StdEncoding.EncodeToString(c.data))
		w.raw(`</rsp:Stream>`)
	}
	for _, name := range st.ended {
		w.raw(`<rsp:Stream Name="` + name + `"`)
		w.attr("CommandId", st.commandID)
		w.raw(` End="true"></rsp:Stream>`)
	}
	w.raw(`<rsp:CommandState`)
	w.attr("CommandId", st.commandID)
	if st.done {
		w.raw(` State="` + stateDone + `"><rsp:ExitCode>`)
		w.raw(strconv.FormatUint(uint64(st.exitCode), 10))
		w.raw(`</rsp:ExitCode></rsp:CommandState>`)
	} else {
		w.raw(` State="` + stateRunning + `"></rsp:CommandState>`)
	}
	w.raw(`</rsp:ReceiveResponse>`)
	return w.end()
}

// Fault is a WS-Management fault as Windows sends it.
type Fault struct {
	// Sender is true for s:Sender faults, false for s:Receiver.
	Sender bool
	// Subcode is the qualified subcode, such as "w:TimedOut".
	Subcode string
	Reason  string
	// Detail is the optional w:FaultDetail URI.
	Detail string
	// Code is the WSManFault code, as a decimal unsigned number.
	Code uint32
	// Message is the WSManFault message; Provider, when set, wraps it in an
	// f:ProviderFault of the shell plugin.
	Message  string
	Provider bool
	// Addressing selects the WS-Addressing fault action used for header
	// errors.
	Addressing bool
	// HTTPStatus is the status the fault travels with; 500 when zero.
	HTTPStatus int
}

// Error makes a Fault usable as an error inside the simulator.
func (f *Fault) Error() string {
	return fmt.Sprintf("wsman fault %d (%s): %s", f.Code, f.Subcode, strings.TrimSpace(f.Message))
}

func faultResponse(relatesTo, messageID, machine string, f *Fault) []byte {
	var w response
	action := actionFault
	if f.Addressing {
		action = actionAddrFault
	}
	w.begin(nsDeclX+nsDeclEN+nsDeclW+nsDeclP, action, relatesTo, messageID)
	w.raw(`<s:Fault><s:Code><s:Value>`)
	if f.Sender {
		w.raw(`s:Sender`)
	} else {
		w.raw(`s:Receiver`)
	}
	w.raw(`</s:Value><s:Subcode><s:Value>`)
	w.text(f.Subcode)
	w.raw(`</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">`)
	w.text(f.Reason)
	w.raw(`</s:Text></s:Reason><s:Detail>`)
	if f.Detail != "" {
		w.elem("w:FaultDetail", f.Detail)
	}
	w.raw(`<f:WSManFault xmlns:f="` + nsFault + `"`)
	w.attr("Code", strconv.FormatUint(uint64(f.Code), 10))
	w.attr("Machine", machine)
	w.raw(`><f:Message>`)
	if f.Provider {
		w.raw(`<f:ProviderFault provider="Shell cmd plugin" path="%systemroot%\system32\winrscmd.dll">`)
		w.text(f.Message)
		w.raw(`</f:ProviderFault>`)
	} else {
		w.text(f.Message)
	}
	w.raw(`</f:Message></f:WSManFault></s:Detail></s:Fault>`)
	return w.end()
}

// Windows' fault codes and texts (winrm-reference.md §4 and the
// recordings). Reason and message texts keep Windows' trailing spaces.
const (
	CodeTimedOut          uint32 = 2150858793
	CodeInvalidSelectors  uint32 = 2150858843
	CodeMaxShells         uint32 = 2150859173
	CodeMaxOperations     uint32 = 2150859174
	CodeFileNotFound      uint32 = 2147942402
	CodeInvalidParameter  uint32 = 87
	CodeSchemaValidation  uint32 = 2150858817
	CodeInvalidTimeout    uint32 = 2150858767
	CodeActionNotSupport  uint32 = 2150858753
	CodeDestUnreachable   uint32 = 2150858770
	CodeInvalidSelectorID uint32 = CodeInvalidSelectors
)

const timedOutText = "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  "

func faultTimedOut() *Fault {
	return &Fault{Subcode: "w:TimedOut", Reason: timedOutText, Code: CodeTimedOut, Message: timedOutText}
}

const invalidSelectorsReason = "The WS-Management service cannot process the request because the request contained invalid selectors for the resource. "

func faultUnknownShell(id string) *Fault {
	return &Fault{
		Sender: true, Subcode: "w:InvalidSelectors", Reason: invalidSelectorsReason,
		Detail: "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
		Code:   CodeInvalidSelectors,
		Message: "The request for the Windows Remote Shell with ShellId " + id +
			" failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. Provide the correct ShellId or create a new shell and retry the operation. ",
	}
}

func faultUnknownCommand() *Fault {
	return &Fault{
		Sender: true, Subcode: "w:InvalidSelectors", Reason: invalidSelectorsReason,
		Detail:  "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
		Code:    CodeInvalidSelectors,
		Message: "The Windows Remote Shell received a request to perform an operation on a command identifier that does not exist. Either the command has completed execution or the client specified an invalid command identifier. ",
	}
}

func faultInvalidParameter() *Fault {
	return &Fault{
		Sender: true, Subcode: "w:InvalidParameter", Reason: "The parameter is incorrect. ",
		Detail: "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidValue",
		Code:   CodeInvalidParameter, Message: "The parameter is incorrect. ", Provider: true,
	}
}

func faultMaxShells(limit int) *Fault {
	return &Fault{
		Sender: false, Subcode: "w:QuotaLimit",
		Reason:  "The WS-Management service cannot process the request. The maximum number of concurrent shells for this user has been exceeded. Close existing shells or raise the quota for this user. ",
		Code:    CodeMaxShells,
		Message: fmt.Sprintf("The WS-Management service cannot process the request. This user is allowed a maximum number of %d concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user. ", limit),
	}
}

func faultMaxOperations(limit int) *Fault {
	return &Fault{
		Sender: false, Subcode: "w:InternalError",
		Reason:  "The WS-Management service cannot process the request. The maximum number of concurrent operations for this user has been exceeded. Close existing operations for this user, or raise the quota for this user. ",
		Code:    CodeMaxOperations,
		Message: fmt.Sprintf("The WS-Management service cannot process the request. This user is allowed a maximum number of %d concurrent operations, which has been exceeded. Close existing operations for this user, or raise the quota for this user. ", limit),
	}
}

func faultFileNotFound() *Fault {
	return &Fault{
		Subcode: "w:InternalError", Reason: "The system cannot find the file specified. ",
		Code: CodeFileNotFound, Message: "The system cannot find the file specified. ", Provider: true,
	}
}

const schemaText = "The SOAP XML in the message does not match the corresponding XML schema definition. Change the XML and retry. "

func faultSchema() *Fault {
	return &Fault{
		Sender: true, Subcode: "w:SchemaValidationError", Reason: schemaText,
		Code: CodeSchemaValidation, Message: schemaText,
	}
}

func faultInvalidTimeout() *Fault {
	const text = "The WS-Management service cannot process the request because the request contained an invalid timeout field. "
	return &Fault{
		Sender: true, Subcode: "a:InvalidMessageInformationHeader", Reason: text,
		Code: CodeInvalidTimeout, Message: text, Addressing: true,
	}
}

func faultActionNotSupported(action string) *Fault {
	const text = "The WS-Management service cannot process the request because the action is not supported. "
	return &Fault{
		Sender: true, Subcode: "a:ActionNotSupported", Reason: text,
		Detail: "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/ActionMismatch",
		Code:   CodeActionNotSupport, Message: text + "Action: " + action + " ", Addressing: true,
	}
}

func faultUnknownResource(uri string) *Fault {
	text := "The WS-Management service cannot process the request. The resource URI " + uri + " is not valid or the resource is not registered. "
	return &Fault{
		Sender: true, Subcode: "w:DestinationUnreachable", Reason: "The WS-Management service cannot process the request because the destination cannot be reached. ",
		Detail: "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidResourceURI",
		Code:   CodeDestUnreachable, Message: text,
	}
}
