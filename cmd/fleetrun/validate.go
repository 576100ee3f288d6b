package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/fleetrun/fleetrun/cmd/fleetrun/internal/views"
	"github.com/fleetrun/fleetrun/internal/strictyaml"
	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/report"
	"github.com/fleetrun/fleetrun/route"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/sim"
)

func newValidateCmd(e *env) *cobra.Command {
	var invFiles, extras []string
	var disc discoveryFlags
	cmd := &cobra.Command{
		Use:   "validate FILE [-i INVENTORY]... [-e KEY=VALUE]...",
		Short: "Check a playbook (and, with -i, its templates for every selected host), an inventory or a scenario",
		Long: `Validate parses a playbook strictly and reports every problem as
file:line:col: key.path: message, and reads the files its copy steps send
(a missing source, or one that differs from its pinned sha256, is such a
problem). With -i it also selects the hosts and expands every step's
templates for each of them, so a variable missing for some hosts is found
now rather than half-way through a rollout.

Given alone, FILE may also be an inventory or a simulated-fleet scenario.
Its kind is decided by its top-level keys (steps: makes a playbook,
simulated: or ec2: an inventory, host_settings: a scenario, else the shape
of hosts: and groups:), and the problems shown say which kind was assumed.`,
		Example: "  fleetrun validate examples/monthly-patch.yaml -i examples/inventory.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			extra, err := parseExtraVars(extras)
			if err != nil {
				return invalid(err)
			}
			if len(invFiles) == 0 {
				msg, err := validateFile(e.stderr, args[0])
				if err != nil {
					return invalid(err)
				}
				fmt.Fprintln(e.stdout, report.Printable(msg))
				return nil
			}
			pb, err := playbook.Load(args[0])
			if err != nil {
				return invalid(formatInputError(err))
			}
			views.Warnings(e.stderr, pb)
			inv, err := loadInventory(invFiles)
			if err != nil {
				return invalid(formatInputError(err))
			}
			// Templates are checked against the hosts as they will be:
			// discovered ones and a declared simulated fleet included.
			inv, stop, err := materialize(e, inv, disc)
			if err != nil {
				return err
			}
			defer stop()
			hosts, err := selectHosts(inv, pb, "")
			if err != nil {
				return invalid(err)
			}
			if _, err := runner.Plan(pb, hosts, extra, route.Renderer()); err != nil {
				return invalid(formatInputError(err))
			}
			if err := checkPasswords(cmd.Context(), hosts, e.lookupEnv); err != nil {
				return invalid(err)
			}
			msg := fmt.Sprintf("ok: %s: playbook %q, %d step(s), %d host(s) selected", args[0], pb.Name, len(pb.Steps), len(hosts))
			fmt.Fprintln(e.stdout, report.Printable(msg))
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&invFiles, "inventory", "i", nil, "inventory `FILE` (repeatable; lists merge)")
	cmd.Flags().StringArrayVarP(&extras, "extra-var", "e", nil, "template variable `KEY=VALUE` (repeatable; highest precedence)")
	disc.register(cmd.Flags())
	return cmd
}

// validateFile checks a file given without an inventory. Besides
// playbooks, a repository's fleetrun files are inventories and
// simulated-fleet scenarios, and "validate everything" should not need to
// know which is which. The kind is decided by the file's top-level keys
// (fileKind), never by which kind's parser complains least: a playbook
// with a few mistakes must get a playbook's errors. The errors say which
// kind was assumed, and why.
func validateFile(stderr io.Writer, path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	root, err := strictyaml.Parse(path, data)
	if err != nil {
		return "", formatInputError(err) // the same for every kind
	}
	kind, why := fileKind(root)
	msg, err := validateAs(stderr, kind, path)
	if err != nil {
		return "", fmt.Errorf("%s: checked as %s (%s): %w", path, kind.article(), why, formatInputError(err))
	}
	return msg, nil
}

// validateAs checks path as one kind of file and describes it; a
// playbook's warnings go to stderr.
func validateAs(stderr io.Writer, kind fileKindName, path string) (string, error) {
	switch kind {
	case kindInventory:
		inv, err := inventory.Load(path)
		if err != nil {
			return "", err
		}
		msg := fmt.Sprintf("ok: %s: inventory, %d host(s)", path, len(inv.Hosts))
		if n := len(inv.EC2); n > 0 {
			msg += fmt.Sprintf(", %d EC2 discovery section(s)", n)
		}
		if inv.Simulated != nil {
			msg += fmt.Sprintf(", a simulated fleet of %d host(s)", inv.Simulated.Hosts)
		}
		return msg, nil
	case kindScenario:
		sc, err := sim.LoadScenario(path)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("ok: %s: simulated-fleet scenario, %d group(s), %d host(s)", path, len(sc.Groups), sc.Hosts), nil
	default:
		pb, err := playbook.Load(path)
		if err != nil {
			return "", err
		}
		views.Warnings(stderr, pb)
		if err := runner.CheckSources(pb); err != nil {
			return "", err
		}
		return fmt.Sprintf("ok: %s: playbook %q, %d step(s)", path, pb.Name, len(pb.Steps)), nil
	}
}

