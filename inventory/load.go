package inventory

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/fleetrun/fleetrun/internal/strictyaml"
)

// Settings are the connection settings, tags and vars that may be given in
// an inventory's defaults, in a group, or on a host. Unset fields (nil)
// inherit from the level below.
type Settings struct {
	Pos                strictyaml.Pos
	Port               *int              `yaml:"port"`
	HTTPS              *bool             `yaml:"https"`
	Auth               *string           `yaml:"auth"`
	User               *string           `yaml:"user"`
	Password           *string           `yaml:"password"` // refused: passwords never sit in inventories
	PasswordEnv        *string           `yaml:"password_env"`
	PasswordFile       *string           `yaml:"password_file"`
	CAFile             *string           `yaml:"ca_file"`
	ClientCert         *string           `yaml:"client_cert"`
	ClientKey          *string           `yaml:"client_key"`
	InsecureSkipVerify *bool             `yaml:"insecure_skip_verify"`
	AllowUnencrypted   *bool             `yaml:"allow_unencrypted"`
	OutputEncoding     *string           `yaml:"output_encoding"`
	ConnectTimeout     *time.Duration    `yaml:"connect_timeout"`
	SPN                *string           `yaml:"spn"`
	Keytab             *string           `yaml:"keytab"`
	Transport          *string           `yaml:"transport"`
	SSM                *SSMSpec          `yaml:"ssm"`
	Tags               map[string]string `yaml:"tags"`
	Vars               map[string]any    `yaml:"vars"`
}

// Layer is one file's defaults and groups, applied to every host of that
// file (and to hosts discovered through it).
type Layer struct {
	File     string
	Defaults Settings
	Groups   map[string]*Settings
}

type hostSpec struct {
	Settings `yaml:",inline"`
	Name     string   `yaml:"name"`
	Address  string   `yaml:"address"`
	Groups   []string `yaml:"groups"`
}

type simulatedSpec struct {
	Pos       strictyaml.Pos
	Hosts     int    `yaml:"hosts"`
	Profile   string `yaml:"profile"`
	Scenario  string `yaml:"scenario"`
	HTTPS     bool   `yaml:"https"`
	Transport string `yaml:"transport"`
}

type fileSpec struct {
	Defaults  Settings             `yaml:"defaults"`
	Groups    map[string]*Settings `yaml:"groups"`
	Hosts     []hostSpec           `yaml:"hosts"`
	Simulated *simulatedSpec       `yaml:"simulated"`
	EC2       *EC2Spec             `yaml:"ec2"`
}

// Known values, for validation and suggestions.
var (
	authMethods = []string{"basic", "ntlm", "kerberos", "certificate"}
	transports  = []string{"winrm", "ssm"}
	simProfiles = []string{"2008r2", "2012r2", "2016", "2019", "2022"}
)

// Load reads and validates one inventory file.
func Load(path string) (*Inventory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	return Parse(path, data)
}

// LoadAll loads several inventory files and merges them; errors of every
// file are reported together.
func LoadAll(paths []string) (*Inventory, error) {
	var invs []*Inventory
	var all strictyaml.Errors
	for _, p := range paths {
		inv, err := Load(p)
		if err != nil {
			if es := strictyaml.AsErrors(err); es != nil {
				all = append(all, es...)
				continue
			}
			return nil, err
		}
		invs = append(invs, inv)
	}
	if len(all) > 0 {
		return nil, all
	}
	return Merge(invs...)
}

