package sim

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// WriteInventory writes the fleet as a fleetrun static inventory at path,
// atomically (a temporary file renamed into place), and the password to a
// 0600 file next to it that the inventory references with password_file.
// The CA file of an HTTPS fleet is referenced by ca_file, relative to the
// inventory when it sits in the same folder.
func (f *Fleet) WriteInventory(path string) error {
	dir := filepath.Dir(path)
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	pwName := base + ".password"
	if err := writeFileAtomic(filepath.Join(dir, pwName), []byte(f.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("write simulated inventory: %w", err)
	}
	caRef := ""
	if f.caFile != "" {
		caRef = f.caFile
		if rel, err := filepath.Rel(dir, f.caFile); err == nil && !strings.HasPrefix(rel, "..") {
			caRef = rel
		}
	}
	var b strings.Builder
	b.WriteString("# Simulated fleet written by fleetrun sim: these hosts are simulated, not Windows.\n")
	b.WriteString("defaults:\n")
	fmt.Fprintf(&b, "  auth: %s\n", authFor(f.https))
	fmt.Fprintf(&b, "  user: %s\n", yamlString(f.user))
	fmt.Fprintf(&b, "  password_file: %s\n", yamlString(pwName))
	fmt.Fprintf(&b, "  https: %t\n", f.https)
	defaultPort := 0
	if len(f.hosts) > 0 {
		defaultPort = f.hosts[0].Port()
		for _, h := range f.hosts {
			if h.Port() != defaultPort {
				defaultPort = 0
				break
			}
		}
	}
	if defaultPort != 0 {
		fmt.Fprintf(&b, "  port: %d\n", defaultPort)
	}
	if f.https && caRef != "" {
		fmt.Fprintf(&b, "  ca_file: %s\n", yamlString(caRef))
	}
	if f.ssm != nil {
		if f.ssmTransport {
			b.WriteString("  transport: ssm\n")
		}
		// The fleet's S3 takes any bucket: copy steps stage their sources
		// in this one.
		fmt.Fprintf(&b, "  ssm: {region: %s, endpoint: %s, s3_endpoint: %s, transfer_bucket: fleet-transfer}\n", yamlString(f.ssm.region), yamlString(f.ssm.url), yamlString(f.ssm.url))
	}
	b.WriteString("  tags: {simulated: \"true\"}\n")
	b.WriteString("hosts:\n")
	for _, h := range f.hosts {
		c := h.cfg
		fmt.Fprintf(&b, "  - name: %s\n", yamlString(c.Name))
		fmt.Fprintf(&b, "    address: %s\n", h.Address())
		if defaultPort == 0 {
			fmt.Fprintf(&b, "    port: %d\n", h.Port())
		}
		if c.HTTPS != f.https {
			fmt.Fprintf(&b, "    https: %t\n", c.HTTPS)
			fmt.Fprintf(&b, "    auth: %s\n", authFor(c.HTTPS))
			if c.HTTPS && caRef != "" {
				fmt.Fprintf(&b, "    ca_file: %s\n", yamlString(caRef))
			}
		}
		if c.User != f.user {
			fmt.Fprintf(&b, "    user: %s\n", yamlString(c.User))
		}
		if c.OutputEncoding == "cp932" {
			b.WriteString("    output_encoding: cp932\n")
		}
		if c.Keytab != "" {
			// Reached by address, the host needs its SPN named for
			// auth: kerberos.
			fmt.Fprintf(&b, "    spn: %s\n", yamlString("HTTP/"+c.Name))
		}
		fmt.Fprintf(&b, "    tags: {profile: %s", strconv.Quote(c.Profile.Name))
		if c.Group != "" {
			fmt.Fprintf(&b, ", group: %s", yamlString(c.Group))
		}
		for _, k := range slices.Sorted(maps.Keys(c.Tags)) {
			fmt.Fprintf(&b, ", %s: %s", yamlString(k), yamlString(c.Tags[k]))
		}
		b.WriteString("}\n")
		if f.ssm != nil {
			// The instance for the SSM transport, and the same facts as
			// template variables, as EC2 discovery gives them.
			fmt.Fprintf(&b, "    ssm: {instance_id: %s}\n", yamlString(f.ssm.ids[h]))
			fmt.Fprintf(&b, "    vars: {instance_id: %s, region: %s}\n", yamlString(f.ssm.ids[h]), yamlString(f.ssm.region))
		}
	}
	if err := writeFileAtomic(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write simulated inventory: %w", err)
	}
	return nil
}

// authFor is the scheme an inventory should use: NTLM with message
// encryption over HTTP, Basic inside TLS.
func authFor(https bool) string {
	if https {
		return "basic"
	}
	return "ntlm"
}

// yamlString writes s as a YAML scalar, quoting it when it could be read
// as something else.
func yamlString(s string) string {
	plain := s != "" && !strings.ContainsAny(s, ":#{}[],&*!|>'\"%@`\\ \t") &&
		!strings.ContainsAny(s[:1], "-?0123456789") &&
		!isYAMLKeyword(s)
	if plain {
		return s
	}
	return strconv.Quote(s)
}

func isYAMLKeyword(s string) bool {
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "null", "~", "y", "n":
		return true
	}
	return false
}
