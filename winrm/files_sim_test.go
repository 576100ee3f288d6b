package winrm

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/sim/downloadtest"
	"github.com/fleetrun/fleetrun/transport"
)

// The file steps against the simulated fleet, which does what the file
// scripts do on its own file system behind the real WS-Man protocol,
// authentication and envelope limits.

func TestSimCopyWritesTheFileAndIsUnchangedTheSecondTime(t *testing.T) {
	t.Parallel()
	data := randomBytes(3<<20+777, 21)
	blob := newMemBlob(data)
	tests := []struct {
		name    string
		m       mode
		profile string
		kb      int
	}{
		{"ntlm with encryption, 2019", ntlmHTTP, "2019", 500},
		{"basic over https, 2019", basicHTTPS, "2019", 500},
		{"ntlm with encryption, 2008r2", ntlmHTTP, "2008r2", 150},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := startFleet(t, sim.FleetOptions{Hosts: 1, HTTPS: tc.m.https, Profile: tc.profile})
			h := f.Hosts()[0]
			s := open(t, targetFor(f, h, tc.m), Options{})
			cmd := copyCmd(transport.CopyFile{Dest: `C:\patches\KB5034439.msu`, Src: blob, Origin: "patches/KB5034439.msu"})
			res, err := s.Run(runCtx(t), cmd)
			if err != nil {
				t.Fatal(err)
			}
			want := transport.Result{Files: []transport.FileResult{{Path: `C:\patches\KB5034439.msu`, Size: int64(len(data)), SHA256: blob.sha, Sent: int64(len(data))}}}
			if diff := cmp.Diff(want, res); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			got, err := h.ReadFile(`C:\patches\KB5034439.msu`)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("the host holds %d other bytes (%v)", len(got), err)
			}
			if info, ok := h.File(`C:\patches\KB5034439.msu`); !ok || info.SHA256 != blob.sha || info.Size != int64(len(data)) {
				t.Errorf("File = %+v, %v", info, ok)
			}
			st := h.Stats()
			chunk := sendChunkSize(tc.kb)
			wantSends := int64((len(data) + chunk - 1) / chunk)
			if st.SendBytes != int64(len(data)) || st.FilesWritten != 1 || st.Requests["Send"] != wantSends {
				t.Errorf("stats: send_bytes %d, files written %d, %d Sends; want %d, 1, %d", st.SendBytes, st.FilesWritten, st.Requests["Send"], len(data), wantSends)
			}

			res, err = s.Run(runCtx(t), cmd)
			if err != nil {
				t.Fatal(err)
			}
			want = transport.Result{Unchanged: true, Files: []transport.FileResult{{Path: `C:\patches\KB5034439.msu`, Size: int64(len(data)), SHA256: blob.sha, Unchanged: true}}}
			if diff := cmp.Diff(want, res); diff != "" {
				t.Errorf("second run (-want +got):\n%s", diff)
			}
			st2 := h.Stats()
			if st2.SendBytes != st.SendBytes || st2.Requests["Send"] != st.Requests["Send"] || st2.FilesUnchanged != 1 {
				t.Errorf("the second run sent %d bytes in %d Sends (unchanged %d); want none", st2.SendBytes-st.SendBytes, st2.Requests["Send"]-st.Requests["Send"], st2.FilesUnchanged)
			}
		})
	}
}

func TestSimCopyCutByAResetIsTransientAndTheNextRunCompletes(t *testing.T) {
	t.Parallel()
	f := startFleet(t, sim.FleetOptions{Hosts: 1})
	h := f.Hosts()[0]
	s := open(t, targetFor(f, h, ntlmHTTP), Options{})
	data := randomBytes(2<<20, 23)
	cmd := copyCmd(transport.CopyFile{Dest: `C:\stage\big.bin`, Src: newMemBlob(data), Origin: "big.bin"})
	h.ResetAfterSendBytes(1 << 20)
	_, err := s.Run(runCtx(t), cmd)
	te := classOf(err)
	if te == nil || te.Class != transport.ClassConnectionLost || !te.Transient {
		t.Fatalf("err = %v, want a transient connection_lost", err)
	}
	if _, ok := h.File(`C:\stage\big.bin`); ok {
		t.Errorf("the destination exists after the reset")
	}
	res, err := s.Run(runCtx(t), cmd)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 1 || res.Files[0].Sent != int64(len(data)) {
		t.Errorf("second run: %+v", res)
	}
	if got, err := h.ReadFile(`C:\stage\big.bin`); err != nil || !bytes.Equal(got, data) {
		t.Errorf("the host holds %d other bytes (%v)", len(got), err)
	}
}

