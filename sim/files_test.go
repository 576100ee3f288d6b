package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fileScriptText is a stand-in for one of fleetrun's file scripts: the
// marker, the payload statement and PowerShell the simulator never reads.
func fileScriptText(marker string, payload map[string]any) string {
	raw, err := json.Marshal(payload)
	if err != nil {
		panic(err) // maps of strings and numbers always encode
	}
	return marker + "\n$fleetrunPayload = '" + base64.StdEncoding.EncodeToString(raw) + "'\n" +
		"$ErrorActionPreference = 'Stop'\n# ... what the script does ...\n"
}

// fileCommand is the WinRS command line of a file script.
func fileCommand(marker string, payload map[string]any) string {
	return `powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand ` +
		encodeCommand(fileScriptText(marker, payload))
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// copyPayloadFor is the copy payload for data at dest.
func copyPayloadFor(dest string, data []byte) map[string]any {
	sum := sha256Hex(data)
	return map[string]any{"v": 1, "dest": dest, "tmp": dest + ".fleetrun-" + sum[:12] + ".tmp", "sha256": sum, "size": len(data)}
}

// wsCommand is one command run through the raw WS-Man client, its output
// gathered by Receives.
type wsCommand struct {
	r      *raw
	shell  string
	id     string
	stdout []byte
	stderr []byte
	done   bool
	code   uint32
}

// start opens a shell and runs command in it.
func (r *raw) start(command string) *wsCommand {
	r.t.Helper()
	shell := r.create()
	n := r.command(shell, command)
	id := n.find(nsShell, "CommandId")
	if id == nil {
		r.t.Fatalf("Command: no CommandId in %s", n)
	}
	return &wsCommand{r: r, shell: shell, id: id.text}
}

// post sends one envelope and returns the HTTP status and body.
func (r *raw) post(ctx context.Context, body string) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.h.URL(), strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.SetBasicAuth(r.f.User(), r.f.Password())
	req.Header.Set("Content-Type", soapContentType)
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data, err
}

// send sends stdin data; it returns the HTTP status (0 with an error when
// the connection failed).
func (c *wsCommand) send(data []byte, end bool) (int, error) {
	return c.sendWithin(data, end, "PT20S")
}

// sendWithin sends stdin data with an OperationTimeout.
func (c *wsCommand) sendWithin(data []byte, end bool, opTimeout string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body := `<rsp:Send><rsp:Stream Name="stdin" CommandId="` + c.id + `" End="` + strconv.FormatBool(end) + `">` +
		base64.StdEncoding.EncodeToString(data) + `</rsp:Stream></rsp:Send>`
	status, _, _, err := c.r.post(ctx, envelope(ActionSend, ResourceShellCmd, c.shell, body, opTimeout))
	return status, err
}

// sendAll sends data in Sends of at most chunk bytes, the last with End.
func (c *wsCommand) sendAll(data []byte, chunk int) {
	c.r.t.Helper()
	for {
		n := min(chunk, len(data))
		status, err := c.send(data[:n], n == len(data))
		if err != nil || status != http.StatusOK {
			c.r.t.Fatalf("Send: status %d, %v", status, err)
		}
		data = data[n:]
		if len(data) == 0 {
			return
		}
	}
}

// receive makes one Receive and adds what it brought.
func (c *wsCommand) receive() {
	c.r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, n, err := c.r.do(ctx, envelope(ActionReceive, ResourceShellCmd, c.shell, receiveBody(c.id), "PT20S"))
	if err != nil {
		c.r.t.Fatalf("Receive: %v", err)
	}
	if code := faultCode(n); code != "" {
		c.r.t.Fatalf("Receive: fault %s", code)
	}
	for _, s := range n.findAll(nsShell, "Stream") {
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s.text))
		if err != nil {
			c.r.t.Fatalf("Receive: stream %q: %v", s.text, err)
		}
		if s.attrs["Name"] == "stderr" {
			c.stderr = append(c.stderr, data...)
		} else {
			c.stdout = append(c.stdout, data...)
		}
	}
	if st := n.find(nsShell, "CommandState"); st != nil && strings.HasSuffix(st.attrs["State"], "/Done") {
		c.done = true
		if ec := n.find(nsShell, "ExitCode"); ec != nil {
			v, err := strconv.ParseUint(strings.TrimSpace(ec.text), 10, 32)
			if err != nil {
				c.r.t.Fatalf("Receive: exit code %q: %v", ec.text, err)
			}
			c.code = uint32(v)
		}
	}
}

