package playbook

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/fleetrun/fleetrun/internal/strictyaml"
)

// AdHocName is the name of every ad-hoc playbook (fleetrun run): the
// "playbook" of its reports.
const AdHocName = "fleetrun run"

// AdHocFile stands for the file of an ad-hoc playbook given no BodyFlag.
const AdHocFile = "command line"

// AdHoc is a one-step playbook given on a command line instead of in a
// file: exactly one body and the few step settings a command line offers.
// The settings are the flags' text, validated as the playbook keys they
// stand for are.
type AdHoc struct {
	// Kind is KindCommand (Argv), KindCmd (Line) or KindPowerShell
	// (Script).
	Kind   Kind
	Argv   []string
	Line   string
	Script string
	// BodyFlag names the flag the body came from in errors ("--cmd",
	// "--ps-file fix.ps1", "--").
	BodyFlag string
	// ExpectExit is a comma-separated list of exit codes ("0,3010"); empty
	// for the default, 0.
	ExpectExit string
	// Timeout is the step's timeout as a Go duration ("90s"); empty for
	// none.
	Timeout string
	// RunAs is the step's run_as (system or login); empty for login.
	RunAs string
	// MaxFail is the failure budget, a count or a percentage ("5", "10%");
	// empty for none.
	MaxFail string
}

// NewAdHoc builds and validates the one-step playbook a describes, through
// the same checks a playbook file gets. Every problem is returned, one a
// line, each naming the flag it comes from rather than a file position.
// The playbook's Source is the equivalent playbook text, so a journal of
// an ad-hoc run names what ran.
func NewAdHoc(a AdHoc) (*Playbook, error) {
	step := &yaml.Node{Kind: yaml.MappingNode}
	add := func(m *yaml.Node, key string, v *yaml.Node) {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
	}
	add(step, "name", str(adHocStepName(a)))
	switch a.Kind {
	case KindCommand:
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, arg := range a.Argv {
			seq.Content = append(seq.Content, str(arg))
		}
		add(step, "command", seq)
	case KindCmd:
		add(step, "cmd", str(a.Line))
	case KindPowerShell:
		add(step, "powershell", str(a.Script))
	default:
		return nil, fmt.Errorf("ad-hoc step of kind %q: expected command, cmd or powershell", a.Kind)
	}
	if a.ExpectExit != "" {
		seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, c := range strings.Split(a.ExpectExit, ",") {
			seq.Content = append(seq.Content, plain(strings.TrimSpace(c)))
		}
		add(step, "expect_exit", seq)
	}
	if a.Timeout != "" {
		add(step, "timeout", plain(a.Timeout))
	}
	if a.RunAs != "" {
		add(step, "run_as", str(a.RunAs))
	}
	root := &yaml.Node{Kind: yaml.MappingNode}
	add(root, "name", str(AdHocName))
	if a.MaxFail != "" {
		add(root, "max_fail", plain(a.MaxFail))
	}
	add(root, "steps", &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{step}})

	d := strictyaml.NewDecoder(AdHocFile)
	pb := build(d, root, AdHocFile)
	if err := d.Err(); err != nil {
		return nil, adHocErrors(a, err)
	}
	src, err := yaml.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("ad-hoc playbook: %w", err)
	}
	pb.Source = src
	if a.BodyFlag != "" {
		// Template errors met per host name the flag the body came from.
		pb.File = a.BodyFlag
	}
	return pb, nil
}

// str is a scalar that is a string whatever it reads as ("3010", "true").
func str(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
}

// plain is a scalar typed by its text, as YAML types a plain scalar: "3010"
// is an integer, "90s" a string, "" null.
func plain(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }

// adHocErrors turns the decoder's problems, which name playbook keys, into
// problems naming the flags those keys came from.
func adHocErrors(a AdHoc, err error) error {
	es := strictyaml.AsErrors(err)
	if es == nil {
		return err
	}
	flags := []struct{ key, flag, value string }{
		{"max_fail", "--max-fail", a.MaxFail},
		{"steps[0].expect_exit", "--expect-exit", a.ExpectExit},
		{"steps[0].timeout", "--timeout", a.Timeout},
		{"steps[0].run_as", "--run-as", a.RunAs},
	}
	var out []error
	for _, e := range es {
		flag := a.BodyFlag
		for _, f := range flags {
			if e.Path == f.key || strings.HasPrefix(e.Path, f.key+"[") {
				flag = fmt.Sprintf("%s %q", f.flag, f.value)
				break
			}
		}
		out = append(out, fmt.Errorf("%s: %s", flag, e.Msg))
	}
	return errors.Join(out...)
}

// maxStepName is how many characters of the body name an ad-hoc step.
const maxStepName = 60

// adHocStepName names the step in reports: its body's first line,
// shortened.
func adHocStepName(a AdHoc) string {
	body := a.Line
	switch a.Kind {
	case KindCommand:
		body = strings.Join(a.Argv, " ")
	case KindPowerShell:
		body = a.Script
	}
	name := ""
	for _, l := range strings.Split(body, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			name = l
			break
		}
	}
	if utf8.RuneCountInString(name) > maxStepName {
		r := []rune(name)
		name = string(r[:maxStepName-3]) + "..."
	}
	if name == "" {
		name = string(a.Kind)
	}
	return name
}
