package winrm

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	mz "github.com/masterzen/winrm"

	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/winquote"
)

// memSink is a FetchSink keeping files in memory.
type memSink struct {
	created   []string
	committed map[string][]byte
	aborted   []string
	failWrite bool
	// commits are the bytes of every commit with the hash it was given.
	commits []commit
}

type commit struct {
	sha  string
	data []byte
}

type memWriter struct {
	sink *memSink
	path string
	buf  bytes.Buffer
}

func (s *memSink) Create(path, name string, size int64) (transport.FetchWriter, error) {
	s.created = append(s.created, fmt.Sprintf("%s|%s|%d", path, name, size))
	return &memWriter{sink: s, path: path}, nil
}

func (w *memWriter) Write(p []byte) (int, error) {
	if w.sink.failWrite {
		return 0, errors.New("disk full")
	}
	return w.buf.Write(p)
}

func (w *memWriter) Commit(sha string) (string, error) {
	if w.sink.committed == nil {
		w.sink.committed = map[string][]byte{}
	}
	w.sink.committed[w.path] = append([]byte(nil), w.buf.Bytes()...)
	w.sink.commits = append(w.sink.commits, commit{sha, w.sink.committed[w.path]})
	return "local/" + sha[:8], nil
}

func (w *memWriter) Abort() { w.sink.aborted = append(w.sink.aborted, w.path) }

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// frame is the fetch script's F frame for a file.
func frame(path string, data []byte, sha string) string {
	if sha == "" {
		sha = hexSHA(data)
	}
	return fmt.Sprintf("F %d %s %s\n", len(data), sha, base64.StdEncoding.EncodeToString([]byte(path))) + string(data)
}

func TestFetchFramesSurviveEverySplit(t *testing.T) {
	t.Parallel()
	a := []byte("line one\r\nline two\nF 3 not a frame\n\x00\xff")
	b := []byte{}
	c := bytes.Repeat([]byte{0xfe, '\n'}, 300)
	stream := frame(`C:\logs\a.log`, a, "") + frame(`C:\logs\空.log`, b, "") + frame(`C:\logs\c.bin`, c, "") + "Z\n"
	wantFiles := []transport.FileResult{
		{Path: `C:\logs\a.log`, Local: "local/" + hexSHA(a)[:8], Size: int64(len(a)), SHA256: hexSHA(a), Sent: int64(len(a))},
		{Path: `C:\logs\空.log`, Local: "local/" + hexSHA(b)[:8], Size: 0, SHA256: hexSHA(b)},
		{Path: `C:\logs\c.bin`, Local: "local/" + hexSHA(c)[:8], Size: int64(len(c)), SHA256: hexSHA(c), Sent: int64(len(c))},
	}
	// Every split into two pieces, and byte by byte.
	for cut := 0; cut <= len(stream); cut++ {
		sink := &memSink{}
		f := newFetchFrames("web-01", &transport.FetchSpec{Sink: sink, MaxBytes: 1 << 20})
		if err := f.write([]byte(stream[:cut])); err != nil {
			t.Fatalf("cut %d: first piece: %v", cut, err)
		}
		if err := f.write([]byte(stream[cut:])); err != nil {
			t.Fatalf("cut %d: second piece: %v", cut, err)
		}
		if err := f.finish(); err != nil {
			t.Fatalf("cut %d: finish: %v", cut, err)
		}
		if diff := cmp.Diff(wantFiles, f.files); diff != "" {
			t.Fatalf("cut %d: files (-want +got):\n%s", cut, diff)
		}
		if !bytes.Equal(sink.committed[`C:\logs\a.log`], a) || !bytes.Equal(sink.committed[`C:\logs\c.bin`], c) || len(sink.aborted) != 0 {
			t.Fatalf("cut %d: the sink holds other bytes, or aborted %v", cut, sink.aborted)
		}
	}
	sink := &memSink{}
	f := newFetchFrames("web-01", &transport.FetchSpec{Sink: sink, MaxBytes: 1 << 20})
	for i := range len(stream) {
		if err := f.write([]byte{stream[i]}); err != nil {
			t.Fatalf("byte %d: %v", i, err)
		}
	}
	if err := f.finish(); err != nil || len(f.files) != 3 {
		t.Fatalf("byte by byte: %v, %d files", err, len(f.files))
	}
	wantCreated := []string{`C:\logs\a.log|a.log|` + fmt.Sprint(len(a)), `C:\logs\空.log|空.log|0`, `C:\logs\c.bin|c.bin|600`}
	if diff := cmp.Diff(wantCreated, sink.created); diff != "" {
		t.Errorf("Create calls (-want +got):\n%s", diff)
	}
}

