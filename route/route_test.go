package route_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/route"
	"github.com/fleetrun/fleetrun/ssm"
	"github.com/fleetrun/fleetrun/transport"
)

// errFakeWinRM marks a dial that reached the WinRM dialer.
var errFakeWinRM = errors.New("dialled over winrm")

func TestDialerReachesEachHostByItsInventoryTransport(t *testing.T) {
	t.Parallel()
	hosts := []*inventory.Host{{Name: "win-01", Transport: "winrm"}, {Name: "ssm-01", Transport: "ssm"}}
	fake := transport.DialerFunc(func(context.Context, transport.Target) (transport.Session, error) { return nil, errFakeWinRM })
	d := route.NewDialer(hosts, route.Options{WinRM: fake, SSM: &ssm.Options{}})
	t.Cleanup(func() { _ = d.Close() })
	ctx := context.Background()

	if _, err := d.Dial(ctx, transport.Target{Name: "win-01"}); !errors.Is(err, errFakeWinRM) {
		t.Errorf("win-01: Dial error = %v, want the WinRM dialer's", err)
	}
	// An SSM host without an instance id fails in the SSM transport
	// before any AWS call.
	_, err := d.Dial(ctx, transport.Target{Name: "ssm-01", Vars: map[string]string{"instance_id": "i-0123456789abcdef0"}})
	var te *transport.Error
	if !errors.As(err, &te) || te.Class != transport.ClassRefused || te.Message != "ssm-01: no instance id, so the host cannot be reached through SSM" {
		t.Errorf("ssm-01: Dial error = %v, want the SSM transport's refusal (a template variable is no instance id)", err)
	}
}

func TestRendererRendersEachHostByItsTransport(t *testing.T) {
	t.Parallel()
	r := route.Renderer()
	cmd := transport.Command{Kind: transport.KindCmd, Line: "ver", RunAs: transport.RunAsSystem}
	win, err := r(&inventory.Host{Name: "w", Transport: "winrm"}, cmd)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := r(&inventory.Host{Name: "s", Transport: "ssm", SSM: inventory.SSMSettings{Document: "Corp-RunPowerShell"}}, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if len(win.RemoteCommand) == 0 || win.RemoteCommand[0] == "Corp-RunPowerShell" {
		t.Errorf("winrm rendering = %q, want WinRS's command", win.RemoteCommand)
	}
	if len(ss.RemoteCommand) != 2 || ss.RemoteCommand[0] != "Corp-RunPowerShell" {
		t.Errorf("ssm rendering = %q, want the host's document and its script", ss.RemoteCommand)
	}
	if want := "run_as: system changes nothing over SSM: the SSM agent runs every step as SYSTEM already"; ss.Note != want {
		t.Errorf("ssm note = %q, want %q", ss.Note, want)
	}
}

// TestRendererFileSteps: file steps render without error on both
// transports; over SSM the note says how the files travel.
func TestRendererFileSteps(t *testing.T) {
	t.Parallel()
	r := route.Renderer()
	for _, tc := range []struct {
		cmd     transport.Command
		ssmNote string
	}{
		{transport.Command{Kind: transport.KindCopy, Copy: &transport.CopySpec{Files: []transport.CopyFile{{Dest: `C:\x\a.txt`, Src: memBlob("a"), Origin: "a.txt"}}}},
			"over SSM the controller uploads each source once to the inventory's S3 transfer bucket (ssm: {transfer_bucket: ...}) and the host downloads it; without that bucket the step fails with class config"},
		{transport.Command{Kind: transport.KindDownload, Download: &transport.DownloadSpec{URL: "https://r.example/a.msi", Dest: `C:\a.msi`, SHA256: "9c1e000000000000000000000000000000000000000000000000000000000001"}},
			"over SSM the host downloads through the agent (an s3:// URL is presigned by the controller)"},
		{transport.Command{Kind: transport.KindFetch, Fetch: &transport.FetchSpec{Src: `C:\logs\*.log`, MaxBytes: 1 << 20}},
			"fetch is not supported over SSM yet: the step fails with class config"},
	} {
		ss, err := r(&inventory.Host{Name: "s", Transport: "ssm"}, tc.cmd)
		if err != nil || ss.Note != tc.ssmNote || ss.RemoteCommand != nil {
			t.Errorf("%s over ssm = %+v, %v; want note %q", tc.cmd.Kind, ss, err, tc.ssmNote)
		}
		win, err := r(&inventory.Host{Name: "w", Transport: "winrm"}, tc.cmd)
		if err != nil {
			t.Errorf("%s over winrm: %v", tc.cmd.Kind, err)
		}
		// The WinRM transport's script, with its first line's marker,
		// encoded; the runner's note says what moves, so none here.
		if len(win.RemoteCommand) != 8 || win.RemoteCommand[6] != "-EncodedCommand" || win.Note != "" {
			t.Errorf("%s over winrm = %+v; want powershell.exe -EncodedCommand and no note", tc.cmd.Kind, win)
		}
	}
}

// memBlob is a transport.Blob held in memory.
type memBlob string

func (b memBlob) ReadAt(p []byte, off int64) (int, error) {
	return strings.NewReader(string(b)).ReadAt(p, off)
}
func (b memBlob) Size() int64 { return int64(len(b)) }
func (b memBlob) SHA256() string {
	s := sha256.Sum256([]byte(b))
	return hex.EncodeToString(s[:])
}

// TestRendererCopyOfManyFilesOverWinRM: a copy of several files is one
// command per file, which the note says.
func TestRendererCopyOfManyFilesOverWinRM(t *testing.T) {
	t.Parallel()
	cmd := transport.Command{Kind: transport.KindCopy, Copy: &transport.CopySpec{Files: []transport.CopyFile{
		{Dest: `C:\x\a.txt`, Src: memBlob("a")}, {Dest: `C:\x\b.txt`, Src: memBlob("b")},
	}}}
	win, err := route.Renderer()(&inventory.Host{Name: "w", Transport: "winrm"}, cmd)
	if want := "one command per file, 2 in all; remote_command is the first file's, its bytes sent on stdin"; err != nil || win.Note != want || len(win.RemoteCommand) == 0 {
		t.Errorf("rendering = %+v, %v; want a remote command and the note %q", win, err, want)
	}
}

// TestWinRMOptionsShareTheRunsKerberosLogon: the options pre-flight opens
// its own WinRM sessions with carry the dialer's Kerberos credentials (the
// environment's ticket cache) and krb5.conf, so a kinit serves both.
func TestWinRMOptionsShareTheRunsKerberosLogon(t *testing.T) {
	t.Parallel()
	env := map[string]string{"KRB5CCNAME": "FILE:/tmp/krb5cc_test", "KRB5_CONFIG": "/etc/krb5-test.conf"}
	d := route.NewDialer(nil, route.Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	t.Cleanup(func() { _ = d.Close() })
	o := d.WinRMOptions()
	if o.Kerberos == nil || o.Kerberos.CCache != "/tmp/krb5cc_test" || o.Krb5Config != "/etc/krb5-test.conf" {
		t.Errorf("WinRMOptions() = Kerberos %+v, Krb5Config %q; want the environment's cache (without FILE:) and krb5.conf", o.Kerberos, o.Krb5Config)
	}
}
