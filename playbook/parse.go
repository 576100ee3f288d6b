package playbook

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/fleetrun/fleetrun/internal/strictyaml"
	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/winquote"
)

type fileSpec struct {
	Pos      strictyaml.Pos
	Name     string         `yaml:"name"`
	Hosts    hostsSpec      `yaml:"hosts"`
	Forks    *int           `yaml:"forks"`
	Serial   serialSpec     `yaml:"serial"`
	MaxFail  *sizeSpec      `yaml:"max_fail"`
	Vars     map[string]any `yaml:"vars"`
	Defaults stepSettings   `yaml:"defaults"`
	Steps    []stepSpec     `yaml:"steps"`
	// Preflight runs the fleet checks first and leaves out failing hosts.
	Preflight *bool     `yaml:"preflight"`
	Requires  *Requires `yaml:"requires"`
}

// stepSettings are the keys a step shares with the playbook's `defaults`.
type stepSettings struct {
	Pos             strictyaml.Pos
	ExpectExit      *exitCodes        `yaml:"expect_exit"`
	RetryOnExit     *exitCodes        `yaml:"retry_on_exit"`
	Timeout         *time.Duration    `yaml:"timeout"`
	Retries         *int              `yaml:"retries"`
	RetryDelay      *time.Duration    `yaml:"retry_delay"`
	ContinueOnError *bool             `yaml:"continue_on_error"`
	Env             map[string]string `yaml:"env"`
	Workdir         *string           `yaml:"workdir"`
	Outcomes        *outcomesSpec     `yaml:"outcomes"`
	RebootOn        *rebootSpec       `yaml:"reboot_on"`
	RunAs           *string           `yaml:"run_as"`
	OutputEncoding  *string           `yaml:"output_encoding"`
}

type stepSpec struct {
	stepSettings `yaml:",inline"`
	Name         *string      `yaml:"name"`
	PowerShell   *string      `yaml:"powershell"`
	Cmd          *string      `yaml:"cmd"`
	Command      []string     `yaml:"command"`
	RebootBody   *rebootSpec  `yaml:"reboot"`
	Copy         copySpec     `yaml:"copy"`
	Download     downloadSpec `yaml:"download"`
	Fetch        fetchSpec    `yaml:"fetch"`
}

// MaxRetries bounds `retries`, so a typo cannot make a step retry forever.
const MaxRetries = 100

// Parse validates playbook text. file names the source in errors. Every
// problem is reported, sorted by position, as strictyaml.Errors.
func Parse(file string, data []byte) (*Playbook, error) {
	root, err := strictyaml.Parse(file, data)
	if err != nil {
		return nil, err
	}
	d := strictyaml.NewDecoder(file)
	pb := build(d, root, file)
	if err := d.Err(); err != nil {
		return nil, err
	}
	pb.Source = data
	return pb, nil
}

