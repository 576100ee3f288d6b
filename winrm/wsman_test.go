package winrm

import (
	"github.com/fleetrun/fleetrun/launcher"

	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gopkg.in/yaml.v3"
)

// recording is one file of real Windows traffic recorded by pypsrp (see
// testdata/recordings/LICENSE.pypsrp).
type recording struct {
	Messages []struct {
		Request  string `yaml:"request"`
		Response string `yaml:"response"`
	} `yaml:"messages"`
}

func recorded(t testing.TB, name string, i int) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "recordings", name+".yml"))
	if err != nil {
		t.Fatal(err)
	}
	var r recording
	if err := yaml.Unmarshal(data, &r); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return []byte(r.Messages[i].Response)
}

func exit(n uint32) *uint32 { return &n }

func TestParseResponseReadsRealWindowsAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		i    int
		want response
	}{
		{"test_winrs_stderr_rc", 0, response{Action: "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse", ShellID: "44AF9A2C-624E-4975-AB20-CEB406E440B9"}},
		{"test_winrs_stderr_rc", 1, response{Action: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandResponse", CommandID: "D37A8327-79AD-452F-BE0D-4B99A96B4A0B"}},
		{"test_winrs_stderr_rc", 2, response{Action: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse",
			Streams: []streamChunk{{Name: "stdout", Data: []byte("out \r\n")}, {Name: "stderr", Data: []byte("err \r\n")}, {Name: "stdout", End: true}, {Name: "stderr", End: true}},
			Done:    true, ExitCode: exit(1)}},
		{"test_winrs_operation_timeout", 5, response{Action: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse",
			Streams: []streamChunk{{Name: "stdout", Data: []byte("hi")}, {Name: "stdout", Data: []byte(" again\n")}, {Name: "stdout", End: true}, {Name: "stderr", End: true}},
			Done:    true, ExitCode: exit(0)}},
		{"test_winrs_operation_timeout", 3, response{Action: "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", Fault: &fault{Code: "s:Receiver", Subcode: "w:TimedOut", WSManCode: CodeOperationTimeout}}},
		{"test_winrs_bad_cmd_id", 2, response{Action: "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", Fault: &fault{Code: "s:Sender", Subcode: "w:InvalidSelectors", WSManCode: CodeShellNotFound}}},
		{"test_winrs_fail_poll_process", 1, response{Action: "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", Fault: &fault{Code: "s:Sender", Subcode: "w:InvalidParameter", WSManCode: 87}}},
	}
	for _, tc := range tests {
		got, err := parseResponse(recorded(t, tc.file, tc.i))
		if err != nil {
			t.Errorf("%s[%d]: %v", tc.file, tc.i, err)
			continue
		}
		opts := []cmp.Option{
			cmpopts.IgnoreFields(response{}, "Elements"),
			cmpopts.IgnoreFields(fault{}, "Reason", "Message", "Machine"),
			cmpopts.EquateEmpty(),
			cmp.AllowUnexported(response{}),
		}
		if diff := cmp.Diff(tc.want, *got, opts...); diff != "" {
			t.Errorf("%s[%d] (-want +got):\n%s", tc.file, tc.i, diff)
		}
		if got.Fault != nil && (got.Fault.Reason == "" || got.Fault.Message == "") {
			t.Errorf("%s[%d]: fault without reason or message: %+v", tc.file, tc.i, got.Fault)
		}
	}
}

func TestParseResponseReadsTheConfiguration(t *testing.T) {
	t.Parallel()
	resp, err := parseResponse(recorded(t, "test_wsman_update_envelope_size_150", 0))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := configFrom(resp.Elements)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{MaxEnvelopeSizeKB: 150, MaxTimeoutMS: 60000, MaxConcurrentOperationsPerUser: 1500, Winrs: WinrsConfig{
		AllowRemoteShellAccess: true, IdleTimeoutMS: 7200000, MaxConcurrentUsers: 2147483647, MaxShellRunTimeMS: 2147483647,
		MaxProcessesPerShell: 2147483647, MaxMemoryPerShellMB: 2147483647, MaxShellsPerUser: 2147483647}}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestParseResponseReadsWMIDates(t *testing.T) {
	t.Parallel()
	body := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>` +
		`<p:Win32_OperatingSystem xmlns:p="x" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common">` +
		`<p:Caption>Microsoft Windows Server 2022 Datacenter</p:Caption><p:LastBootUpTime><cim:Datetime>2024-05-06T07:08:09.5Z</cim:Datetime></p:LastBootUpTime>` +
		`<p:MUILanguages>en-US</p:MUILanguages><p:MUILanguages>ja-JP</p:MUILanguages><p:OSLanguage>1041</p:OSLanguage>` +
		`</p:Win32_OperatingSystem></s:Body></s:Envelope>`
	resp, err := parseResponse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	info, err := osInfoFrom(resp.Elements)
	if err != nil {
		t.Fatal(err)
	}
	if info.Caption != "Microsoft Windows Server 2022 Datacenter" || info.OSLanguage != 1041 || info.LastBootUpTime.Format("2006-01-02T15:04:05.0Z07:00") != "2024-05-06T07:08:09.5Z" {
		t.Errorf("OS info = %+v", info)
	}
	if info.Properties["MUILanguages"] != "en-US" {
		t.Errorf("a repeated property keeps its first value, got %q", info.Properties["MUILanguages"])
	}
	if tm, ok := parseCIMTime("20240506070809.500000+540"); !ok || tm.UTC().Format("15:04:05") != "22:08:09" {
		t.Errorf("DMTF datetime = %v %v", tm, ok)
	}
}

func TestParseResponseRejectsWhatIsNotWSMan(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"", "garbage", "<html><body>IIS</body></html>", `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>`,
		`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><rsp:ReceiveResponse xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><rsp:Stream Name="stdout">!!!</rsp:Stream></rsp:ReceiveResponse></s:Body></s:Envelope>`,
		`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><rsp:CommandState xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"><rsp:ExitCode>99999999999</rsp:ExitCode></rsp:CommandState></s:Body></s:Envelope>`,
	} {
		if _, err := parseResponse([]byte(body)); err == nil {
			t.Errorf("parseResponse(%.60q) succeeded, want an error", body)
		}
	}
}

func TestExitCodesAreDWORDs(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]uint32{"0": 0, "3010": 3010, "3221225477": 3221225477, "-1073741819": 3221225477, "4294967295": 4294967295, "-1": 4294967295} {
		got, err := parseExitCode(in)
		if err != nil || got != want {
			t.Errorf("parseExitCode(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"4294967296", "-2147483649", "x", ""} {
		if _, err := parseExitCode(in); err == nil {
			t.Errorf("parseExitCode(%q) succeeded", in)
		}
	}
}

func TestRequestsAreWellFormedWSMan(t *testing.T) {
	t.Parallel()
	msgs := map[string][]byte{
		"create":  createShellMessage("http://h:5985/wsman", "PT60S"),
		"command": commandMessage("http://h:5985/wsman", "PT60S", "S-1", launcher.PowerShellExe, []string{"-A", "<&>]]>"}, true),
		"send":    sendMessage("http://h:5985/wsman", "PT60S", "S-1", "C-1", []byte("data"), true),
		"receive": receiveMessage("http://h:5985/wsman", "S-1", "C-1", "PT20S"),
		"signal":  signalMessage("http://h:5985/wsman", "PT60S", "S-1", "C-1"),
		"delete":  deleteShellMessage("http://h:5985/wsman", "PT60S", "S-1"),
		"get":     getMessage("http://h:5985/wsman", "PT60S", resourceConfig),
	}
	for name, m := range msgs {
		// Every request must itself parse as a SOAP envelope.
		if _, err := parseResponse(m); err != nil {
			t.Errorf("%s request does not parse: %v\n%s", name, err, m)
		}
	}
	cmd := string(msgs["command"])
	for _, want := range []string{`Name="WINRS_CONSOLEMODE_STDIN">FALSE<`, `Name="WINRS_SKIP_CMD_SHELL">FALSE<`, "&lt;&amp;&gt;]]&gt;", `%SystemRoot%\System32`} {
		if !strings.Contains(cmd, want) {
			t.Errorf("command request lacks %q", want)
		}
	}
	if !strings.Contains(string(msgs["receive"]), "PT20S") {
		t.Errorf("receive request lacks its OperationTimeout")
	}
}

func TestSendChunksFitTheHostsEnvelope(t *testing.T) {
	t.Parallel()
	for _, kb := range []int{150, 500, 8192} {
		n := sendChunkSize(kb)
		msg := sendMessage("http://very-long-host-name.example.com:5985/wsman", "PT60S", "11111111-2222-3333-4444-555555555555", "11111111-2222-3333-4444-555555555555", bytes.Repeat([]byte{0xff}, n), false)
		if len(msg) > kb*1024 {
			t.Errorf("a Send of %d bytes makes a %d-byte envelope, over %d KB", n, len(msg), kb)
		}
		if len(msg) < kb*1024*9/10 {
			t.Errorf("a Send of %d bytes makes a %d-byte envelope, wasting much of %d KB", n, len(msg), kb)
		}
	}
}

func TestSealedFramingRoundTrips(t *testing.T) {
	t.Parallel()
	sig := bytes.Repeat([]byte{1}, ntlmSignatureSize)
	// Sealed data that contains the boundary and CRLFs must survive.
	sealed := []byte("\r\n--Encrypted Boundary\r\n\tContent-Type: x\r\n--Encrypted Boundary--\r\n\x00\xff")
	body := frameSealed(sig, sealed, len(sealed))
	gotSig, gotSealed, err := unframeSealedSized(body, ntlmSignatureSize)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotSig, sig) || !bytes.Equal(gotSealed, sealed) {
		t.Errorf("round trip changed the data")
	}
	for _, bad := range [][]byte{nil, body[:40], bytes.Replace(body, []byte("Length="), []byte("Lenght="), 1), body[:len(body)-30]} {
		if _, _, err := unframeSealedSized(bad, ntlmSignatureSize); err == nil {
			t.Errorf("unframeSealedSized(%.40q) succeeded", bad)
		}
	}
}

func FuzzParseResponse(f *testing.F) {
	for _, name := range []string{"test_winrs_stderr_rc", "test_winrs_operation_timeout", "test_winrs_bad_cmd_id"} {
		for i := range 4 {
			f.Add(recorded(f, name, i))
		}
	}
	f.Add(recorded(f, "test_wsman_update_envelope_size_150", 0))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseResponse(body)
		if err != nil {
			return
		}
		if r.ShellID != "" && strings.ContainsAny(r.ShellID, "<>") && validID(r.ShellID) {
			t.Fatalf("validID accepted %q", r.ShellID)
		}
	})
}

func FuzzUnframeSealed(f *testing.F) {
	f.Add(frameSealed(bytes.Repeat([]byte{1}, 16), []byte("<s:Envelope/>"), 13))
	f.Add([]byte("--Encrypted Boundary\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		sig, sealed, err := unframeSealedSized(body, ntlmSignatureSize)
		if err != nil {
			return
		}
		if len(sig) != ntlmSignatureSize {
			t.Fatalf("signature of %d bytes", len(sig))
		}
		again := frameSealed(sig, sealed, len(sealed))
		s2, d2, err := unframeSealedSized(again, ntlmSignatureSize)
		if err != nil || !bytes.Equal(s2, sig) || !bytes.Equal(d2, sealed) {
			t.Fatalf("re-framing does not round-trip: %v", err)
		}
	})
}
