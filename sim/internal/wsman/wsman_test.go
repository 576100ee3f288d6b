package wsman

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const sendRequest = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Header><wsa:Action s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send</wsa:Action><wsman:MaxEnvelopeSize s:mustUnderstand="true">153600</wsman:MaxEnvelopeSize><wsa:MessageID>uuid:0B9A3117-A985-4F4B-AE47-BB4A09EBBED9</wsa:MessageID><wsman:OperationTimeout>PT20S</wsman:OperationTimeout><wsman:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</wsman:ResourceURI><wsa:To>http://192.168.56.11:5985/wsman</wsa:To><wsman:OptionSet><wsman:Option Name="WINRS_CODEPAGE">65001</wsman:Option></wsman:OptionSet><wsman:SelectorSet><wsman:Selector Name="ShellId">0D6FCA9D-2D40-44C3-B691-E665BE7AA687</wsman:Selector></wsman:SelectorSet></s:Header><s:Body><rsp:Send><rsp:Stream CommandId="B0973E54-434E-4D99-B4BE-ADE584CE3BFB" End="True" Name="stdin">V3JpdGUtSG9zdCAib3V0cHV0IDIiOw==</rsp:Stream></rsp:Send></s:Body></s:Envelope>`

func TestParseRequestReadsHeadersAndBody(t *testing.T) {
	t.Parallel()
	req, err := ParseRequest([]byte(sendRequest))
	if err != nil {
		t.Fatal(err)
	}
	want := &Request{
		Action: ActionSend, MessageID: "uuid:0B9A3117-A985-4F4B-AE47-BB4A09EBBED9", To: "http://192.168.56.11:5985/wsman",
		ResourceURI: ResourceShellCmd, OperationTimeout: 20 * time.Second, MaxEnvelopeSize: 153600,
		Selectors: map[string]string{"ShellId": "0D6FCA9D-2D40-44C3-B691-E665BE7AA687"},
		Options:   map[string]string{"WINRS_CODEPAGE": "65001"},
		Send:      &SendBody{Stream: "stdin", CommandID: "B0973E54-434E-4D99-B4BE-ADE584CE3BFB", End: true, Data: []byte(`Write-Host "output 2";`)},
	}
	if diff := cmp.Diff(want, req); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := req.Selector("shellid"); got != "0D6FCA9D-2D40-44C3-B691-E665BE7AA687" {
		t.Errorf("Selector folds case: got %q", got)
	}
}

func TestParseRequestRefusesWhatItCannotRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		timeout bool
	}{
		{"not XML", "hello", false},
		{"not a SOAP envelope", "<Envelope/>", false},
		{"a bad OperationTimeout", regexp.MustCompile(`PT20S`).ReplaceAllString(sendRequest, "20"), true},
		{"stream data that is not base64", regexp.MustCompile(`V3Jp[^<]*`).ReplaceAllString(sendRequest, "!!!"), false},
		{"a bad MaxEnvelopeSize", regexp.MustCompile(`153600`).ReplaceAllString(sendRequest, "-1"), false},
	}
	for _, tt := range tests {
		_, err := ParseRequest([]byte(tt.body))
		var te *InvalidTimeoutError
		switch {
		case err == nil:
			t.Errorf("%s: no error", tt.name)
		case tt.timeout != errors.As(err, &te):
			t.Errorf("%s: %v; timeout error %v", tt.name, err, tt.timeout)
		case !tt.timeout && !errors.Is(err, ErrMalformed):
			t.Errorf("%s: %v is not ErrMalformed", tt.name, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"PT60S", time.Minute, true},
		{"PT7200.000S", 2 * time.Hour, true},
		{"P0DT0H0M0S", 0, true},
		{"PT1M30.5S", 90*time.Second + 500*time.Millisecond, true},
		{"P1D", 24 * time.Hour, true},
		{"60", 0, false},
		{"PT", 0, false},
		{"P1Y", 0, false},
		{"PTT1S", 0, false},
		{"P99999D", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	if got := FormatSeconds(7200 * time.Second); got != "PT7200.000S" {
		t.Errorf("FormatSeconds = %q", got)
	}
}

// FuzzParseRequest feeds the parser arbitrary bytes, seeded with every
// request of the Windows recordings: it must never panic, and what it
// accepts must be usable.
func FuzzParseRequest(f *testing.F) {
	files, _ := filepath.Glob("../../testdata/winrs-recordings/*.yml")
	re := regexp.MustCompile(`(?m)^- request: (.*)$`)
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(data, -1) {
			f.Add(m[1])
		}
	}
	f.Add([]byte(sendRequest))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ParseRequest(data)
		if err != nil {
			return
		}
		_ = req.Selector("ShellId")
		_ = req.Option("WINRS_CODEPAGE")
		if req.OperationTimeout < 0 || req.MaxEnvelopeSize < 0 {
			t.Errorf("negative values: %+v", req)
		}
	})
}

// FuzzParseDuration checks the xs:duration parser.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"PT60S", "PT7200.000S", "P0DT0H0M0S", "PT1M30.5S", "P1D"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseDuration(s); err == nil && d < 0 {
			t.Errorf("ParseDuration(%q) = %v", s, d)
		}
	})
}

// TestParseLargeSend: a Send's long stream text, which the parser takes
// out before XML decoding, decodes to the bytes sent, with and without a
// prefix, and other documents with long base64 text are left whole.
func TestParseLargeSend(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte{0, 1, 2, 0xfe, 0xff, 'x'}, 3000)
	b64 := base64.StdEncoding.EncodeToString(data)
	head := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Header><wsa:Action>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send</wsa:Action></s:Header><s:Body>`
	tests := []struct {
		name, body string
		want       []byte
	}{
		{"prefixed", `<rsp:Send><rsp:Stream Name="stdin" CommandId="C1" End="true">` + b64 + `</rsp:Stream></rsp:Send>`, data},
		{"default namespace", `<Send xmlns="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><Stream Name="stdin" CommandId="C1" End="true">` + "\r\n" + b64 + "\r\n" + `</Stream></Send>`, data},
	}
	for _, tt := range tests {
		req, err := ParseRequest([]byte(head + tt.body + `</s:Body></s:Envelope>`))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if req.Send == nil || !bytes.Equal(req.Send.Data, tt.want) || req.Send.CommandID != "C1" || !req.Send.End {
			t.Errorf("%s: Send %+v", tt.name, req.Send)
		}
	}
	// A Command whose argument is long base64 keeps it.
	cmd := `<rsp:CommandLine><rsp:Command>powershell</rsp:Command><rsp:Arguments>-EncodedCommand</rsp:Arguments><rsp:Arguments>` + b64 + `</rsp:Arguments></rsp:CommandLine>`
	req, err := ParseRequest([]byte(head + cmd + `</s:Body></s:Envelope>`))
	if err != nil {
		t.Fatal(err)
	}
	if req.CommandLine == nil || len(req.CommandLine.Arguments) != 2 || req.CommandLine.Arguments[1] != b64 {
		t.Errorf("Command: %+v", req.CommandLine)
	}
	// A long text in something named like a stream that is no Send's.
	odd := `<rsp:CommandLine><rsp:Command a="b:Stream ">` + b64 + `</rsp:Command></rsp:CommandLine>`
	req, err = ParseRequest([]byte(head + odd + `</s:Body></s:Envelope>`))
	if err != nil {
		t.Fatal(err)
	}
	if req.CommandLine == nil || req.CommandLine.Command != b64 {
		t.Errorf("odd Command: %+v", req.CommandLine)
	}
}
