package inventory

import (
	"regexp"
	"strings"

	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
)

var codePageRE = regexp.MustCompile(`^(?:cp|windows-?|ms)(\d+)$`)

// KnownEncoding reports whether name is an output encoding fleetrun can
// decode: a WHATWG or IANA encoding name (utf-8, shift_jis, windows-1252,
// euc-kr, ...) or a Windows code page written cpNNN / windows-NNN.
func KnownEncoding(name string) bool {
	return CanonicalEncoding(name) != ""
}

// CanonicalEncoding maps an output encoding name to the name the
// golang.org/x/text indexes know it by, or "" when it is unknown. cp932 and
// windows-31j map to shift_jis (the WHATWG decoder is the Windows variant).
func CanonicalEncoding(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" {
		return ""
	}
	switch n {
	case "cp932", "ms932", "windows-31j", "windows-932", "sjis":
		return "shift_jis"
	case "cp65001", "windows-65001", "utf8":
		return "utf-8"
	}
	if m := codePageRE.FindStringSubmatch(n); m != nil {
		for _, cand := range []string{"windows-" + m[1], "ibm" + m[1], "cp" + m[1]} {
			if lookupEncoding(cand) {
				return cand
			}
		}
		return ""
	}
	if lookupEncoding(n) {
		return n
	}
	return ""
}

func lookupEncoding(n string) bool {
	if e, err := htmlindex.Get(n); err == nil && e != nil {
		return true
	}
	e, err := ianaindex.IANA.Encoding(n)
	return err == nil && e != nil
}