// firstLine receives until stdout holds a whole line and returns it.
func (c *wsCommand) firstLine() string {
	c.r.t.Helper()
	for !bytes.Contains(c.stdout, []byte("\n")) && !c.done {
		c.receive()
	}
	line, _, _ := bytes.Cut(c.stdout, []byte("\n"))
	return string(line)
}

// wait receives until the command is done.
func (c *wsCommand) wait() {
	c.r.t.Helper()
	for !c.done {
		c.receive()
	}
}

// result is a finished command's output and exit code.
type result3 struct {
	Stdout, Stderr string
	Code           uint32
}

func (c *wsCommand) result() result3 {
	return result3{Stdout: string(c.stdout), Stderr: string(c.stderr), Code: c.code}
}

// copyTo runs a copy of data to dest on r's host, as fleetrun does: the
// first line, then (after W) the bytes in Sends of chunk bytes.
func copyTo(r *raw, dest string, data []byte, chunk int) result3 {
	r.t.Helper()
	c := r.start(fileCommand(copyMarker, copyPayloadFor(dest, data)))
	if c.firstLine() == "W" {
		c.sendAll(data, chunk)
	}
	c.wait()
	return c.result()
}

// pattern is n pseudo-random bytes, the same for the same seed.
func pattern(n int, seed byte) []byte {
	var key [32]byte
	key[0] = seed
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b) // never fails
	return b
}

func TestCopyWritesNewFileThenFindsItUnchanged(t *testing.T) {
	t.Parallel()
	f := plainFleet(t, "", "", FleetOptions{})
	h := f.Hosts()[0]
	r := newRaw(t, f, h)
	data := pattern(300_000, 0x5a)
	sum := sha256Hex(data)
	dest := `C:\Patches\New Folder\KB5034439.msu`

	got := copyTo(r, dest, data, 100_000)
	if diff := cmp.Diff(result3{Stdout: "W\nD " + sum + "\n"}, got); diff != "" {
		t.Fatalf("first copy (-want +got):\n%s", diff)
	}
	content, err := h.ReadFile(`c:\patches\new folder\kb5034439.MSU`)
	if err != nil || !bytes.Equal(content, data) {
		t.Fatalf("dest holds %d bytes (%v), want the %d sent", len(content), err, len(data))
	}
	if info, ok := h.File(dest); !ok || info != (FileInfo{Size: 300_000, SHA256: sum}) {
		t.Errorf("File = %+v, %v", info, ok)
	}
	if h.Exists(dest + ".fleetrun-" + sum[:12] + ".tmp") {
		t.Error("the temporary file is still there")
	}
	st := h.Stats()
	if st.SendBytes != 300_000 || st.FilesWritten != 1 || st.FilesUnchanged != 0 || st.Programs["fleetrun-copy"] != 1 {
		t.Errorf("stats after copy: send %d, written %d, unchanged %d, programs %v", st.SendBytes, st.FilesWritten, st.FilesUnchanged, st.Programs)
	}

	// The second time the script answers U and never reads stdin: the
	// client sends nothing.
	c := r.start(fileCommand(copyMarker, copyPayloadFor(dest, data)))
	if line := c.firstLine(); line != "U" {
		t.Fatalf("second copy's first line %q, want U", line)
	}
	c.wait()
	if diff := cmp.Diff(result3{Stdout: "U\n"}, c.result()); diff != "" {
		t.Errorf("second copy (-want +got):\n%s", diff)
	}
	st = h.Stats()
	if st.SendBytes != 300_000 || st.FilesWritten != 1 || st.FilesUnchanged != 1 {
		t.Errorf("stats after unchanged copy: send %d, written %d, unchanged %d", st.SendBytes, st.FilesWritten, st.FilesUnchanged)
	}
}

