package playbook

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"

	"github.com/fleetrun/fleetrun/internal/strictyaml"
	"github.com/fleetrun/fleetrun/winquote"
)

// templateFuncs are available in every template: psquote makes any value a
// single-quoted PowerShell string literal, so a value substituted into a
// script cannot change the script's syntax; cmdquote makes it one argument
// on a cmd.exe line that cmd.exe acts on nothing in (winquote.CmdArg), and
// fails for a value with a line break or NUL, which cmd.exe cannot carry.
var templateFuncs = template.FuncMap{
	"psquote":  func(v any) string { return winquote.PSSingleQuote(fmt.Sprint(v)) },
	"cmdquote": func(v any) (string, error) { return winquote.CmdArg(fmt.Sprint(v)) },
}

// HostData is what templates see of a host: `.host.name`, `.host.address`,
// `.host.tags.KEY`; Vars are the host's inventory variables, merged under
// the playbook's vars and the -e extras into `.vars`.
type HostData struct {
	Name    string
	Address string
	Tags    map[string]string
	Vars    map[string]any
}

// Expanded is a step made concrete for one host.
type Expanded struct {
	Step    *Step
	Script  string
	Line    string
	Argv    []string
	Env     map[string]string
	Workdir string
	// Copy, Download and Fetch are a file step's body for the host, its
	// templates expanded (Copy.Src still relative to the playbook's
	// folder: see Playbook.LocalPath).
	Copy     *Copy
	Download *Download
	Fetch    *Fetch
}

// Data builds the template data for a host. Precedence, highest first:
// extra (-e), playbook vars, host vars (already merged from the inventory's
// host, group and defaults levels).
func (p *Playbook) Data(h HostData, extra map[string]string) map[string]any {
	vars := map[string]any{}
	maps.Copy(vars, h.Vars)
	maps.Copy(vars, p.Vars)
	for k, v := range extra {
		vars[k] = v
	}
	tags := h.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return map[string]any{
		"host": map[string]any{"name": h.Name, "address": h.Address, "tags": tags},
		"vars": vars,
	}
}

// Expand renders every step for one host. All template failures are
// returned together, each as a positioned error naming the host.
func (p *Playbook) Expand(h HostData, extra map[string]string) ([]*Expanded, error) {
	data := p.Data(h, extra)
	d := strictyaml.NewDecoder(p.File)
	out := make([]*Expanded, 0, len(p.Steps))
	for _, st := range p.Steps {
		out = append(out, st.expand(d, h.Name, data))
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Step) expand(d *strictyaml.Decoder, host string, data map[string]any) *Expanded {
	path := strictyaml.JoinIndex("steps", s.Index)
	render := func(field, text string) string {
		t := s.tmpl[field]
		if t == nil {
			return text
		}
		var b strings.Builder
		if err := t.Execute(&b, data); err != nil {
			d.Errorf(s.pos[field], field, "host %s: %s", host, templateExecMessage(err))
			return ""
		}
		return b.String()
	}
	e := &Expanded{Step: s, Env: map[string]string{}}
	switch s.Kind {
	case KindPowerShell:
		e.Script = render(strictyaml.JoinKey(path, "powershell"), s.Script)
	case KindCmd:
		e.Line = render(strictyaml.JoinKey(path, "cmd"), s.Line)
		if strings.ContainsAny(e.Line, "\r\n") {
			d.Errorf(s.pos[strictyaml.JoinKey(path, "cmd")], strictyaml.JoinKey(path, "cmd"), "host %s: the expanded cmd line contains a line break", host)
		}
	case KindCommand:
		e.Argv = make([]string, len(s.Argv))
		for i, a := range s.Argv {
			e.Argv[i] = render(strictyaml.JoinIndex(strictyaml.JoinKey(path, "command"), i), a)
		}
		prog := strictyaml.JoinIndex(strictyaml.JoinKey(path, "command"), 0)
		if len(e.Argv) > 0 && s.tmpl[prog] != nil {
			if err := winquote.CheckArgvProgram(e.Argv[0]); err != nil {
				d.Errorf(s.pos[prog], prog, "host %s: %v", host, err)
			}
		}
	}
	s.expandFile(e, path, host, render, d)
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		e.Env[k] = render(strictyaml.JoinKey(strictyaml.JoinKey(path, "env"), k), s.Env[k])
	}
	e.Workdir = render(strictyaml.JoinKey(path, "workdir"), s.Workdir)
	return e
}

