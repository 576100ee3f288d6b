package sealframe

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	spnego = "application/HTTP-SPNEGO-session-encrypted"
	soap   = "application/soap+xml;charset=UTF-8"
)

// TestAppendIsWindowsFraming pins the bytes of one sealed message.
func TestAppendIsWindowsFraming(t *testing.T) {
	t.Parallel()
	got := Append(nil, spnego, soap, 3, []byte("HDR"), []byte("abc"))
	want := "--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n" +
		"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=3\r\n--Encrypted Boundary\r\n" +
		"\tContent-Type: application/octet-stream\r\n\x03\x00\x00\x00HDRabc--Encrypted Boundary--\r\n"
	if string(got) != want {
		t.Errorf("Append:\n%q\nwant\n%q", got, want)
	}
	if ct := ContentType(spnego); ct != `multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"` {
		t.Errorf("ContentType = %q", ct)
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	one := Append(nil, spnego, soap, 3, []byte("HDR"), []byte("abc"))
	two := append(bytes.TrimSuffix(Append(nil, spnego, soap, 2, []byte("H1"), []byte("xy")), []byte("--Encrypted Boundary--\r\n")), Append(nil, spnego, "text/plain", 1, []byte("H2"), []byte("z"))...)
	// bodgit/ntlmssp/http: Length counts the whole data part (4+3+3).
	bodgit := bytes.Replace(one, []byte("Length=3"), []byte("Length=10"), 1)
	tests := []struct {
		name    string
		body    []byte
		spec    Spec
		want    []Part
		wantErr string
	}{
		{"one part", one, Spec{Protocol: spnego}, []Part{{soap, []byte("HDR"), []byte("abc")}}, ""},
		{"two parts", two, Spec{Protocol: spnego}, []Part{{soap, []byte("H1"), []byte("xy")}, {"text/plain", []byte("H2"), []byte("z")}}, ""},
		{"the protocol compared without case", one, Spec{Protocol: strings.ToUpper(spnego)}, []Part{{soap, []byte("HDR"), []byte("abc")}}, ""},
		{"bodgit's Length accepted when allowed", bodgit, Spec{Protocol: spnego, LengthMayCoverDataPart: true}, []Part{{soap, []byte("HDR"), []byte("abc")}}, ""},
		{"bodgit's Length refused otherwise", bodgit, Spec{Protocol: spnego}, nil, "does not fit"},
		{"another protocol", one, Spec{Protocol: "application/HTTP-Kerberos-session-encrypted"}, nil, "header part has Content-Type"},
		{"a header length the spec refuses", one, Spec{Protocol: spnego, CheckHeader: func(n, _ int) error { return errors.New("no 3-byte headers") }}, nil, "no 3-byte headers"},
		{"a header longer than the body", bytes.Replace(one, []byte("\x03\x00\x00\x00"), []byte("\xff\xff\x00\x00"), 1), Spec{Protocol: spnego}, nil, "does not fit"},
		{"an empty body", nil, Spec{Protocol: spnego}, nil, "expected"},
		{"only a closing boundary", []byte("--Encrypted Boundary--\r\n"), Spec{Protocol: spnego}, nil, "no parts"},
		{"bytes after the end", append(append([]byte(nil), one...), 'x'), Spec{Protocol: spnego}, nil, "after the closing boundary"},
		{"no Length", bytes.Replace(one, []byte(";Length=3"), nil, 1), Spec{Protocol: spnego}, nil, "has no Length"},
		{"a cut body", one[:len(one)-30], Spec{Protocol: spnego}, nil, "does not fit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.body, Boundary, tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parts (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := Parse(one, "", Spec{Protocol: spnego}); err == nil || !strings.Contains(err.Error(), "no boundary") {
		t.Errorf("no boundary: %v", err)
	}
}

// FuzzParse: any body either fails or gives parts that Append turns back
// into a body Parse reads the same way; nothing panics.
func FuzzParse(f *testing.F) {
	f.Add(Append(nil, spnego, soap, 3, []byte("HDR"), []byte("abc")))
	f.Add([]byte("--Encrypted Boundary\r\n\tContent-Type: x\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		parts, err := Parse(body, Boundary, Spec{Protocol: spnego})
		if err != nil {
			return
		}
		var again []byte
		for _, p := range parts {
			again = append(bytes.TrimSuffix(again, []byte("--"+Boundary+"--\r\n")), Append(nil, spnego, p.ContentType, len(p.Data), p.Header, p.Data)...)
		}
		back, err := Parse(again, Boundary, Spec{Protocol: spnego})
		if err != nil {
			t.Fatalf("re-framed parts do not parse: %v", err)
		}
		if diff := cmp.Diff(parts, back); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