func TestCopyFailures(t *testing.T) {
	t.Parallel()
	f := plainFleet(t, "", "", FleetOptions{})
	h := f.Hosts()[0]
	r := newRaw(t, f, h)
	old := []byte("the old content\r\n")
	if err := h.WriteFile(`C:\data\app.cfg`, old); err != nil {
		t.Fatal(err)
	}
	data := pattern(5000, 1)
	sum := sha256Hex(data)

	tests := []struct {
		name    string
		dest    string
		payload map[string]any
		send    []byte // sent after W, then stdin ends
		want    result3
		kept    []byte // what dest holds afterwards (nil: nothing)
	}{
		{
			name: "stdin ends short", dest: `C:\data\short.bin`, payload: copyPayloadFor(`C:\data\short.bin`, data), send: data[:4000],
			want: result3{Stdout: "W\n", Stderr: `fleetrun-copy: stdin ended after 4000 of 5000 bytes; C:\data\short.bin.fleetrun-` + sum[:12] + ".tmp removed\r\n", Code: 3},
		},
		{
			name: "bytes differ from the hash", dest: `C:\data\app.cfg`, payload: copyPayloadFor(`C:\data\app.cfg`, data), send: pattern(5000, 2),
			want: result3{Stdout: "W\n", Stderr: "fleetrun-copy: hash mismatch: the 5000 bytes received have SHA-256 " + sha256Hex(pattern(5000, 2)) +
				", expected " + sum + `; C:\data\app.cfg.fleetrun-` + sum[:12] + ".tmp removed\r\n", Code: 4},
			kept: old,
		},
		{
			name: "dest is a folder", dest: `C:\Windows`, payload: copyPayloadFor(`C:\Windows`, data),
			want: result3{Stderr: "fleetrun-copy: cannot write C:\\Windows: C:\\Windows is a folder\r\n", Code: 2},
		},
		{
			name: "unknown payload field", dest: `C:\data\x.bin`, payload: map[string]any{"v": 1, "dest": `C:\data\x.bin`, "tmp": `C:\data\x.tmp`, "sha256": sum, "size": 5000, "mode": "0644"},
			want: result3{Stderr: "fleetrun-copy: bad payload: decode payload JSON: json: unknown field \"mode\"\r\n", Code: 2},
		},
		{
			name: "bad hash", dest: `C:\data\x.bin`, payload: map[string]any{"v": 1, "dest": `C:\data\x.bin`, "tmp": `C:\data\x.tmp`, "sha256": "ABC", "size": 5000},
			want: result3{Stderr: "fleetrun-copy: bad payload: sha256 \"ABC\" is not 64 lower-case hex digits\r\n", Code: 2},
		},
	}
	for _, tt := range tests {
		c := r.start(fileCommand(copyMarker, tt.payload))
		if c.firstLine() == "W" {
			c.sendAll(tt.send, 64<<10)
		}
		c.wait()
		if diff := cmp.Diff(tt.want, c.result()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
		if tmp, _ := tt.payload["tmp"].(string); h.Exists(tmp) {
			t.Errorf("%s: the temporary file %s is still there", tt.name, tmp)
		}
		if tt.dest == `C:\Windows` {
			continue
		}
		got, err := h.ReadFile(tt.dest)
		switch {
		case tt.kept == nil && err == nil:
			t.Errorf("%s: %s exists (%d bytes)", tt.name, tt.dest, len(got))
		case tt.kept != nil && !bytes.Equal(got, tt.kept):
			t.Errorf("%s: %s holds %q (%v), want %q", tt.name, tt.dest, got, err, tt.kept)
		}
	}
	if st := h.Stats(); st.FilesWritten != 0 || st.SendBytes != 9000 {
		t.Errorf("stats: written %d, send %d; want 0, 9000", st.FilesWritten, st.SendBytes)
	}
}

// TestCopySendOverMaxEnvelopeSize: a Send of 120,000 bytes (160,000 in
// base64) is over 2008 R2's 150 KB but within 2019's 500 KB.
func TestCopySendOverMaxEnvelopeSize(t *testing.T) {
	t.Parallel()
	data := pattern(120_000, 9)
	tests := []struct {
		profile string
		status  int
	}{
		{"2008r2", http.StatusRequestEntityTooLarge},
		{"2019", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			t.Parallel()
			f := plainFleet(t, "", "", FleetOptions{Profile: tt.profile})
			h := f.Hosts()[0]
			r := newRaw(t, f, h)
			c := r.start(fileCommand(copyMarker, copyPayloadFor(`C:\big.bin`, data)))
			if line := c.firstLine(); line != "W" {
				t.Fatalf("first line %q", line)
			}
			body := `<rsp:Send><rsp:Stream Name="stdin" CommandId="` + c.id + `" End="true">` + base64.StdEncoding.EncodeToString(data) + `</rsp:Stream></rsp:Send>`
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			status, hdr, answer, err := r.post(ctx, envelope(ActionSend, ResourceShellCmd, c.shell, body, "PT20S"))
			if err != nil {
				t.Fatal(err)
			}
			if status != tt.status {
				t.Fatalf("Send of %d bytes: status %d, want %d", len(body), status, tt.status)
			}
			if status == http.StatusRequestEntityTooLarge {
				if len(answer) != 0 || hdr.Get("Server") != "Microsoft-HTTPAPI/2.0" {
					t.Errorf("413 answer: body %q, Server %q", answer, hdr.Get("Server"))
				}
				if h.Stats().SendBytes != 0 {
					t.Errorf("send_bytes %d after a refused Send", h.Stats().SendBytes)
				}
				return
			}
			c.wait()
			if diff := cmp.Diff(result3{Stdout: "W\nD " + sha256Hex(data) + "\n"}, c.result()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCopyResetMidTransfer(t *testing.T) {
	t.Parallel()
	f := plainFleet(t, "", "", FleetOptions{})
	h := f.Hosts()[0]
	r := newRaw(t, f, h)
	data := pattern(200_000, 3)
	dest := `C:\staging\agent.msi`
	h.ResetAfterSendBytes(120_000)

	c := r.start(fileCommand(copyMarker, copyPayloadFor(dest, data)))
	if line := c.firstLine(); line != "W" {
		t.Fatalf("first line %q", line)
	}
	var status int
	var err error
	sent := 0
	for sent < len(data) && err == nil {
		n := min(50_000, len(data)-sent)
		status, err = c.send(data[sent:sent+n], sent+n == len(data))
		if err == nil {
			sent += n
		}
	}
	if err == nil || sent != 100_000 {
		t.Fatalf("Sends: %d bytes accepted, last status %d, error %v; want a dropped connection after 100000", sent, status, err)
	}
	if h.Exists(dest) {
		t.Fatal("dest exists after the connection dropped")
	}
	if got := h.Stats().Requests["reset_after_send_bytes"]; got != 1 {
		t.Errorf("resets %d, want 1", got)
	}

	got := copyTo(r, dest, data, 50_000)
	if diff := cmp.Diff(result3{Stdout: "W\nD " + sha256Hex(data) + "\n"}, got); diff != "" {
		t.Fatalf("second copy (-want +got):\n%s", diff)
	}
	if content, err := h.ReadFile(dest); err != nil || !bytes.Equal(content, data) {
		t.Errorf("dest holds %d bytes (%v)", len(content), err)
	}
}

// TestCopySharedContent: 100 hosts (20 under the race detector) holding
// the same 2 MiB file (and a bit: three chunks) cost the fleet's chunk
// store one copy.
func TestCopySharedContent(t *testing.T) {
	t.Parallel()
	hosts := 100
	if raceOn {
		hosts = 20
	}
	f := plainFleet(t, "", "", FleetOptions{Hosts: hosts})
	const size = 2<<20 + 1000
	data := pattern(size, 0x42)
	sum := sha256Hex(data)
	before := f.ChunkStore()
	for _, h := range f.Hosts() {
		r := newRaw(t, f, h)
		got := copyTo(r, `C:\payload\tool.zip`, data, 300_000)
		if diff := cmp.Diff(result3{Stdout: "W\nD " + sum + "\n"}, got); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", h.Name(), diff)
		}
	}
	after := f.ChunkStore()
	if after.Bytes-before.Bytes != size || after.Chunks-before.Chunks != 3 {
		t.Errorf("chunk store grew by %d bytes in %d chunks, want %d in 3", after.Bytes-before.Bytes, after.Chunks-before.Chunks, size)
	}
	for _, h := range []*Host{f.Hosts()[0], f.Hosts()[hosts-1]} {
		if info, ok := h.File(`C:\payload\tool.zip`); !ok || info.SHA256 != sum {
			t.Errorf("%s: %+v %v", h.Name(), info, ok)
		}
	}
	// Replacing the file on every host frees its chunks.
	for _, h := range f.Hosts() {
		if err := h.WriteFile(`C:\payload\tool.zip`, []byte("gone")); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.ChunkStore(); got != before {
		t.Errorf("chunk store after replacing: %+v, want %+v", got, before)
	}
	if got := f.Stats().Totals.SendBytes; got != int64(hosts*size) {
		t.Errorf("total send_bytes %d", got)
	}
}

func TestFileScriptsRefuseStdinPayload(t *testing.T) {
	t.Parallel()
	f := plainFleet(t, "", "", FleetOptions{})
	r := newRaw(t, f, f.Hosts()[0])
	script := fetchMarker + "\n$fleetrunPayload = ''\n"
	c := r.start(`powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand ` + encodeCommand(script))
	c.wait()
	want := result3{Stderr: "fleetrun-fetch: bad payload: read payload from stdin: " + errInlineOnly.Error() + "\r\n", Code: 2}
	if diff := cmp.Diff(want, c.result()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestFileCountersInStatsJSON: the file counters and the chunk store are
// in the JSON of GET /stats, under the names design.md gives them.
func TestFileCountersInStatsJSON(t *testing.T) {
	t.Parallel()
	f := plainFleet(t, "", "", FleetOptions{})
	h := f.Hosts()[0]
	r := newRaw(t, f, h)
	data := pattern(10_000, 4)
	copyTo(r, `C:\a.bin`, data, 10_000)
	copyTo(r, `C:\a.bin`, data, 10_000)
	c := r.start(fileCommand(fetchMarker, fetchPayloadFor(`C:\a.bin`, 1<<20)))
	c.wait()

	rec := httptest.NewRecorder()
	f.StatsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/stats", nil))
	var doc struct {
		Hosts []map[string]any `json:"hosts"`
		Store map[string]any   `json:"chunk_store"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("stats JSON: %v\n%s", err, rec.Body)
	}
	got := map[string]any{}
	for _, k := range []string{"send_bytes", "files_written", "files_unchanged", "downloads", "fetch_bytes"} {
		got[k] = doc.Hosts[0][k]
	}
	want := map[string]any{"send_bytes": 10_000.0, "files_written": 1.0, "files_unchanged": 1.0, "downloads": 0.0, "fetch_bytes": 10_000.0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("host counters (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"chunks": 1.0, "bytes": 10_000.0}, doc.Store); diff != "" {
		t.Errorf("chunk_store (-want +got):\n%s", diff)
	}
}

// TestSendWaitsWhileStdinIsUnread: a process that does not read its stdin
// holds at most about 1 MiB of it; a Send beyond that is answered only
// after its OperationTimeout.
func TestSendWaitsWhileStdinIsUnread(t *testing.T) {
	t.Parallel()
	f := plainFleet(t, "", "", FleetOptions{})
	r := newRaw(t, f, f.Hosts()[0])
	c := r.start(`C:\tools\sleep.exe 60`)
	part := pattern(300_000, 8)
	for i := range 3 {
		if status, err := c.sendWithin(part, false, "PT1S"); status != http.StatusOK || err != nil {
			t.Fatalf("Send %d: %d %v", i+1, status, err)
		}
	}
	start := time.Now()
	if status, err := c.sendWithin(part, false, "PT1S"); status != http.StatusOK || err != nil {
		t.Fatalf("Send 4: %d %v", status, err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("the Send bringing the unread stdin to 1.2 MB was answered after %v, want its 1s OperationTimeout", waited)
	}
}
