package winrm

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
)

// randomBytes is n bytes that do not compress or repeat.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func copyCmd(files ...transport.CopyFile) transport.Command {
	return transport.Command{Kind: transport.KindCopy, Copy: &transport.CopySpec{Files: files}}
}

func classOf(err error) *transport.Error {
	var te *transport.Error
	if errors.As(err, &te) {
		return te
	}
	return nil
}

func TestCopySendsChunksSizedToTheHostsEnvelopeAndIsUnchangedTheSecondTime(t *testing.T) {
	t.Parallel()
	for _, kb := range []int{150, 500} {
		t.Run(map[int]string{150: "2008r2 (150 KB)", 500: "2019 (500 KB)"}[kb], func(t *testing.T) {
			t.Parallel()
			h, target := newFileHost(t, kb)
			s := open(t, target, Options{})
			big := randomBytes(1<<20+12345, uint64(kb))
			bigBlob, emptyBlob := newMemBlob(big), newMemBlob(nil)
			cmd := copyCmd(
				transport.CopyFile{Dest: `C:\patches\big.bin`, Src: bigBlob, Origin: "patches/big.bin"},
				transport.CopyFile{Dest: `C:\patches\empty.txt`, Src: emptyBlob, Origin: "patches/empty.txt"})
			res, err := s.Run(runCtx(t), cmd)
			if err != nil {
				t.Fatal(err)
			}
			want := transport.Result{Files: []transport.FileResult{
				{Path: `C:\patches\big.bin`, Size: int64(len(big)), SHA256: bigBlob.sha, Sent: int64(len(big))},
				{Path: `C:\patches\empty.txt`, Size: 0, SHA256: emptyBlob.sha},
			}}
			if diff := cmp.Diff(want, res); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if got, _ := h.file(`C:\patches\big.bin`); !bytes.Equal(got, big) {
				t.Errorf("the host holds %d other bytes", len(got))
			}
			if got, ok := h.file(`C:\patches\empty.txt`); !ok || len(got) != 0 {
				t.Errorf("the empty file: %v, %d bytes", ok, len(got))
			}
			sizes, envelopes, req := h.stats()
			chunk := sendChunkSize(kb)
			wantSizes := []int{}
			for left := len(big); left > 0; left -= chunk {
				wantSizes = append(wantSizes, min(chunk, left))
			}
			if diff := cmp.Diff(wantSizes, sizes); diff != "" {
				t.Errorf("Send sizes (-want +got):\n%s", diff)
			}
			for _, e := range envelopes {
				if e > kb*1024 {
					t.Errorf("a Send envelope of %d bytes, over %d KB", e, kb)
				}
			}
			// One empty Send ends the empty file's stdin.
			if req["Send"] != len(wantSizes)+1 || req["Command"] != 2 || req["Get"] != 1 {
				t.Errorf("requests %v", req)
			}

			res, err = s.Run(runCtx(t), cmd)
			if err != nil {
				t.Fatal(err)
			}
			want = transport.Result{Unchanged: true, Files: []transport.FileResult{
				{Path: `C:\patches\big.bin`, Size: int64(len(big)), SHA256: bigBlob.sha, Unchanged: true},
				{Path: `C:\patches\empty.txt`, Size: 0, SHA256: emptyBlob.sha, Unchanged: true},
			}}
			if diff := cmp.Diff(want, res); diff != "" {
				t.Errorf("second run (-want +got):\n%s", diff)
			}
			if _, _, req2 := h.stats(); req2["Send"] != req["Send"] {
				t.Errorf("the second run sent %d Sends, want none", req2["Send"]-req["Send"])
			}
		})
	}
}

// lyingBlob announces a hash its bytes do not have.
type lyingBlob struct{ memBlob }

func (lyingBlob) SHA256() string { return strings.Repeat("ab", 32) }

func TestCopyFailuresAreClassified(t *testing.T) {
	t.Parallel()
	data := []byte("payload")
	tests := []struct {
		name  string
		file  transport.CopyFile
		class transport.Class
		code  uint32
		msg   string
	}{
		{"a folder it cannot create", transport.CopyFile{Dest: `Z:\nope\a.txt`, Src: newMemBlob(data), Origin: "a.txt"},
			transport.ClassUnexpectedExit, 2, `fake-01: copy of a.txt to Z:\nope\a.txt failed: fleetrun-copy: Could not find a part of the path 'Z:\'.`},
		{"bytes that arrive with another hash", transport.CopyFile{Dest: `C:\a.txt`, Src: lyingBlob{newMemBlob(data)}, Origin: "a.txt"},
			transport.ClassHashMismatch, 4, `fake-01: copy of a.txt to C:\a.txt: the bytes that arrived are not the source's (fleetrun-copy: received SHA-256 ` + hexSHA(data)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, target := newFileHost(t, 500)
			s := open(t, target, Options{})
			_, err := s.Run(runCtx(t), copyCmd(tc.file))
			te := classOf(err)
			if te == nil || te.Class != tc.class || te.Code != tc.code || !strings.HasPrefix(te.Message, tc.msg) {
				t.Fatalf("err = %v, want class %s code %d starting %q", err, tc.class, tc.code, tc.msg)
			}
			if _, ok := h.file(tc.file.Dest); ok {
				t.Errorf("the destination exists after a failure")
			}
		})
	}
}