// Parse validates inventory text; file names the source in errors and
// anchors relative paths. All problems are returned together as
// strictyaml.Errors, sorted by position.
func Parse(file string, data []byte) (*Inventory, error) {
	root, err := strictyaml.Parse(file, data)
	if err != nil {
		return nil, err
	}
	d := strictyaml.NewDecoder(file)
	var spec fileSpec
	d.Decode(root, "", &spec)
	if d.Count() > 0 {
		return nil, d.Err()
	}
	layer := &Layer{File: file, Defaults: spec.Defaults, Groups: spec.Groups}
	checkSettings(d, &layer.Defaults, "defaults")
	for _, name := range slices.Sorted(maps.Keys(spec.Groups)) {
		g := spec.Groups[name]
		if g == nil {
			spec.Groups[name] = &Settings{}
			continue
		}
		checkSettings(d, g, strictyaml.JoinKey("groups", name))
	}
	inv := &Inventory{Files: []string{file}, Layers: []*Layer{layer}}
	seen := map[string]int{}
	for i := range spec.Hosts {
		hs := &spec.Hosts[i]
		path := strictyaml.JoinIndex("hosts", i)
		checkSettings(d, &hs.Settings, path)
		if hs.Name == "" {
			d.Errorf(hs.Pos.Value("name"), strictyaml.JoinKey(path, "name"), "host has no name")
		} else if strings.ContainsAny(hs.Name, " \t,=!@\"") {
			d.Errorf(hs.Pos.Value("name"), strictyaml.JoinKey(path, "name"), "host name %q contains a space or one of , = ! @ \"", hs.Name)
		} else if prev, dup := seen[strings.ToLower(hs.Name)]; dup {
			d.Errorf(hs.Pos.Value("name"), strictyaml.JoinKey(path, "name"), "duplicate host name %q (first defined at hosts[%d])", hs.Name, prev)
		} else {
			seen[strings.ToLower(hs.Name)] = i
		}
		addr, addrPort := checkAddress(d, hs, path)
		checkGroups(d, hs, spec.Groups, path)
		h := &Host{Name: hs.Name, Address: addr, Groups: hs.Groups, Source: file}
		layer.apply(h, &hs.Settings)
		if addrPort != 0 {
			h.Port = addrPort
		}
		checkHost(d, h, hs.Pos.Node, path)
		inv.Hosts = append(inv.Hosts, h)
	}
	if s := spec.Simulated; s != nil {
		p := "simulated"
		if s.Hosts < 1 || s.Hosts > 100000 {
			d.Errorf(s.Pos.Value("hosts"), strictyaml.JoinKey(p, "hosts"), "a simulated fleet needs between 1 and 100000 hosts, found %d", s.Hosts)
		}
		if s.Profile != "" && !slices.Contains(simProfiles, s.Profile) {
			d.Errorf(s.Pos.Value("profile"), strictyaml.JoinKey(p, "profile"), "unknown profile %q; expected one of %s", s.Profile, strings.Join(simProfiles, ", "))
		}
		if s.Transport != "" && !slices.Contains(transports, s.Transport) {
			d.Errorf(s.Pos.Value("transport"), strictyaml.JoinKey(p, "transport"), "unknown transport %q; expected one of %s", s.Transport, strings.Join(transports, ", "))
		}
		inv.Simulated = &Simulated{Hosts: s.Hosts, Profile: s.Profile, Scenario: resolvePath(file, s.Scenario), HTTPS: s.HTTPS, Transport: s.Transport, File: file}
	}
	if spec.EC2 != nil {
		spec.EC2.File = file
		inv.EC2 = append(inv.EC2, spec.EC2)
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return inv, nil
}

// checkAddress validates a host's address and returns its host part and
// the port it carries (0 if none). The address is never quoted in an error.
func checkAddress(d *strictyaml.Decoder, hs *hostSpec, path string) (string, int) {
	n, p := hs.Pos.Value("address"), strictyaml.JoinKey(path, "address")
	addr := strings.TrimSpace(hs.Address)
	if addr == "" {
		d.Errorf(n, p, "host %q has no address", hs.Name)
		return "", 0
	}
	host, port, err := splitAddress(addr)
	if err != nil {
		d.Errorf(n, p, "host %q: the address %v", hs.Name, err)
		return addr, 0
	}
	if port != 0 && hs.Port != nil && *hs.Port != port {
		d.Errorf(n, p, "host %q: the address carries port %d and port: says %d; give the port once", hs.Name, port, *hs.Port)
	}
	return host, port
}

// checkGroups refuses a host's reference to a group its file does not
// define: a typo would otherwise silently drop the group's settings.
func checkGroups(d *strictyaml.Decoder, hs *hostSpec, defined map[string]*Settings, path string) {
	names := slices.Sorted(maps.Keys(defined))
	for i, g := range hs.Groups {
		if _, ok := defined[g]; ok {
			continue
		}
		msg := fmt.Sprintf("host %q: group %q is not defined under groups: in this file", hs.Name, g)
		if sug := strictyaml.Suggest(g, names); sug != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", sug)
		} else {
			msg += fmt.Sprintf(" (a group used only as a label is declared empty: %s: {})", g)
		}
		d.Errorf(listItemNode(hs.Pos, "groups", i), strictyaml.JoinIndex(strictyaml.JoinKey(path, "groups"), i), "%s", msg)
	}
}

