package sim

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/sim/downloadtest"
)

func downloadPayloadFor(url, dest, sum string, retries int, proxy string) map[string]any {
	return map[string]any{"v": 1, "url": url, "dest": dest, "tmp": dest + ".fleetrun-" + sum[:12] + ".tmp", "sha256": sum, "retries": retries, "proxy": proxy}
}

// runDownload runs the download script on r's host.
func runDownload(r *raw, payload map[string]any) result3 {
	r.t.Helper()
	c := r.start(fileCommand(downloadMarker, payload))
	c.wait()
	return c.result()
}

const (
	msg503   = "The remote server returned an error: (503) Server Unavailable."
	msgTrust = "The underlying connection was closed: Could not establish trust relationship for the SSL/TLS secure channel."
)

func TestDownload(t *testing.T) {
	t.Parallel()
	agent := pattern(1_500_000, 0x11)
	sum := sha256Hex(agent)
	other := sha256Hex([]byte("something else"))
	srv := downloadtest.NewHTTPS(map[string][]byte{"/agent.msi": agent})
	t.Cleanup(srv.Close)
	f := plainFleet(t, "", "", FleetOptions{Hosts: 1, TrustedCAs: srv.CertPool()})
	h := f.Hosts()[0]
	r := newRaw(t, f, h)
	url := srv.URL("/agent.msi")
	tmp := `C:\tmp\agent.msi.fleetrun-` + sum[:12] + ".tmp"

	tests := []struct {
		name     string
		setup    func()
		payload  map[string]any
		want     result3
		requests int64 // the server's requests during the case
		written  bool  // dest holds agent afterwards
	}{
		{
			name: "hash mismatch, never retried", payload: downloadPayloadFor(url, `C:\tmp\agent.msi`, other, 2, ""),
			want:     result3{Stderr: "fleetrun-download: hash mismatch: " + url + " sent 1500000 bytes with SHA-256 " + sum + ", expected " + other + "; nothing was kept\r\n", Code: 4},
			requests: 1,
		},
		{
			name: "retried after two 503s", setup: func() { srv.Fail503(2) }, payload: downloadPayloadFor(url, `C:\tmp\agent.msi`, sum, 2, ""),
			want:     result3{Stdout: "T 1 " + msg503 + "\nT 2 " + msg503 + "\nD " + sum + " 1500000\n"},
			requests: 3, written: true,
		},
		{
			name: "unchanged", payload: downloadPayloadFor(url, `C:\tmp\agent.msi`, sum, 2, ""),
			want: result3{Stdout: "U 1500000\n"}, requests: 0, written: true,
		},
		{
			name: "every try fails", setup: func() { srv.Fail503(2) }, payload: downloadPayloadFor(url, `C:\tmp\second.msi`, sum, 1, ""),
			want:     result3{Stdout: "T 1 " + msg503 + "\nT 2 " + msg503 + "\n", Stderr: "fleetrun-download: 2 tries failed; the last: " + msg503 + "\r\n", Code: 6},
			requests: 2, written: true,
		},
		{
			name: "not on loopback", payload: downloadPayloadFor("https://repo.example.com/agent.msi", `C:\tmp\third.msi`, sum, 2, ""),
			want:    result3{Stderr: "fleetrun-download: refusing repo.example.com: the simulated fleet downloads from loopback addresses only (127.0.0.0/8, ::1, localhost)\r\n", Code: 2},
			written: true,
		},
		{
			name: "404", payload: downloadPayloadFor(srv.URL("/missing.msi"), `C:\tmp\third.msi`, sum, 0, ""),
			want:     result3{Stdout: "T 1 The remote server returned an error: (404) Not Found.\n", Stderr: "fleetrun-download: 1 tries failed; the last: The remote server returned an error: (404) Not Found.\r\n", Code: 6},
			requests: 1, written: true,
		},
	}
	for _, tt := range tests {
		if tt.setup != nil {
			tt.setup()
		}
		before := srv.Stats().Requests
		got := runDownload(r, tt.payload)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
		if n := srv.Stats().Requests - before; n != tt.requests {
			t.Errorf("%s: %d requests, want %d", tt.name, n, tt.requests)
		}
		if h.Exists(tmp) {
			t.Errorf("%s: %s is still there", tt.name, tmp)
		}
		if info, ok := h.File(`C:\tmp\agent.msi`); ok != tt.written || (ok && info.SHA256 != sum) {
			t.Errorf("%s: dest %+v %v, want written %v", tt.name, info, ok, tt.written)
		}
	}
	if h.Exists(`C:\tmp\second.msi`) || h.Exists(`C:\tmp\third.msi`) {
		t.Error("a failed download left its dest")
	}
	st := h.Stats()
	if st.Downloads != 4 || st.FilesWritten != 1 || st.FilesUnchanged != 1 || st.Programs["fleetrun-download"] != 6 {
		t.Errorf("stats: downloads %d, written %d, unchanged %d, programs %v", st.Downloads, st.FilesWritten, st.FilesUnchanged, st.Programs)
	}
}

