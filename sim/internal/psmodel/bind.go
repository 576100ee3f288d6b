package psmodel

import (
	"strings"
)

// paramSpec is one parameter of a modelled cmdlet.
type paramSpec struct {
	name    string
	aliases []string
	sw      bool // a switch
	pos     int  // position, or -1 when named only
	rest    bool // takes every remaining positional argument
}

// cmdletInfo is a modelled cmdlet: its parameters and its work.
type cmdletInfo struct {
	name    string
	params  []paramSpec
	begin   func(c *cmdCall) error
	process func(c *cmdCall, v any) error
	end     func(c *cmdCall) error
}

// class is the cmdlet's .NET class name, as in its errors' IDs
// (Microsoft.PowerShell.Commands.GetServiceCommand).
func (c *cmdletInfo) class() string {
	return "Microsoft.PowerShell.Commands." + strings.ReplaceAll(c.name, "-", "") + "Command"
}

// commonParams are the parameters every cmdlet has; those not listed
// as modelled are refused.
var commonParams = []paramSpec{
	{name: "ErrorAction", aliases: []string{"ea"}, pos: -1},
	{name: "WarningAction", aliases: []string{"wa"}, pos: -1},
	{name: "InformationAction", aliases: []string{"infa"}, pos: -1},
	{name: "Verbose", aliases: []string{"vb"}, sw: true, pos: -1},
	{name: "Debug", aliases: []string{"db"}, sw: true, pos: -1},
	{name: "ErrorVariable", aliases: []string{"ev"}, pos: -1},
	{name: "WarningVariable", aliases: []string{"wv"}, pos: -1},
	{name: "InformationVariable", aliases: []string{"iv"}, pos: -1},
	{name: "OutVariable", aliases: []string{"ov"}, pos: -1},
	{name: "OutBuffer", aliases: []string{"ob"}, pos: -1},
	{name: "PipelineVariable", aliases: []string{"pv"}, pos: -1},
	{name: "WhatIf", aliases: []string{"wi"}, sw: true, pos: -1},
	{name: "Confirm", aliases: []string{"cf"}, sw: true, pos: -1},
}

// cmdCall is one invocation of a modelled cmdlet.
type cmdCall struct {
	in       *interp
	info     *cmdletInfo
	cmd      *Command
	invoked  string
	args     []cmdArg
	out      *pipeOut
	errw     func(*ErrorRecord) error
	first    bool
	ps       *pipeState
	redir    *redirects
	bound    map[string]any
	ea       string
	wa       string
	verbose  bool
	gotInput bool
	// state is the cmdlet's own, between process and end.
	state any
}

// pairArgs pairs each -Param with its value: the colon value, or for a
// parameter that is not a switch the argument that follows.
func pairArgs(args []cmdArg, isSwitch func(string) (known, sw bool)) (named []cmdArg, positional []cmdArg, missing string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a.param == "" {
			positional = append(positional, a)
			continue
		}
		known, sw := isSwitch(a.param)
		if !known || sw || a.colon {
			named = append(named, a)
			continue
		}
		if i+1 < len(args) && args[i+1].param == "" {
			next := args[i+1]
			a.value, a.hasValue = next.value, true
			a.isArray = next.isArray
			i++
			named = append(named, a)
			continue
		}
		return nil, nil, a.param
	}
	return named, positional, ""
}

// findParam resolves a parameter name: exact name or alias, else a
// unique prefix.
func findParam(specs []paramSpec, name string) (*paramSpec, bool) {
	lower := strings.ToLower(name)
	for i := range specs {
		if strings.ToLower(specs[i].name) == lower {
			return &specs[i], false
		}
		for _, a := range specs[i].aliases {
			if a == lower {
				return &specs[i], false
			}
		}
	}
	var found *paramSpec
	for i := range specs {
		if strings.HasPrefix(strings.ToLower(specs[i].name), lower) {
			if found != nil && found != &specs[i] {
				return nil, true
			}
			found = &specs[i]
		}
	}
	return found, false
}