// build decodes and validates a playbook document, recording every problem
// in d; the playbook is complete only when d has none.
func build(d *strictyaml.Decoder, root *yaml.Node, file string) *Playbook {
	var spec fileSpec
	d.Decode(root, "", &spec)
	pb := &Playbook{File: file, Name: spec.Name, Hosts: spec.Hosts.sel, Forks: DefaultForks, Vars: spec.Vars}
	if pb.Vars == nil {
		pb.Vars = map[string]any{}
	}
	if spec.Pos.Node != nil && !spec.Pos.Has("name") {
		d.Errorf(spec.Pos.Node, "name", "playbook has no name")
	}
	if spec.Forks != nil {
		if *spec.Forks < 1 || *spec.Forks > 100000 {
			d.Errorf(spec.Pos.Value("forks"), "forks", "forks must be between 1 and 100000, found %d", *spec.Forks)
		} else {
			pb.Forks = *spec.Forks
		}
	}
	pb.Serial = spec.Serial.sizes
	if spec.Preflight != nil {
		pb.Preflight = *spec.Preflight
	}
	if spec.Requires != nil {
		pb.Requires = *spec.Requires
		checkRequires(d, &pb.Requires)
	}
	if spec.MaxFail != nil {
		s := spec.MaxFail.size
		pb.MaxFail = &s
	}
	checkSettings(d, &spec.Defaults, "defaults")
	if stepsNode := spec.Pos.Value("steps"); spec.Pos.Node != nil && len(spec.Steps) == 0 && (stepsNode == spec.Pos.Node || stepsNode.Kind == yaml.SequenceNode || strictyaml.IsNull(stepsNode)) {
		d.Errorf(spec.Pos.Value("steps"), "steps", "playbook has no steps")
	}
	names := map[string]int{}
	for i := range spec.Steps {
		if st := buildStep(d, &spec.Steps[i], &spec.Defaults, i); st != nil {
			if prev, dup := names[st.Name]; dup {
				d.Errorf(spec.Steps[i].Pos.Value("name"), strictyaml.JoinKey(strictyaml.JoinIndex("steps", i), "name"), "duplicate step name %q (also steps[%d]); step names identify steps in reports and journals", st.Name, prev)
			} else {
				names[st.Name] = i
			}
			pb.Steps = append(pb.Steps, st)
		}
	}
	return pb
}

func checkSettings(d *strictyaml.Decoder, s *stepSettings, path string) {
	if s.Retries != nil && (*s.Retries < 0 || *s.Retries > MaxRetries) {
		d.Errorf(s.Pos.Value("retries"), strictyaml.JoinKey(path, "retries"), "retries must be between 0 and %d, found %d", MaxRetries, *s.Retries)
	}
	if s.Timeout != nil && *s.Timeout == 0 {
		d.Errorf(s.Pos.Value("timeout"), strictyaml.JoinKey(path, "timeout"), "timeout must be more than zero (leave it out for no step timeout)")
	}
	if s.RunAs != nil && *s.RunAs != RunAsSystem && *s.RunAs != RunAsLogin {
		d.Errorf(s.Pos.Value("run_as"), strictyaml.JoinKey(path, "run_as"), "run_as is %q; expected system (a scheduled task as SYSTEM) or login (the inventory's account, the default)", *s.RunAs)
	}
	if s.OutputEncoding != nil && !KnownOutputEncoding(*s.OutputEncoding) {
		d.Errorf(s.Pos.Value("output_encoding"), strictyaml.JoinKey(path, "output_encoding"), "unknown output encoding %q; expected auto (the default), utf-8, or a code page such as cp932, shift_jis or windows-1252", *s.OutputEncoding)
	}
	if s.ExpectExit != nil && len(s.ExpectExit.codes) == 0 && s.ExpectExit.ok {
		d.Errorf(s.Pos.Value("expect_exit"), strictyaml.JoinKey(path, "expect_exit"), "expect_exit is empty; list at least one accepted exit code")
	}
	for k := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			d.Errorf(s.Pos.Value("env"), strictyaml.JoinKey(path, "env"), "environment variable name %q is empty or contains = or NUL", k)
		}
	}
}

