package playbook

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/fleetrun/fleetrun/internal/strictyaml"
)

// File step kinds: the same strings as transport.KindCopy, KindDownload
// and KindFetch.
const (
	// KindCopy writes files from the controller to the host.
	KindCopy Kind = "copy"
	// KindDownload has the host download a URL itself.
	KindDownload Kind = "download"
	// KindFetch brings files from the host to the controller.
	KindFetch Kind = "fetch"
)

// IsFile reports whether k moves files rather than running a program.
func (k Kind) IsFile() bool { return k == KindCopy || k == KindDownload || k == KindFetch }

// Defaults and bounds of the file steps.
const (
	// DefaultDownloadRetries is how many further tries a host makes after
	// a failed download when the step does not say.
	DefaultDownloadRetries = 2
	// DefaultFetchMaxBytes bounds what one host sends back for a fetch
	// step when the step does not say (100 MiB).
	DefaultFetchMaxBytes int64 = 100 << 20
	// MaxFetchBytes is the largest max_bytes a fetch step may ask for
	// (64 GiB): a typo must not let a fleet fill the controller's disk.
	MaxFetchBytes int64 = 64 << 30
)

// Copy is a copy step's body: Src on the controller (a file or a folder,
// relative to the playbook's folder), Dest the Windows path on the host
// (a trailing backslash: into that folder), SHA256 the pinned hash of a
// file source (lower case), or "".
type Copy struct {
	Src, Dest, SHA256 string
}

// Download is a download step's body: the host fetches URL to Dest and
// keeps it only when its SHA-256 is SHA256 (lower case). Retries are
// further tries after a failed transfer; Proxy, when set, is the proxy
// URL the host uses.
type Download struct {
	URL, Dest, SHA256 string
	Retries           int
	Proxy             string
}

// Fetch is a fetch step's body: files matching Src on the host (a Windows
// path, * and ? allowed in its last element) land in DestDir/<host>/ on
// the controller; MaxBytes bounds one host's total; Optional makes no
// match not an error.
type Fetch struct {
	Src, DestDir string
	MaxBytes     int64
	Optional     bool
}

// The keys a file step takes beside its body; every other step setting
// is about running a program and is refused on file steps (and ignored
// when it comes from defaults).
var fileStepKeys = []string{"name", "timeout", "retries", "retry_delay", "continue_on_error"}

// programOnlyKeys are step keys that make no sense for a file step.
var programOnlyKeys = []string{"expect_exit", "retry_on_exit", "outcomes", "reboot_on", "env", "workdir", "run_as", "output_encoding"}

type copySpec struct {
	Pos    strictyaml.Pos
	Src    *string `yaml:"src"`
	Dest   *string `yaml:"dest"`
	SHA256 *string `yaml:"sha256"`
}

type downloadSpec struct {
	Pos     strictyaml.Pos
	URL     *string `yaml:"url"`
	Dest    *string `yaml:"dest"`
	SHA256  *string `yaml:"sha256"`
	Retries *int    `yaml:"retries"`
	Proxy   *string `yaml:"proxy"`
}

type fetchSpec struct {
	Pos      strictyaml.Pos
	Src      *string    `yaml:"src"`
	DestDir  *string    `yaml:"dest_dir"`
	MaxBytes *byteCount `yaml:"max_bytes"`
	Optional *bool      `yaml:"optional"`
}