// checkPasswords reads every selected host's password as apply will, so
// that an unset password_env or a password file apply refuses is reported
// now, in apply's words: once per password source, with how many more
// hosts share it. Passwords fetched from a service (EC2) are left to
// apply: validate contacts nothing.
func checkPasswords(ctx context.Context, hosts []*inventory.Host, lookupEnv func(string) (string, bool)) error {
	var order []string
	first := map[string]error{}
	others := map[string]int{}
	for _, h := range hosts {
		if h.PasswordFunc != nil || h.Unusable != "" {
			continue
		}
		_, err := h.Password(ctx, lookupEnv)
		if err == nil {
			continue
		}
		src := "env " + h.PasswordEnv + "\x00file " + h.PasswordFile
		if _, dup := first[src]; dup {
			others[src]++
			continue
		}
		first[src] = err
		order = append(order, src)
	}
	errs := make([]error, 0, len(order))
	for _, src := range order {
		if n := others[src]; n > 0 {
			errs = append(errs, fmt.Errorf("%w (and %d other host(s) with the same password source)", first[src], n))
			continue
		}
		errs = append(errs, first[src])
	}
	return errors.Join(errs...)
}

// fileKindName is a kind of file validate checks on its own.
type fileKindName string

const (
	kindPlaybook  fileKindName = "playbook"
	kindInventory fileKindName = "inventory"
	kindScenario  fileKindName = "simulated-fleet scenario"
)

func (k fileKindName) article() string {
	if k == kindInventory {
		return "an " + string(k)
	}
	return "a " + string(k)
}

// Top-level keys only one kind of file has. hosts, defaults and groups
// are shared, and tell the kinds apart by their shape.
var (
	playbookKeys  = []string{"steps", "name", "forks", "serial", "max_fail", "vars", "preflight", "requires"}
	inventoryKeys = []string{"simulated", "ec2"}
	scenarioKeys  = []string{"host_settings"}
)

// fileKind decides what a file is from its top-level keys: a key only one
// kind has (steps: is a playbook's), else the shape of a shared key (hosts:
// is a count in a scenario, a list of mappings in an inventory, a selector
// in a playbook; groups: is a list in a scenario, a mapping in an
// inventory), else a playbook. why names the key that decided.
func fileKind(root *yaml.Node) (kind fileKindName, why string) {
	values := topLevel(root)
	for _, set := range []struct {
		kind fileKindName
		keys []string
	}{{kindPlaybook, playbookKeys}, {kindInventory, inventoryKeys}, {kindScenario, scenarioKeys}} {
		for _, k := range set.keys {
			if _, ok := values[k]; ok {
				return set.kind, fmt.Sprintf("it has %s:", k)
			}
		}
	}
	if h, ok := values["hosts"]; ok {
		switch {
		case h.Kind == yaml.ScalarNode && h.ShortTag() == "!!int":
			return kindScenario, "its hosts: is a number"
		case h.Kind == yaml.SequenceNode && len(h.Content) > 0 && h.Content[0].Kind == yaml.MappingNode:
			return kindInventory, "its hosts: is a list of hosts"
		case h.Kind == yaml.ScalarNode || h.Kind == yaml.SequenceNode:
			return kindPlaybook, "its hosts: is a selector"
		}
	}
	if g, ok := values["groups"]; ok {
		switch g.Kind {
		case yaml.SequenceNode:
			return kindScenario, "its groups: is a list"
		case yaml.MappingNode:
			return kindInventory, "its groups: is a mapping"
		}
	}
	return kindPlaybook, "no key says otherwise"
}

// topLevel maps a document's top-level keys to their values (aliases
// followed); empty when the document is not a mapping.
func topLevel(root *yaml.Node) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if root == nil || root.Kind != yaml.MappingNode {
		return out
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		v := root.Content[i+1]
		for depth := 0; v.Kind == yaml.AliasNode && v.Alias != nil && depth < 100; depth++ {
			v = v.Alias
		}
		out[root.Content[i].Value] = v
	}
	return out
}
