package ssm_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/sim/downloadtest"
	"github.com/fleetrun/fleetrun/transport"
)

// pattern is n bytes that are not all alike.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// countingBlob counts the bytes read from a blob.
type countingBlob struct {
	blob
	read *atomic.Int64
}

func (c countingBlob) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.blob.ReadAt(p, off)
	c.read.Add(int64(n))
	return n, err
}

// transferTargets are the hosts' targets with a transfer bucket.
func transferTargets(t *testing.T, hosts []*inventory.Host) []transport.Target {
	t.Helper()
	var out []transport.Target
	for _, h := range hosts {
		tg := target(t, h)
		tg.SSM.TransferBucket, tg.SSM.TransferPrefix = "fleet-transfer", "staged/"
		out = append(out, tg)
	}
	return out
}

func TestCopyOverSSMUploadsEachSourceOnceForEveryHost(t *testing.T) {
	t.Parallel()
	f, hosts := startFleet(t, 3, "", sim.FleetOptions{})
	data := pattern(300_000)
	src := countingBlob{newBlob(data), new(atomic.Int64)}
	const dest = `C:\patches\KB1.msu`
	targets := transferTargets(t, hosts)
	// The hosts' commands are sent when all three have joined them
	// (MaxBatch), not when a short window ends: on a loaded machine the
	// hosts' goroutines may be far more than a window apart.
	opts := options(t)
	opts.MaxBatch, opts.BatchWindow = len(hosts), time.Minute
	d := newDialer(t, opts)

	res, errs := runAll(t, d, targets, func(int) transport.Command { return copyCommand(dest, src) })
	want := []transport.FileResult{{Path: dest, Size: int64(len(data)), SHA256: src.SHA256()}}
	for i := range targets {
		if errs[i] != nil {
			t.Fatalf("host %d: %v", i, errs[i])
		}
		if diff := cmp.Diff(want, res[i].Files); diff != "" || res[i].Unchanged {
			t.Errorf("host %d: unchanged %v, files (-want +got):\n%s", i, res[i].Unchanged, diff)
		}
		got, err := f.Hosts()[i].ReadFile(dest)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("host %d holds %d bytes (%v), want the source's %d", i, len(got), err, len(data))
		}
	}
	st := f.SSMStats()
	if st.S3.Puts != 1 || st.S3.BytesPut != int64(len(data)) || st.S3.PresignedGets != 3 || st.S3.BytesGot != 3*int64(len(data)) {
		t.Errorf("S3 served %+v, want one upload of %d bytes and three presigned downloads", st.S3, len(data))
	}
	if st.Calls["SendCommand"] != 1 {
		t.Errorf("%d SendCommands, want 1: the hosts' download commands share one text", st.Calls["SendCommand"])
	}
	if ds := d.Stats(); ds.TransfersUploaded != 1 || ds.TransferBytes != int64(len(data)) || ds.TransfersFound != 0 {
		t.Errorf("dialer stats %+v", ds)
	}
	// The upload read the source once, as it sent it: the signature used
	// the known SHA-256 rather than a pass of its own.
	if n := src.read.Load(); n != int64(len(data)) {
		t.Errorf("%d bytes read from the source, want %d", n, len(data))
	}

	// The same step again finds every host holding the bytes.
	res, errs = runAll(t, d, targets, func(int) transport.Command { return copyCommand(dest, src) })
	want[0].Unchanged = true
	for i := range targets {
		if diff := cmp.Diff(want, res[i].Files); errs[i] != nil || diff != "" || !res[i].Unchanged {
			t.Errorf("second run, host %d: %v, unchanged %v, files (-want +got):\n%s", i, errs[i], res[i].Unchanged, diff)
		}
	}
	// Another run (another dialer) finds the object in S3 and uploads
	// nothing.
	d2 := newDialer(t, options(t))
	s, err := d2.Dial(t.Context(), targets[0])
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.Run(t.Context(), copyCommand(`C:\other\KB1.msu`, src)); err != nil || r.Unchanged || r.Files[0].SHA256 != src.SHA256() {
		t.Fatalf("copy in another run: %+v, %v", r, err)
	}
	if ds := d2.Stats(); ds.TransfersFound != 1 || ds.TransfersUploaded != 0 {
		t.Errorf("another run's dialer stats %+v, want the object found", ds)
	}
	if st := f.SSMStats(); st.S3.Puts != 1 {
		t.Errorf("%d uploads in all, want 1", st.S3.Puts)
	}
	// The object is where the contract puts it: <prefix>/<sha256>.
	got, err := f.Hosts()[1].ReadFile(dest)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("host 1: %d bytes, %v", len(got), err)
	}
	s, err = d2.Dial(t.Context(), targets[1])
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Run(t.Context(), transport.Command{Kind: transport.KindDownload, Download: &transport.DownloadSpec{
		URL: "s3://fleet-transfer/staged/" + src.SHA256(), Dest: `C:\again\KB1.msu`, SHA256: src.SHA256()}})
	if err != nil || r.Files[0].Size != int64(len(data)) {
		t.Fatalf("download of the staged key: %+v, %v", r, err)
	}
}