func TestFetchFramesRefuseWhatIsWrong(t *testing.T) {
	t.Parallel()
	data := []byte("0123456789")
	tests := []struct {
		name        string
		stream      string
		max         int64
		failWrite   bool
		class       transport.Class
		msg         string
		wantAborted []string
		wantKept    int
	}{
		{"a hash that does not match", frame(`C:\a`, data, strings.Repeat("0", 64)) + "Z\n", 100, false,
			transport.ClassHashMismatch, "the host announced 0000", []string{`C:\a`}, 0},
		{"a second file damaged", frame(`C:\a`, data, "") + frame(`C:\b`, data, strings.Repeat("1", 64)) + "Z\n", 100, false,
			transport.ClassHashMismatch, `fetched file C:\b`, []string{`C:\b`}, 1},
		{"more than max_bytes", frame(`C:\a`, data, "") + frame(`C:\b`, data, "") + "Z\n", 15, false,
			transport.ClassProtocol, "more than max_bytes (15)", nil, 1},
		{"output that ends inside a file", strings.TrimSuffix(frame(`C:\a`, data, ""), "789"), 100, false,
			transport.ClassProtocol, "3 bytes of C:\\a missing", []string{`C:\a`}, 0},
		{"no final frame", frame(`C:\a`, data, ""), 100, false, transport.ClassProtocol, "without its final frame", nil, 1},
		{"bytes after Z", "Z\nx", 100, false, transport.ClassProtocol, "after the final frame", nil, 0},
		{"N after a file", frame(`C:\a`, data, "") + "N\n", 100, false, transport.ClassProtocol, "unexpected frame", nil, 1},
		{"a malformed frame", "F 10 abc\n", 100, false, transport.ClassProtocol, "malformed file frame", nil, 0},
		{"a negative size", "F -1 " + strings.Repeat("a", 64) + " QQ==\n", 100, false, transport.ClassProtocol, "bad size", nil, 0},
		{"a path that is not base64", "F 0 " + strings.Repeat("a", 64) + " !!\n", 100, false, transport.ClassProtocol, "not base64 of UTF-8", nil, 0},
		{"an endless header", strings.Repeat("x", maxFetchHeader+1), 100, false, transport.ClassProtocol, "longer than", nil, 0},
		{"a sink that cannot write", frame(`C:\a`, data, "") + "Z\n", 100, true, transport.ClassInternal, "disk full", []string{`C:\a`}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := &memSink{failWrite: tc.failWrite}
			f := newFetchFrames("web-01", &transport.FetchSpec{Sink: sink, MaxBytes: tc.max})
			err := f.write([]byte(tc.stream))
			if err == nil {
				err = f.finish()
			}
			var te *transport.Error
			if !errors.As(err, &te) || te.Class != tc.class || !strings.Contains(te.Message, tc.msg) || !strings.HasPrefix(te.Message, "web-01: ") {
				t.Fatalf("err = %v, want class %s with %q", err, tc.class, tc.msg)
			}
			if diff := cmp.Diff(tc.wantAborted, sink.aborted); diff != "" {
				t.Errorf("aborted (-want +got):\n%s", diff)
			}
			if len(sink.committed) != tc.wantKept || len(f.files) != tc.wantKept {
				t.Errorf("kept %d files (%d results), want %d", len(sink.committed), len(f.files), tc.wantKept)
			}
			if f.write([]byte("Z\n")) == nil {
				t.Errorf("the parser accepted more after an error")
			}
		})
	}
}

func TestFetchFramesNothingFound(t *testing.T) {
	t.Parallel()
	f := newFetchFrames("web-01", &transport.FetchSpec{Sink: &memSink{}, MaxBytes: 1})
	if err := f.write([]byte("N\n")); err != nil {
		t.Fatal(err)
	}
	if err := f.finish(); err != nil || !f.notFound || len(f.files) != 0 {
		t.Errorf("finish = %v, notFound %v, %d files", err, f.notFound, len(f.files))
	}
}

func TestSendMessagesAreWhatTheBuilderWrites(t *testing.T) {
	t.Parallel()
	for _, data := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte{0, 0xff, '<', '&'}, 1000)} {
		for _, end := range []bool{false, true} {
			for range 2 { // the first call may make the template
				got := appendSendMessage([]byte("prefix"), "http://127.0.0.1:5985/wsman", "PT60S", "S-1", "C-1", data, end)
				if !bytes.HasPrefix(got, []byte("prefix")) {
					t.Fatalf("appendSendMessage dropped what dst held")
				}
				want := mz.NewSendInputRequest("http://127.0.0.1:5985/wsman", "S-1", "C-1", data, end, params("PT60S")).String()
				sameMessage(t, got[len("prefix"):], []byte(want))
			}
		}
	}
}