func TestACopyCutByAResetIsTransientAndTheNextRunCompletes(t *testing.T) {
	t.Parallel()
	h, target := newFileHost(t, 150)
	h.resetAtSend = 3
	s := open(t, target, Options{})
	data := randomBytes(600_000, 7)
	cmd := copyCmd(transport.CopyFile{Dest: `C:\big.bin`, Src: newMemBlob(data), Origin: "big.bin"})
	_, err := s.Run(runCtx(t), cmd)
	te := classOf(err)
	if te == nil || te.Class != transport.ClassConnectionLost || !te.Transient ||
		!strings.HasPrefix(te.Message, `fake-01: copy of big.bin to C:\big.bin: connection to fake-01 was lost`) {
		t.Fatalf("err = %v, want a transient connection_lost naming the host and file", err)
	}
	// The script may still wait for its bytes: it was stopped and its
	// shell deleted.
	if _, _, req := h.stats(); req["Signal"] != 1 || req["Delete"] != 1 {
		t.Errorf("after the reset: %d Signals, %d Deletes, want 1 each", req["Signal"], req["Delete"])
	}
	res, err := s.Run(runCtx(t), cmd)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 1 || res.Files[0].Sent != int64(len(data)) || res.Unchanged {
		t.Errorf("second run: %+v", res)
	}
	if got, _ := h.file(`C:\big.bin`); !bytes.Equal(got, data) {
		t.Errorf("the host holds %d other bytes", len(got))
	}
}

func TestDownloadOverWinRS(t *testing.T) {
	t.Parallel()
	agent := randomBytes(200_000, 3)
	sha := hexSHA(agent)
	long := "https://repo.example/agent.msi?X-Amz-Signature=" + strings.Repeat("s", 1950)
	tests := []struct {
		name      string
		spec      transport.DownloadSpec
		preload   bool
		want      transport.Result
		class     transport.Class
		code      uint32
		msg       string
		wantStdin bool
	}{
		{"a download", transport.DownloadSpec{URL: "https://repo.example/agent.msi", Dest: `C:\tmp\agent.msi`, SHA256: sha, Retries: 2},
			false, transport.Result{Files: []transport.FileResult{{Path: `C:\tmp\agent.msi`, Size: int64(len(agent)), SHA256: sha}}}, "", 0, "", false},
		{"a 2,000-character URL (the payload goes on stdin)", transport.DownloadSpec{URL: long, Dest: `C:\tmp\agent.msi`, SHA256: sha},
			false, transport.Result{Files: []transport.FileResult{{Path: `C:\tmp\agent.msi`, Size: int64(len(agent)), SHA256: sha}}}, "", 0, "", true},
		{"a file already there", transport.DownloadSpec{URL: "https://repo.example/agent.msi", Dest: `C:\tmp\agent.msi`, SHA256: sha},
			true, transport.Result{Unchanged: true, Files: []transport.FileResult{{Path: `C:\tmp\agent.msi`, Size: int64(len(agent)), SHA256: sha, Unchanged: true}}}, "", 0, "", false},
		{"every try failing", transport.DownloadSpec{URL: "https://repo.example/missing.msi?sig=secret", Dest: `C:\tmp\agent.msi`, SHA256: sha, Retries: 1},
			false, transport.Result{}, transport.ClassUnexpectedExit, 6,
			`fake-01: download of https://repo.example/missing.msi?... to C:\tmp\agent.msi failed: fleetrun-download: 2 tries failed; the last: The remote server returned an error: (404) Not Found.`, false},
		{"other bytes", transport.DownloadSpec{URL: "https://repo.example/agent.msi", Dest: `C:\tmp\agent.msi`, SHA256: strings.Repeat("0", 64)},
			false, transport.Result{}, transport.ClassHashMismatch, 4,
			`fake-01: download of https://repo.example/agent.msi to C:\tmp\agent.msi: fleetrun-download: the downloaded bytes have SHA-256 ` + sha + `, not ` + strings.Repeat("0", 64) + `; nothing was kept`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, target := newFileHost(t, 500)
			h.urls["https://repo.example/agent.msi"] = agent
			h.urls[long] = agent
			if tc.preload {
				h.files[tc.spec.Dest] = agent
			}
			s := open(t, target, Options{})
			spec := tc.spec
			res, err := s.Run(runCtx(t), transport.Command{Kind: transport.KindDownload, Download: &spec})
			if tc.class != "" {
				te := classOf(err)
				if te == nil || te.Class != tc.class || te.Code != tc.code || te.Message != tc.msg {
					t.Fatalf("err = %v, want class %s code %d:\n%s", err, tc.class, tc.code, tc.msg)
				}
				if strings.Contains(te.Error(), "secret") {
					t.Errorf("the error shows the URL's query: %v", te)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, res); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if got, _ := h.file(tc.spec.Dest); !bytes.Equal(got, agent) {
				t.Errorf("the host holds %d other bytes", len(got))
			}
			if _, _, req := h.stats(); (req["Send"] > 0) != tc.wantStdin {
				t.Errorf("%d Sends; payload on stdin should be %v", req["Send"], tc.wantStdin)
			}
		})
	}
}

