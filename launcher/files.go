package launcher

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// File steps (copy, download, fetch) run fixed scripts of their own rather
// than the launcher: a copy's stdin carries the file's bytes and a fetch's
// stdout carries files, so neither can go through the launcher's payload
// and output handling. Each script is sent as powershell.exe
// -EncodedCommand with its payload inline (docs/design.md, "Files to and
// from hosts"); only a download whose payload does not fit the command
// line sends it on stdin, as the launcher does.

// The file scripts' commented sources; see copy.ps1, download.ps1 and
// fetch.ps1.
var (
	//go:embed copy.ps1
	copySource string
	//go:embed download.ps1
	downloadSource string
	//go:embed fetch.ps1
	fetchSource string
)

// The file scripts' first lines, which the simulator recognises them by.
const (
	CopyMarker     = "# fleetrun-copy v1"
	DownloadMarker = "# fleetrun-download v1"
	FetchMarker    = "# fleetrun-fetch v1"
)

// The file scripts as sent: without comments and indentation.
var (
	copyWire     = wireForm(copySource)
	downloadWire = wireForm(downloadSource)
	fetchWire    = wireForm(fetchSource)
)

// CopySource returns the commented source of the copy script, for review
// and syntax checks.
func CopySource() string { return copySource }

// DownloadSource returns the commented source of the download script.
func DownloadSource() string { return downloadSource }

// FetchSource returns the commented source of the fetch script.
func FetchSource() string { return fetchSource }

// Exit codes of the file scripts besides 0.
const (
	// FileExitBadInput: a bad payload, or a path the script cannot read
	// or write (its message says which).
	FileExitBadInput uint32 = 2
	// FileExitShort: a copy's stdin ended before size bytes.
	FileExitShort uint32 = 3
	// FileExitHashMismatch: the bytes that arrived have another SHA-256.
	FileExitHashMismatch uint32 = 4
	// FileExitTooLarge: a fetch's files hold more than max_bytes.
	FileExitTooLarge uint32 = 5
	// FileExitDownloadFailed: every try of a download failed.
	FileExitDownloadFailed uint32 = 6
)

// CopyPayload is one file of a copy step as the copy script receives it.
type CopyPayload struct {
	// Dest is the full Windows path the file ends at.
	Dest string
	// SHA256 is the file's lower-case hex SHA-256, Size its length.
	SHA256 string
	Size   int64
}

// DownloadPayload is a download step as the download script receives it.
type DownloadPayload struct {
	// URL is an http:// or https:// URL the host fetches.
	URL string
	// Dest is the full Windows path the file ends at.
	Dest string
	// SHA256 is the lower-case hex SHA-256 the file must have.
	SHA256 string
	// Retries is how many further tries follow a failed transfer.
	Retries int
	// Proxy is the HTTP proxy's URL; empty means the system's.
	Proxy string
}

// FetchPayload is a fetch step as the fetch script receives it.
type FetchPayload struct {
	// Src is a Windows path, or a pattern with * and ? in its last element.
	Src string
	// MaxBytes bounds the files' total size.
	MaxBytes int64
}

