package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/transport"
)

// targetFunc resolves a host's connection settings and password.
func targetFunc(e *env) func(ctx context.Context, h *inventory.Host) (transport.Target, error) {
	return func(ctx context.Context, h *inventory.Host) (transport.Target, error) {
		return runner.TargetOf(ctx, h, e.lookupEnv)
	}
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// journalMaxAge is how long a journal in the state folder is kept after
// its last write: the next apply that writes there removes older ones.
const journalMaxAge = 30 * 24 * time.Hour

// defaultJournal names the journal when --journal is not given: the
// journal --resume names, else next to --report, else a new file in the
// state folder (stateDir), created 0700 if missing. Journals there not
// written for journalMaxAge are removed; a failure to remove one is
// printed, never fatal.
func defaultJournal(e *env, o *applyOptions, pb *playbook.Playbook, now time.Time) (string, error) {
	if o.resume != "" {
		return o.resume, nil
	}
	if o.reportFile != "" {
		return strings.TrimSuffix(o.reportFile, filepath.Ext(o.reportFile)) + ".journal", nil
	}
	dir, err := stateDir(e.lookupEnv, runtime.GOOS)
	if err != nil {
		return "", err
	}
	if err := makeStateDir(dir); err != nil {
		return "", err
	}
	for _, p := range pruneJournals(dir, now, journalMaxAge) {
		fmt.Fprintln(e.stderr, "fleetrun:", p)
	}
	name := unsafeFileChars.ReplaceAllString(pb.Name, "-")
	return filepath.Join(dir, fmt.Sprintf("%s-%s.journal", name, now.UTC().Format("20060102T150405Z"))), nil
}

// stateDir is the folder for the journals of runs that name none:
// $XDG_STATE_HOME/fleetrun, else ~/.local/state/fleetrun (the XDG Base
// Directory default; a relative XDG_STATE_HOME is ignored, as the
// specification asks); on Windows %LOCALAPPDATA%\fleetrun\state.
func stateDir(lookupEnv func(string) (string, bool), goos string) (string, error) {
	abs := func(name string) (string, bool) {
		v, ok := lookupEnv(name)
		// filepath.IsAbs follows the running system; a Windows path is
		// judged by its own rules so tests can ask for either.
		if goos == "windows" {
			return v, ok && len(v) > 2 && v[1] == ':' && (v[2] == '\\' || v[2] == '/')
		}
		return v, ok && strings.HasPrefix(v, "/")
	}
	if goos == "windows" {
		if d, ok := abs("LOCALAPPDATA"); ok {
			return d + `\fleetrun\state`, nil
		}
		return "", fmt.Errorf("cannot place the journal: LOCALAPPDATA is not set to an absolute path; give --journal FILE or --report FILE")
	}
	if d, ok := abs("XDG_STATE_HOME"); ok {
		return filepath.Join(d, "fleetrun"), nil
	}
	if h, ok := abs("HOME"); ok {
		return filepath.Join(h, ".local", "state", "fleetrun"), nil
	}
	return "", fmt.Errorf("cannot place the journal: neither XDG_STATE_HOME nor HOME is an absolute path; give --journal FILE or --report FILE")
}

// makeStateDir creates the state folder readable by its owner only (a
// journal names hosts and outcomes) and narrows an existing one to 0700.
func makeStateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state folder for journals: %w; give --journal FILE or --report FILE", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("state folder for journals: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("state folder %s: make it readable by its owner only: %w", dir, err)
		}
	}
	return nil
}

// pruneJournals removes the journals in dir last written more than maxAge
// before now, and returns what went wrong as lines to print. Only regular
// files named *.journal that read as fleetrun journals are removed; other
// files in the folder are left alone.
func pruneJournals(dir string, now time.Time, maxAge time.Duration) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return []string{fmt.Sprintf("state folder %s: %v (old journals were not removed)", dir, err)}
	}
	var problems []string
	for _, ent := range entries {
		if !ent.Type().IsRegular() || !strings.HasSuffix(ent.Name(), ".journal") {
			continue
		}
		fi, err := ent.Info()
		if err != nil || now.Sub(fi.ModTime()) <= maxAge {
			continue // gone meanwhile, or recent
		}
		p := filepath.Join(dir, ent.Name())
		if _, err := runner.ReadJournal(p); err != nil {
			continue // not a journal fleetrun can read: not ours to remove
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			problems = append(problems, fmt.Sprintf("removing a journal older than %d days: %v", int(maxAge.Hours()/24), err))
		}
	}
	return problems
}

// resumeCommand is the command line that resumes the rollout recorded in
// journal: the playbook, every -i, --limit, every -e and the EC2 discovery
// flags of this run, each value in POSIX single quotes. No flag carries a
// password (passwords come from password_env, password_file or EC2), so
// none can appear here.
func resumeCommand(o *applyOptions, pbFile, journal string) string {
	var b strings.Builder
	b.WriteString("fleetrun apply " + shellQuote(pbFile))
	for _, f := range o.invFiles {
		b.WriteString(" -i " + shellQuote(f))
	}
	if o.limit != "" {
		b.WriteString(" --limit " + shellQuote(o.limit))
	}
	for _, kv := range o.extras {
		b.WriteString(" -e " + shellQuote(kv))
	}
	for _, r := range o.disc.regions {
		b.WriteString(" --ec2-region " + shellQuote(r))
	}
	if o.disc.profile != "" {
		b.WriteString(" --ec2-profile " + shellQuote(o.disc.profile))
	}
	b.WriteString(" --resume " + shellQuote(journal))
	return b.String()
}

// shellQuote quotes s for a POSIX shell: in single quotes, where each
// single quote of s closes the quoting, adds an escaped quote (\') and
// reopens it.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// exitStatus maps a run's outcome to the command's exit status.
func exitStatus(res *runner.Result) error {
	switch res.Status {
	case runner.StatusOK:
		return nil
	case runner.StatusAborted:
		return &exitError{code: exitAborted}
	}
	return &exitError{code: exitFailures}
}

// writeReports writes the files the run asked for. Every file is attempted
// even when one fails; the errors are returned together.
func writeReports(o *applyOptions, res *runner.Result) error {
	doc := report.NewDocument(res)
	var errs []string
	if o.reportFile != "" {
		if err := report.WriteFile(o.reportFile, func(w io.Writer) error { return report.WriteJSON(w, doc) }); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if o.junitFile != "" {
		if err := report.WriteFile(o.junitFile, func(w io.Writer) error { return report.WriteJUnit(w, res) }); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if o.htmlFile != "" {
		if err := writeHTML(o.htmlFile, doc); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}
