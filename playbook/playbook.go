// Package playbook parses and validates fleetrun playbooks — which hosts,
// how many at once, in which batches, with what failure budget, and the
// ordered steps — and expands each step's templates for one host.
//
// It does not run anything: the runner executes what Expand returns, and the
// transports decide how a step reaches Windows.
package playbook

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/fleetrun/fleetrun/inventory"
)

// Kind is how a step's body runs: the same strings as transport.Kind.
type Kind string

// Step kinds.
const (
	KindPowerShell Kind = "powershell"
	KindCmd        Kind = "cmd"
	KindCommand    Kind = "command"
	// KindReboot restarts the host and waits until it is back.
	KindReboot Kind = "reboot"
)

// Outcomes give exit codes a meaning beyond accepted/failed.
const (
	OutcomeOK              = "ok"
	OutcomeRebootRequired  = "reboot_required"  // done; takes effect after a restart (3010)
	OutcomeRebootInitiated = "reboot_initiated" // done; the installer is restarting the host (1641)
	OutcomeRetry           = "retry"            // try again with the step's retry policy (1618)
)

// OutputAuto is the default output_encoding: output that is valid UTF-8
// stays UTF-8, other output is decoded with the host's code page (the
// inventory's output_encoding).
const OutputAuto = "auto"

// KnownOutputEncoding reports whether name is a valid output_encoding
// value: auto, or an encoding the inventory's output_encoding accepts.
func KnownOutputEncoding(name string) bool {
	return strings.EqualFold(strings.TrimSpace(name), OutputAuto) || inventory.KnownEncoding(name)
}

// run_as values.
const (
	// RunAsSystem runs a step as SYSTEM with highest privileges, outside
	// the connection's logon: over WinRM a one-shot scheduled task.
	RunAsSystem = "system"
	// RunAsLogin runs it as the account fleetrun logs in with (the
	// default); it lets a step override run_as: system under defaults.
	RunAsLogin = "login"
)

// DefaultRebootTimeout bounds a reboot when the playbook does not.
const DefaultRebootTimeout = 15 * time.Minute

// Reboot says how to restart a host, for reboot steps and reboot_on.
type Reboot struct {
	// When lists the outcomes that trigger a reboot after a step
	// (reboot_on); empty for reboot steps, which always reboot.
	When           []string
	Timeout        time.Duration
	TestCommand    string
	PreRebootDelay time.Duration
}

// DefaultForks is how many hosts run at once when neither the playbook nor
// the command line says.
const DefaultForks = 50

// Playbook is a validated playbook.
type Playbook struct {
	File string
	Name string
	// Hosts selects the inventory hosts the playbook runs on; the zero
	// Selector (no `hosts:` key) selects every host.
	Hosts Selector
	// Forks is the maximum number of hosts running at once.
	Forks int
	// Serial lists batch sizes; the last one repeats. Empty means one batch
	// of every host.
	Serial []Size
	// MaxFail is the failure budget; nil means no budget.
	MaxFail *Size
	Vars    map[string]any
	Steps   []*Step
	// Preflight runs the fleet checks before the rollout and leaves failing
	// hosts out; Requires are the thresholds those checks apply.
	Preflight bool
	Requires  Requires
	// Source is the playbook's bytes, for hashing (journals).
	Source []byte
}

// Selector is a parsed `hosts:` value with its source text.
type Selector = inventory.Selector

// Size is a count of hosts or a percentage of the selected hosts.
type Size struct {
	Count   int
	Percent float64 // > 0 when the size was written as "N%"
}

// Of resolves the size against n selected hosts: percentages round up, and a
// batch is never smaller than one host.
func (s Size) Of(n int) int {
	if s.Percent > 0 {
		return max(1, int(math.Ceil(s.Percent*float64(n)/100-1e-9)))
	}
	return s.Count
}

func (s Size) String() string {
	if s.Percent > 0 {
		return strconv.FormatFloat(s.Percent, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(s.Count)
}

// Step is one validated step. Its string fields are templates; Expand turns
// them into the values for one host.
type Step struct {
	Index int
	Name  string
	Kind  Kind
	// Body: Script (powershell), Line (cmd) or Argv (command).
	Script string
	Line   string
	Argv   []string
	// ExpectExit lists the accepted exit codes (default [0]).
	ExpectExit []uint32
	// RetryOnExit lists exit codes worth another attempt (e.g. 1618).
	RetryOnExit     []uint32
	Timeout         time.Duration
	Retries         int
	RetryDelay      time.Duration
	ContinueOnError bool
	Env             map[string]string
	Workdir         string
	// Outcomes maps exit codes to outcomes (see the Outcome constants);
	// codes mapped to ok, reboot_required or reboot_initiated are accepted.
	Outcomes map[uint32]string
	// Reboot is set for reboot steps and for steps with reboot_on.
	Reboot *Reboot
	// RunAs is RunAsSystem for a step that runs as SYSTEM outside the
	// connection's logon (over WinRM a scheduled task); "" otherwise.
	RunAs string
	// OutputEncoding is how the step's stdout and stderr are decoded:
	// OutputAuto (the default; never empty on a program step) or a name
	// inventory.KnownEncoding accepts (utf-8, cp932, ...). Empty on reboot
	// and file steps, whose output fleetrun reads itself.
	OutputEncoding string
	// Copy, Download and Fetch are the file steps' bodies (templates in
	// their paths and URL); nil for other kinds.
	Copy     *Copy
	Download *Download
	Fetch    *Fetch

	tmpl map[string]*template.Template // field path → parsed template
	pos  map[string]*yaml.Node         // field path → node, for errors
}

// Load reads and validates a playbook file.
func Load(path string) (*Playbook, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("playbook: %w", err)
	}
	return Parse(path, data)
}

// Accepts reports whether code is one of the step's expected exit codes.
func (s *Step) Accepts(code uint32) bool {
	for _, c := range s.ExpectExit {
		if c == code {
			return true
		}
	}
	return false
}

// RetriesOn reports whether the step lists code as worth a retry, in
// retry_on_exit or as a retry outcome.
func (s *Step) RetriesOn(code uint32) bool {
	if s.Outcomes[code] == OutcomeRetry {
		return true
	}
	for _, c := range s.RetryOnExit {
		if c == code {
			return true
		}
	}
	return false
}

// Outcome returns the meaning of an exit code: the mapped outcome, else ok
// for accepted codes, else "".
func (s *Step) Outcome(code uint32) string {
	if o, ok := s.Outcomes[code]; ok {
		return o
	}
	if s.Accepts(code) {
		return OutcomeOK
	}
	return ""
}

// RebootsOn reports whether the step asks for a reboot after outcome.
func (s *Step) RebootsOn(outcome string) bool {
	if s.Reboot == nil || s.Kind == KindReboot {
		return false
	}
	for _, w := range s.Reboot.When {
		if w == outcome {
			return true
		}
	}
	return false
}

// Body returns the step's body text for display: the script, the cmd line or
// the argv joined with spaces.
func (s *Step) Body() string {
	switch s.Kind {
	case KindPowerShell:
		return s.Script
	case KindCmd:
		return s.Line
	case KindReboot:
		return "reboot"
	case KindCopy:
		return "copy " + s.Copy.Src + " to " + s.Copy.Dest
	case KindDownload:
		return "download " + s.Download.URL + " to " + s.Download.Dest
	case KindFetch:
		return "fetch " + s.Fetch.Src + " into " + s.Fetch.DestDir
	}
	return strings.Join(s.Argv, " ")
}
