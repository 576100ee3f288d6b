package winrm

import (
	"bytes"
	"encoding/base64"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// bigReceive is a Receive response as Windows sends it, with n bytes of
// stdout in the first stream (about what one response carries at the
// 153600-byte envelope fleetrun asks for when n is 112 KB).
func bigReceive(t testing.TB, n int) []byte {
	t.Helper()
	body := recorded(t, "test_winrs_stderr_rc", 2)
	out := bytes.Repeat([]byte("0123456789 fleetrun output line\r\n"), n/33+1)[:n]
	big := bytes.Replace(body, []byte(">b3V0IA0K<"), []byte(">"+base64.StdEncoding.EncodeToString(out)+"<"), 1)
	if bytes.Equal(big, body) {
		t.Fatal("the recorded response has no stdout stream to replace")
	}
	return big
}

// parseBoth parses body with and without cutting streams and fails the
// test when the two disagree in any way.
func parseBoth(t *testing.T, body []byte) (*response, error) {
	t.Helper()
	fast, fastErr := parseResponseCut(body, 0)
	slow, slowErr := parseResponseCut(body, math.MaxInt)
	if (fastErr == nil) != (slowErr == nil) || (fastErr != nil && fastErr.Error() != slowErr.Error()) {
		t.Fatalf("errors differ: cut %v, uncut %v", fastErr, slowErr)
	}
	if diff := cmp.Diff(slow, fast, cmp.AllowUnexported(response{})); diff != "" {
		t.Fatalf("cutting streams changed the result (-uncut +cut):\n%s", diff)
	}
	return fast, fastErr
}

func TestCutStreamsReadsWhatTheDecoderReads(t *testing.T) {
	t.Parallel()
	env := func(body string) []byte {
		return []byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Body><rsp:ReceiveResponse>` + body + `</rsp:ReceiveResponse></s:Body></s:Envelope>`)
	}
	tests := []struct {
		name string
		body []byte
		cut  bool // cutStreams takes the fast path
	}{
		{"a real Windows answer with output on both streams", recorded(t, "test_winrs_stderr_rc", 2), true},
		{"a full-size answer", bigReceive(t, 112<<10), true},
		{"base64 broken over CRLF lines", env("<rsp:Stream Name=\"stdout\">b3V0\r\nIA0K\r\n</rsp:Stream>"), true},
		{"base64 with a lone CR", env("<rsp:Stream Name=\"stdout\">b3V0\rIA0K</rsp:Stream>"), true},
		{"a quoted '>' in an attribute before the text", env(`<rsp:Stream Name="a>b" End='x>y'>b3V0IA0K</rsp:Stream>`), true},
		{"a self-closing stream between two with text", env(`<rsp:Stream Name="stdout">b3V0</rsp:Stream><rsp:Stream Name="stderr"/><rsp:Stream Name="stdout">IA0K</rsp:Stream>`), true},
		{"a stream in another namespace", env(`<x:Stream xmlns:x="urn:x" Name="stdout">b3V0IA0K</x:Stream>`), true},
		{"text with an entity stays with the decoder", env(`<rsp:Stream Name="stdout">b3V0&#65;IA0K</rsp:Stream>`), false},
		{"text that is not base64 stays with the decoder", env(`<rsp:Stream Name="stdout">not base64!</rsp:Stream>`), false},
		{"mixed content stays with the decoder", env(`<rsp:Stream Name="stdout">b3V0<x/>IA0K</rsp:Stream>`), false},
		{"a comment sends the whole document to the decoder", env(`<!-- <rsp:Stream>AAAA</rsp:Stream> --><rsp:Stream Name="stdout">b3V0IA0K</rsp:Stream>`), false},
		{"CDATA sends the whole document to the decoder", env(`<rsp:Stream Name="stdout"><![CDATA[b3V0IA0K]]></rsp:Stream>`), false},
		{"an XML declaration is allowed", append([]byte(`<?xml version="1.0" encoding="utf-8"?>`), recorded(t, "test_winrs_stderr_rc", 2)...), true},
		{"a mismatched end tag is still the decoder's error", env(`<rsp:Stream Name="stdout">b3V0IA0K</rsp:Other>`), true},
		{"an unterminated start tag is the decoder's error", env(`<rsp:Stream Name="stdout`), false},
		{"invalid base64 is reported as before", env("<rsp:Stream Name=\"stdout\">b3V0I\nA0K=</rsp:Stream>\n<bad"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, _, ok := cutStreams(tt.body); ok != tt.cut {
				t.Errorf("cutStreams took the fast path: %v, want %v", ok, tt.cut)
			}
			_, _ = parseBoth(t, tt.body) // parseBoth fails the test on any difference
		})
	}
}

func TestParseResponseDecodesAFullSizeReceive(t *testing.T) {
	t.Parallel()
	body := bigReceive(t, 112<<10)
	r, err := parseBoth(t, body)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("0123456789 fleetrun output line\r\n"), (112<<10)/33+1)[:112<<10]
	if len(r.Streams) != 4 || !bytes.Equal(r.Streams[0].Data, want) || !r.Done || r.ExitCode == nil || *r.ExitCode != 1 {
		t.Errorf("parsed %d streams, first %d bytes (want %d), done %v", len(r.Streams), len(r.Streams[0].Data), len(want), r.Done)
	}
}