// checkSettings validates the values given at one level.
func checkSettings(d *strictyaml.Decoder, s *Settings, path string) {
	at := func(key string) (*yaml.Node, string) { return s.Pos.Value(key), strictyaml.JoinKey(path, key) }
	if s.Password != nil {
		n, p := at("password")
		d.Errorf(n, p, "passwords must not be written in an inventory; use password_env: VAR or password_file: PATH")
	}
	if s.PasswordEnv != nil && s.PasswordFile != nil {
		n, p := at("password_file")
		d.Errorf(n, p, "give either password_env or password_file, not both")
	}
	if s.Port != nil && (*s.Port < 1 || *s.Port > 65535) {
		n, p := at("port")
		d.Errorf(n, p, "port %d is out of range [1, 65535]", *s.Port)
	}
	if s.Auth != nil && !slices.Contains(authMethods, *s.Auth) {
		n, p := at("auth")
		msg := fmt.Sprintf("unknown auth %q; expected one of %s", *s.Auth, strings.Join(authMethods, ", "))
		if sug := strictyaml.Suggest(*s.Auth, authMethods); sug != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", sug)
		}
		d.Errorf(n, p, "%s", msg)
	}
	if s.Transport != nil && !slices.Contains(transports, *s.Transport) {
		n, p := at("transport")
		d.Errorf(n, p, "unknown transport %q; expected one of %s", *s.Transport, strings.Join(transports, ", "))
	}
	if s.OutputEncoding != nil && !KnownEncoding(*s.OutputEncoding) {
		n, p := at("output_encoding")
		d.Errorf(n, p, "unknown output encoding %q; use a name such as utf-8, cp932, shift_jis or windows-1252", *s.OutputEncoding)
	}
	if s.SPN != nil && !validSPN(*s.SPN) {
		n, p := at("spn")
		d.Errorf(n, p, "spn %q is no service principal name; write it as HTTP/<host DNS name>", *s.SPN)
	}
	if s.ConnectTimeout != nil && *s.ConnectTimeout == 0 {
		n, p := at("connect_timeout")
		d.Errorf(n, p, "connect_timeout must be more than zero")
	}
	if s.SSM != nil {
		s.SSM.check(d, strictyaml.JoinKey(path, "ssm"))
	}
}

// validSPN reports whether s looks like a service principal name,
// service/host with an optional @REALM: no white space, both parts
// non-empty.
func validSPN(s string) bool {
	service, host, ok := strings.Cut(s, "/")
	return ok && service != "" && host != "" && !strings.ContainsAny(s, " \t\r\n")
}