// The scripts' JSON documents; names are the contract in docs/design.md.
type copyDoc struct {
	V      int    `json:"v"`
	Dest   string `json:"dest"`
	Tmp    string `json:"tmp"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

type downloadDoc struct {
	V       int    `json:"v"`
	URL     string `json:"url"`
	Dest    string `json:"dest"`
	Tmp     string `json:"tmp"`
	SHA256  string `json:"sha256"`
	Retries int    `json:"retries"`
	Proxy   string `json:"proxy"`
}

type fetchDoc struct {
	V        int    `json:"v"`
	Src      string `json:"src"`
	MaxBytes int64  `json:"max_bytes"`
}

// TmpName is the temporary name a copy or download writes before it
// replaces dest: the same for the same bytes, so a retry reuses (and
// overwrites) what an interrupted try left.
func TmpName(dest, sha256 string) string {
	return dest + ".fleetrun-" + sha256[:min(12, len(sha256))] + ".tmp"
}

// maxRetries bounds a download's retries.
const maxRetries = 100

// RenderCopy renders the command that writes one file of a copy step: the
// copy script with p as its payload. Stdin is set: the file's bytes follow
// on stdin once the script has said W. It fails for a payload the script
// cannot carry, or one that makes the command line too long (a destination
// path far beyond Windows' 260 characters).
func RenderCopy(p CopyPayload) (Rendered, error) {
	if err := checkHostPath("copy destination", p.Dest, false); err != nil {
		return Rendered{}, err
	}
	if err := checkSHA256(p.SHA256); err != nil {
		return Rendered{}, fmt.Errorf("copy to %s: %w", p.Dest, err)
	}
	if p.Size < 0 {
		return Rendered{}, fmt.Errorf("copy to %s: negative size %d", p.Dest, p.Size)
	}
	b64, err := encodePayload(copyDoc{V: 1, Dest: p.Dest, Tmp: TmpName(p.Dest, p.SHA256), SHA256: p.SHA256, Size: p.Size})
	if err != nil {
		return Rendered{}, err
	}
	rc := RemoteCommand(withPayload(copyWire, b64))
	if err := fitsCommandLine(rc, "copy to "+p.Dest); err != nil {
		return Rendered{}, err
	}
	return Rendered{RemoteCommand: rc, Stdin: true}, nil
}

// RenderDownload renders the command of a download step: the download
// script with p as its payload, on the command line when it fits under
// opts.MaxCommandLine, else on stdin (Stdin set, Payload the text to
// send).
func RenderDownload(p DownloadPayload, opts RenderOptions) (Rendered, error) {
	b64, err := downloadPayload(p)
	if err != nil {
		return Rendered{}, err
	}
	limit := opts.MaxCommandLine
	if limit <= 0 {
		limit = DefaultMaxCommandLine
	}
	r := Rendered{payload: b64}
	if !opts.ForceStdin {
		r.RemoteCommand = RemoteCommand(withPayload(downloadWire, b64))
		if CommandLength(r.RemoteCommand) <= limit {
			return r, nil
		}
	}
	r.Stdin = true
	r.RemoteCommand = RemoteCommand(withPayload(downloadWire, ""))
	return r, nil
}

// DownloadScript returns the download script exactly as sent with p as its
// inline payload: the text a transport that runs scripts directly (AWS
// Systems Manager's AWS-RunPowerShellScript) sends as the commands.
func DownloadScript(p DownloadPayload) (string, error) {
	b64, err := downloadPayload(p)
	if err != nil {
		return "", err
	}
	return withPayload(downloadWire, b64), nil
}

// downloadPayload checks p and encodes its document.
func downloadPayload(p DownloadPayload) (string, error) {
	if err := checkHostPath("download destination", p.Dest, false); err != nil {
		return "", err
	}
	if err := checkURL("download url", p.URL, true); err != nil {
		return "", err
	}
	if err := checkURL("download proxy", p.Proxy, false); err != nil {
		return "", err
	}
	if err := checkSHA256(p.SHA256); err != nil {
		return "", fmt.Errorf("download to %s: %w", p.Dest, err)
	}
	if p.Retries < 0 || p.Retries > maxRetries {
		return "", fmt.Errorf("download to %s: retries %d is outside 0..%d", p.Dest, p.Retries, maxRetries)
	}
	return encodePayload(downloadDoc{V: 1, URL: p.URL, Dest: p.Dest, Tmp: TmpName(p.Dest, p.SHA256),
		SHA256: p.SHA256, Retries: p.Retries, Proxy: p.Proxy})
}

// RenderFetch renders the command of a fetch step: the fetch script with p
// as its payload. Nothing goes on stdin; the files come back on stdout as
// frames (see FetchSource).
func RenderFetch(p FetchPayload) (Rendered, error) {
	if err := checkHostPath("fetch source", p.Src, true); err != nil {
		return Rendered{}, err
	}
	if p.MaxBytes < 0 {
		return Rendered{}, fmt.Errorf("fetch %s: negative max_bytes %d", p.Src, p.MaxBytes)
	}
	b64, err := encodePayload(fetchDoc{V: 1, Src: p.Src, MaxBytes: p.MaxBytes})
	if err != nil {
		return Rendered{}, err
	}
	rc := RemoteCommand(withPayload(fetchWire, b64))
	if err := fitsCommandLine(rc, "fetch "+p.Src); err != nil {
		return Rendered{}, err
	}
	return Rendered{RemoteCommand: rc}, nil
}

// CopyText returns the copy script as sent, with payloadB64 as its
// payload literal.
func CopyText(payloadB64 string) string { return withPayload(copyWire, payloadB64) }

// DownloadText returns the download script as sent, with payloadB64 as its
// payload literal (empty: the payload comes on stdin).
func DownloadText(payloadB64 string) string { return withPayload(downloadWire, payloadB64) }

// FetchText returns the fetch script as sent, with payloadB64 as its
// payload literal.
func FetchText(payloadB64 string) string { return withPayload(fetchWire, payloadB64) }

func withPayload(wire, b64 string) string {
	return strings.Replace(wire, payloadStatement, "$fleetrunPayload = '"+b64+"'", 1)
}

// fitsCommandLine fails when rc is longer than the command line cmd.exe
// accepts (with DefaultMaxCommandLine's margin).
func fitsCommandLine(rc []string, what string) error {
	if n := CommandLength(rc); n > DefaultMaxCommandLine {
		return fmt.Errorf("%s: the command would be %d characters long, more than the %d a command line holds; shorten the path", what, n, DefaultMaxCommandLine)
	}
	return nil
}

// checkHostPath refuses what cannot be a Windows path: empty, invalid
// UTF-8, control characters, and (unless wildcards) * and ?.
func checkHostPath(what, p string, wildcards bool) error {
	switch {
	case strings.TrimSpace(p) == "":
		return fmt.Errorf("%s is empty", what)
	case !utf8.ValidString(p):
		return fmt.Errorf("%s %q is not valid UTF-8", what, p)
	case strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("%s %q contains a control character", what, p)
	case !wildcards && strings.ContainsAny(p, "*?"):
		return fmt.Errorf("%s %q contains a wildcard (* or ?)", what, p)
	case strings.ContainsAny(p, `"<>|`):
		return fmt.Errorf("%s %q contains a character Windows refuses in paths (\" < > |)", what, p)
	}
	return nil
}