func TestDownloadOverSSMPresignsS3URLs(t *testing.T) {
	t.Parallel()
	f, hosts := startFleet(t, 1, "", sim.FleetOptions{})
	data := pattern(70_000)
	src := newBlob(data)
	c := s3.New(s3.Options{Region: f.SSMRegion(), BaseEndpoint: aws.String(f.SSMEndpoint()), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDSIMULATED", "simulated", "")})
	if _, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("fleet-repo"), Key: aws.String("agents/agent.msi"),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))}); err != nil {
		t.Fatal(err)
	}
	d := newDialer(t, options(t))
	s := dial(t, d, hosts[0])
	download := func(dest, sum string) (transport.Result, error) {
		return s.Run(context.Background(), transport.Command{Name: "pull agent", Kind: transport.KindDownload, Download: &transport.DownloadSpec{
			URL: "s3://fleet-repo/agents/agent.msi", Dest: dest, SHA256: sum, Retries: 1}})
	}

	res, err := download(`C:\tmp\agent.msi`, src.SHA256())
	if err != nil {
		t.Fatal(err)
	}
	want := []transport.FileResult{{Path: `C:\tmp\agent.msi`, Size: int64(len(data)), SHA256: src.SHA256()}}
	if diff := cmp.Diff(want, res.Files); diff != "" || res.Unchanged {
		t.Errorf("unchanged %v, files (-want +got):\n%s", res.Unchanged, diff)
	}
	if got, err := f.Hosts()[0].ReadFile(`C:\tmp\agent.msi`); err != nil || !bytes.Equal(got, data) {
		t.Errorf("the host holds %d bytes (%v)", len(got), err)
	}
	res, err = download(`C:\tmp\agent.msi`, src.SHA256())
	if err != nil || !res.Unchanged || !res.Files[0].Unchanged {
		t.Errorf("again: %+v, %v; want unchanged", res, err)
	}

	wrong := strings.Repeat("0", 64)
	_, err = download(`C:\tmp\other.msi`, wrong)
	var te *transport.Error
	if !errors.As(err, &te) || te.Class != transport.ClassHashMismatch {
		t.Fatalf("a wrong sha256: %v, want class hash_mismatch", err)
	}
	if !strings.Contains(te.Message, "s3://fleet-repo/agents/agent.msi") || strings.Contains(te.Message, "X-Amz-") {
		t.Errorf("the message names the presigned URL or not the S3 one: %s", te.Message)
	}
	if f.Hosts()[0].Exists(`C:\tmp\other.msi`) {
		t.Error("the mismatched download was kept under its destination name")
	}
	if st := f.SSMStats().S3; st.PresignedGets != 2 {
		t.Errorf("%d presigned GETs, want 2 (the unchanged run downloads nothing)", st.PresignedGets)
	}

	// An object that is not there: the host's one try fails (S3 answers
	// 404), and so does the step, saying which object without the
	// presigned URL's secrets.
	_, err = s.Run(context.Background(), transport.Command{Name: "pull agent", Kind: transport.KindDownload, Download: &transport.DownloadSpec{
		URL: "s3://fleet-repo/agents/missing.msi", Dest: `C:\tmp\missing.msi`, SHA256: src.SHA256()}})
	if !errors.As(err, &te) || te.Class != transport.ClassUnexpectedExit || te.Code != 6 {
		t.Fatalf("a missing object: %v, want class unexpected_exit, code 6", err)
	}
	want404 := hosts[0].Name + `: the host could not download s3://fleet-repo/agents/missing.msi to C:\tmp\missing.msi: fleetrun-download: 1 tries failed; the last: The remote server returned an error: (404) Not Found.`
	if te.Message != want404 {
		t.Errorf("a missing object: %s\nwant %s", te.Message, want404)
	}
}

