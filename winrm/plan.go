package winrm

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
)

// planListed is how many files of a copy a plan's note names.
const planListed = 3

// planFile renders a file step for a plan, without I/O.
func planFile(cmd transport.Command) ([]string, string, string, error) {
	switch cmd.Kind {
	case transport.KindCopy:
		if cmd.Copy == nil || len(cmd.Copy.Files) == 0 {
			return nil, "", "copy: no files", nil
		}
		var first launcher.Rendered
		var total int64
		var parts []string
		for i, f := range cmd.Copy.Files {
			if f.Src == nil {
				return nil, "", "", fmt.Errorf("copy to %s: no source", f.Dest)
			}
			r, err := launcher.RenderCopy(launcher.CopyPayload{Dest: f.Dest, SHA256: f.Src.SHA256(), Size: f.Src.Size()})
			if err != nil {
				return nil, "", "", err
			}
			if i == 0 {
				first = r
			}
			total += f.Src.Size()
			if i < planListed {
				parts = append(parts, fmt.Sprintf("%d bytes (sha256 %s) to %s", f.Src.Size(), shortHash(f.Src.SHA256()), f.Dest))
			}
		}
		n := len(cmd.Copy.Files)
		if n == 1 {
			return first.RemoteCommand, "", "copy " + parts[0], nil
		}
		note := fmt.Sprintf("copy %d files, %d bytes in all, one command each (remote_command is the first's, with its bytes on stdin): %s",
			n, total, strings.Join(parts, "; "))
		if n > planListed {
			note += fmt.Sprintf("; and %d more", n-planListed)
		}
		return first.RemoteCommand, "", note, nil
	case transport.KindDownload:
		d := cmd.Download
		if d == nil {
			return nil, "", "", errors.New("download step without its specification")
		}
		r, err := launcher.RenderDownload(launcher.DownloadPayload{URL: d.URL, Dest: d.Dest, SHA256: d.SHA256, Retries: d.Retries, Proxy: d.Proxy},
			launcher.RenderOptions{})
		if err != nil {
			return nil, "", "", err
		}
		note := fmt.Sprintf("the host downloads %s to %s and keeps it only if its sha256 is %s (%d retries", redactURL(d.URL), d.Dest, shortHash(d.SHA256), d.Retries)
		if d.Proxy != "" {
			note += ", through proxy " + redactURL(d.Proxy)
		}
		note += ")"
		if r.Stdin {
			note += "; the payload goes on stdin, too long for the command line"
		}
		return r.RemoteCommand, "", note, nil
	case transport.KindFetch:
		f := cmd.Fetch
		if f == nil {
			return nil, "", "", errors.New("fetch step without its specification")
		}
		r, err := launcher.RenderFetch(launcher.FetchPayload{Src: f.Src, MaxBytes: f.MaxBytes})
		if err != nil {
			return nil, "", "", err
		}
		note := fmt.Sprintf("fetch the files matching %s, at most %d bytes in all", f.Src, f.MaxBytes)
		if f.Optional {
			note += "; none matching is not an error"
		}
		return r.RemoteCommand, "", note, nil
	}
	return nil, "", "", fmt.Errorf("step kind %q is not a file step", cmd.Kind)
}

// shortHash is the first 12 hex digits of a SHA-256 and an ellipsis.
func shortHash(h string) string {
	if len(h) <= 12 {
		return h
	}
	return h[:12] + "…"
}
