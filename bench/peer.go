package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/fleetrun/fleetrun/inventory"
)

// PeerConfig is the configuration file of peer_pywinrm.py.
type PeerConfig struct {
	Forks     int        `json:"forks"`
	Transport string     `json:"transport"` // "ntlm" (sealed over HTTP) or "basic" (over HTTPS)
	User      string     `json:"user"`
	Password  string     `json:"password"`
	CAFile    string     `json:"ca_file"`
	URLs      []string   `json:"urls"`
	Steps     []PeerStep `json:"steps"`
}

// PeerTargets reads the fleet's inventory into the peer's connection
// settings: every host's endpoint, the account, its password and CA file.
// Every host must share the account (a simulated fleet's do).
func PeerTargets(ctx context.Context, invFile string, lookupEnv func(string) (string, bool)) (PeerConfig, error) {
	inv, err := inventory.Load(invFile)
	if err != nil {
		return PeerConfig{}, err
	}
	if len(inv.Hosts) == 0 {
		return PeerConfig{}, fmt.Errorf("%s: no hosts", invFile)
	}
	var c PeerConfig
	for i, h := range inv.Hosts {
		pw, err := h.Password(ctx, lookupEnv)
		if err != nil {
			return PeerConfig{}, err
		}
		transport := "ntlm"
		if h.HTTPS {
			transport = "basic"
		}
		if i == 0 {
			c.User, c.Password, c.CAFile, c.Transport = h.User, pw, h.CAFile, transport
		} else if h.User != c.User || pw != c.Password || h.CAFile != c.CAFile || transport != c.Transport {
			return PeerConfig{}, fmt.Errorf("%s: host %s has other settings than %s; the peer takes one account", invFile, h.Name, inv.Hosts[0].Name)
		}
		c.URLs = append(c.URLs, h.Endpoint())
	}
	return c, nil
}

// PeerReport is what peer_pywinrm.py prints.
type PeerReport struct {
	Hosts       int      `json:"hosts"`
	OK          int      `json:"ok"`
	Failed      int      `json:"failed"`
	WallSeconds float64  `json:"wall_seconds"`
	Errors      []string `json:"errors"`
}

// ParsePeerReport reads the peer's output: one JSON object on the last
// non-empty line.
func ParsePeerReport(out []byte) (PeerReport, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if last == "" {
		return PeerReport{}, errors.New("peer printed nothing")
	}
	var r PeerReport
	dec := json.NewDecoder(strings.NewReader(last))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return PeerReport{}, fmt.Errorf("peer report %q: %w", clip(last, 200), err)
	}
	if r.Hosts < 0 || r.OK < 0 || r.Failed < 0 || r.OK+r.Failed != r.Hosts {
		return PeerReport{}, fmt.Errorf("peer report: %d ok and %d failed of %d hosts do not add up", r.OK, r.Failed, r.Hosts)
	}
	return r, nil
}

// PeerRun says how to start the peer.
type PeerRun struct {
	Python string   // the interpreter, /usr/bin/python3 (Debian's, which has python3-winrm)
	Script string   // peer_pywinrm.py
	Env    []string // the child's environment (OPENSSL_CONF for NTLM's MD4)
	Dir    string   // where the config file is written
}

// RunPeer runs the peer with cfg and measures it.
func RunPeer(ctx context.Context, pr PeerRun, cfg PeerConfig, name string) (PeerReport, Usage, error) {
	data, err := json.Marshal(cfg)
	if err != nil {
		return PeerReport{}, Usage{}, fmt.Errorf("peer config: %w", err)
	}
	cfgFile := filepath.Join(pr.Dir, name+".peer.json")
	if err := os.WriteFile(cfgFile, data, 0o600); err != nil {
		return PeerReport{}, Usage{}, fmt.Errorf("peer config: %w", err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(pr.Python, pr.Script, cfgFile)
	cmd.Env = pr.Env
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	u, err := Measure(ctx, cmd)
	if err != nil {
		return PeerReport{}, u, err
	}
	if u.ExitCode != 0 {
		return PeerReport{}, u, fmt.Errorf("peer exited %d: %s", u.ExitCode, clip(stderr.String(), 2000))
	}
	rep, err := ParsePeerReport(stdout.Bytes())
	return rep, u, err
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