func TestFileSendChunksFitTheHostsEnvelope(t *testing.T) {
	t.Parallel()
	// 2008 R2 (WinRM 2.0) allows 150 KB, 2012 and later 500 KB.
	for _, tc := range []struct{ kb, wantChunk int }{{150, 112128}, {500, 380928}, {8192, 6288384}} {
		n := sendChunkSize(tc.kb)
		if n != tc.wantChunk {
			t.Errorf("%d KB: chunk of %d bytes, want %d", tc.kb, n, tc.wantChunk)
		}
		msg := appendSendMessage(nil, "https://a-rather-long-host-name.corp.example.com:5986/wsman", "PT60S",
			"11111111-2222-3333-4444-555555555555", "11111111-2222-3333-4444-555555555555", make([]byte, n), true)
		if len(msg) > tc.kb*1024 || len(msg) < tc.kb*1024*9/10 {
			t.Errorf("%d KB: a full chunk makes a %d-byte envelope", tc.kb, len(msg))
		}
	}
}

// memBlob is a transport.Blob in memory.
type memBlob struct {
	*bytes.Reader
	sha string
}

func newMemBlob(b []byte) memBlob { return memBlob{bytes.NewReader(b), hexSHA(b)} }

func (m memBlob) SHA256() string { return m.sha }

func TestPlanStepSaysWhatWouldMove(t *testing.T) {
	t.Parallel()
	big := newMemBlob(make([]byte, 1000))
	small := newMemBlob([]byte("x"))
	tests := []struct {
		name   string
		cmd    transport.Command
		marker string
		note   string
	}{
		{"one file", transport.Command{Kind: transport.KindCopy, Copy: &transport.CopySpec{Files: []transport.CopyFile{{Dest: `C:\patches\KB.msu`, Src: big}}}},
			launcher.CopyMarker, "copy 1000 bytes (sha256 " + big.sha[:12] + "…) to C:\\patches\\KB.msu"},
		{"five files", transport.Command{Kind: transport.KindCopy, Copy: &transport.CopySpec{Files: []transport.CopyFile{
			{Dest: `C:\d\1`, Src: small}, {Dest: `C:\d\2`, Src: small}, {Dest: `C:\d\3`, Src: small}, {Dest: `C:\d\4`, Src: small}, {Dest: `C:\d\5`, Src: big}}}},
			launcher.CopyMarker, "copy 5 files, 1004 bytes in all, one command each (remote_command is the first's, with its bytes on stdin): " +
				"1 bytes (sha256 " + small.sha[:12] + "…) to C:\\d\\1; 1 bytes (sha256 " + small.sha[:12] + "…) to C:\\d\\2; 1 bytes (sha256 " + small.sha[:12] + "…) to C:\\d\\3; and 2 more"},
		{"a download", transport.Command{Kind: transport.KindDownload, Download: &transport.DownloadSpec{URL: "https://u:p@repo.example/agent.msi?sig=secret",
			Dest: `C:\tmp\agent.msi`, SHA256: big.sha, Retries: 3, Proxy: "http://proxy:3128"}},
			launcher.DownloadMarker, "the host downloads https://repo.example/agent.msi?... to C:\\tmp\\agent.msi and keeps it only if its sha256 is " + big.sha[:12] + "… (3 retries, through proxy http://proxy:3128)"},
		{"a fetch", transport.Command{Kind: transport.KindFetch, Fetch: &transport.FetchSpec{Src: `C:\logs\*.log`, MaxBytes: 50 << 20, Optional: true}},
			launcher.FetchMarker, `fetch the files matching C:\logs\*.log, at most 52428800 bytes in all; none matching is not an error`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc, line, note, err := PlanStep(tc.cmd)
			if err != nil {
				t.Fatal(err)
			}
			if line != "" || note != tc.note {
				t.Errorf("command line %q, note:\n got %q\nwant %q", line, note, tc.note)
			}
			if len(rc) != 8 || rc[0] != launcher.PowerShellExe {
				t.Fatalf("remote command %q", rc)
			}
			text, err := winquote.DecodeCommand(rc[7])
			if err != nil || !strings.HasPrefix(text, tc.marker+"\n") {
				t.Errorf("the remote command runs %.40q (%v), want the script marked %q", text, err, tc.marker)
			}
		})
	}
}