// buildFileStep fills st from the step's copy, download or fetch body.
func buildFileStep(d *strictyaml.Decoder, sp *stepSpec, st *Step, path string) {
	key := strictyaml.JoinKey(path, string(st.Kind))
	body := sp.Pos.Value(string(st.Kind))
	for _, k := range programOnlyKeys {
		if sp.Pos.Has(k) {
			d.Errorf(sp.Pos.Keys[k], strictyaml.JoinKey(path, k), "a %s step takes no %s (file steps take %s)", st.Kind, k, strings.Join(fileStepKeys[1:], ", "))
		}
	}
	if strictyaml.IsNull(body) {
		return // the decoder reported it
	}
	// need reports a required key that is missing and returns its value.
	need := func(p strictyaml.Pos, v *string, k string) string {
		if v == nil {
			if !p.Has(k) {
				d.Errorf(p.Node, key, "%s needs %s (%s)", st.Kind, k, fileBodyKeys(st.Kind))
			}
			return ""
		}
		if strings.TrimSpace(*v) == "" {
			d.Errorf(p.Value(k), strictyaml.JoinKey(key, k), "%s is empty", k)
		}
		return *v
	}
	switch st.Kind {
	case KindCopy:
		c := &sp.Copy
		if c.Pos.Node == nil {
			return // the decoder reported why
		}
		st.Copy = &Copy{Src: need(c.Pos, c.Src, "src"), Dest: need(c.Pos, c.Dest, "dest")}
		st.addTemplate(d, strictyaml.JoinKey(key, "src"), c.Pos.Value("src"), st.Copy.Src)
		st.addTemplate(d, strictyaml.JoinKey(key, "dest"), c.Pos.Value("dest"), st.Copy.Dest)
		if c.SHA256 != nil {
			st.Copy.SHA256 = checkSHA256(d, c.Pos.Value("sha256"), strictyaml.JoinKey(key, "sha256"), *c.SHA256)
			st.pos[strictyaml.JoinKey(key, "sha256")] = c.Pos.Value("sha256")
		}
		checkLiteralWindowsPath(d, c.Pos.Value("dest"), strictyaml.JoinKey(key, "dest"), st.Copy.Dest, false)
	case KindDownload:
		c := &sp.Download
		if c.Pos.Node == nil {
			return
		}
		st.Download = &Download{URL: need(c.Pos, c.URL, "url"), Dest: need(c.Pos, c.Dest, "dest"), Retries: DefaultDownloadRetries}
		if c.SHA256 == nil {
			if !c.Pos.Has("sha256") {
				d.Errorf(c.Pos.Node, key, "download needs sha256: the host keeps the file only when its SHA-256 is the one given")
			}
		} else {
			st.Download.SHA256 = checkSHA256(d, c.Pos.Value("sha256"), strictyaml.JoinKey(key, "sha256"), *c.SHA256)
		}
		st.addTemplate(d, strictyaml.JoinKey(key, "url"), c.Pos.Value("url"), st.Download.URL)
		st.addTemplate(d, strictyaml.JoinKey(key, "dest"), c.Pos.Value("dest"), st.Download.Dest)
		if c.Retries != nil {
			if *c.Retries < 0 || *c.Retries > MaxRetries {
				d.Errorf(c.Pos.Value("retries"), strictyaml.JoinKey(key, "retries"), "retries must be between 0 and %d, found %d", MaxRetries, *c.Retries)
			} else {
				st.Download.Retries = *c.Retries
			}
		}
		if c.Proxy != nil {
			st.Download.Proxy = *c.Proxy
			if err := CheckProxy(*c.Proxy); err != nil {
				d.Errorf(c.Pos.Value("proxy"), strictyaml.JoinKey(key, "proxy"), "%v", err)
			}
		}
		if c.URL != nil && !strings.Contains(*c.URL, "{{") {
			if err := CheckURL(*c.URL); err != nil {
				d.Errorf(c.Pos.Value("url"), strictyaml.JoinKey(key, "url"), "%v", err)
			}
		}
		checkLiteralWindowsPath(d, c.Pos.Value("dest"), strictyaml.JoinKey(key, "dest"), st.Download.Dest, false)
		if strings.HasSuffix(st.Download.Dest, `\`) {
			d.Errorf(c.Pos.Value("dest"), strictyaml.JoinKey(key, "dest"), "download dest %s ends with a backslash; give the file's full path (the URL does not say the file's name)", quotePath(st.Download.Dest))
		}
	case KindFetch:
		c := &sp.Fetch
		if c.Pos.Node == nil {
			return
		}
		st.Fetch = &Fetch{Src: need(c.Pos, c.Src, "src"), DestDir: need(c.Pos, c.DestDir, "dest_dir"), MaxBytes: DefaultFetchMaxBytes}
		st.addTemplate(d, strictyaml.JoinKey(key, "src"), c.Pos.Value("src"), st.Fetch.Src)
		st.addTemplate(d, strictyaml.JoinKey(key, "dest_dir"), c.Pos.Value("dest_dir"), st.Fetch.DestDir)
		if c.MaxBytes != nil {
			st.Fetch.MaxBytes = c.MaxBytes.n
		}
		if c.Optional != nil {
			st.Fetch.Optional = *c.Optional
		}
		checkLiteralWindowsPath(d, c.Pos.Value("src"), strictyaml.JoinKey(key, "src"), st.Fetch.Src, true)
	}
}

func fileBodyKeys(k Kind) string {
	switch k {
	case KindCopy:
		return "src, dest and optionally sha256"
	case KindDownload:
		return "url, dest, sha256 and optionally retries and proxy"
	}
	return "src, dest_dir and optionally max_bytes and optional"
}

var sha256RE = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// checkSHA256 returns s in lower case, or reports that it is no SHA-256.
func checkSHA256(d *strictyaml.Decoder, n *yaml.Node, path, s string) string {
	if !sha256RE.MatchString(s) {
		d.Errorf(n, path, "sha256 must be 64 hexadecimal characters (a SHA-256 digest, e.g. from sha256sum or Get-FileHash), found %d characters %q", len(s), clipValue(s))
		return ""
	}
	return strings.ToLower(s)
}

// quotePath quotes a Windows path without doubling its backslashes, as
// %q would; a path with control characters is quoted by %q.
func quotePath(p string) string {
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '"' {
			return strconv.Quote(p)
		}
	}
	return `"` + p + `"`
}

func clipValue(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// checkLiteralWindowsPath checks a path written without templates now;
// a templated one is checked per host after expansion.
func checkLiteralWindowsPath(d *strictyaml.Decoder, n *yaml.Node, path, p string, pattern bool) {
	if p == "" || strings.Contains(p, "{{") {
		return
	}
	if err := CheckWindowsPath(p, pattern); err != nil {
		d.Errorf(n, path, "%v", err)
	}
}

var drivePathRE = regexp.MustCompile(`^[A-Za-z]:\\`)

// CheckWindowsPath reports whether p is an absolute Windows path: a drive
// letter (C:\...) or a UNC path (\\server\share\...), with backslashes,
// no . or .. elements and none of the characters Windows forbids in
// names. With pattern, * and ? are allowed in the last element (fetch).
// A trailing backslash is allowed (copy: into that folder).
func CheckWindowsPath(p string, pattern bool) error {
	var rest string
	switch {
	case drivePathRE.MatchString(p):
		rest = p[3:]
	case strings.HasPrefix(p, `\\`):
		parts := strings.SplitN(p[2:], `\`, 3)
		if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
			return fmt.Errorf("UNC path %s needs a server and a share (\\\\server\\share\\...)", quotePath(p))
		}
		if len(parts) == 3 {
			rest = parts[2]
		}
	case strings.Contains(p, "/") && (drivePathRE.MatchString(strings.ReplaceAll(p, "/", `\`)) || strings.HasPrefix(p, "//")):
		return fmt.Errorf("path %s uses forward slashes; write Windows paths with backslashes (C:\\dir\\file)", quotePath(p))
	default:
		return fmt.Errorf("path %s is not an absolute Windows path; give a drive letter (C:\\dir\\file) or a UNC path (\\\\server\\share\\file)", quotePath(p))
	}
	elems := strings.Split(rest, `\`)
	for i, e := range elems {
		last := i == len(elems)-1
		switch {
		case e == "" && last:
			continue // a trailing backslash
		case e == "":
			return fmt.Errorf("path %s has an empty element (two backslashes in a row)", quotePath(p))
		case e == "." || e == "..":
			return fmt.Errorf("path %s has a %q element; give the path without it", quotePath(p), e)
		}
		for _, r := range e {
			switch {
			case r < 0x20:
				return fmt.Errorf("path %s contains the control character %U", quotePath(p), r)
			case strings.ContainsRune(`<>:"/|`, r):
				return fmt.Errorf("path %s contains %q, which Windows does not allow in a file name", quotePath(p), r)
			case r == '*' || r == '?':
				if !pattern || !last {
					if pattern {
						return fmt.Errorf("path %s has %q before its last element; wildcards are allowed in the file name only", quotePath(p), r)
					}
					return fmt.Errorf("path %s contains %q, which Windows does not allow in a file name", quotePath(p), r)
				}
			}
		}
	}
	if pattern && strings.HasSuffix(p, `\`) {
		return fmt.Errorf("fetch src %s ends with a backslash; name a file or a pattern such as %s*.log", quotePath(p), p)
	}
	return nil
}

// CheckURL reports whether u is a URL a download step can fetch: https,
// http (the required sha256 protects it) or s3://bucket/key (over SSM).
func CheckURL(u string) error {
	pu, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("url %q does not parse: %w", clipValue(u), unwrapURLError(err))
	}
	switch pu.Scheme {
	case "https", "http":
		if pu.Host == "" {
			return fmt.Errorf("url %q has no host", clipValue(u))
		}
		if pu.User != nil {
			return fmt.Errorf("url carries a user name or password; they would be shown in reports and plans (use a presigned or token URL)")
		}
	case "s3":
		if pu.Host == "" || strings.Trim(pu.Path, "/") == "" {
			return fmt.Errorf("url %q: an s3 URL is s3://bucket/key", clipValue(u))
		}
	default:
		return fmt.Errorf("url %q: the scheme must be https, http or s3, found %q", clipValue(u), pu.Scheme)
	}
	return nil
}

// CheckProxy reports whether p is a proxy URL a host can use.
func CheckProxy(p string) error {
	pu, err := url.Parse(p)
	if err != nil {
		return fmt.Errorf("proxy %q does not parse: %w", clipValue(p), unwrapURLError(err))
	}
	if (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return fmt.Errorf("proxy %q must be an http:// or https:// URL with a host, such as http://proxy:3128", clipValue(p))
	}
	return nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// byteCount is max_bytes: a number of bytes, or a number with a unit
// (B, KB, MB, GB, TB in powers of 1000; KiB, MiB, GiB, TiB in powers of
// 1024).
type byteCount struct{ n int64 }

var byteUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

var byteCountRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)$`)