// templateExecMessage shortens text/template's execution errors to what a
// person needs: "map has no entry for key "kb"".
func templateExecMessage(err error) string {
	var ee template.ExecError
	msg := err.Error()
	if errors.As(err, &ee) {
		msg = ee.Err.Error()
	}
	if i := strings.Index(msg, ": executing "); i >= 0 {
		if j := strings.LastIndex(msg, ": "); j > i {
			msg = msg[j+2:]
		}
	}
	return msg
}

// Check expands the playbook for every host and reports template failures
// (a variable missing for some hosts, say) as positioned errors. Identical
// failures for many hosts are reported once, naming the first few hosts.
func (p *Playbook) Check(hosts []HostData, extra map[string]string) error {
	type key struct {
		line, col int
		path, msg string
	}
	groups := map[key][]string{}
	var order []key
	for _, h := range hosts {
		_, err := p.Expand(h, extra)
		for _, e := range strictyaml.AsErrors(err) {
			msg := strings.TrimPrefix(e.Msg, "host "+h.Name+": ")
			k := key{e.Line, e.Col, e.Path, msg}
			if _, ok := groups[k]; !ok {
				order = append(order, k)
			}
			groups[k] = append(groups[k], h.Name)
		}
	}
	if len(order) == 0 {
		return nil
	}
	d := strictyaml.NewDecoder(p.File)
	for _, k := range order {
		d.Errorf(&yaml.Node{Line: k.line, Column: k.col}, k.path, "%s: %s", hostList(groups[k]), k.msg)
	}
	return d.Err()
}

func hostList(names []string) string {
	const show = 3
	if len(names) == 1 {
		return "host " + names[0]
	}
	if len(names) <= show {
		return "hosts " + strings.Join(names, ", ")
	}
	return fmt.Sprintf("hosts %s and %d more", strings.Join(names[:show], ", "), len(names)-show)
}

// expandFile renders a file step's paths and URL for one host and checks
// the templated ones.
func (s *Step) expandFile(e *Expanded, path, host string, render func(field, text string) string, d *strictyaml.Decoder) {
	key := strictyaml.JoinKey(path, string(s.Kind))
	field := func(k string) string { return strictyaml.JoinKey(key, k) }
	check := func(k, value string, f func(string) error) {
		if s.tmpl[field(k)] == nil || value == "" {
			return // literal values were checked when the playbook was parsed
		}
		if err := f(value); err != nil {
			d.Errorf(s.pos[field(k)], field(k), "host %s: %v", host, err)
		}
	}
	notBlank := func(key string) func(string) error {
		return func(p string) error {
			if strings.TrimSpace(p) == "" {
				return fmt.Errorf("%s is empty once expanded", key)
			}
			return nil
		}
	}
	winPath := func(pattern bool) func(string) error {
		return func(p string) error { return CheckWindowsPath(p, pattern) }
	}
	switch s.Kind {
	case KindCopy:
		c := *s.Copy
		c.Src, c.Dest = render(field("src"), c.Src), render(field("dest"), c.Dest)
		check("dest", c.Dest, winPath(false))
		check("src", c.Src, notBlank("src"))
		e.Copy = &c
	case KindDownload:
		c := *s.Download
		c.URL, c.Dest = render(field("url"), c.URL), render(field("dest"), c.Dest)
		check("url", c.URL, CheckURL)
		check("dest", c.Dest, func(p string) error {
			if strings.HasSuffix(p, `\`) {
				return fmt.Errorf("download dest %s ends with a backslash; give the file's full path", quotePath(p))
			}
			return CheckWindowsPath(p, false)
		})
		e.Download = &c
	case KindFetch:
		c := *s.Fetch
		c.Src, c.DestDir = render(field("src"), c.Src), render(field("dest_dir"), c.DestDir)
		check("src", c.Src, winPath(true))
		check("dest_dir", c.DestDir, notBlank("dest_dir"))
		e.Fetch = &c
	}
}