// checkURL accepts an http:// or https:// URL without control
// characters; an empty one only when not required.
func checkURL(what, u string, required bool) error {
	if u == "" && !required {
		return nil
	}
	lower := strings.ToLower(u)
	switch {
	case u == "":
		return fmt.Errorf("%s is empty", what)
	case !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://"):
		return fmt.Errorf("%s %q is not an http:// or https:// URL", what, u)
	case !utf8.ValidString(u) || strings.ContainsFunc(u, func(r rune) bool { return r <= 0x20 || r == 0x7f }):
		return fmt.Errorf("%s %q contains spaces or control characters", what, u)
	}
	return nil
}

// checkSHA256 accepts 64 lower-case hex digits.
func checkSHA256(s string) error {
	if !IsSHA256(s) {
		return fmt.Errorf("sha256 %q is not 64 lower-case hex digits", s)
	}
	return nil
}

// IsSHA256 reports whether s is a SHA-256 as the scripts write it: 64
// lower-case hex digits.
func IsSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// FileOutput is what a copy or download script said on stdout.
type FileOutput struct {
	// Unchanged: the script printed U (dest already held the bytes).
	Unchanged bool
	// Ready: a copy script printed W (it waits for the bytes).
	Ready bool
	// Done: the script printed D; SHA256 is the hash it gave, Size the
	// size (downloads only).
	Done   bool
	SHA256 string
	Size   int64
	// Tries are the messages of a download's failed tries, in order.
	Tries []string
}

// ParseCopyOutput reads a copy script's stdout (all of it, or the lines
// that arrived so far: an incomplete last line is ignored).
func ParseCopyOutput(out []byte) (FileOutput, error) { return parseFileOutput("copy", out) }

// ParseDownloadOutput reads a download script's stdout.
func ParseDownloadOutput(out []byte) (FileOutput, error) { return parseFileOutput("download", out) }

func parseFileOutput(script string, out []byte) (FileOutput, error) {
	var o FileOutput
	lines := strings.Split(string(out), "\n")
	lines = lines[:len(lines)-1] // the text after the last LF is incomplete
	for _, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		if o.Unchanged || o.Done {
			return o, fmt.Errorf("%s script: line %.80q after its final line", script, l)
		}
		tag, rest, _ := strings.Cut(l, " ")
		switch {
		case l == "U" && script != "download":
			o.Unchanged = true
		case tag == "U" && script == "download":
			n, err := strconv.ParseInt(rest, 10, 64)
			if err != nil || n < 0 {
				return o, fmt.Errorf("download script: line %.80q carries no size", l)
			}
			o.Unchanged, o.Size = true, n
		case l == "W" && script == "copy" && !o.Ready:
			o.Ready = true
		case tag == "T" && script == "download":
			n, msg, _ := strings.Cut(rest, " ")
			if k, err := strconv.Atoi(n); err != nil || k != len(o.Tries)+1 {
				return o, fmt.Errorf("download script: line %.80q does not number the next try", l)
			}
			o.Tries = append(o.Tries, msg)
		case tag == "D" && script == "copy":
			if !IsSHA256(rest) {
				return o, fmt.Errorf("copy script: line %.80q carries no SHA-256", l)
			}
			o.Done, o.SHA256 = true, rest
		case tag == "D" && script == "download":
			sha, size, _ := strings.Cut(rest, " ")
			n, err := strconv.ParseInt(size, 10, 64)
			if !IsSHA256(sha) || err != nil || n < 0 {
				return o, fmt.Errorf("download script: line %.80q carries no SHA-256 and size", l)
			}
			o.Done, o.SHA256, o.Size = true, sha, n
		default:
			return o, fmt.Errorf("%s script: unexpected line %.80q", script, l)
		}
	}
	return o, nil
}
