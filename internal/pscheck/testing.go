package pscheck

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fleetrun/fleetrun/internal/testneeds"
)

// timeout bounds one run of the node checker.
const timeout = 2 * time.Minute

// Require checks texts with the repository at repoRoot and returns the
// problems found. Where the checker cannot run (no node, or the npm
// packages not installed) it skips t, unless FLEETRUN_REQUIRE_PSCHECK=1
// (as CI sets it) makes that a failure (see testneeds); any other error
// fails t.
func Require(t testing.TB, repoRoot string, texts ...Text) []Problem {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	problems, err := Check(ctx, repoRoot, texts)
	if errors.Is(err, ErrUnavailable) {
		testneeds.Missing(t, "FLEETRUN_REQUIRE_PSCHECK", fmt.Errorf("%w (run npm ci --ignore-scripts at the repository root)", err))
	}
	if err != nil {
		t.Fatal(err)
	}
	return problems
}

// Clean is Require, failing t once for every problem.
func Clean(t testing.TB, repoRoot string, texts ...Text) {
	t.Helper()
	for _, p := range Require(t, repoRoot, texts...) {
		t.Errorf("%s", p)
	}
}