func buildStep(d *strictyaml.Decoder, sp *stepSpec, defaults *stepSettings, i int) *Step {
	path := strictyaml.JoinIndex("steps", i)
	key := func(k string) string { return strictyaml.JoinKey(path, k) }
	start := d.Count()
	checkSettings(d, &sp.stepSettings, path)
	st := &Step{Index: i, ExpectExit: []uint32{0}, tmpl: map[string]*template.Template{}, pos: map[string]*yaml.Node{}}
	if sp.Name == nil || strings.TrimSpace(*sp.Name) == "" {
		d.Errorf(sp.Pos.Value("name"), key("name"), "step has no name")
	} else {
		st.Name = *sp.Name
	}
	var bodies []string
	for _, k := range []string{"powershell", "cmd", "command", "reboot", "copy", "download", "fetch"} {
		if sp.Pos.Has(k) {
			bodies = append(bodies, k)
		}
	}
	switch len(bodies) {
	case 0:
		d.Errorf(sp.Pos.Node, path, "step has no body; give exactly one of powershell, cmd, command, reboot, copy, download or fetch")
	case 1:
	default:
		d.Errorf(sp.Pos.Keys[bodies[1]], key(bodies[1]), "step has both %s and %s; give exactly one", bodies[0], bodies[1])
	}
	if len(bodies) > 0 {
		st.Kind = Kind(bodies[0])
	}
	switch st.Kind {
	case KindPowerShell:
		if sp.PowerShell != nil {
			st.Script = *sp.PowerShell
			st.addTemplate(d, key("powershell"), sp.Pos.Value("powershell"), st.Script)
			if strings.TrimSpace(st.Script) == "" {
				d.Errorf(sp.Pos.Value("powershell"), key("powershell"), "powershell script is empty")
			}
		}
	case KindCmd:
		if sp.Cmd != nil {
			st.Line = *sp.Cmd
			st.addTemplate(d, key("cmd"), sp.Pos.Value("cmd"), st.Line)
			if strings.TrimSpace(st.Line) == "" {
				d.Errorf(sp.Pos.Value("cmd"), key("cmd"), "cmd line is empty")
			} else if strings.ContainsAny(st.Line, "\r\n") {
				d.Errorf(sp.Pos.Value("cmd"), key("cmd"), "cmd line contains a line break; cmd.exe /c runs one line (use a powershell step or several steps)")
			}
		}
	case KindCommand:
		n := sp.Pos.Value("command")
		if len(sp.Command) == 0 && !strictyaml.IsNull(n) && n.Kind == yaml.SequenceNode {
			d.Errorf(n, key("command"), "command is empty; give the program and its arguments, e.g. [\"C:\\\\tools\\\\app.exe\", \"--flag\"]")
		} else if strictyaml.IsNull(n) {
			d.Errorf(n, key("command"), "expected a list, found null")
		}
		st.Argv = sp.Command
		for j, a := range sp.Command {
			var en *yaml.Node
			if n != nil && n.Kind == yaml.SequenceNode && j < len(n.Content) {
				en = n.Content[j]
			}
			st.addTemplate(d, strictyaml.JoinIndex(key("command"), j), en, a)
		}
		// A literal program name is checked now; a templated one after
		// expansion, per host.
		if len(sp.Command) > 0 && !strings.Contains(sp.Command[0], "{{") {
			if err := winquote.CheckArgvProgram(sp.Command[0]); err != nil {
				d.Errorf(n.Content[0], strictyaml.JoinIndex(key("command"), 0), "%v", err)
			}
		}
	}
	if st.Kind.IsFile() {
		buildFileStep(d, sp, st, path)
		// Of the step settings only these apply to a file step; the
		// others (exit codes, environment, run_as...) are refused on the
		// step itself and ignored when they come from defaults.
		st.ExpectExit = nil
		st.Timeout = pick(sp.Timeout, defaults.Timeout, 0)
		st.Retries = pick(sp.Retries, defaults.Retries, 0)
		st.RetryDelay = pick(sp.RetryDelay, defaults.RetryDelay, 5*time.Second)
		st.ContinueOnError = pick(sp.ContinueOnError, defaults.ContinueOnError, false)
		st.Env = map[string]string{}
		if d.Count() > start {
			return nil
		}
		return st
	}
	if st.Kind == KindReboot {
		st.Reboot = &Reboot{Timeout: DefaultRebootTimeout}
		if sp.RebootBody != nil {
			sp.RebootBody.applyTo(st.Reboot)
		}
		for _, k := range []string{"expect_exit", "retry_on_exit", "outcomes", "reboot_on", "env", "workdir", "retries", "retry_delay", "run_as", "output_encoding"} {
			if sp.Pos.Has(k) {
				d.Errorf(sp.Pos.Keys[k], key(k), "a reboot step takes no %s (give reboot: {timeout, test_command, pre_reboot_delay})", k)
			}
		}
	}
	// Step values override the playbook's defaults; env maps merge.
	st.Timeout = pick(sp.Timeout, defaults.Timeout, 0)
	st.Retries = pick(sp.Retries, defaults.Retries, 0)
	st.RetryDelay = pick(sp.RetryDelay, defaults.RetryDelay, 5*time.Second)
	st.ContinueOnError = pick(sp.ContinueOnError, defaults.ContinueOnError, false)
	st.Workdir = pick(sp.Workdir, defaults.Workdir, "")
	if st.Kind != KindReboot {
		st.OutputEncoding = strings.ToLower(strings.TrimSpace(pick(sp.OutputEncoding, defaults.OutputEncoding, OutputAuto)))
		if runAs := pick(sp.RunAs, defaults.RunAs, RunAsLogin); runAs == RunAsSystem {
			st.RunAs = RunAsSystem
		}
	}
	if ec := pickCodes(sp.ExpectExit, defaults.ExpectExit); ec != nil {
		st.ExpectExit = ec
	}
	st.RetryOnExit = pickCodes(sp.RetryOnExit, defaults.RetryOnExit)
	if o := pickPtr(sp.Outcomes, defaults.Outcomes); o != nil && st.Kind != KindReboot {
		st.Outcomes = o.codes
		// Codes that mean "done" are accepted even when expect_exit does not
		// list them, and reports show them among the expected codes.
		for _, c := range slices.Sorted(maps.Keys(o.codes)) {
			if o.codes[c] != OutcomeRetry && !slices.Contains(st.ExpectExit, c) {
				st.ExpectExit = append(slices.Clone(st.ExpectExit), c)
			}
		}
	}
	if r := pickPtr(sp.RebootOn, defaults.RebootOn); r != nil && st.Kind != KindReboot {
		st.Reboot = &Reboot{Timeout: DefaultRebootTimeout}
		r.applyTo(st.Reboot)
		if len(st.Reboot.When) == 0 {
			n := sp.Pos.Value("reboot_on")
			d.Errorf(n, key("reboot_on"), "reboot_on needs the outcomes that trigger a reboot, e.g. [reboot_required]")
		}
	}
	st.Env = map[string]string{}
	maps.Copy(st.Env, defaults.Env)
	maps.Copy(st.Env, sp.Env)
	for _, k := range slices.Sorted(maps.Keys(st.Env)) {
		n := sp.Pos.Value("env")
		if _, own := sp.Env[k]; !own {
			n = defaults.Pos.Value("env")
		}
		st.addTemplate(d, strictyaml.JoinKey(key("env"), k), n, st.Env[k])
	}
	if st.Workdir != "" {
		n := sp.Pos.Value("workdir")
		if sp.Workdir == nil {
			n = defaults.Pos.Value("workdir")
		}
		st.addTemplate(d, key("workdir"), n, st.Workdir)
	}
	if d.Count() > start {
		return nil
	}
	return st
}