func TestFetchOverWinRS(t *testing.T) {
	t.Parallel()
	a, b := randomBytes(300_000, 11), []byte("\x00\r\n\xff binary\n")
	tests := []struct {
		name     string
		spec     transport.FetchSpec
		change   bool
		want     []transport.FileResult
		class    transport.Class
		msg      string
		aborted  int
		optional bool
	}{
		{"two binary files", transport.FetchSpec{Src: `C:\logs\*.log`, MaxBytes: 1 << 20}, false, []transport.FileResult{
			{Path: `C:\logs\a.log`, Local: "local/" + hexSHA(a)[:8], Size: int64(len(a)), SHA256: hexSHA(a), Sent: int64(len(a))},
			{Path: `C:\logs\b.log`, Local: "local/" + hexSHA(b)[:8], Size: int64(len(b)), SHA256: hexSHA(b), Sent: int64(len(b))},
		}, "", "", 0, false},
		{"one file by name", transport.FetchSpec{Src: `C:\logs\b.log`, MaxBytes: 100}, false, []transport.FileResult{
			{Path: `C:\logs\b.log`, Local: "local/" + hexSHA(b)[:8], Size: int64(len(b)), SHA256: hexSHA(b), Sent: int64(len(b))},
		}, "", "", 0, false},
		{"nothing, optional", transport.FetchSpec{Src: `C:\logs\*.txt`, MaxBytes: 100, Optional: true}, false, nil, "", "", 0, false},
		{"nothing", transport.FetchSpec{Src: `C:\logs\*.txt`, MaxBytes: 100}, false, nil, transport.ClassNotFound,
			`fake-01: fetch of C:\logs\*.txt: no file matches`, 0, false},
		{"more than max_bytes", transport.FetchSpec{Src: `C:\logs\*.log`, MaxBytes: 1000}, false, nil, transport.ClassUnexpectedExit,
			`fake-01: fetch of C:\logs\*.log: the files are larger than the step's max_bytes of 1000 bytes, so none was sent (fleetrun-fetch: 2 files hold 300012 bytes, more than max_bytes (1000))`, 0, false},
		{"a file changing while it is sent", transport.FetchSpec{Src: `C:\logs\a.log`, MaxBytes: 1 << 20}, true, nil, transport.ClassHashMismatch,
			`fake-01: fetched file C:\logs\a.log: the bytes that arrived have SHA-256`, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, target := newFileHost(t, 500)
			h.files[`C:\logs\a.log`], h.files[`C:\logs\b.log`], h.files[`C:\other\c.log`] = a, b, b
			h.changeWhileFetching = tc.change
			s := open(t, target, Options{})
			sink := &memSink{}
			spec := tc.spec
			spec.Sink = sink
			var stdout bytes.Buffer
			res, err := s.Run(runCtx(t), transport.Command{Kind: transport.KindFetch, Fetch: &spec, Stdout: &stdout})
			if tc.class != "" {
				te := classOf(err)
				if te == nil || te.Class != tc.class || !strings.HasPrefix(te.Message, tc.msg) {
					t.Fatalf("err = %v, want class %s starting %q", err, tc.class, tc.msg)
				}
				if len(sink.aborted) != tc.aborted || len(sink.committed) != 0 {
					t.Errorf("aborted %v, committed %d", sink.aborted, len(sink.committed))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(transport.Result{Files: tc.want}, res); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			for _, f := range tc.want {
				if want, _ := h.file(f.Path); !bytes.Equal(sink.committed[f.Path], want) {
					t.Errorf("%s: the sink holds other bytes", f.Path)
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("a fetch's frames reached the step's stdout writer (%d bytes)", stdout.Len())
			}
		})
	}
}

func TestFileStepsAsSystemAreRefused(t *testing.T) {
	t.Parallel()
	_, target := newFileHost(t, 500)
	s := open(t, target, Options{})
	cmd := copyCmd(transport.CopyFile{Dest: `C:\a`, Src: newMemBlob(nil)})
	cmd.RunAs = transport.RunAsSystem
	if s.Detaches(cmd) {
		t.Errorf("Detaches says a copy runs as a task")
	}
	_, err := s.Run(runCtx(t), cmd)
	if te := classOf(err); te == nil || te.Class != transport.ClassConfig {
		t.Errorf("err = %v, want class config", err)
	}
	if _, err := launcher.RenderCopy(launcher.CopyPayload{Dest: `C:\a`, SHA256: hexSHA(nil)}); err != nil {
		t.Fatal(err)
	}
}

func TestACopyPastItsDeadlineStopsTheScript(t *testing.T) {
	t.Parallel()
	h, target := newFileHost(t, 150)
	h.holdAtSend = 2
	s := open(t, target, Options{CleanupTimeout: 5 * time.Second})
	cmd := copyCmd(transport.CopyFile{Dest: `C:\big.bin`, Src: newMemBlob(randomBytes(500_000, 5)), Origin: "big.bin"})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := s.Run(ctx, cmd)
	if te := classOf(err); te == nil || te.Class != transport.ClassTimeout {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if _, _, req := h.stats(); req["Signal"] != 1 || req["Delete"] != 1 {
		t.Errorf("after the timeout: %d Signals, %d Deletes, want 1 each", req["Signal"], req["Delete"])
	}
	if _, ok := h.file(`C:\big.bin`); ok {
		t.Errorf("the destination exists after the timeout")
	}
}

func TestACopyWhoseScriptEndsMidTransferReportsTheScriptsReason(t *testing.T) {
	t.Parallel()
	h, target := newFileHost(t, 150)
	h.diskFullAt = 200_000
	s := open(t, target, Options{})
	_, err := s.Run(runCtx(t), copyCmd(transport.CopyFile{Dest: `C:\big.bin`, Src: newMemBlob(randomBytes(600_000, 9)), Origin: "big.bin"}))
	te := classOf(err)
	want := `fake-01: copy of big.bin to C:\big.bin failed: fleetrun-copy: There is not enough space on the disk.`
	if te == nil || te.Class != transport.ClassUnexpectedExit || te.Code != 2 || te.Message != want {
		t.Fatalf("err = %v, want class unexpected_exit code 2: %s", err, want)
	}
	// Two Sends filled the disk, the third was refused: nothing more was sent.
	if sizes, _, _ := h.stats(); len(sizes) != 3 {
		t.Errorf("%d Sends with data, want 3", len(sizes))
	}
	// The next step runs in the same shell.
	if _, err := s.Run(runCtx(t), copyCmd(transport.CopyFile{Dest: `C:\small.bin`, Src: newMemBlob([]byte("x")), Origin: "small.bin"})); err != nil {
		t.Errorf("the next copy: %v", err)
	}
}

// FuzzFetchFrames feeds the frame parser arbitrary output in two pieces: it
// never panics, never keeps a file whose bytes differ from its announced
// hash, and never aborts what it committed.
func FuzzFetchFrames(f *testing.F) {
	f.Add([]byte(frame(`C:\a`, []byte("data"), "")+"Z\n"), 3)
	f.Add([]byte("N\n"), 0)
	f.Add([]byte("F 1 "+strings.Repeat("a", 64)+" QQ==\nxZ\n"), 10)
	f.Fuzz(func(t *testing.T, out []byte, cut int) {
		sink := &memSink{}
		fr := newFetchFrames("h", &transport.FetchSpec{Sink: sink, MaxBytes: 1 << 16})
		cut = min(max(cut, 0), len(out))
		err := fr.write(out[:cut])
		if err == nil {
			err = fr.write(out[cut:])
		}
		if err == nil {
			_ = fr.finish()
		}
		for _, c := range sink.commits {
			if hexSHA(c.data) != c.sha {
				t.Fatalf("kept a file whose bytes do not have the hash %s", c.sha)
			}
		}
		if len(sink.commits) != len(fr.files) {
			t.Fatalf("%d commits, %d results", len(sink.commits), len(fr.files))
		}
	})
}
