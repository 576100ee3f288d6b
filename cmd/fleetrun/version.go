package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=..." (the
// Makefile's build target sets it to git describe --tags --always --dirty).
var version = "dev"

// versionInfo is what fleetrun version prints; its JSON form is the
// contract for scripts (design.md, Command line).
type versionInfo struct {
	Version string `json:"version"`
	// VCS is nil when the binary carries no version-control information:
	// go run, go test, a build outside a checkout, or -buildvcs=false.
	VCS  *vcsInfo `json:"vcs"`
	Go   string   `json:"go"`
	OS   string   `json:"os"`
	Arch string   `json:"arch"`
}

// vcsInfo is the commit a binary was built from, as go build stamps it.
type vcsInfo struct {
	Revision   string `json:"revision"`
	Modified   bool   `json:"modified"`
	CommitTime string `json:"commit_time,omitempty"`
}

// versionInfoOf gathers the version from the -ldflags value (ld, "dev"
// when none was given) and the build information the Go toolchain embeds
// (bi, nil when the binary has none). The -ldflags value wins; else the
// module version go build or go install recorded (a tag, or a
// pseudo-version since Go 1.24); else "dev".
func versionInfoOf(ld string, bi *debug.BuildInfo, goVersion, goos, goarch string) versionInfo {
	v := versionInfo{Version: ld, Go: goVersion, OS: goos, Arch: goarch}
	if bi == nil {
		return v
	}
	if v.Version == "" || v.Version == "dev" {
		if mv := bi.Main.Version; mv != "" && mv != "(devel)" {
			v.Version = mv
		}
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	var vcs vcsInfo
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			vcs.Revision = s.Value
		case "vcs.modified":
			vcs.Modified = s.Value == "true"
		case "vcs.time":
			vcs.CommitTime = s.Value
		}
	}
	if vcs.Revision != "" {
		v.VCS = &vcs
	}
	return v
}

// writeVersionText prints v for people, one fact a line.
func writeVersionText(w io.Writer, v versionInfo) error {
	rev, when := "unknown (no version-control stamp: go run, go install module@version, -buildvcs=false or a linked git worktree)", "unknown"
	if v.VCS != nil {
		rev = v.VCS.Revision
		if v.VCS.Modified {
			rev += " (modified: built with uncommitted changes)"
		}
		if v.VCS.CommitTime != "" {
			when = v.VCS.CommitTime
		}
	}
	_, err := fmt.Fprintf(w, "fleetrun %s\nrevision:    %s\ncommit time: %s\ngo:          %s %s/%s\n", v.Version, rev, when, v.Go, v.OS, v.Arch)
	return err
}

func newVersionCmd(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version [--output text|json]",
		Short: "Print fleetrun's version and the commit it was built from",
		Long: `Version prints fleetrun's version (set by make build from git describe, else
the module version go build or go install recorded), the commit it was built
from and whether the tree had uncommitted changes, the commit's time, and the
Go release and platform. A binary built without version-control information
(go run, go install module@version, -buildvcs=false, a build outside a git
checkout or in a linked git worktree) says "unknown".

With --output json it prints one object for scripts:
{"version", "vcs": {"revision", "modified", "commit_time"} or null, "go", "os", "arch"}.`,
		Example: "  fleetrun version\n  fleetrun version --output json",
		Args:    cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return invalid(err)
			}
			bi, ok := debug.ReadBuildInfo()
			if !ok {
				bi = nil
			}
			v := versionInfoOf(version, bi, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			if output == "json" {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			return writeVersionText(e.stdout, v)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