func pick[T any](own, def *T, zero T) T {
	if own != nil {
		return *own
	}
	if def != nil {
		return *def
	}
	return zero
}

func pickPtr[T any](own, def *T) *T {
	if own != nil {
		return own
	}
	return def
}

func pickCodes(own, def *exitCodes) []uint32 {
	if own != nil && own.ok {
		return own.codes
	}
	if def != nil && def.ok {
		return def.codes
	}
	return nil
}

var templateErrRE = regexp.MustCompile(`^template: [^:]*:(\d+):(?:\d+:)? ?(.*)$`)

// addTemplate parses text as a template (only when it contains "{{") and
// remembers where it came from.
func (s *Step) addTemplate(d *strictyaml.Decoder, path string, n *yaml.Node, text string) {
	s.pos[path] = n
	if !strings.Contains(text, "{{") {
		return
	}
	t, err := template.New(path).Option("missingkey=error").Funcs(templateFuncs).Parse(text)
	if err != nil {
		msg := err.Error()
		if m := templateErrRE.FindStringSubmatch(msg); m != nil {
			msg = fmt.Sprintf("template line %s: %s", m[1], m[2])
		}
		d.Errorf(n, path, "%s", msg)
		return
	}
	s.tmpl[path] = t
}

// hostsSpec is `hosts:` — one selector string or a list of them (OR).
type hostsSpec struct{ sel inventory.Selector }