func TestCopyOverSSMOfSeveralFilesReportsEach(t *testing.T) {
	t.Parallel()
	f, hosts := startFleet(t, 1, "", sim.FleetOptions{})
	one, two := newBlob(pattern(5000)), newBlob([]byte("second file\r\n"))
	// S3 holds something else, of another size, under the second file's
	// key; the host holds the first file already.
	c := s3.New(s3.Options{Region: f.SSMRegion(), BaseEndpoint: aws.String(f.SSMEndpoint()), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDSIMULATED", "simulated", "")})
	if _, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String("fleet-transfer"), Key: aws.String("staged/" + two.SHA256()),
		Body: strings.NewReader("truncated"), ContentLength: aws.Int64(9)}); err != nil {
		t.Fatal(err)
	}
	if err := f.Hosts()[0].WriteFile(`C:\app\one.bin`, pattern(5000)); err != nil {
		t.Fatal(err)
	}
	d := newDialer(t, options(t))
	s, err := d.Dial(t.Context(), transferTargets(t, hosts)[0])
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(t.Context(), transport.Command{Name: "stage app", Kind: transport.KindCopy, Copy: &transport.CopySpec{Files: []transport.CopyFile{
		{Dest: `C:\app\one.bin`, Src: one, Origin: "app/one.bin"}, {Dest: `C:\app\conf\two.txt`, Src: two, Origin: "app/conf/two.txt"}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []transport.FileResult{
		{Path: `C:\app\one.bin`, Size: 5000, SHA256: one.SHA256(), Unchanged: true},
		{Path: `C:\app\conf\two.txt`, Size: 13, SHA256: two.SHA256()},
	}
	if diff := cmp.Diff(want, res.Files); diff != "" || res.Unchanged {
		t.Errorf("unchanged %v, files (-want +got):\n%s", res.Unchanged, diff)
	}
	if got, err := f.Hosts()[0].ReadFile(`C:\app\conf\two.txt`); err != nil || string(got) != "second file\r\n" {
		t.Errorf("two.txt holds %q (%v)", got, err)
	}
	// Both are uploaded (the controller cannot know what hosts hold);
	// the object of another size under two.txt's key is replaced.
	if ds := d.Stats(); ds.TransfersUploaded != 2 || ds.TransfersFound != 0 || ds.TransferBytes != 5013 {
		t.Errorf("dialer stats %+v, want two uploads of 5013 bytes in all", ds)
	}
	if st := f.SSMStats().S3; st.Puts != 3 || st.PresignedGets != 1 {
		t.Errorf("S3 stats %+v, want 3 puts and 1 presigned get (one.bin was in place)", st)
	}
}

func TestDownloadOverSSMOfAnHTTPURLRetries(t *testing.T) {
	t.Parallel()
	f, hosts := startFleet(t, 1, "", sim.FleetOptions{})
	data := pattern(40_000)
	src := newBlob(data)
	srv := downloadtest.NewHTTP(map[string][]byte{"/agent.msi": data})
	t.Cleanup(srv.Close)
	srv.Fail503(1)
	d := newDialer(t, options(t))
	s := dial(t, d, hosts[0])
	var logged strings.Builder
	res, err := s.Run(t.Context(), transport.Command{Name: "pull agent", Kind: transport.KindDownload, Stdout: &logged,
		Download: &transport.DownloadSpec{URL: srv.URL("/agent.msi"), Dest: `D:\agent.msi`, SHA256: src.SHA256(), Retries: 1}})
	if err != nil {
		t.Fatal(err)
	}
	want := []transport.FileResult{{Path: `D:\agent.msi`, Size: int64(len(data)), SHA256: src.SHA256()}}
	if diff := cmp.Diff(want, res.Files); diff != "" || res.Unchanged {
		t.Errorf("unchanged %v, files (-want +got):\n%s", res.Unchanged, diff)
	}
	wantOut := "T 1 The remote server returned an error: (503) Server Unavailable.\nD " + src.SHA256() + " 40000\n"
	if res.Stdout != wantOut || logged.String() != wantOut {
		t.Errorf("stdout %q, logged %q\nwant %q", res.Stdout, logged.String(), wantOut)
	}
	if got, err := f.Hosts()[0].ReadFile(`D:\agent.msi`); err != nil || !bytes.Equal(got, data) {
		t.Errorf("the host holds %d bytes (%v)", len(got), err)
	}
	if st := f.SSMStats().S3; st != (sim.S3Stats{}) {
		t.Errorf("an http:// download touched S3: %+v", st)
	}
}
