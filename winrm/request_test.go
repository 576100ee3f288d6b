package winrm

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"strconv"
	"testing"
)

func TestWriteRequestWritesWhatRequestWriteWrites(t *testing.T) {
	t.Parallel()
	urls := []string{"http://127.0.0.1:5985/wsman", "https://win01.corp.example:5986/wsman", "http://[::1]:5985/wsman", "http://WIN01:5985/wsman?x=1"}
	headers := []struct {
		name   string
		header http.Header
	}{
		{"none", nil},
		{"basic", http.Header{"Authorization": {"Basic Zm9vOmJhcg=="}}},
		{"certificate", http.Header{"Authorization": {"http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"}}},
		{"NTLM leg", http.Header{"Authorization": {"Negotiate TlRMTVNTUAABAAAAB4IIog=="}}},
		{"sealed", http.Header{"Content-Type": {sealContentType}}},
		{"sealed Kerberos", http.Header{"Content-Type": {sealContentType}, "Authorization": {"Kerberos YII="}}},
		{"empty content type", http.Header{"Content-Type": {""}}},
		{"content type without values", http.Header{"Content-Type": {}}},
		{"two values, spaces and line breaks", http.Header{"X-A": {" a ", "b\r\nc"}, "X-B": {"d\n"}}},
		{"headers Request.Write writes itself", http.Header{"Host": {"elsewhere"}, "User-Agent": {"other"}, "Content-Length": {"9"}, "Transfer-Encoding": {"chunked"}, "Trailer": {"X"}}},
	}
	bodies := [][]byte{nil, []byte("<s:Envelope/>"), bytes.Repeat([]byte("x"), 70000)}
	for _, u := range urls {
		var head requestHead
		for _, h := range headers {
			for _, body := range bodies {
				req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range h.header {
					req.Header[k] = v
				}
				if req.Header.Get("Content-Type") == "" {
					req.Header.Set("Content-Type", soapContentType)
				}
				req.Header.Set("User-Agent", "fleetrun")
				var want bytes.Buffer
				if err := req.Write(&want); err != nil {
					t.Fatal(err)
				}
				hd, err := head.get(u)
				if err != nil {
					t.Fatal(err)
				}
				var got bytes.Buffer
				writeRequest(&got, hd, h.header, len(body), func(b *bytes.Buffer) { b.Write(body) })
				if !bytes.Equal(got.Bytes(), want.Bytes()) {
					t.Errorf("%s, headers %s, %d-byte body:\n got %.300q\nwant %.300q", u, h.name, len(body), got.Bytes(), want.Bytes())
				}
			}
		}
	}
}

func TestRequestHeadReportsABadURL(t *testing.T) {
	t.Parallel()
	var head requestHead
	if _, err := head.get("http://bad host/wsman"); err == nil {
		t.Error("a URL with a space in its host gave a request head")
	}
}

// frameSealedAsWritten is the sealed framing as it was first written
// (before writeFrameSealed), the reference for the one written now.
func frameSealedAsWritten(signature, sealed []byte, plainLen int) []byte {
	var b bytes.Buffer
	b.WriteString("--" + sealBoundary + "\r\n")
	b.WriteString("\tContent-Type: " + sealProtocol + "\r\n")
	b.WriteString("\tOriginalContent: type=" + soapContentType + ";Length=" + strconv.Itoa(plainLen) + "\r\n")
	b.WriteString("--" + sealBoundary + "\r\n")
	b.WriteString("\tContent-Type: application/octet-stream\r\n")
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(signature)))
	b.Write(n[:])
	b.Write(signature)
	b.Write(sealed)
	b.WriteString("--" + sealBoundary + "--\r\n")
	return b.Bytes()
}

func TestWriteFrameSealedFramesAsBefore(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ sig, sealed int }{{16, 0}, {16, 1}, {16, 9}, {16, 10}, {16, 12345}, {60, 150 << 10}} {
		sig, sealed := bytes.Repeat([]byte{1}, tt.sig), bytes.Repeat([]byte{2}, tt.sealed)
		want := frameSealedAsWritten(sig, sealed, tt.sealed)
		if got := frameSealed(sig, sealed, tt.sealed); !bytes.Equal(got, want) {
			t.Errorf("frameSealed of %d+%d bytes differs from the framing as first written", tt.sig, tt.sealed)
		}
		if n := sealedFrameLen(sig, sealed, tt.sealed); n != len(want) {
			t.Errorf("sealedFrameLen of %d+%d bytes = %d, want %d", tt.sig, tt.sealed, n, len(want))
		}
	}
}

// BenchmarkWriteSealedCommand measures writing a sealed Command request
// (an 8 KB message, as the launcher makes) into the connection's buffer.
func BenchmarkWriteSealedCommand(b *testing.B) {
	var head requestHead
	hd, err := head.get("http://127.0.0.1:5985/wsman")
	if err != nil {
		b.Fatal(err)
	}
	sig, sealed := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 8<<10)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		h := http.Header{}
		h.Set("Content-Type", sealContentType)
		writeRequest(&buf, hd, h, sealedFrameLen(sig, sealed, len(sealed)), func(w *bytes.Buffer) {
			writeFrameSealed(w, sig, sealed, len(sealed))
		})
	}
}
