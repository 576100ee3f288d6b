package ec2

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/fleetrun/fleetrun/inventory"
)

// found is one listed instance, with the section that found it first.
type found struct {
	sess   *session
	region string
	id     string
	inst   *types.Instance
	groups []string
	host   *inventory.Host // set by buildHosts
}

func (f *found) addGroups(gs []string) {
	for _, g := range gs {
		if !slices.Contains(f.groups, g) {
			f.groups = append(f.groups, g)
		}
	}
}

// facts are an instance's host variables, all strings, empty when absent.
func facts(region string, inst *types.Instance) map[string]any {
	launch := ""
	if inst.LaunchTime != nil {
		launch = inst.LaunchTime.UTC().Format(time.RFC3339)
	}
	az := ""
	if inst.Placement != nil {
		az = aws.ToString(inst.Placement.AvailabilityZone)
	}
	return map[string]any{
		"instance_id":       aws.ToString(inst.InstanceId),
		"region":            region,
		"availability_zone": az,
		"instance_type":     string(inst.InstanceType),
		"platform_details":  aws.ToString(inst.PlatformDetails),
		"launch_time":       launch,
		"key_name":          aws.ToString(inst.KeyName),
		"private_ip":        aws.ToString(inst.PrivateIpAddress),
		"public_ip":         aws.ToString(inst.PublicIpAddress),
		"private_dns":       aws.ToString(inst.PrivateDnsName),
		"public_dns":        aws.ToString(inst.PublicDnsName),
		"ipv6":              ipv6(inst),
	}
}

// ipv6 is the instance's primary IPv6 address, else the first IPv6
// address of its first interface that has one.
func ipv6(inst *types.Instance) string {
	if v := aws.ToString(inst.Ipv6Address); v != "" {
		return v
	}
	for _, ni := range inst.NetworkInterfaces {
		for _, a := range ni.Ipv6Addresses {
			if v := aws.ToString(a.Ipv6Address); v != "" {
				return v
			}
		}
	}
	return ""
}

func tagValue(inst *types.Instance, key string) (string, bool) {
	for _, t := range inst.Tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value), true
		}
	}
	return "", false
}

// address returns the chosen address, or why the instance has none.
func address(choice inventory.EC2Address, inst *types.Instance, vars map[string]any) (addr, missing string) {
	var key, what string
	switch choice.Kind {
	case "", inventory.EC2PrivateIP:
		key, what = "private_ip", "private IP address"
	case inventory.EC2PublicIP:
		key, what = "public_ip", "public IP address"
	case inventory.EC2PrivateDNS:
		key, what = "private_dns", "private DNS name"
	case inventory.EC2PublicDNS:
		key, what = "public_dns", "public DNS name"
	case inventory.EC2IPv6:
		key, what = "ipv6", "IPv6 address"
	case inventory.EC2Tag:
		v, _ := tagValue(inst, choice.Tag)
		if v = strings.TrimSpace(v); v == "" {
			return "", fmt.Sprintf("no tag %s (or it is empty)", choice.Tag)
		}
		return v, ""
	default:
		return "", fmt.Sprintf("unknown address choice %q", choice.Kind)
	}
	if v := vars[key].(string); v != "" {
		return v, ""
	}
	return "", "no " + what
}

// baseName is the name the section chooses for an instance before
// collisions are resolved, and a problem when the chosen tag's value had
// to be changed to be a usable host name.
func baseName(choice inventory.EC2HostName, region string, inst *types.Instance) (name, problem string) {
	id := aws.ToString(inst.InstanceId)
	if choice.InstanceID {
		return id, ""
	}
	tag := choice.Tag
	if tag == "" {
		tag = "Name"
	}
	v, _ := tagValue(inst, tag)
	v = strings.TrimSpace(v)
	if v == "" {
		return id, ""
	}
	clean := sanitize(v)
	if clean != v {
		return clean, fmt.Sprintf("instance %s in %s: tag %s %q is not a usable host name (spaces and , = ! @ \" are not allowed); named it %q", id, region, tag, v, clean)
	}
	return v, ""
}

// sanitize replaces each run of whitespace, control characters and the
// characters selectors give meaning to (, = ! @ ") with one '-'.
func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range s {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(",=!@\"", r) || (r >= 0x80 && r <= 0x9f) || r == '\u3000' {
			if !dash {
				b.WriteByte('-')
				dash = true
			}
			continue
		}
		b.WriteRune(r)
		dash = false
	}
	return b.String()
}

// buildHosts turns instances into hosts (setting f.host), resolves name
// collisions and returns the hosts sorted by name with the problems found.
//
// Collisions are resolved without regard to the order EC2 answered in:
// every instance of a colliding name (compared case-insensitively, as
// Windows and the inventory do) is renamed NAME-INSTANCEID, so no instance
// silently takes the plain name a playbook may be targeting.
func buildHosts(fs []*found) ([]*inventory.Host, []string) {
	var problems []string
	hosts := make([]*inventory.Host, 0, len(fs))
	byName := make(map[string][]*found, len(fs))
	for _, f := range fs {
		spec := f.sess.spec
		vars := facts(f.region, f.inst)
		tags := make(map[string]string, len(f.inst.Tags))
		for _, t := range f.inst.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		name, p := baseName(spec.HostName, f.region, f.inst)
		if p != "" {
			problems = append(problems, p)
		}
		h := &inventory.Host{
			Name:   name,
			Groups: slices.Clone(f.groups),
			Tags:   tags,
			Vars:   vars,
			Source: Source,
		}
		addr, missing := address(spec.Address, f.inst, vars)
		h.Address = addr
		if missing != "" {
			h.Unusable = fmt.Sprintf("EC2 instance %s in %s has %s (address: %s)", f.id, f.region, missing, spec.Address)
		}
		if f.sess.key != nil {
			h.PasswordFunc = newPasswordSource(f.sess, f.region, f.id).get
		}
		f.host = h
		hosts = append(hosts, h)
		key := strings.ToLower(name)
		byName[key] = append(byName[key], f)
	}
	problems = append(problems, resolveCollisions(byName)...)
	sortHosts(hosts)
	for _, h := range hosts {
		if h.Unusable != "" {
			problems = append(problems, fmt.Sprintf("host %s: %s; it will be skipped", h.Name, h.Unusable))
		}
	}
	return hosts, problems
}

// resolveCollisions renames every instance of a shared name to
// NAME-INSTANCEID; should that still collide (a Name tag equal to such a
// name), the region is appended too, which (region, instance id) makes
// unique.
func resolveCollisions(byName map[string][]*found) []string {
	var problems []string
	keys := make([]string, 0, len(byName))
	for k, fs := range byName {
		if len(fs) > 1 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	taken := make(map[string]bool, len(byName))
	for k, fs := range byName {
		if len(fs) == 1 {
			taken[k] = true
		}
	}
	for _, k := range keys {
		fs := byName[k]
		slices.SortFunc(fs, func(a, b *found) int {
			return strings.Compare(a.region+"/"+a.id, b.region+"/"+b.id)
		})
		orig := fs[0].host.Name
		var renamed []string
		for _, f := range fs {
			n := f.host.Name + "-" + f.id
			if taken[strings.ToLower(n)] {
				n += "-" + f.region
			}
			taken[strings.ToLower(n)] = true
			renamed = append(renamed, fmt.Sprintf("%s (%s in %s)", n, f.id, f.region))
			f.host.Name = n
		}
		problems = append(problems, fmt.Sprintf("%d instances are named %q; named them %s", len(fs), orig, strings.Join(renamed, ", ")))
	}
	return problems
}
