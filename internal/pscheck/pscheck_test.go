package pscheck_test

import (
	"testing"

	"github.com/fleetrun/fleetrun/internal/pscheck"
)

func TestCheckReportsEachTextsProblems(t *testing.T) {
	t.Parallel()
	problems := pscheck.Require(t, "../..", pscheck.Text{Name: "good", Text: "Write-Output 1"}, pscheck.Text{Name: "bad", Text: "if ($x) { 1"})
	if len(problems) != 1 || problems[0].Name != "bad" || problems[0].Kind != "MISSING" || problems[0].Type != "}" {
		t.Errorf("problems = %v, want one MISSING } in \"bad\"", problems)
	}
}
