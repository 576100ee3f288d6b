package winrm

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// decoderOnly parses body through encoding/xml alone, as parseResponse
// did before scanResponse.
func decoderOnly(body []byte) (*response, error) { return parseResponseCut(body, math.MaxInt) }

// scanAgrees fails the test when scanResponse answers for body and
// encoding/xml disagrees, and when parseResponse's answer (scanned or not)
// differs from encoding/xml's in any way. It returns whether scanResponse
// answered.
func scanAgrees(t *testing.T, body []byte) bool {
	t.Helper()
	want, wantErr := decoderOnly(body)
	got, ok := scanResponse(body)
	if ok {
		if wantErr != nil {
			t.Fatalf("scanResponse read %.200q, which encoding/xml refuses: %v", body, wantErr)
		}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(response{})); diff != "" {
			t.Fatalf("scanResponse differs from encoding/xml on %.200q (-xml +scan):\n%s", body, diff)
		}
	}
	all, allErr := parseResponse(body)
	if (allErr == nil) != (wantErr == nil) || (allErr != nil && allErr.Error() != wantErr.Error()) {
		t.Fatalf("parseResponse(%.200q) error %v, encoding/xml's %v", body, allErr, wantErr)
	}
	if diff := cmp.Diff(want, all, cmp.AllowUnexported(response{})); diff != "" {
		t.Fatalf("parseResponse differs from encoding/xml on %.200q (-xml +parseResponse):\n%s", body, diff)
	}
	return ok
}

func simResponse(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "responses", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestScanResponseReadsWhatTheDecoderReads(t *testing.T) {
	t.Parallel()
	const env = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Body><rsp:ReceiveResponse>`
	const end = `</rsp:ReceiveResponse></s:Body></s:Envelope>`
	receive := func(inner string) []byte { return []byte(env + inner + end) }
	tests := []struct {
		name    string
		body    []byte
		scanned bool // scanResponse answers rather than leaving it to encoding/xml
	}{
		{"simulated Create", simResponse(t, "sim-create.xml"), true},
		{"simulated Command", simResponse(t, "sim-command.xml"), true},
		{"simulated Receive with output and exit code", simResponse(t, "sim-receive-output.xml"), true},
		{"simulated Signal", simResponse(t, "sim-signal.xml"), true},
		{"simulated Delete", simResponse(t, "sim-delete.xml"), true},
		{"simulated WMI Get", simResponse(t, "sim-get-os.xml"), true},
		{"simulated fault: shell gone", simResponse(t, "sim-receive-shell-gone.xml"), true},
		{"simulated fault: operations quota", simResponse(t, "sim-command-operations-quota.xml"), true},
		{"simulated fault: shells quota", simResponse(t, "sim-create-shells-quota.xml"), true},
		{"real Windows Create", recorded(t, "test_winrs_stderr_rc", 0), true},
		{"real Windows Command", recorded(t, "test_winrs_stderr_rc", 1), true},
		{"real Windows Receive", recorded(t, "test_winrs_stderr_rc", 2), true},
		{"real Windows operation timeout fault", recorded(t, "test_winrs_operation_timeout", 2), true},
		{"real Windows config Get", recorded(t, "test_wsman_update_envelope_size_150", 0), true},
		{"a full-size Receive", bigReceive(t, 112<<10), true},
		{"base64 over CRLF lines", receive("<rsp:Stream Name=\"stdout\">b3V0\r\nIA0K\r\n</rsp:Stream>"), true},
		{"lone CR in text", receive("<rsp:Stream Name=\"stdout\">b3V0\rIA0K</rsp:Stream>"), true},
		{"single-quoted attributes", receive(`<rsp:Stream Name='stdout' End='true'/>`), true},
		{"'>' in an attribute", receive(`<rsp:Stream Name="a>b">QQ==</rsp:Stream>`), true},
		{"default namespace", []byte(`<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope"><Body/></Envelope>`), true},
		{"prefix rebound inside", []byte(env + `<x:Stream xmlns:x="urn:other" Name="stdout">QQ==</x:Stream>` + end), true},
		{"non-ASCII text", []byte(env + `<rsp:Stream Name="stdout">QQ==</rsp:Stream><m>é ü 日本</m>` + end), true},
		{"white space around the root", []byte(" \r\n" + env + end + "\n"), true},
		{"UTF-8 declaration", []byte(`<?xml version="1.0" encoding="utf-8"?>` + env + end), true},
		{"entity in text", receive(`<m>a &amp; b</m>`), false},
		{"character reference", receive(`<m>&#65;</m>`), false},
		{"comment", receive(`<!-- x -->`), false},
		{"CDATA", receive(`<m><![CDATA[x]]></m>`), false},
		{"other declaration", []byte(`<?xml version="1.0" encoding="utf-16"?>` + env + end), false},
		{"unbound prefix", receive(`<q:Stream Name="stdout">QQ==</q:Stream>`), false},
		{"xml: element", receive(`<xml:m/>`), false},
		{"space before '=' in an attribute", receive(`<rsp:Stream Name ="stdout"/>`), false},
		{"attribute without a value", receive(`<rsp:Stream End/>`), false},
		{"mismatched end tag", receive(`<rsp:Stream></rsp:Strean>`), false},
		{"space in end tag", receive(`<rsp:Stream></rsp:Stream >`), false},
		{"unclosed document", []byte(env), false},
		{"second root", []byte(env + end + env + end), false},
		{"text after the root", []byte(env + end + "x"), false},
		{"control character", receive("<m>\x01</m>"), false},
		{"malformed UTF-8", receive("<m>\xff</m>"), false},
		{"']]>' in text", receive("<m>]]></m>"), false},
		{"not SOAP", []byte(`<html><body>502</body></html>`), false},
		{"empty", nil, false},
		{"bad exit code", receive(`<rsp:CommandState State="x"><rsp:ExitCode>x</rsp:ExitCode></rsp:CommandState>`), false},
		{"bad base64", receive(`<rsp:Stream Name="stdout">!!</rsp:Stream>`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := scanAgrees(t, tt.body); got != tt.scanned {
				t.Errorf("scanResponse answered %v, want %v", got, tt.scanned)
			}
		})
	}
}