func (b *byteCount) UnmarshalStrictYAML(d *strictyaml.Decoder, n *yaml.Node, path string) {
	s, ok := d.String(n, path)
	if !ok {
		return
	}
	v, err := ParseBytes(s)
	if err != nil {
		d.Errorf(n, path, "%v", err)
		return
	}
	b.n = v
}

// ParseBytes reads a size such as 1048576, 50MiB or 1GB, from 1 byte to
// MaxFetchBytes.
func ParseBytes(s string) (int64, error) {
	m := byteCountRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("size %q: expected a number of bytes, optionally with a unit (B, KB, MB, GB, KiB, MiB, GiB), e.g. 50MiB", clipValue(s))
	}
	mult, ok := byteUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB", clipValue(s), m[2])
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, fmt.Errorf("size %q does not parse", clipValue(s))
	}
	v := f * mult
	if v < 1 || v > float64(MaxFetchBytes) {
		return 0, fmt.Errorf("size %q is out of range; expected from 1 byte to %s", clipValue(s), FormatBytes(MaxFetchBytes))
	}
	return int64(math.Round(v)), nil
}

// FormatBytes writes n with a binary unit: 512 B, 3.1 KiB, 100 MiB.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + string("KMGTP"[exp]) + "iB"
}

// LocalPath resolves a copy source against the playbook's folder (an
// absolute path stays as it is).
func (p *Playbook) LocalPath(src string) string {
	if filepath.IsAbs(src) {
		return filepath.Clean(src)
	}
	return filepath.Join(filepath.Dir(p.File), filepath.FromSlash(src))
}

// StepError is a problem with one of a step's values found after parsing
// (a copy source that is missing, say), positioned like parse errors:
// field is the key path under the step ("copy.src").
func (p *Playbook) StepError(s *Step, field, format string, args ...any) error {
	path := strictyaml.JoinKey(strictyaml.JoinIndex("steps", s.Index), field)
	d := strictyaml.NewDecoder(p.File)
	d.Errorf(s.pos[path], path, format, args...)
	return d.Err()
}