func TestCompactSpaceIsFieldsJoined(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "abc", " a b\tc\r\n", "\v\fa\u00a0b\u2003c", "日本 語", "  "} {
		if got, want := compactSpace(s), strings.Join(strings.Fields(s), ""); got != want {
			t.Errorf("compactSpace(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestDecodeStreamIsDecodingTheCompactedText(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "b3V0IA0K", "b3V0\r\nIA0K", "b3V0 IA0K", "b3V0\tIA0K\n", "b3V0\u00a0IA0K", "b3V0IA0K=", "!!", "QQ", "QQ==\r\n"} {
		got, gotErr := decodeStream(s)
		want, wantErr := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if !bytes.Equal(got, want) || (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Errorf("decodeStream(%q) = %q, %v; want %q, %v", s, got, gotErr, want, wantErr)
		}
	}
}

// FuzzParseResponseStreams checks that taking stream texts out of the
// decoder's way never changes what parseResponse returns.
func FuzzParseResponseStreams(f *testing.F) {
	for _, name := range []string{"test_winrs_stderr_rc", "test_winrs_operation_timeout", "test_winrs_bad_cmd_id"} {
		for i := range 4 {
			f.Add(recorded(f, name, i))
		}
	}
	f.Add(bigReceive(f, 300))
	f.Add([]byte("<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><Stream a='>'>QQ==\r</Stream><Stream/></s:Envelope>"))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = parseBoth(t, body) // parseBoth fails the test on any difference
		if ft := compactSpace(string(body)); ft != strings.Join(strings.Fields(string(body)), "") {
			t.Fatalf("compactSpace differs from strings.Fields on %q", body)
		}
		got, gotErr := decodeStream(string(body))
		want, wantErr := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(body)), ""))
		if !bytes.Equal(got, want) || (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("decodeStream(%q) = %q, %v; want %q, %v", body, got, gotErr, want, wantErr)
		}
	})
}

// FuzzCutStreamsEnvelope varies the attributes, text and neighbours of
// Stream elements inside a well-formed Receive envelope, where random
// bytes rarely reach.
func FuzzCutStreamsEnvelope(f *testing.F) {
	f.Add(`Name="stdout"`, "b3V0IA0K", "")
	f.Add(`Name="a>b" End='true'`, "b3V0\r\nIA0K\r", `<rsp:Stream Name="stderr"/>`)
	f.Add(`Name="stdout"`, "QQ==", `<!-- x -->`)
	f.Fuzz(func(t *testing.T, attrs, text, between string) {
		body := `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Body><rsp:ReceiveResponse>` +
			`<rsp:Stream ` + attrs + `>` + text + `</rsp:Stream>` + between + `<rsp:Stream Name="stderr">` + text + `</rsp:Stream>` +
			`</rsp:ReceiveResponse></s:Body></s:Envelope>`
		_, _ = parseBoth(t, []byte(body)) // parseBoth fails the test on any difference
	})
}

// BenchmarkParseReceiveFull measures parsing a full-size Receive response
// (112 KB of output, what one response carries at fleetrun's envelope).
func BenchmarkParseReceiveFull(b *testing.B) {
	body := bigReceive(b, 112<<10)
	for _, bc := range []struct {
		name   string
		minCut int
	}{{"cut", minCutStreams}, {"decoder", math.MaxInt}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := parseResponseCut(body, bc.minCut); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
