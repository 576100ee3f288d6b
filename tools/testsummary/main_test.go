package main

import (
	"strings"
	"testing"
)

func TestSummaryCountsAndReasons(t *testing.T) {
	t.Parallel()
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestA","Elapsed":0.1}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"=== RUN   TestB\n"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:9: wine is not installed\n"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"--- SKIP: TestB (0.00s)\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestB","Elapsed":0}`,
		`{"Action":"output","Package":"p","Test":"TestC","Output":"    c_test.go:3: wine is not installed\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestC","Elapsed":0}`,
		`{"Action":"output","Package":"p","Test":"TestD","Output":"    d_test.go:5: got 2, want 3\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestD","Elapsed":0}`,
		`{"Action":"fail","Package":"p","Elapsed":1.25}`,
		`{"Action":"pass","Package":"q","Elapsed":2}`,
		`{"Action":"skip","Package":"r","Elapsed":0}`,
		`not json`,
	}, "\n")
	var out strings.Builder
	s := newSummary(&out)
	if err := s.read(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if s.close() {
		t.Error("close reported a pass for a run with a failed test")
	}
	want := "    d_test.go:5: got 2, want 3\n" +
		"FAIL\tp\t1.2s\n" +
		"ok  \tq\t2.0s\n" +
		"?   \tr\t[no test files]\n" +
		"not json\n" +
		"failed tests:\n  p TestD\n" +
		"skipped tests, by reason:\n     2  wine is not installed\n" +
		"tests: 1 passed, 1 failed, 2 skipped\n"
	if got := out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

func TestSummaryPassesWhenNothingFailed(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	s := newSummary(&out)
	if err := s.read(strings.NewReader(`{"Action":"pass","Package":"p","Test":"TestA"}` + "\n" + `{"Action":"pass","Package":"p","Elapsed":0.5}`)); err != nil {
		t.Fatal(err)
	}
	if !s.close() {
		t.Error("close reported a failure")
	}
	if got, want := out.String(), "ok  \tp\t0.5s\ntests: 1 passed, 0 failed, 0 skipped\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}
