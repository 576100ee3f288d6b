package main

import (
	"testing"

	"github.com/fleetrun/fleetrun/internal/strictyaml"
)

// TestFileKindDecidesByKeys checks that validate decides what a lone file
// is from its top-level keys, however many mistakes the file has.
func TestFileKindDecidesByKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc string
		kind      fileKindName
		why       string
	}{
		{"a playbook's steps", "steps: 3\nhosts: [{name: a}]\n", kindPlaybook, "it has steps:"},
		{"a playbook's name", "name: x\ngroups: []\n", kindPlaybook, "it has name:"},
		{"an inventory's simulated fleet", "simulated: {hosts: 2}\nhosts: 2\n", kindInventory, "it has simulated:"},
		{"an inventory's ec2 section", "ec2: {}\n", kindInventory, "it has ec2:"},
		{"a scenario's host settings", "host_settings: {}\nhosts: []\n", kindScenario, "it has host_settings:"},
		{"hosts as a number", "hosts: 12\n", kindScenario, "its hosts: is a number"},
		{"hosts as a list of hosts", "hosts:\n  - name: a\n", kindInventory, "its hosts: is a list of hosts"},
		{"hosts as a selector", "hosts: web-*\n", kindPlaybook, "its hosts: is a selector"},
		{"hosts as selectors", "hosts: [web-*, db-*]\n", kindPlaybook, "its hosts: is a selector"},
		{"groups as a list", "groups: [{name: a, count: 1}]\n", kindScenario, "its groups: is a list"},
		{"groups as a mapping", "groups: {web: {port: 1}}\n", kindInventory, "its groups: is a mapping"},
		{"an alias to a number", "x: &n 3\nhosts: *n\n", kindScenario, "its hosts: is a number"},
		{"nothing telling", "defaults: {}\n", kindPlaybook, "no key says otherwise"},
		{"not a mapping", "- a\n", kindPlaybook, "no key says otherwise"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root, err := strictyaml.Parse("f.yaml", []byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if kind, why := fileKind(root); kind != tt.kind || why != tt.why {
				t.Errorf("fileKind = %s (%s), want %s (%s)", kind, why, tt.kind, tt.why)
			}
		})
	}
}
