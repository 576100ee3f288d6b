// Package pscheck syntax-checks PowerShell texts with the tree-sitter
// PowerShell grammar, for tests: every script fleetrun generates (the
// launchers, the SSM shims, the pre-flight script) is checked in CI.
package pscheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Text is one PowerShell text to syntax-check, with a name for reports.
type Text struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// Problem is an ERROR or MISSING node the PowerShell grammar found.
// Row and Column are one-based; Column counts UTF-8 bytes.
type Problem struct {
	Name    string `json:"-"`
	Kind    string `json:"kind"` // ERROR or MISSING
	Type    string `json:"type"` // the node type (for MISSING: the token)
	Row     int    `json:"row"`
	Column  int    `json:"column"`
	Snippet string `json:"snippet"`
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d:%d: %s %s near %q", p.Name, p.Row, p.Column, p.Kind, p.Type, p.Snippet)
}

// ErrUnavailable is returned (wrapped) by Check when the
// checker cannot run: no node executable, or the npm packages are not
// installed (npm ci --ignore-scripts at the repository root).
var ErrUnavailable = errors.New("PowerShell syntax checker unavailable")

// Check parses texts with the tree-sitter PowerShell grammar by
// running tools/pscheck/pscheck.js (under node) from the repository at
// repoRoot, and returns every problem found, in input order; none means
// every text parsed cleanly. It is meant for tests: the launcher's and
// preflight's generated scripts are checked this way in CI.
func Check(ctx context.Context, repoRoot string, texts []Text) ([]Problem, error) {
	repoRoot, err := filepath.Abs(repoRoot)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	script := filepath.Join(repoRoot, "tools", "pscheck", "pscheck.js")
	grammar := filepath.Join(repoRoot, "node_modules", "tree-sitter-powershell", "tree-sitter-powershell.wasm")
	for _, f := range []string{script, grammar, filepath.Join(repoRoot, "node_modules", "web-tree-sitter", "package.json")} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	in, err := json.Marshal(texts)
	if err != nil {
		return nil, fmt.Errorf("encode texts: %w", err)
	}
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = repoRoot
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	var exitErr *exec.ExitError
	problemsFound := errors.As(runErr, &exitErr) && exitErr.ExitCode() == 1
	if runErr != nil && !problemsFound {
		return nil, fmt.Errorf("run %s: %w: %s", script, runErr, bytes.TrimSpace(stderr.Bytes()))
	}
	var results []struct {
		Name     string    `json:"name"`
		Problems []Problem `json:"problems"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil {
		return nil, fmt.Errorf("read pscheck output: %w", err)
	}
	if len(results) != len(texts) {
		return nil, fmt.Errorf("pscheck answered for %d texts, sent %d", len(results), len(texts))
	}
	var problems []Problem
	for _, r := range results {
		for _, p := range r.Problems {
			p.Name = r.Name
			problems = append(problems, p)
		}
	}
	if runErr != nil && len(problems) == 0 {
		return nil, fmt.Errorf("pscheck failed without naming a problem: %s", bytes.TrimSpace(stderr.Bytes()))
	}
	return problems, nil
}
