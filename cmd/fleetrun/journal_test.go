package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestStateDirFollowsXDGAndLocalAppData(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		goos    string
		env     map[string]string
		want    string
		wantErr string
	}{
		{"XDG_STATE_HOME wins over HOME", "linux", map[string]string{"XDG_STATE_HOME": "/srv/state", "HOME": "/home/op"}, "/srv/state/fleetrun", ""},
		{"without XDG_STATE_HOME, ~/.local/state", "linux", map[string]string{"HOME": "/home/op"}, "/home/op/.local/state/fleetrun", ""},
		{"a relative XDG_STATE_HOME is ignored, as the specification asks", "darwin", map[string]string{"XDG_STATE_HOME": "state", "HOME": "/Users/op"}, "/Users/op/.local/state/fleetrun", ""},
		{"an empty XDG_STATE_HOME is ignored", "linux", map[string]string{"XDG_STATE_HOME": "", "HOME": "/home/op"}, "/home/op/.local/state/fleetrun", ""},
		{"Windows uses LOCALAPPDATA", "windows", map[string]string{"LOCALAPPDATA": `C:\Users\op\AppData\Local`, "XDG_STATE_HOME": "/x"}, `C:\Users\op\AppData\Local\fleetrun\state`, ""},
		{"no home at all is an error that says what to do", "linux", map[string]string{"HOME": "relative"}, "", "cannot place the journal: neither XDG_STATE_HOME nor HOME is an absolute path; give --journal FILE or --report FILE"},
		{"Windows without LOCALAPPDATA is an error", "windows", map[string]string{"HOME": "/home/op"}, "", "cannot place the journal: LOCALAPPDATA is not set to an absolute path; give --journal FILE or --report FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			got, err := stateDir(lookup, tt.goos)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if got != tt.want || gotErr != tt.wantErr {
				t.Errorf("stateDir = %q, %q; want %q, %q", got, gotErr, tt.want, tt.wantErr)
			}
		})
	}
}

func TestResumeCommandQuotesEveryValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		o       applyOptions
		pb, jnl string
		want    string
	}{
		{
			name: "the playbook, the inventory and the journal",
			o:    applyOptions{invFiles: []string{"prod.yaml"}},
			pb:   "patch.yaml", jnl: "/home/op/.local/state/fleetrun/patch-20261203T120000Z.journal",
			want: `fleetrun apply 'patch.yaml' -i 'prod.yaml' --resume '/home/op/.local/state/fleetrun/patch-20261203T120000Z.journal'`,
		},
		{
			name: "spaces, quotes and shell characters stay literal",
			o: applyOptions{
				invFiles: []string{"my inv/a.yaml", "it's.yaml"},
				limit:    "role=web,!web-9*",
				extras:   []string{`msg=say "hi" $USER`, "q='", "empty="},
				disc:     discoveryFlags{regions: []string{"eu-west-1", "us-east-1"}, profile: "ops team"},
			},
			pb: "plays/patch it.yaml", jnl: "out dir/j'1.journal",
			want: `fleetrun apply 'plays/patch it.yaml' -i 'my inv/a.yaml' -i 'it'\''s.yaml' --limit 'role=web,!web-9*' ` +
				`-e 'msg=say "hi" $USER' -e 'q='\''' -e 'empty=' --ec2-region 'eu-west-1' --ec2-region 'us-east-1' ` +
				`--ec2-profile 'ops team' --resume 'out dir/j'\''1.journal'`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, resumeCommand(&tt.o, tt.pb, tt.jnl)); diff != "" {
				t.Errorf("resumeCommand (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStateDirIsCreatedForItsOwnerOnly(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	dir := filepath.Join(home, "state", "fleetrun")
	if err := makeStateDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := makeStateDir(dir); err != nil { // an existing folder is narrowed
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("state folder mode %o, want 700", got)
	}
}

func TestPruneJournalsRemovesOnlyOldJournals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	header := `{"journal":1,"playbook":"p","playbook_sha256":"0123456789abcdef","started_at":"2026-01-01T00:00:00Z"}` + "\n"
	files := []struct {
		name, text string
		age        time.Duration
	}{
		{"old.journal", header, 31 * 24 * time.Hour},
		{"recent.journal", header, 29 * 24 * time.Hour},
		{"notes.journal", "my notes\n", 90 * 24 * time.Hour},
		{"old.txt", header, 90 * 24 * time.Hour},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, []byte(f.text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-f.age), now.Add(-f.age)); err != nil {
			t.Fatal(err)
		}
	}
	if problems := pruneJournals(dir, now, journalMaxAge); len(problems) > 0 {
		t.Errorf("problems: %q", problems)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if diff := cmp.Diff([]string{"notes.journal", "old.txt", "recent.journal"}, left); diff != "" {
		t.Errorf("files left (-want +got):\n%s", diff)
	}
}