func TestSimDownload(t *testing.T) {
	t.Parallel()
	agent := randomBytes(1<<20+5, 31)
	sha := hexSHA(agent)
	srv := downloadtest.NewHTTPS(map[string][]byte{"/agent.msi": agent})
	t.Cleanup(srv.Close)
	f := startFleet(t, sim.FleetOptions{Hosts: 1, TrustedCAs: srv.CertPool()})
	h := f.Hosts()[0]
	s := open(t, targetFor(f, h, ntlmHTTP), Options{})
	dl := func(spec transport.DownloadSpec) (transport.Result, error) {
		return s.Run(runCtx(t), transport.Command{Kind: transport.KindDownload, Download: &spec})
	}
	srv.Fail503(1)
	res, err := dl(transport.DownloadSpec{URL: srv.URL("/agent.msi"), Dest: `C:\tmp\agent.msi`, SHA256: sha, Retries: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 1 || res.Files[0] != (transport.FileResult{Path: `C:\tmp\agent.msi`, Size: int64(len(agent)), SHA256: sha}) || res.Unchanged {
		t.Errorf("result %+v", res)
	}
	if !strings.HasPrefix(res.Stdout, "try 1 failed: ") || strings.Count(res.Stdout, "\n") != 1 {
		t.Errorf("stdout %q, want the one failed try", res.Stdout)
	}
	if got, err := h.ReadFile(`C:\tmp\agent.msi`); err != nil || !bytes.Equal(got, agent) {
		t.Errorf("the host holds %d other bytes (%v)", len(got), err)
	}
	res, err = dl(transport.DownloadSpec{URL: srv.URL("/agent.msi"), Dest: `C:\tmp\agent.msi`, SHA256: sha})
	if err != nil || !res.Unchanged || len(res.Files) != 1 || res.Files[0] != (transport.FileResult{Path: `C:\tmp\agent.msi`, Size: int64(len(agent)), SHA256: sha, Unchanged: true}) {
		t.Errorf("second download: %+v, %v; want unchanged, with the size of the file in place", res, err)
	}
	_, err = dl(transport.DownloadSpec{URL: srv.URL("/agent.msi"), Dest: `C:\tmp\other.msi`, SHA256: strings.Repeat("0", 64)})
	if te := classOf(err); te == nil || te.Class != transport.ClassHashMismatch || te.Code != 4 {
		t.Errorf("a download with another hash: %v", err)
	}
	_, err = dl(transport.DownloadSpec{URL: srv.URL("/missing.msi"), Dest: `C:\tmp\missing.msi`, SHA256: sha, Retries: 1})
	if te := classOf(err); te == nil || te.Class != transport.ClassUnexpectedExit || te.Code != 6 || !strings.Contains(te.Message, "404") {
		t.Errorf("a missing file: %v", err)
	}
	if _, ok := h.File(`C:\tmp\other.msi`); ok {
		t.Errorf("a download with another hash was kept")
	}
}

func TestSimFetchBinaryFiles(t *testing.T) {
	t.Parallel()
	f := startFleet(t, sim.FleetOptions{Hosts: 1})
	h := f.Hosts()[0]
	a, b := randomBytes(700_000, 41), []byte("\x00\xff\r\n binary \x1b[31m\n")
	for p, d := range map[string][]byte{`C:\logs\a.log`: a, `C:\logs\b.log`: b, `C:\logs\c.txt`: b} {
		if err := h.WriteFile(p, d); err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, targetFor(f, h, ntlmHTTP), Options{})
	sink := &memSink{}
	res, err := s.Run(runCtx(t), transport.Command{Kind: transport.KindFetch, Fetch: &transport.FetchSpec{Src: `C:\logs\*.log`, MaxBytes: 1 << 20, Sink: sink}})
	if err != nil {
		t.Fatal(err)
	}
	want := transport.Result{Files: []transport.FileResult{
		{Path: `C:\logs\a.log`, Local: "local/" + hexSHA(a)[:8], Size: int64(len(a)), SHA256: hexSHA(a), Sent: int64(len(a))},
		{Path: `C:\logs\b.log`, Local: "local/" + hexSHA(b)[:8], Size: int64(len(b)), SHA256: hexSHA(b), Sent: int64(len(b))},
	}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if !bytes.Equal(sink.committed[`C:\logs\a.log`], a) || !bytes.Equal(sink.committed[`C:\logs\b.log`], b) {
		t.Errorf("the sink holds other bytes")
	}
	_, err = s.Run(runCtx(t), transport.Command{Kind: transport.KindFetch, Fetch: &transport.FetchSpec{Src: `C:\logs\*.log`, MaxBytes: 1000, Sink: &memSink{}}})
	if te := classOf(err); te == nil || te.Code != 5 || !strings.Contains(te.Message, "max_bytes of 1000 bytes") {
		t.Errorf("over the cap: %v", err)
	}
	_, err = s.Run(runCtx(t), transport.Command{Kind: transport.KindFetch, Fetch: &transport.FetchSpec{Src: `C:\logs\*.zip`, MaxBytes: 1000, Sink: &memSink{}}})
	if te := classOf(err); te == nil || te.Class != transport.ClassNotFound {
		t.Errorf("no match: %v", err)
	}
	res, err = s.Run(runCtx(t), transport.Command{Kind: transport.KindFetch, Fetch: &transport.FetchSpec{Src: `C:\logs\*.zip`, MaxBytes: 1000, Optional: true, Sink: &memSink{}}})
	if err != nil || len(res.Files) != 0 {
		t.Errorf("no match, optional: %+v, %v", res, err)
	}
}

// Many hosts copy at once (on a small machine more than sendGate lets
// Sends through): every copy completes, and the fleet received each
// file's bytes once per host.
func TestSimCopyToManyHostsAtOnce(t *testing.T) {
	t.Parallel()
	const hosts = 24
	f := startFleet(t, sim.FleetOptions{Hosts: hosts})
	data := randomBytes(700_000, 51)
	blob := newMemBlob(data)
	var sessions []*Session
	for _, h := range f.Hosts() {
		sessions = append(sessions, open(t, targetFor(f, h, ntlmHTTP), Options{}))
	}
	ctx := runCtx(t)
	errs := make(chan error, hosts)
	for _, s := range sessions {
		go func() {
			_, err := s.Run(ctx, copyCmd(transport.CopyFile{Dest: `C:\stage\agent.msi`, Src: blob, Origin: "agent.msi"}))
			errs <- err
		}()
	}
	for range hosts {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	for _, h := range f.Hosts() {
		if info, ok := h.File(`C:\stage\agent.msi`); !ok || info.SHA256 != blob.sha {
			t.Errorf("%s: %+v, %v", h.Name(), info, ok)
		}
	}
	if got := f.Stats().Totals.SendBytes; got != hosts*int64(len(data)) {
		t.Errorf("the fleet received %d bytes, want %d", got, hosts*len(data))
	}
}