func TestScanResponseReadsEveryRecordedAnswer(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "recordings", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recordings: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var r recording
		if err := yaml.Unmarshal(data, &r); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, m := range r.Messages {
			if m.Response != "" {
				scanAgrees(t, []byte(m.Response))
			}
		}
	}
}

// FuzzScanResponse checks that whenever scanResponse reads a document,
// encoding/xml reads it without error and gives the same response, and
// that parseResponse always answers as encoding/xml does.
func FuzzScanResponse(f *testing.F) {
	for _, name := range []string{"sim-create.xml", "sim-command.xml", "sim-receive-output.xml", "sim-get-os.xml", "sim-receive-shell-gone.xml"} {
		f.Add(simResponse(f, name))
	}
	for _, name := range []string{"test_winrs_stderr_rc", "test_winrs_operation_timeout"} {
		for i := range 3 {
			f.Add(recorded(f, name, i))
		}
	}
	f.Add([]byte(`<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:p="urn:p"><Body><p:a xmlns:p="" b='1'>x&amp;</p:a></Body></Envelope>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		scanAgrees(t, body)
	})
}

// BenchmarkParseResponse measures reading the answers of a small step:
// Command and a Receive with output and exit code, through scanResponse
// and through encoding/xml.
func BenchmarkParseResponse(b *testing.B) {
	for _, file := range []string{"sim-command.xml", "sim-receive-output.xml"} {
		body := simResponse(b, file)
		for _, bc := range []struct {
			name  string
			parse func([]byte) (*response, error)
		}{{"scan", parseResponse}, {"decoder", decoderOnly}} {
			b.Run(strings.TrimSuffix(file, ".xml")+"/"+bc.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := bc.parse(body); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
