package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/inventory"
)

func TestWriteInventoryIsAFleetrunInventory(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		https    bool
		wantAuth string
	}{
		{"http fleets use NTLM", false, "ntlm"},
		{"https fleets use Basic and the CA file", true, "basic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			sc := mustScenario(t, "groups:\n  - {name: web, count: 2, tags: {role: web, env: \"prod,eu\"}}\nhost_settings:\n  sim-0002: {tags: {role: canary, 部署: 経理}}\n  sim-0003: {profile: 2008r2, output_encoding: cp932}\n")
			f := startFleet(t, FleetOptions{Hosts: 3, Scenario: sc, HTTPS: tt.https, Dir: dir})
			path := filepath.Join(dir, "sim-fleet.yaml")
			if err := f.WriteInventory(path); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(data), "# Simulated fleet written by fleetrun sim: these hosts are simulated, not Windows.\n") {
				t.Errorf("inventory does not say it is simulated:\n%s", data)
			}
			fi, err := os.Stat(filepath.Join(dir, "sim-fleet.password"))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("password file: %v, mode %v", err, fi.Mode())
			}
			inv, err := inventory.Load(path)
			if err != nil {
				t.Fatalf("fleetrun cannot load the inventory: %v\n%s", err, data)
			}
			if len(inv.Hosts) != 3 {
				t.Fatalf("%d hosts, want 3", len(inv.Hosts))
			}
			for i, got := range inv.Hosts {
				h := f.Hosts()[i]
				pw, err := got.Password(t.Context(), func(string) (string, bool) { return "", false })
				if err != nil {
					t.Fatal(err)
				}
				type view struct {
					Name, Address, Auth, User, Password string
					Port                                int
					HTTPS                               bool
					Tags                                map[string]string
				}
				tags := map[string]string{"simulated": "true", "profile": h.Config().Profile.Name}
				if g := h.Config().Group; g != "" {
					tags["group"] = g
				}
				for k, v := range map[int]map[string]string{0: {"role": "web", "env": "prod,eu"}, 1: {"role": "canary", "env": "prod,eu", "部署": "経理"}}[i] {
					tags[k] = v
				}
				want := view{h.Name(), h.Address(), tt.wantAuth, "fleetrun", f.Password(), h.Port(), tt.https, tags}
				gotView := view{got.Name, got.Address, got.Auth, got.User, pw, got.Port, got.HTTPS, got.Tags}
				if diff := cmp.Diff(want, gotView); diff != "" {
					t.Errorf("host %d (-want +got):\n%s", i, diff)
				}
				if tt.https && got.CAFile != f.CAFile() {
					t.Errorf("ca_file = %q, want %q", got.CAFile, f.CAFile())
				}
			}
			if enc := inv.Hosts[2].OutputEncoding; enc != "cp932" {
				t.Errorf("output_encoding of the Japanese host = %q", enc)
			}
		})
	}
}

func TestServeWritesTheInventoryThenPrintsReady(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	inv := filepath.Join(dir, "fleet.yaml")
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ServeOptions{Hosts: 5, Profile: "2016", WriteInventory: inv, Stats: "127.0.0.1:0"}, pw)
		_ = pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() || lines.Text() != "ready: 5 hosts" {
		t.Fatalf("first line %q, want %q", lines.Text(), "ready: 5 hosts")
	}
	if _, err := os.Stat(inv); err != nil {
		t.Errorf("inventory not written before ready: %v", err)
	}
	var statsURL string
	for lines.Scan() {
		line := lines.Text()
		if !strings.HasPrefix(line, "simulated fleet: ") {
			t.Errorf("line not labelled simulated: %q", line)
		}
		if u, ok := strings.CutPrefix(line, "simulated fleet: stats at "); ok {
			statsURL = u
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }() // keep Serve's writes flowing
	resp, err := http.Get(statsURL)
	if err != nil {
		t.Fatal(err)
	}
	var st FleetStats
	err = json.NewDecoder(resp.Body).Decode(&st)
	_ = resp.Body.Close()
	if err != nil || len(st.Hosts) != 5 || st.Hosts[4].Name != "sim-0005" {
		t.Errorf("stats: %v %+v", err, st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestFleetOnDistinctAddresses(t *testing.T) {
	t.Parallel()
	// Find a port free on 127.0.9.1-3.
	ln, err := net.Listen("tcp", "127.0.9.1:0")
	if err != nil {
		t.Skipf("loopback aliases unavailable: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	f := startFleet(t, FleetOptions{Hosts: 3, Listen: fmt.Sprintf("127.0.9.1:%d", port), Scenario: mustScenario(t, "defaults: {allow_unencrypted: true}\n")})
	for i, h := range f.Hosts() {
		if want := fmt.Sprintf("127.0.9.%d", i+1); h.Address() != want || h.Port() != port {
			t.Errorf("host %d at %s:%d, want %s:%d", i, h.Address(), h.Port(), want, port)
		}
		if id := newRaw(t, f, h).create(); id == "" {
			t.Errorf("host %d did not answer", i)
		}
	}
}

func TestFleetRefusesNonLoopbackAddresses(t *testing.T) {
	t.Parallel()
	for _, listen := range []string{"10.0.0.1:0", "0.0.0.0:0", "example.com:0"} {
		if _, err := StartFleet(context.Background(), FleetOptions{Hosts: 1, Listen: listen}); err == nil {
			t.Errorf("StartFleet on %s succeeded", listen)
		}
	}
}

func TestFleetCountsPeakShellsAcrossHosts(t *testing.T) {
	t.Parallel()
	f := plainFleet(t, "", "", FleetOptions{Hosts: 2})
	a, b := newRaw(t, f, f.Hosts()[0]), newRaw(t, f, f.Hosts()[1])
	s1, s2, s3 := a.create(), a.create(), b.create()
	for _, del := range []struct {
		r  *raw
		id string
	}{{a, s1}, {a, s2}, {b, s3}} {
		del.r.mustDo(envelope(ActionDelete, ResourceShellCmd, del.id, "", "PT20S"))
	}
	st := f.Stats()
	if st.PeakShells != 3 || st.OpenShells != 0 || st.Totals.ShellsOpened != 3 || st.Totals.Deletes != 3 {
		t.Errorf("fleet stats: peak %d open %d totals %+v", st.PeakShells, st.OpenShells, st.Totals)
	}
	if st.Hosts[0].PeakShells != 2 || st.Hosts[1].PeakShells != 1 {
		t.Errorf("per-host peaks %d, %d", st.Hosts[0].PeakShells, st.Hosts[1].PeakShells)
	}
}

func TestFleetCloseIsBounded(t *testing.T) {
	t.Parallel()
	f, err := StartFleet(context.Background(), FleetOptions{Hosts: 2, Scenario: mustScenario(t, "defaults: {allow_unencrypted: true}\n")})
	if err != nil {
		t.Fatal(err)
	}
	r := newRaw(t, f, f.Hosts()[0])
	shell := r.create()
	cmdID := r.command(shell, `C:\tools\sleep.exe 3600`).find(nsShell, "CommandId").text
	receiving := make(chan error, 1)
	go func() {
		_, _, err := r.do(context.Background(), envelope(ActionReceive, ResourceShellCmd, shell, receiveBody(cmdID), "PT60S"))
		receiving <- err
	}()
	closed := make(chan error, 1)
	go func() { closed <- f.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return with a long poll and a running process")
	}
	if err := <-receiving; err != nil {
		t.Logf("the long poll ended with %v", err)
	}
}