// checkHost validates the combination of settings a host ends up with.
func checkHost(d *strictyaml.Decoder, h *Host, node *yaml.Node, path string) {
	switch {
	case h.Auth == "basic" && !h.HTTPS && !h.AllowUnencrypted:
		d.Errorf(node, path, "host %q: basic auth over plain HTTP would send the password readably; use https: true, auth: ntlm, or set allow_unencrypted: true explicitly", h.Name)
	case h.Auth == "certificate" && !h.HTTPS:
		d.Errorf(node, path, "host %q: certificate auth needs https: true", h.Name)
	case h.Auth == "certificate" && (h.ClientCert == "" || h.ClientKey == ""):
		d.Errorf(node, path, "host %q: certificate auth needs client_cert and client_key", h.Name)
	case h.Transport == "ssm" && h.SSM.InstanceID == "" && h.Vars["instance_id"] != nil:
		d.Errorf(node, path, "host %q: vars are template variables and no longer name the SSM instance; give it as ssm: {instance_id: %v} (and the region as ssm: {region: ...})", h.Name, h.Vars["instance_id"])
	case h.SSM.OutputS3Prefix != "" && h.SSM.OutputS3Bucket == "":
		d.Errorf(node, path, "host %q: ssm output_s3_prefix needs output_s3_bucket", h.Name)
	case h.SSM.TransferPrefix != "" && h.SSM.TransferBucket == "":
		d.Errorf(node, path, "host %q: ssm transfer_prefix needs transfer_bucket", h.Name)
	}
}

// apply resolves a host's settings: defaults, then its groups in the order
// listed, then its own settings.
func (l *Layer) apply(h *Host, own *Settings) {
	h.Port, h.Auth, h.OutputEncoding, h.Transport = 0, "ntlm", "utf-8", "winrm"
	h.SSM = SSMSettings{}
	h.ConnectTimeout = 10 * time.Second
	h.Tags, h.Vars = map[string]string{}, map[string]any{}
	levels := []*Settings{&l.Defaults}
	for _, g := range h.Groups {
		if s := l.Groups[g]; s != nil {
			levels = append(levels, s)
		}
	}
	levels = append(levels, own)
	for _, s := range levels {
		s.applyTo(h, l.File)
	}
	if h.Port == 0 {
		h.Port = 5985
		if h.HTTPS {
			h.Port = 5986
		}
	}
}

// ApplyDefaults gives a host found by discovery (EC2, a simulated fleet) the
// settings of the first inventory layer: defaults and the groups it belongs
// to, with own applied last.
func (inv *Inventory) ApplyDefaults(h *Host, own *Settings) {
	l := &Layer{}
	if len(inv.Layers) > 0 {
		l = inv.Layers[0]
	}
	if own == nil {
		own = &Settings{}
	}
	l.apply(h, own)
}

func (s *Settings) applyTo(h *Host, file string) {
	setInt(&h.Port, s.Port)
	setBool(&h.HTTPS, s.HTTPS)
	setStr(&h.Auth, s.Auth)
	setStr(&h.User, s.User)
	if s.PasswordEnv != nil {
		h.PasswordEnv, h.PasswordFile = *s.PasswordEnv, ""
	}
	if s.PasswordFile != nil {
		h.PasswordFile, h.PasswordEnv = resolvePath(file, *s.PasswordFile), ""
	}
	if s.CAFile != nil {
		h.CAFile = resolvePath(file, *s.CAFile)
	}
	if s.ClientCert != nil {
		h.ClientCert = resolvePath(file, *s.ClientCert)
	}
	if s.ClientKey != nil {
		h.ClientKey = resolvePath(file, *s.ClientKey)
	}
	setBool(&h.InsecureSkipVerify, s.InsecureSkipVerify)
	setBool(&h.AllowUnencrypted, s.AllowUnencrypted)
	setStr(&h.OutputEncoding, s.OutputEncoding)
	if s.ConnectTimeout != nil {
		h.ConnectTimeout = *s.ConnectTimeout
	}
	setStr(&h.Transport, s.Transport)
	setStr(&h.SPN, s.SPN)
	if s.Keytab != nil {
		h.Keytab = resolvePath(file, *s.Keytab)
	}
	s.SSM.applyTo(&h.SSM)
	maps.Copy(h.Tags, s.Tags)
	maps.Copy(h.Vars, s.Vars)
}

func setInt(dst *int, v *int) {
	if v != nil {
		*dst = *v
	}
}

func setBool(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}

func setStr(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}
