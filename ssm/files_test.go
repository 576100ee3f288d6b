package ssm_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/transport"
)

// blob is a copy source held in memory.
type blob struct {
	*bytes.Reader
	sum string
}

func newBlob(data []byte) blob {
	s := sha256.Sum256(data)
	return blob{bytes.NewReader(data), hex.EncodeToString(s[:])}
}

func (b blob) SHA256() string { return b.sum }

func copyCommand(dest string, src transport.Blob) transport.Command {
	return transport.Command{Name: "stage", Kind: transport.KindCopy,
		Copy: &transport.CopySpec{Files: []transport.CopyFile{{Dest: dest, Src: src, Origin: "patches/KB1.msu"}}}}
}

func TestFileStepsOverSSMThatCannotRunFailAsConfig(t *testing.T) {
	t.Parallel()
	f, hosts := startFleet(t, 1, "", sim.FleetOptions{})
	d := newDialer(t, options(t))
	// The simulated fleet's inventory names a transfer bucket; this host's
	// copy must find none.
	tg := target(t, hosts[0])
	tg.SSM.TransferBucket = ""
	s, err := d.Dial(t.Context(), tg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		cmd       transport.Command
		wantMsg   string
		wantClass transport.Class
	}{
		{"a copy without a transfer bucket", copyCommand(`C:\patches\KB1.msu`, newBlob([]byte("x"))),
			hosts[0].Name + ": a copy over SSM goes through an S3 bucket, and the inventory names none: set ssm: {transfer_bucket: ...}", transport.ClassConfig},
		{"a fetch", transport.Command{Kind: transport.KindFetch, Fetch: &transport.FetchSpec{Src: `C:\logs\*.log`, MaxBytes: 1 << 20}},
			hosts[0].Name + ": fetch over SSM is not supported yet", transport.ClassConfig},
		{"an s3 URL without a key", transport.Command{Kind: transport.KindDownload, Download: &transport.DownloadSpec{URL: "s3://fleet-transfer", Dest: `C:\x`, SHA256: strings.Repeat("a", 64)}},
			hosts[0].Name + `: download to C:\x: "s3://fleet-transfer" names no bucket and key (s3://bucket/key)`, transport.ClassConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Run(t.Context(), tc.cmd)
			var te *transport.Error
			if !errors.As(err, &te) || te.Class != tc.wantClass || te.Message != tc.wantMsg {
				t.Fatalf("Run: %v\nwant class %s: %s", err, tc.wantClass, tc.wantMsg)
			}
		})
	}
	st := f.SSMStats()
	if st.Calls["SendCommand"] != 0 || st.Calls["S3.PutObject"]+st.Calls["S3.HeadObject"] != 0 {
		t.Errorf("steps that cannot run called %v", st.Calls)
	}
}
