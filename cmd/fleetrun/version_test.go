package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVersionFormatsTheBuildInformation(t *testing.T) {
	t.Parallel()
	stamped := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/fleetrun/fleetrun", Version: "v0.0.0-20261203121832-284933b06e7a+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "-buildmode", Value: "exe"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "284933b06e7a94f7fea94b677e8f1efefc8b75cd"},
			{Key: "vcs.time", Value: "2026-12-03T12:18:32Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	clean := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/fleetrun/fleetrun", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "284933b06e7a94f7fea94b677e8f1efefc8b75cd"},
			{Key: "vcs.modified", Value: "false"},
		},
	}
	goRun := &debug.BuildInfo{Main: debug.Module{Path: "github.com/fleetrun/fleetrun", Version: "(devel)"}}
	tests := []struct {
		name     string
		ld       string
		bi       *debug.BuildInfo
		wantText string
		wantJSON string
	}{
		{
			name: "a make build's version wins over the module version, and a modified tree says so",
			ld:   "v1.4.0-3-g284933b-dirty",
			bi:   stamped,
			wantText: "fleetrun v1.4.0-3-g284933b-dirty\n" +
				"revision:    284933b06e7a94f7fea94b677e8f1efefc8b75cd (modified: built with uncommitted changes)\n" +
				"commit time: 2026-12-03T12:18:32Z\n" +
				"go:          go1.26.8 linux/amd64\n",
			wantJSON: `{"version":"v1.4.0-3-g284933b-dirty","vcs":{"revision":"284933b06e7a94f7fea94b677e8f1efefc8b75cd","modified":true,"commit_time":"2026-12-03T12:18:32Z"},"go":"go1.26.8","os":"linux","arch":"amd64"}`,
		},
		{
			name: "a go build without -ldflags shows the pseudo-version go stamped",
			ld:   "dev",
			bi:   stamped,
			wantText: "fleetrun v0.0.0-20261203121832-284933b06e7a+dirty\n" +
				"revision:    284933b06e7a94f7fea94b677e8f1efefc8b75cd (modified: built with uncommitted changes)\n" +
				"commit time: 2026-12-03T12:18:32Z\n" +
				"go:          go1.26.8 linux/amd64\n",
			wantJSON: `{"version":"v0.0.0-20261203121832-284933b06e7a+dirty","vcs":{"revision":"284933b06e7a94f7fea94b677e8f1efefc8b75cd","modified":true,"commit_time":"2026-12-03T12:18:32Z"},"go":"go1.26.8","os":"linux","arch":"amd64"}`,
		},
		{
			name: "a clean tree without a commit time says the time is unknown",
			ld:   "dev",
			bi:   clean,
			wantText: "fleetrun v1.4.0\n" +
				"revision:    284933b06e7a94f7fea94b677e8f1efefc8b75cd\n" +
				"commit time: unknown\n" +
				"go:          go1.26.8 linux/amd64\n",
			wantJSON: `{"version":"v1.4.0","vcs":{"revision":"284933b06e7a94f7fea94b677e8f1efefc8b75cd","modified":false},"go":"go1.26.8","os":"linux","arch":"amd64"}`,
		},
		{
			name: "go run stamps no revision: unknown, and vcs is null in JSON",
			ld:   "dev",
			bi:   goRun,
			wantText: "fleetrun dev\n" +
				"revision:    unknown (no version-control stamp: go run, go install module@version, -buildvcs=false or a linked git worktree)\n" +
				"commit time: unknown\n" +
				"go:          go1.26.8 linux/amd64\n",
			wantJSON: `{"version":"dev","vcs":null,"go":"go1.26.8","os":"linux","arch":"amd64"}`,
		},
		{
			name: "a binary without build information still prints its version",
			ld:   "v2.0.0",
			bi:   nil,
			wantText: "fleetrun v2.0.0\n" +
				"revision:    unknown (no version-control stamp: go run, go install module@version, -buildvcs=false or a linked git worktree)\n" +
				"commit time: unknown\n" +
				"go:          go1.26.8 linux/amd64\n",
			wantJSON: `{"version":"v2.0.0","vcs":null,"go":"go1.26.8","os":"linux","arch":"amd64"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := versionInfoOf(tt.ld, tt.bi, "go1.26.8", "linux", "amd64")
			var b bytes.Buffer
			if err := writeVersionText(&b, v); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantText, b.String()); diff != "" {
				t.Errorf("text (-want +got):\n%s", diff)
			}
			j, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantJSON, string(j)); diff != "" {
				t.Errorf("JSON (-want +got):\n%s", diff)
			}
		})
	}
}

// TestVersionPrintsTheRevisionItWasBuiltFrom builds fleetrun with go build
// and checks that version names the checkout's HEAD.
func TestVersionPrintsTheRevisionItWasBuiltFrom(t *testing.T) {
	t.Parallel()
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("the source is not a git checkout (git rev-parse HEAD: %v)", err)
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err == nil && !fi.IsDir() {
		// Go looks for a .git folder; a linked worktree has a .git file,
		// and go build stamps no revision there (golang/go#58218).
		t.Skip("the source is a linked git worktree, where go build records no revision (golang/go#58218)")
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "fleetrun")
	// -buildvcs=true: GOFLAGS may say false, and a failure to read the
	// checkout must fail the build rather than leave the revision out.
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version", "--output", "json").Output()
	if err != nil {
		t.Fatalf("fleetrun version: %v", err)
	}
	var v versionInfo
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("version --output json: %v\n%s", err, out)
	}
	if v.VCS == nil {
		t.Fatalf("version --output json has no vcs:\n%s", out)
	}
	if want := strings.TrimSpace(string(head)); v.VCS.Revision != want {
		t.Errorf("revision %q, want git rev-parse HEAD %q", v.VCS.Revision, want)
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(v.VCS.CommitTime) {
		t.Errorf("commit time %q is not an RFC 3339 UTC time", v.VCS.CommitTime)
	}
	text, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("fleetrun version: %v", err)
	}
	if want := "revision:    " + v.VCS.Revision; !strings.Contains(string(text), want+"\n") && !strings.Contains(string(text), want+" (modified") {
		t.Errorf("fleetrun version lacks %q:\n%s", want, text)
	}
}