func TestDownloadUntrustedCertificate(t *testing.T) {
	t.Parallel()
	data := []byte("payload")
	sum := sha256Hex(data)
	srv := downloadtest.NewHTTPS(map[string][]byte{"/p.bin": data})
	t.Cleanup(srv.Close)
	f := plainFleet(t, "", "", FleetOptions{}) // trusts no CA
	r := newRaw(t, f, f.Hosts()[0])
	got := runDownload(r, downloadPayloadFor(srv.URL("/p.bin"), `C:\p.bin`, sum, 0, ""))
	want := result3{Stdout: "T 1 " + msgTrust + "\n", Stderr: "fleetrun-download: 1 tries failed; the last: " + msgTrust + "\r\n", Code: 6}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if f.Hosts()[0].Exists(`C:\p.bin`) {
		t.Error("dest exists")
	}
}

func TestDownloadDroppedMidBodyAndProxy(t *testing.T) {
	t.Parallel()
	data := pattern(400_000, 0x77)
	sum := sha256Hex(data)
	srv := downloadtest.NewHTTP(map[string][]byte{"/tool.zip": data})
	t.Cleanup(srv.Close)
	f := plainFleet(t, "", "", FleetOptions{})
	h := f.Hosts()[0]
	r := newRaw(t, f, h)

	srv.DropMidBody(1, 100_000)
	got := runDownload(r, downloadPayloadFor(srv.URL("/tool.zip"), `C:\t\tool.zip`, sum, 1, ""))
	want := result3{Stdout: "T 1 The underlying connection was closed: The connection was closed unexpectedly.\nD " + sum + " 400000\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dropped body (-want +got):\n%s", diff)
	}
	if content, err := h.ReadFile(`C:\t\tool.zip`); err != nil || sha256Hex(content) != sum {
		t.Errorf("dest: %d bytes, %v", len(content), err)
	}
	if st := srv.Stats(); st.Dropped != 1 || st.Complete != 1 || st.Requests != 2 {
		t.Errorf("server stats %+v", st)
	}

	// Through the server as an HTTP proxy, a URL naming any host.
	got = runDownload(r, downloadPayloadFor("http://repo.example/tool.zip", `C:\t\viaproxy.zip`, sum, 0, srv.URL("")))
	if diff := cmp.Diff(result3{Stdout: "D " + sum + " 400000\n"}, got); diff != "" {
		t.Errorf("proxy (-want +got):\n%s", diff)
	}
	if st := srv.Stats(); st.Proxied != 1 {
		t.Errorf("proxied %d, want 1", st.Proxied)
	}
	// An https:// URL through the proxy: a CONNECT tunnel to the HTTPS
	// server, whose certificate the host trusts.
	tlsSrv := downloadtest.NewHTTPS(map[string][]byte{"/tool.zip": data})
	t.Cleanup(tlsSrv.Close)
	f2 := plainFleet(t, "", "", FleetOptions{TrustedCAs: tlsSrv.CertPool()})
	got = runDownload(newRaw(t, f2, f2.Hosts()[0]), downloadPayloadFor(tlsSrv.URL("/tool.zip"), `C:\t\tunnelled.zip`, sum, 0, srv.URL("")))
	if diff := cmp.Diff(result3{Stdout: "D " + sum + " 400000\n"}, got); diff != "" {
		t.Errorf("https through the proxy (-want +got):\n%s", diff)
	}
	if st := srv.Stats(); st.Tunnels != 1 {
		t.Errorf("tunnels %d, want 1", st.Tunnels)
	}
	// A proxy that is not on loopback is refused.
	got = runDownload(r, downloadPayloadFor("http://repo.example/tool.zip", `C:\t\x.zip`, sum, 0, "http://proxy.example:3128"))
	want = result3{Stderr: "fleetrun-download: refusing proxy proxy.example:3128: the simulated fleet downloads from loopback addresses only (127.0.0.0/8, ::1, localhost)\r\n", Code: 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("remote proxy (-want +got):\n%s", diff)
	}
}
