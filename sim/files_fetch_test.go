package sim

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func fetchPayloadFor(src string, maxBytes int64) map[string]any {
	return map[string]any{"v": 1, "src": src, "max_bytes": maxBytes}
}

// frame is what the fetch script sends for one file.
func frame(path string, data []byte) string {
	return fmt.Sprintf("F %d %s %s\n", len(data), sha256Hex(data), base64.StdEncoding.EncodeToString([]byte(path))) + string(data)
}

func TestFetch(t *testing.T) {
	t.Parallel()
	f := plainFleet(t, "", "", FleetOptions{})
	h := f.Hosts()[0]
	r := newRaw(t, f, h)
	files := map[string][]byte{
		`C:\Logs\app.log`:         []byte("started\r\nstopped\r\n"),
		`C:\Logs\B.LOG`:           []byte("second\r\n"),
		`C:\Logs\notes.txt`:       []byte("not a log"),
		`C:\Logs\old\archive.log`: []byte("in a subfolder"),
		`C:\Logs\日本.log`:          []byte("\x82\xa0 cp932 bytes"),
	}
	for p, b := range files {
		if err := h.WriteFile(p, b); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		payload  map[string]any
		want     result3
		sentFrom []string // files whose bytes were sent
	}{
		{
			name: "one file, named in another case", payload: fetchPayloadFor(`c:\logs\APP.log`, 1000),
			want: result3{Stdout: frame(`C:\Logs\app.log`, files[`C:\Logs\app.log`]) + "Z\n"}, sentFrom: []string{`C:\Logs\app.log`},
		},
		{
			name: "pattern", payload: fetchPayloadFor(`C:\Logs\*.log`, 1000),
			want: result3{Stdout: frame(`C:\Logs\app.log`, files[`C:\Logs\app.log`]) + frame(`C:\Logs\B.LOG`, files[`C:\Logs\B.LOG`]) +
				frame(`C:\Logs\日本.log`, files[`C:\Logs\日本.log`]) + "Z\n"},
			sentFrom: []string{`C:\Logs\app.log`, `C:\Logs\B.LOG`, `C:\Logs\日本.log`},
		},
		{
			name: "question mark", payload: fetchPayloadFor(`C:\Logs\?.log`, 1000),
			want: result3{Stdout: frame(`C:\Logs\B.LOG`, files[`C:\Logs\B.LOG`]) + "Z\n"}, sentFrom: []string{`C:\Logs\B.LOG`},
		},
		{name: "no match", payload: fetchPayloadFor(`C:\Logs\*.etl`, 1000), want: result3{Stdout: "N\n"}},
		{name: "no such file", payload: fetchPayloadFor(`C:\Logs\gone.log`, 1000), want: result3{Stdout: "N\n"}},
		{name: "no such folder", payload: fetchPayloadFor(`C:\Nowhere\*`, 1000), want: result3{Stdout: "N\n"}},
		{
			name: "over the cap", payload: fetchPayloadFor(`C:\Logs\*.log`, 39),
			want: result3{Stderr: "fleetrun-fetch: the 3 matching files total 40 bytes, more than max_bytes 39; nothing was sent\r\n", Code: 5},
		},
		{
			name: "a folder", payload: fetchPayloadFor(`C:\Logs\old`, 1000),
			want: result3{Stderr: "fleetrun-fetch: C:\\Logs\\old is a folder: fetch takes a file or a pattern of files\r\n", Code: 2},
		},
		{
			name: "wildcard in a folder", payload: fetchPayloadFor(`C:\*\app.log`, 1000),
			want: result3{Stderr: "fleetrun-fetch: C:\\*\\app.log: wildcards are allowed in the last element only\r\n", Code: 2},
		},
	}
	for _, tt := range tests {
		before := h.Stats().FetchBytes
		c := r.start(fileCommand(fetchMarker, tt.payload))
		c.wait()
		if diff := cmp.Diff(tt.want, c.result()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
		want := int64(0)
		for _, p := range tt.sentFrom {
			want += int64(len(files[p]))
		}
		if got := h.Stats().FetchBytes - before; got != want {
			t.Errorf("%s: fetch_bytes grew by %d, want %d", tt.name, got, want)
		}
	}
}

// TestFetchBinaryRoundTrip: 3 MiB of arbitrary bytes (stored in chunks,
// more than a process may have waiting unreceived) come back unchanged.
func TestFetchBinaryRoundTrip(t *testing.T) {
	t.Parallel()
	f := plainFleet(t, "", "", FleetOptions{})
	h := f.Hosts()[0]
	r := newRaw(t, f, h)
	data := pattern(3<<20+17, 0xee)
	if err := h.WriteFile(`C:\dumps\memory.dmp`, data); err != nil {
		t.Fatal(err)
	}
	c := r.start(fileCommand(fetchMarker, fetchPayloadFor(`C:\dumps\memory.dmp`, 100<<20)))
	c.wait()
	want := frame(`C:\dumps\memory.dmp`, data) + "Z\n"
	if c.code != 0 || len(c.stderr) != 0 || !bytes.Equal(c.stdout, []byte(want)) {
		t.Errorf("code %d, stderr %q, stdout %d bytes (equal: %v), want %d", c.code, c.stderr, len(c.stdout), bytes.Equal(c.stdout, []byte(want)), len(want))
	}
	if got := h.Stats().FetchBytes; got != int64(len(data)) {
		t.Errorf("fetch_bytes %d", got)
	}
}