func (h *hostsSpec) UnmarshalStrictYAML(d *strictyaml.Decoder, n *yaml.Node, path string) {
	if strictyaml.IsNull(n) {
		d.Errorf(n, path, "expected a selector or a list of selectors, found null")
		return
	}
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
		if len(items) == 0 {
			d.Errorf(n, path, "hosts list is empty; leave hosts out to select every host")
			return
		}
	}
	var sels []inventory.Selector
	for i, it := range items {
		p := path
		if n.Kind == yaml.SequenceNode {
			p = strictyaml.JoinIndex(path, i)
		}
		text, ok := d.String(it, p)
		if !ok {
			continue
		}
		sel, err := inventory.ParseSelector(text)
		if err != nil {
			reportSelectorError(d, it, p, err)
			continue
		}
		sels = append(sels, sel)
	}
	h.sel = inventory.Or(sels...)
}

// reportSelectorError points at the offending term inside the scalar when
// the scalar sits on one line.
func reportSelectorError(d *strictyaml.Decoder, n *yaml.Node, path string, err error) {
	col := n.Column
	var se *inventory.SelectorError
	if errors.As(err, &se) && !strings.Contains(n.Value, "\n") && (n.Style == 0 || n.Style == yaml.DoubleQuotedStyle || n.Style == yaml.SingleQuotedStyle) {
		col += se.Offset
		if n.Style != 0 {
			col++ // the opening quote
		}
	}
	d.Errorf(&yaml.Node{Line: n.Line, Column: col}, path, "invalid selector %q: %v", n.Value, err)
}

// exitCodes is a list of unsigned 32-bit exit codes (a single number is
// accepted as a one-element list).
type exitCodes struct {
	codes []uint32
	ok    bool
}

func (e *exitCodes) UnmarshalStrictYAML(d *strictyaml.Decoder, n *yaml.Node, path string) {
	items := []*yaml.Node{n}
	single := true
	if n != nil && n.Kind == yaml.SequenceNode {
		items, single = n.Content, false
	}
	e.ok = true
	e.codes = []uint32{}
	for i, it := range items {
		p := path
		if !single {
			p = strictyaml.JoinIndex(path, i)
		}
		if c, ok := exitCode(d, it, p); ok {
			e.codes = append(e.codes, c)
		} else {
			e.ok = false
		}
	}
}

func exitCode(d *strictyaml.Decoder, n *yaml.Node, path string) (uint32, bool) {
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.Errorf(n, path, "expected an exit code (an integer 0..4294967295), found %s", strictyaml.KindName(n))
		return 0, false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	switch {
	case err != nil || v > math.MaxUint32:
		d.Errorf(n, path, "exit code %s does not fit in 32 bits; Windows exit codes are 0..4294967295", n.Value)
		return 0, false
	case v < 0:
		d.Errorf(n, path, "exit code %d is negative; Windows reports exit codes as unsigned 32-bit numbers (write %d)", v, uint32(int32(max(v, math.MinInt32))))
		return 0, false
	}
	return uint32(v), true
}

// serialSpec is `serial:` — a size or a list of sizes.
type serialSpec struct{ sizes []Size }

func (s *serialSpec) UnmarshalStrictYAML(d *strictyaml.Decoder, n *yaml.Node, path string) {
	items := []*yaml.Node{n}
	list := n != nil && n.Kind == yaml.SequenceNode
	if list {
		items = n.Content
		if len(items) == 0 {
			d.Errorf(n, path, "serial list is empty; leave serial out to run all hosts as one batch")
			return
		}
	}
	for i, it := range items {
		p := path
		if list {
			p = strictyaml.JoinIndex(path, i)
		}
		if sz, ok := parseSize(d, it, p, 1); ok {
			s.sizes = append(s.sizes, sz)
		}
	}
}

