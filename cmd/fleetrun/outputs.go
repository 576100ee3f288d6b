package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/runner"
)

// checkOutputs checks, before anything runs, that every file and folder
// apply was asked to write can be written: a run of an hour must not end
// with "cannot write the report".
func checkOutputs(o *applyOptions) error {
	var errs []error
	for _, f := range []struct{ flag, path string }{
		{"--report", o.reportFile},
		{"--junit", o.junitFile},
		{"--html", o.htmlFile},
	} {
		if f.path == "" {
			continue
		}
		if err := checkOutputFile(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", f.flag, f.path, err))
		}
	}
	if o.logDir != "" {
		if err := checkOutputDir(o.logDir); err != nil {
			errs = append(errs, fmt.Errorf("--log-dir %s: %w", o.logDir, err))
		}
	}
	return errors.Join(errs...)
}

// checkOutputFile checks that path can be written as reports are: a
// temporary file in its folder renamed over it. An existing path must be a
// regular file (renaming over a device or a folder is never what was
// meant).
func checkOutputFile(path string) error {
	if fi, err := os.Stat(path); err == nil {
		switch {
		case fi.IsDir():
			return errors.New("is a folder; give a file name")
		case !fi.Mode().IsRegular():
			return fmt.Errorf("is not a regular file (%s)", fi.Mode().Type())
		}
	} else if !missing(err) {
		return err
	}
	return checkWritableDir(filepath.Dir(path))
}

// checkOutputDir checks a folder that is created when missing: it must be
// a folder, or its nearest existing parent must be one, and writable.
func checkOutputDir(dir string) error {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		_, err := os.Stat(d)
		if err == nil {
			return checkWritableDir(d)
		}
		if !missing(err) || filepath.Dir(d) == d {
			return err
		}
	}
}

// missing reports whether a stat error means there is nothing at the path
// (a parent that is a file included: checkWritableDir names that parent).
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// checkWritableDir checks that dir is an existing folder in which a file
// can be created, by creating (and removing) one.
func checkWritableDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("folder %s does not exist", dir)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a folder", dir)
	}
	f, err := os.CreateTemp(dir, ".fleetrun-check-*")
	if err != nil {
		return fmt.Errorf("folder %s is not writable: %w", dir, errors.Unwrap(err))
	}
	name := f.Name()
	_ = f.Close()          // empty; nothing to flush
	return os.Remove(name) // a probe left behind would be litter in the operator's folder
}

// journalFor is the journal a run writes: --journal, else the default
// (defaultJournal: --resume's, next to --report, else the state folder).
func journalFor(e *env, o *applyOptions, pb *playbook.Playbook, now time.Time) (string, error) {
	if o.journal != "" {
		return o.journal, nil
	}
	return defaultJournal(e, o, pb, now)
}

// checkJournalPath checks the journal before the run: a new one needs a
// writable folder; an existing one must be a journal this run may append to.
func checkJournalPath(path string, pb *playbook.Playbook, resume *runner.Resume) error {
	if _, err := os.Stat(path); missing(err) {
		if err := checkWritableDir(filepath.Dir(path)); err != nil {
			return fmt.Errorf("journal %s: %w", path, err)
		}
		return nil
	}
	var from *runner.Progress
	if resume != nil {
		from = resume.Progress
	}
	return runner.CheckJournal(path, pb, from)
}
