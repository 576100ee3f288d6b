package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/fleetrun/fleetrun/internal/strictyaml"
	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// invalid wraps an input error as exit status 1.
func invalid(err error) error { return &exitError{code: exitInvalid, err: err} }

// parseExtraVars reads -e KEY=VALUE flags.
func parseExtraVars(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("-e %q: expected KEY=VALUE", kv)
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, nil
}

// loadInventory reads the -i files. Every file's errors are reported.
func loadInventory(files []string) (*inventory.Inventory, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("no inventory given; pass -i FILE (several -i merge)")
	}
	return inventory.LoadAll(files)
}

// fleetHosts loads the -i inventories, brings up what they declare (a
// simulated fleet started, EC2 hosts discovered) and selects the hosts
// pb's hosts: and --limit name, possibly none. stop ends what it started;
// it is set whenever err is nil.
func fleetHosts(e *env, files []string, d discoveryFlags, pb *playbook.Playbook, limit string) (hosts []*inventory.Host, stop func(), err error) {
	inv, err := loadInventory(files)
	if err != nil {
		return nil, nil, invalid(formatInputError(err))
	}
	inv, stop, err = materialize(e, inv, d)
	if err != nil {
		return nil, nil, err
	}
	if hosts, err = selectHosts(inv, pb, limit); err != nil {
		stop()
		return nil, nil, invalid(err)
	}
	return hosts, stop, nil
}

// selectHosts applies the playbook's hosts: selector and then --limit.
func selectHosts(inv *inventory.Inventory, pb *playbook.Playbook, limit string) ([]*inventory.Host, error) {
	hosts := inv.Hosts
	if pb != nil {
		hosts = inv.Select(pb.Hosts)
	}
	if limit != "" {
		sel, err := inventory.ParseSelector(limit)
		if err != nil {
			return nil, fmt.Errorf("--limit %q: %w", limit, err)
		}
		var out []*inventory.Host
		for _, h := range hosts {
			if sel.Match(h) {
				out = append(out, h)
			}
		}
		hosts = out
	}
	return hosts, nil
}

// formatInputError lists positioned errors one per line, as
// file:line:col: path: message.
func formatInputError(err error) error {
	if es := strictyaml.AsErrors(err); es != nil {
		es.Sort()
		return fmt.Errorf("%d problem(s):\n%s", len(es), es.Error())
	}
	return err
}

// onceString is a string flag that may be given at most once: a second
// --limit would otherwise silently replace the first.
type onceString struct {
	name string
	val  *string
	set  bool
}

// stringOnce registers a string flag that refuses to be given twice.
func stringOnce(f *pflag.FlagSet, p *string, name, usage string) {
	f.Var(&onceString{name: name, val: p}, name, usage)
}

func (s *onceString) String() string { return *s.val }
func (s *onceString) Type() string   { return "string" }

func (s *onceString) Set(v string) error {
	if s.set {
		return fmt.Errorf("given twice (%q and %q); give one --%s (a selector may combine terms, e.g. 'role=web,!web-9*')", *s.val, v, s.name)
	}
	*s.val, s.set = v, true
	return nil
}