// sizeSpec is `max_fail:` — a count (0 allowed) or a percentage.
type sizeSpec struct{ size Size }

func (s *sizeSpec) UnmarshalStrictYAML(d *strictyaml.Decoder, n *yaml.Node, path string) {
	s.size, _ = parseSize(d, n, path, 0)
}

// parseSize reads a count ≥ minCount or a percentage "N%" with 0 < N ≤ 100
// (N = 0 allowed when minCount is 0).
func parseSize(d *strictyaml.Decoder, n *yaml.Node, path string, minCount int) (Size, bool) {
	if n == nil || n.Kind != yaml.ScalarNode || strictyaml.IsNull(n) {
		d.Errorf(n, path, "expected a number of hosts or a percentage such as \"10%%\", found %s", strictyaml.KindName(n))
		return Size{}, false
	}
	if n.ShortTag() == "!!int" {
		v, err := strconv.Atoi(n.Value)
		if err != nil || v < minCount || v > 1000000 {
			d.Errorf(n, path, "%s is out of range; expected a number of hosts from %d", n.Value, minCount)
			return Size{}, false
		}
		return Size{Count: v}, true
	}
	txt := strings.TrimSpace(n.Value)
	num, isPct := strings.CutSuffix(txt, "%")
	p, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if !isPct || err != nil || math.IsNaN(p) {
		d.Errorf(n, path, "expected a number of hosts or a percentage such as \"10%%\", found %q", txt)
		return Size{}, false
	}
	if p > 100 || p < 0 || (p == 0 && minCount > 0) {
		lo := "0"
		if minCount > 0 {
			lo = "more than 0"
		}
		d.Errorf(n, path, "percentage %s is out of range; expected %s and at most 100%%", txt, lo)
		return Size{}, false
	}
	if p == 0 {
		return Size{Count: 0}, true
	}
	return Size{Percent: p}, true
}

// outcomesSpec is `outcomes:` — a mapping from exit codes to outcomes.
type outcomesSpec struct{ codes map[uint32]string }

var outcomeNames = []string{OutcomeOK, OutcomeRebootRequired, OutcomeRebootInitiated, OutcomeRetry}

func (o *outcomesSpec) UnmarshalStrictYAML(d *strictyaml.Decoder, n *yaml.Node, path string) {
	keys, values, ok := d.MappingPairs(n, path)
	if !ok {
		return
	}
	o.codes = map[uint32]string{}
	for i, k := range keys {
		p := strictyaml.JoinKey(path, k.Value)
		code, ok := exitCode(d, k, p)
		if !ok {
			continue
		}
		name, ok := d.String(values[i], p)
		if !ok {
			continue
		}
		if !slices.Contains(outcomeNames, name) {
			msg := fmt.Sprintf("unknown outcome %q; expected one of %s", name, strings.Join(outcomeNames, ", "))
			if s := strictyaml.Suggest(name, outcomeNames); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.Errorf(values[i], p, "%s", msg)
			continue
		}
		o.codes[code] = name
	}
}

// rebootSpec is a reboot step's body and `reboot_on:`. reboot_on takes a
// list of outcomes, or a mapping with `when` and the reboot settings.
type rebootSpec struct {
	when     []string
	settings rebootSettings
	isOn     bool
}

type rebootSettings struct {
	Pos            strictyaml.Pos
	When           []string       `yaml:"when"`
	Timeout        *time.Duration `yaml:"timeout"`
	TestCommand    *string        `yaml:"test_command"`
	PreRebootDelay *time.Duration `yaml:"pre_reboot_delay"`
}

