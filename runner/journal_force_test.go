package runner_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/runner"
)

// A resume forced onto a changed playbook records the hash it replaces, so
// the journal stays readable and resumable; a journal that mixes runs of
// different playbooks otherwise is refused.
func TestJournalAcceptsAForcedChangeOfPlaybook(t *testing.T) {
	t.Parallel()
	header := func(hash, forcedFrom string) string {
		if forcedFrom == "" {
			return fmt.Sprintf(`{"journal":1,"playbook":"p","playbook_sha256":%q}`+"\n", hash)
		}
		return fmt.Sprintf(`{"journal":1,"playbook":"p","playbook_sha256":%q,"forced_from":%q}`+"\n", hash, forcedFrom)
	}
	done := `{"host":"a","step":0,"name":"s","status":"ok"}` + "\n"
	tests := []struct {
		name, text, wantHash, wantErr string
	}{
		{"a forced change goes on with the new playbook", header("aa", "") + done + header("bb", "aa"), "bb", ""},
		{"forced twice", header("aa", "") + header("bb", "aa") + header("cc", "bb"), "cc", ""},
		{"a change without forced_from is refused", header("aa", "") + done + header("bb", ""), "", "journal %s:3: runs of different playbooks are mixed in one journal"},
		{"forced from another playbook is refused", header("aa", "") + header("bb", "cc"), "", "journal %s:2: runs of different playbooks are mixed in one journal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "j.journal")
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			p, err := runner.ReadJournal(path)
			if tc.wantErr != "" {
				if want := fmt.Sprintf(tc.wantErr, path); err == nil || err.Error() != want {
					t.Fatalf("error %v, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.PlaybookHash != tc.wantHash {
				t.Errorf("hash %q, want %q", p.PlaybookHash, tc.wantHash)
			}
		})
	}
}

// ResumeJournal writes forced_from only when the playbook changed.
func TestResumeJournalRecordsTheHashItReplaces(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "j.journal")
	pb := mustPlaybook(t, "name: j\nsteps:\n  - name: a\n    cmd: a\n")
	j, err := runner.OpenJournal(path, pb, fixedNow())
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	prog, err := runner.ReadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	changed := mustPlaybook(t, "name: j\nsteps:\n  - name: a\n    cmd: a\n# edited\n")
	for _, pb := range []*playbook.Playbook{pb, changed, changed} {
		j, err := runner.ResumeJournal(path, pb, fixedNow(), prog)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		if prog, err = runner.ReadJournal(path); err != nil {
			t.Fatalf("the journal after resuming with %s: %v", runner.PlaybookHash(pb)[:8], err)
		}
		if prog.PlaybookHash != runner.PlaybookHash(pb) {
			t.Errorf("the journal goes on with %.8s, want %.8s", prog.PlaybookHash, runner.PlaybookHash(pb))
		}
	}
}
