package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The first stop request of any signal stops new work (Stopping, Soft);
// a second SIGINT or SIGTERM ends Hard; SIGHUP never does.
func TestStopperStages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		sigs           []os.Signal
		stopping, hard bool
		log            []string
	}{
		{"none", nil, false, false, nil},
		{"one SIGINT", []os.Signal{os.Interrupt}, true, false, []string{
			"fleetrun: interrupted (SIGINT): no new work starts; running steps finish and reports are written (press Ctrl-C again to cancel running steps)"}},
		{"SIGTERM then SIGINT", []os.Signal{syscall.SIGTERM, os.Interrupt}, true, true, []string{
			"fleetrun: interrupted (SIGTERM): no new work starts; running steps finish and reports are written (press Ctrl-C again to cancel running steps)",
			"fleetrun: interrupted again (SIGINT): cancelling running steps on their hosts"}},
		{"two SIGTERMs", []os.Signal{syscall.SIGTERM, syscall.SIGTERM}, true, true, []string{
			"fleetrun: interrupted (SIGTERM): no new work starts; running steps finish and reports are written (press Ctrl-C again to cancel running steps)",
			"fleetrun: interrupted again (SIGTERM): cancelling running steps on their hosts"}},
		{"two SIGHUPs", []os.Signal{syscall.SIGHUP, syscall.SIGHUP}, true, false, []string{
			"fleetrun: interrupted (SIGHUP): no new work starts; running steps finish and reports are written (press Ctrl-C again to cancel running steps)"}},
		{"SIGINT then SIGHUP", []os.Signal{os.Interrupt, syscall.SIGHUP}, true, false, []string{
			"fleetrun: interrupted (SIGINT): no new work starts; running steps finish and reports are written (press Ctrl-C again to cancel running steps)"}},
		{"three SIGINTs", []os.Signal{os.Interrupt, os.Interrupt, os.Interrupt}, true, true, []string{
			"fleetrun: interrupted (SIGINT): no new work starts; running steps finish and reports are written (press Ctrl-C again to cancel running steps)",
			"fleetrun: interrupted again (SIGINT): cancelling running steps on their hosts"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var log strings.Builder
			s := newStopper(context.Background(), &log)
			defer s.release()
			for _, sig := range tc.sigs {
				s.request(sig)
			}
			if got := s.Requested(); got != tc.stopping {
				t.Errorf("Requested %v, want %v", got, tc.stopping)
			}
			if got := s.Soft().Err() != nil; got != tc.stopping {
				t.Errorf("Soft ended %v, want %v", got, tc.stopping)
			}
			if got := s.Hard().Err() != nil; got != tc.hard {
				t.Errorf("Hard ended %v, want %v", got, tc.hard)
			}
			var lines []string
			if log.Len() > 0 {
				lines = strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
			}
			if diff := cmp.Diff(tc.log, lines); diff != "" {
				t.Errorf("log (-want +got):\n%s", diff)
			}
		})
	}
}

// failingWriter fails every write with err.
type failingWriter struct {
	err    error
	writes int
}

func (w *failingWriter) Write([]byte) (int, error) {
	w.writes++
	return 0, w.err
}

// A write that finds the reader gone (EPIPE, or EIO from a hung-up
// terminal) drops the output for good; other errors are returned.
func TestLostOutputDropsWritesOnceTheReaderIsGone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		err        error
		wantErr    bool
		wantWrites int
	}{
		{"broken pipe", &os.PathError{Op: "write", Path: "|1", Err: syscall.EPIPE}, false, 1},
		{"hung-up terminal", fmt.Errorf("write /dev/pts/3: %w", syscall.EIO), false, 1},
		{"disk full", &os.PathError{Op: "write", Path: "out.txt", Err: syscall.ENOSPC}, true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fw := &failingWriter{err: tc.err}
			out := &lostOutput{w: fw}
			for range 2 {
				n, err := io.WriteString(out, "line\n")
				if (err != nil) != tc.wantErr || (err == nil && n != 5) {
					t.Errorf("write: %d, %v; want an error: %v", n, err, tc.wantErr)
				}
				if err != nil && !errors.Is(err, tc.err) {
					t.Errorf("write error %v, want %v", err, tc.err)
				}
			}
			if fw.writes != tc.wantWrites {
				t.Errorf("%d writes reached the output, want %d", fw.writes, tc.wantWrites)
			}
		})
	}
}
