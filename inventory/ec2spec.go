package inventory

import "github.com/fleetrun/fleetrun/internal/strictyaml"

// EC2Spec is an inventory's `ec2:` section: which EC2 instances become
// hosts. Discovery itself lives in inventory/ec2.
type EC2Spec struct {
	Pos strictyaml.Pos
	// File is the inventory file that declared the section.
	File string
}
