package runner_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetrun/fleetrun/runner"
)

// OpenJournal appends only to a journal of the same playbook: anything
// else at the path is refused and left as it was.
func TestOpenJournalRefusesWhatIsNotItsJournal(t *testing.T) {
	t.Parallel()
	pb := mustPlaybook(t, "name: j\nsteps:\n  - name: a\n    cmd: a\n")
	own := fmt.Sprintf(`{"journal":1,"playbook":"j","playbook_sha256":%q}`+"\n", runner.PlaybookHash(pb))
	tests := []struct {
		name, text, wantErr string
	}{
		{"notes", "hello, these are my notes\n", "refusing to append to %s: it is not a fleetrun journal (found 26 bytes whose first line is not a journal header)"},
		{"JSON that is no header", `{"host":"a","step":0,"status":"ok"}` + "\n", "refusing to append to %s: it is not a fleetrun journal (found 36 bytes whose first line is not a journal header)"},
		{"a journal broken later", own + "garbage\n" + own, "refusing to append to %s: it is a journal that cannot be read: journal %[1]s:2: invalid character 'g' looking for beginning of value"},
		{"another playbook's journal", `{"journal":1,"playbook":"k","playbook_sha256":"0123456789abcdef"}` + "\n", `refusing to append to journal %s: it records playbook "k" with another text (sha256 0123456789ab); resume it with --resume, or give this run its own --journal`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "j.journal")
			if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := runner.OpenJournal(path, pb, fixedNow())
			if want := fmt.Sprintf(tc.wantErr, path); err == nil || err.Error() != want {
				t.Fatalf("error %v\nwant  %s", err, want)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(after) != tc.text {
				t.Errorf("the refused file was changed to %q", after)
			}
		})
	}
	t.Run("a folder", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		_, err := runner.OpenJournal(dir, pb, fixedNow())
		if want := fmt.Sprintf("journal %s: is a folder; give a file name", dir); err == nil || err.Error() != want {
			t.Fatalf("error %v, want %q", err, want)
		}
	})
}

// Journals are their owner's alone: a new one is created 0600 and an
// existing one (empty, or of the same playbook) is narrowed to 0600.
func TestJournalsAreReadableByTheirOwnerOnly(t *testing.T) {
	t.Parallel()
	pb := mustPlaybook(t, "name: j\nsteps:\n  - name: a\n    cmd: a\n")
	own := fmt.Sprintf(`{"journal":1,"playbook":"j","playbook_sha256":%q}`+"\n", runner.PlaybookHash(pb))
	for _, existing := range []string{"", "empty", own} {
		t.Run(fmt.Sprintf("%.5q", existing), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "j.journal")
			if existing != "" {
				if err := os.WriteFile(path, []byte(strings.TrimPrefix(existing, "empty")), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			j, err := runner.OpenJournal(path, pb, fixedNow())
			if err != nil {
				t.Fatal(err)
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != 0o600 {
				t.Errorf("mode %v, want 0600", got)
			}
			if _, err := runner.ReadJournal(path); err != nil {
				t.Errorf("the journal does not read back: %v", err)
			}
		})
	}
}
