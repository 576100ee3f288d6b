package playbook

import (
	"text/template/parse"

	"gopkg.in/yaml.v3"

	"github.com/fleetrun/fleetrun/internal/strictyaml"
)

// Warnings lists what is valid but likely wrong: for now, a host-derived
// value (.host.name, .host.address, .host.tags.KEY) substituted into a cmd:
// line without cmdquote. Such values can come from EC2 tags, which anyone
// allowed to tag an instance can write, and cmd.exe acts on & | < > ( ) ^
// and % in them. Each warning is positioned at the step's cmd value.
func (p *Playbook) Warnings() strictyaml.Errors {
	d := strictyaml.NewDecoder(p.File)
	for _, s := range p.Steps {
		if s.Kind != KindCmd {
			continue
		}
		path := strictyaml.JoinKey(strictyaml.JoinIndex("steps", s.Index), "cmd")
		t := s.tmpl[path]
		if t == nil || t.Tree == nil {
			continue
		}
		for _, a := range unquotedHostActions(t.Root, false) {
			n := s.pos[path]
			if n == nil {
				n = &yaml.Node{}
			}
			d.Errorf(n, path, "%s puts a host value into cmd.exe's line unquoted; cmd.exe would act on & | < > ( ) ^ %% in it: write it as {{ cmdquote ... }}", a)
		}
	}
	return strictyaml.AsErrors(d.Err())
}

// unquotedHostActions returns the text of the actions under n that print a
// host-derived value without cmdquote as their last command. Conditions
// of if, range and with print nothing and are not reported; their bodies
// are, with dot host-derived inside range and with over host data.
// (A variable declared from host data, {{ $r := .host.name }}, is not
// followed.)
func unquotedHostActions(n parse.Node, dotHost bool) []string {
	var out []string
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			out = append(out, unquotedHostActions(c, dotHost)...)
		}
	case *parse.ActionNode:
		if len(n.Pipe.Decl) == 0 && pipeUsesHost(n.Pipe, dotHost) && !endsInCmdquote(n.Pipe) {
			out = append(out, n.String())
		}
	case *parse.IfNode:
		out = append(out, branches(&n.BranchNode, dotHost, dotHost)...)
	case *parse.RangeNode:
		out = append(out, branches(&n.BranchNode, pipeUsesHost(n.Pipe, dotHost), dotHost)...)
	case *parse.WithNode:
		out = append(out, branches(&n.BranchNode, pipeUsesHost(n.Pipe, dotHost), dotHost)...)
	}
	return out
}

func branches(b *parse.BranchNode, bodyDotHost, elseDotHost bool) []string {
	out := unquotedHostActions(b.List, bodyDotHost)
	if b.ElseList != nil {
		out = append(out, unquotedHostActions(b.ElseList, elseDotHost)...)
	}
	return out
}

// endsInCmdquote reports whether the pipeline's value comes out of
// cmdquote: {{ cmdquote .x }} or {{ .x | cmdquote }}.
func endsInCmdquote(p *parse.PipeNode) bool {
	if p == nil || len(p.Cmds) == 0 {
		return false
	}
	last := p.Cmds[len(p.Cmds)-1]
	if len(last.Args) == 0 {
		return false
	}
	id, ok := last.Args[0].(*parse.IdentifierNode)
	return ok && id.Ident == "cmdquote"
}

// pipeUsesHost reports whether any argument in the pipeline reads .host
// (or $.host, or a host-derived dot), however deeply nested.
func pipeUsesHost(p *parse.PipeNode, dotHost bool) bool {
	if p == nil {
		return false
	}
	for _, c := range p.Cmds {
		for _, a := range c.Args {
			if argUsesHost(a, dotHost) {
				return true
			}
		}
	}
	return false
}

func argUsesHost(n parse.Node, dotHost bool) bool {
	switch n := n.(type) {
	case *parse.FieldNode:
		return dotHost || (len(n.Ident) > 0 && n.Ident[0] == "host")
	case *parse.VariableNode:
		return len(n.Ident) > 1 && n.Ident[0] == "$" && n.Ident[1] == "host"
	case *parse.DotNode:
		return dotHost
	case *parse.ChainNode:
		return argUsesHost(n.Node, dotHost)
	case *parse.PipeNode:
		return pipeUsesHost(n, dotHost)
	}
	return false
}