func (r *rebootSpec) UnmarshalStrictYAML(d *strictyaml.Decoder, n *yaml.Node, path string) {
	r.isOn = strings.HasSuffix(path, "reboot_on")
	if strictyaml.IsNull(n) && !r.isOn {
		return // `reboot:` with no settings
	}
	switch {
	case n.Kind == yaml.SequenceNode || (r.isOn && n.Kind == yaml.ScalarNode):
		if !r.isOn {
			d.Errorf(n, path, "expected a mapping with timeout, test_command or pre_reboot_delay, found %s", strictyaml.KindName(n))
			return
		}
		var when []string
		if n.Kind == yaml.ScalarNode {
			if s, ok := d.String(n, path); ok {
				when = []string{s}
			}
		} else {
			d.Decode(n, path, &when)
		}
		r.when = checkWhen(d, n, path, when)
	default:
		d.Decode(n, path, &r.settings)
		if r.settings.Pos.Has("when") && !r.isOn {
			d.Errorf(r.settings.Pos.Keys["when"], strictyaml.JoinKey(path, "when"), "a reboot step always reboots; `when` belongs in reboot_on")
		}
		r.when = checkWhen(d, r.settings.Pos.Value("when"), strictyaml.JoinKey(path, "when"), r.settings.When)
		if r.settings.Timeout != nil && *r.settings.Timeout == 0 {
			d.Errorf(r.settings.Pos.Value("timeout"), strictyaml.JoinKey(path, "timeout"), "reboot timeout must be more than zero")
		}
	}
}

func checkWhen(d *strictyaml.Decoder, n *yaml.Node, path string, when []string) []string {
	var out []string
	for _, w := range when {
		if w != OutcomeRebootRequired && w != OutcomeRebootInitiated {
			d.Errorf(n, path, "a reboot can follow the outcomes reboot_required and reboot_initiated, not %q", w)
			continue
		}
		out = append(out, w)
	}
	return out
}

func (r *rebootSpec) applyTo(rb *Reboot) {
	rb.When = r.when
	if t := r.settings.Timeout; t != nil {
		rb.Timeout = *t
	}
	if c := r.settings.TestCommand; c != nil {
		rb.TestCommand = *c
	}
	if p := r.settings.PreRebootDelay; p != nil {
		rb.PreRebootDelay = *p
	}
}

// Requires are what hosts must offer for the playbook to run, checked by the
// pre-flight checks.
type Requires struct {
	Pos strictyaml.Pos
	// MemoryPerShellMB is the least MaxMemoryPerShellMB a host may have
	// (0 on the host means unlimited).
	MemoryPerShellMB int `yaml:"memory_per_shell_mb"`
	// ShellsPerUser is the least MaxShellsPerUser.
	ShellsPerUser int `yaml:"shells_per_user"`
	// DiskFreeGB is the least free space on the system drive, in GB.
	DiskFreeGB float64 `yaml:"disk_free_gb"`
	// PowerShell is the least PowerShell version, e.g. "5.1".
	PowerShell string `yaml:"powershell"`
}

func checkRequires(d *strictyaml.Decoder, r *Requires) {
	if r.MemoryPerShellMB < 0 {
		d.Errorf(r.Pos.Value("memory_per_shell_mb"), "requires.memory_per_shell_mb", "must not be negative")
	}
	if r.ShellsPerUser < 0 {
		d.Errorf(r.Pos.Value("shells_per_user"), "requires.shells_per_user", "must not be negative")
	}
	if r.DiskFreeGB < 0 {
		d.Errorf(r.Pos.Value("disk_free_gb"), "requires.disk_free_gb", "must not be negative")
	}
	if r.PowerShell != "" {
		if _, err := ParseVersion(r.PowerShell); err != nil {
			d.Errorf(r.Pos.Value("powershell"), "requires.powershell", "%v", err)
		}
	}
}

// ParseVersion reads a dotted version such as "5.1" or "5.1.17763.1".
func ParseVersion(s string) ([]int, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	out := make([]int, 0, len(parts))
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("version %q: expected numbers separated by dots, like 5.1", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// VersionAtLeast reports whether have ≥ want, comparing dotted versions
// numerically (missing parts count as 0).
func VersionAtLeast(have, want []int) bool {
	for i := 0; i < max(len(have), len(want)); i++ {
		h, w := 0, 0
		if i < len(have) {
			h = have[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if h != w {
			return h > w
		}
	}
	return true
}