// bind binds the arguments to the cmdlet's parameters. Anything the
// model does not know (a parameter, a common parameter it does not
// model, an extra positional argument) is refused as not modelled.
func (c *cmdCall) bind() error {
	in := c.in
	c.bound = map[string]any{}
	all := append(append([]paramSpec(nil), c.info.params...), commonParams...)
	named, positional, missing := pairArgs(c.args, func(name string) (bool, bool) {
		p, amb := findParam(all, name)
		if p == nil || amb {
			return false, false
		}
		return true, p.sw
	})
	if missing != "" {
		return in.notModelled(c.cmd.Extent)
	}
	for _, a := range named {
		p, amb := findParam(all, a.param)
		if p == nil || amb {
			return in.notModelled(c.cmd.Extent)
		}
		key := strings.ToLower(p.name)
		v := a.value
		if p.sw {
			v = true
			if a.hasValue {
				v = toBool(a.value)
			}
		}
		switch key {
		case "erroraction", "warningaction", "informationaction":
			act := normalizeAction(v)
			switch act {
			case "stop", "continue", "silentlycontinue", "ignore":
			default:
				return in.notModelled(c.cmd.Extent)
			}
			switch key {
			case "erroraction":
				c.ea = act
			case "warningaction":
				c.wa = act
			}
			continue
		case "verbose":
			c.verbose = toBool(v)
			continue
		case "confirm":
			if toBool(v) {
				return in.notModelled(c.cmd.Extent)
			}
			continue
		case "debug", "errorvariable", "warningvariable", "informationvariable", "outvariable", "outbuffer", "pipelinevariable", "whatif":
			return in.notModelled(c.cmd.Extent)
		}
		if _, dup := c.bound[key]; dup {
			return in.notModelled(c.cmd.Extent)
		}
		c.bound[key] = v
	}
	next := 0
	for _, a := range positional {
		var target *paramSpec
		for i := range c.info.params {
			p := &c.info.params[i]
			if p.pos < 0 {
				continue
			}
			if _, done := c.bound[strings.ToLower(p.name)]; done && !p.rest {
				continue
			}
			if p.pos >= next || p.rest {
				if target == nil || p.pos < target.pos {
					target = p
				}
			}
		}
		if target == nil {
			return in.notModelled(c.cmd.Extent)
		}
		key := strings.ToLower(target.name)
		if target.rest {
			prev, _ := c.bound[key].([]any)
			if _, had := c.bound[key]; had && prev == nil {
				prev = []any{c.bound[key]}
			}
			c.bound[key] = append(prev, a.value)
			continue
		}
		c.bound[key] = a.value
		next = target.pos + 1
	}
	return nil
}

// has reports whether a parameter was given.
func (c *cmdCall) has(name string) bool {
	_, ok := c.bound[strings.ToLower(name)]
	return ok
}

func (c *cmdCall) get(name string) any { return c.bound[strings.ToLower(name)] }

func (c *cmdCall) sw(name string) bool { return toBool(c.get(name)) }

func (c *cmdCall) str(name string) string { return toStr(c.get(name)) }

// strs reads a parameter that takes several strings.
func (c *cmdCall) strs(name string) []string {
	v := c.get(name)
	if v == nil {
		return nil
	}
	var out []string
	for _, e := range enumerateArgs(v) {
		out = append(out, toStr(e))
	}
	return out
}

// int reads an integer parameter.
func (c *cmdCall) int(name string) (int, error) {
	n, err := toInt(c.get(name))
	if err != nil {
		msg := "Cannot bind parameter '" + c.paramName(name) + "'. " + err.Error()
		rec := c.record("System.Management.Automation.ParameterBindingException", msg, "InvalidArgument", "CannotConvertArgumentNoMessage", "", "")
		return 0, &psError{rec: rec}
	}
	return n, nil
}

func (c *cmdCall) paramName(lower string) string {
	for _, p := range c.info.params {
		if strings.EqualFold(p.name, lower) {
			return p.name
		}
	}
	return lower
}

// record builds an error record of this cmdlet.
func (c *cmdCall) record(excType, msg, category, fqid, targetName, targetType string) *ErrorRecord {
	rec := newRecord(excType, msg, category, fqid+","+c.info.class())
	rec.Activity = c.info.name
	rec.TargetName, rec.TargetType = targetName, targetType
	rec.Command = c.invoked
	c.in.place(rec, c.cmd.Extent)
	return rec
}

// writeError reports a non-terminating error as -ErrorAction (or
// $ErrorActionPreference) says: Stop makes it terminating.
func (c *cmdCall) writeError(rec *ErrorRecord) error {
	c.ps.failed = true
	action := c.ea
	if action == "" {
		action = c.in.preference("ErrorActionPreference")
	}
	switch action {
	case "stop":
		return &psError{rec: rec, script: true}
	case "silentlycontinue":
		c.in.errs.items = append([]any{rec}, c.in.errs.items...)
		return nil
	case "ignore":
		return nil
	case "continue":
		return c.errw(rec)
	}
	return c.in.notModelled(c.cmd.Extent)
}

func (c *cmdCall) emit(v any) error { return c.out.emit(v) }

// guard passes a cmdlet's outcome on.
func (c *cmdCall) guard(err error) error { return err }

// notModelled refuses this invocation.
func (c *cmdCall) notModelled() error { return c.in.notModelled(c.cmd.Extent) }

// pathArg reads a path parameter, refusing $null and "" as PowerShell's
// parameter validation does.
func (c *cmdCall) pathArg(name string) ([]string, error) {
	v := c.get(name)
	if v == nil {
		msg := "Cannot bind argument to parameter '" + c.paramName(name) + "' because it is null."
		rec := c.record("System.Management.Automation.ParameterBindingValidationException", msg, "InvalidData", "ParameterArgumentValidationErrorNullNotAllowed", "", "")
		rec.Reason = "ParameterBindingValidationException"
		return nil, &psError{rec: rec}
	}
	var out []string
	for _, e := range enumerateArgs(v) {
		s := toStr(e)
		if s == "" {
			msg := "Cannot bind argument to parameter '" + c.paramName(name) + "' because it is an empty string."
			rec := c.record("System.Management.Automation.ParameterBindingValidationException", msg, "InvalidData", "ParameterArgumentValidationErrorEmptyStringNotAllowed", "", "")
			return nil, &psError{rec: rec}
		}
		out = append(out, s)
	}
	return out, nil
}
