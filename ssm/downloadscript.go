package ssm

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The download script's wire contract (docs/design.md, "Files to and from
// hosts"), until the launcher package renders the script itself: its
// marker, its single payload statement, and the lines it answers with.
//
// This build sends only the marker, the payload and a statement that
// fails loudly on a real Windows host (exit 2, a fleetrun-download: line
// on stderr); the simulated fleet recognises the marker and decodes the
// payload, never the rest of the text.

// downloadMarker is the download script's first line.
const downloadMarker = "# fleetrun-download v1"

// downloadPayload is a download as the script receives it.
type downloadPayload struct {
	URL     string
	Dest    string
	SHA256  string
	Retries int
	Proxy   string
}

// downloadDoc is the payload's JSON document.
type downloadDoc struct {
	V       int    `json:"v"`
	URL     string `json:"url"`
	Dest    string `json:"dest"`
	Tmp     string `json:"tmp"`
	SHA256  string `json:"sha256"`
	Retries int    `json:"retries"`
	Proxy   string `json:"proxy"`
}

// tmpName is where the script writes before it renames: the same name for
// the same bytes, so a retry reuses what an interrupted try left.
func tmpName(dest, sha256 string) string {
	return dest + ".fleetrun-" + sha256[:min(12, len(sha256))] + ".tmp"
}

// downloadScript returns the commands of a download.
func downloadScript(p downloadPayload) (string, error) {
	if !isSHA256(p.SHA256) {
		return "", fmt.Errorf("sha256 %q is not 64 lower-case hex digits", p.SHA256)
	}
	if strings.TrimSpace(p.Dest) == "" {
		return "", fmt.Errorf("download destination is empty")
	}
	if p.Retries < 0 {
		return "", fmt.Errorf("download to %s: negative retries %d", p.Dest, p.Retries)
	}
	doc, err := json.Marshal(downloadDoc{V: 1, URL: p.URL, Dest: p.Dest, Tmp: tmpName(p.Dest, p.SHA256), SHA256: p.SHA256, Retries: p.Retries, Proxy: p.Proxy})
	if err != nil {
		return "", fmt.Errorf("download to %s: %w", p.Dest, err)
	}
	return downloadMarker + "\n$fleetrunPayload = '" + base64.StdEncoding.EncodeToString(doc) + "'\n" +
		"[Console]::Error.WriteLine('fleetrun-download: this fleetrun build carries no download script')\nexit 2\n", nil
}

// isSHA256 reports whether s is 64 lower-case hex digits.
func isSHA256(s string) bool {
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

// downloadOutput is what the download script said on stdout.
type downloadOutput struct {
	// Unchanged: U, the destination already held the bytes.
	Unchanged bool
	// Done: D with the SHA-256 and size of what was downloaded.
	Done   bool
	SHA256 string
	Size   int64
	// Tries are the messages of the failed tries (T lines), in order.
	Tries []string
}

// parseDownloadOutput reads the download script's stdout: ASCII lines
// ending in LF (a CR before it is tolerated), U, T <try> <message> or
// D <sha256> <size>.
func parseDownloadOutput(out string) (downloadOutput, error) {
	var o downloadOutput
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		if l == "" && i == len(lines)-1 {
			break
		}
		if o.Unchanged || o.Done {
			return o, fmt.Errorf("download script: line %.80q after its final line", l)
		}
		tag, rest, _ := strings.Cut(l, " ")
		switch {
		case l == "U":
			o.Unchanged = true
		case tag == "T":
			n, msg, _ := strings.Cut(rest, " ")
			if k, err := strconv.Atoi(n); err != nil || k != len(o.Tries)+1 {
				return o, fmt.Errorf("download script: line %.80q does not number the next try", l)
			}
			o.Tries = append(o.Tries, msg)
		case tag == "D":
			sha, size, _ := strings.Cut(rest, " ")
			n, err := strconv.ParseInt(size, 10, 64)
			if !isSHA256(sha) || err != nil || n < 0 {
				return o, fmt.Errorf("download script: line %.80q carries no SHA-256 and size", l)
			}
			o.Done, o.SHA256, o.Size = true, sha, n
		default:
			return o, fmt.Errorf("download script: unexpected line %.80q", l)
		}
	}
	return o, nil
}
