package winrm

import (
	"encoding/xml"
	"strings"
	"sync"
	"unicode/utf8"
)

// encoding/xml's Decoder reads a document a byte at a time through an
// interface, allocates every name, attribute and text it returns and keeps
// a map of namespaces: reading the few fields of a small answer through it
// was a seventh of the controller's CPU and a third of its allocations.
// WinRM (and the simulator) write a plain subset of XML: elements with
// prefixed names, namespace declarations and quoted attributes, and text
// without entities. scanResponse reads that subset itself and hands the
// same tokens encoding/xml would produce to the same responseReader. At
// anything outside the subset (an entity, a comment, CDATA, a processing
// instruction other than a plain UTF-8 declaration, a name with characters
// beyond ASCII letters, digits, '_', '.' and '-', an unbound prefix,
// unusual spacing inside a tag, control characters, malformed UTF-8) it
// gives up and parseResponse uses encoding/xml, which decides whether the
// document is valid and what it says. FuzzScanResponse checks that
// whenever scanResponse answers, encoding/xml answers the same.

// xmlDeclarations are the XML declarations scanResponse accepts; any other
// is left to encoding/xml (which checks the version and the encoding).
var xmlDeclarations = []string{
	`<?xml version="1.0" encoding="utf-8"?>`,
	`<?xml version="1.0" encoding="UTF-8"?>`,
}

// nsBinding is a namespace prefix in scope ("" for the default namespace).
type nsBinding struct{ prefix, uri string }

// scanResponse parses body as parseResponseCut does when body keeps to
// the subset described above; ok is false when it does not, or when the
// response reader refused the document (then encoding/xml reads it again
// and reports the error as it always has).
func scanResponse(body []byte) (r *response, ok bool) {
	s := string(body) // names and texts below are slices of this one copy
	pos := 0
	for _, d := range xmlDeclarations {
		if strings.HasPrefix(s, d) {
			pos = len(d)
			break
		}
	}
	p := newResponseReader()
	st := scanStates.Get().(*scanState)
	defer scanStates.Put(st)
	var (
		open     = st.open[:0]   // raw names of the open elements
		scopes   = st.scopes[:0] // len(ns) when each open element started
		ns       = st.ns[:0]
		attrs    = st.attrs[:0]
		rootDone bool
	)
	// What grew beyond the state's arrays is kept for the next document.
	defer func() { st.open, st.scopes, st.ns, st.attrs = open[:0], scopes[:0], ns[:0], attrs[:0] }()
	for pos < len(s) {
		if s[pos] != '<' {
			end := strings.IndexByte(s[pos:], '<')
			if end < 0 {
				end = len(s)
			} else {
				end += pos
			}
			text, ok := scanText(s[pos:end])
			if !ok || (len(open) == 0 && !isXMLSpaceString(text)) {
				return nil, false
			}
			p.charData(text)
			pos = end
			continue
		}
		if pos+1 >= len(s) {
			return nil, false
		}
		if s[pos+1] == '/' {
			end := strings.IndexByte(s[pos:], '>')
			if end < 0 || len(open) == 0 || s[pos+2:pos+end] != open[len(open)-1] {
				return nil, false
			}
			if p.end() != nil {
				return nil, false
			}
			open = open[:len(open)-1]
			ns = ns[:scopes[len(scopes)-1]]
			scopes = scopes[:len(scopes)-1]
			rootDone = len(open) == 0
			pos += end + 1
			continue
		}
		if rootDone {
			return nil, false // a second root element
		}
		// A start tag: its name, then attributes, each after white space.
		raw, prefix, local, i := scanName(s, pos+1)
		if raw == "" {
			return nil, false
		}
		attrs = attrs[:0]
		scope := len(ns)
		selfClosing := false
		for {
			j := i
			for j < len(s) && isXMLSpace(s[j]) {
				j++
			}
			if j >= len(s) {
				return nil, false
			}
			if s[j] == '>' {
				i = j + 1
				break
			}
			if s[j] == '/' {
				if j+1 >= len(s) || s[j+1] != '>' {
					return nil, false
				}
				selfClosing = true
				i = j + 2
				break
			}
			if j == i {
				return nil, false // no space before the attribute
			}
			araw, aprefix, alocal, k := scanName(s, j)
			if araw == "" || k+1 >= len(s) || s[k] != '=' || (s[k+1] != '"' && s[k+1] != '\'') {
				return nil, false
			}
			q := strings.IndexByte(s[k+2:], s[k+1])
			if q < 0 {
				return nil, false
			}
			value := s[k+2 : k+2+q]
			if !plainAttrValue(value) {
				return nil, false
			}
			i = k + 2 + q + 1
			name := xml.Name{Space: aprefix, Local: alocal}
			switch {
			case aprefix == "xmlns":
				ns = append(ns, nsBinding{alocal, value})
			case aprefix == "" && alocal == "xmlns":
				ns = append(ns, nsBinding{"", value})
			}
			attrs = append(attrs, xml.Attr{Name: name, Value: value})
		}
		// The element's name in its namespace, as encoding/xml translates
		// it; prefixes it treats specially, and unbound ones, are left to
		// it.
		if prefix == "xmlns" || prefix == "xml" || (prefix == "" && local == "xmlns") {
			return nil, false
		}
		space, bound := lookupNS(ns, prefix)
		if !bound && prefix != "" {
			return nil, false
		}
		// Only attributes' local names are read (attr), so their
		// namespaces are not translated.
		if p.start(xml.StartElement{Name: xml.Name{Space: space, Local: local}, Attr: attrs}) != nil {
			return nil, false
		}
		open = append(open, raw)
		scopes = append(scopes, scope)
		pos = i
		if selfClosing {
			if p.end() != nil {
				return nil, false
			}
			open = open[:len(open)-1]
			ns = ns[:scope]
			scopes = scopes[:len(scopes)-1]
			rootDone = len(open) == 0
		}
	}
	if len(open) != 0 {
		return nil, false // unexpected EOF
	}
	r, err := p.finish()
	if err != nil {
		return nil, false
	}
	r.detach()
	return r, true
}

// scanState is scanResponse's working memory, reused across documents
// (scanStates) rather than allocated, or kept on the stacks of the
// thousands of goroutines that parse answers.
type scanState struct {
	open   []string
	scopes []int
	ns     []nsBinding
	attrs  []xml.Attr
}

var scanStates = sync.Pool{New: func() any {
	return &scanState{open: make([]string, 0, 16), scopes: make([]int, 0, 16), ns: make([]nsBinding, 0, 16), attrs: make([]xml.Attr, 0, 16)}
}}

// detach gives the response strings of its own: those scanResponse
// returns are slices of the whole answer, which a session keeping a shell
// or command ID would otherwise keep alive.
func (r *response) detach() {
	r.Action = strings.Clone(r.Action)
	r.ShellID = strings.Clone(r.ShellID)
	r.CommandID = strings.Clone(r.CommandID)
	for i := range r.Streams {
		r.Streams[i].Name = strings.Clone(r.Streams[i].Name)
	}
	if f := r.Fault; f != nil {
		f.Code, f.Subcode, f.Reason = strings.Clone(f.Code), strings.Clone(f.Subcode), strings.Clone(f.Reason)
		f.Message, f.Machine = strings.Clone(f.Message), strings.Clone(f.Machine)
	}
	if len(r.Elements) > 0 {
		elements := make(map[string]string, len(r.Elements))
		for k, v := range r.Elements {
			elements[strings.Clone(k)] = strings.Clone(v)
		}
		r.Elements = elements
	}
}

// lookupNS finds the innermost binding of prefix.
func lookupNS(ns []nsBinding, prefix string) (string, bool) {
	for i := len(ns) - 1; i >= 0; i-- {
		if ns[i].prefix == prefix {
			return ns[i].uri, true
		}
	}
	return "", false
}

// scanName reads a name at s[i]: one or two parts of ASCII name
// characters separated by a colon, each starting with a letter or '_'.
// It returns the whole name, the prefix ("" without one), the local part
// and the index after the name; raw is "" when there is no such name.
func scanName(s string, i int) (raw, prefix, local string, end int) {
	start := i
	colon := -1
	partStart := i
	for i < len(s) {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case c >= '0' && c <= '9', c == '.', c == '-':
			if i == partStart {
				return "", "", "", i
			}
		case c == ':':
			if colon >= 0 || i == partStart {
				return "", "", "", i
			}
			colon = i
			partStart = i + 1
		default:
			goto done
		}
		i++
	}
done:
	if i == partStart {
		return "", "", "", i // empty, or ends with a colon
	}
	raw = s[start:i]
	if colon < 0 {
		return raw, "", raw, i
	}
	return raw, s[start:colon], s[colon+1 : i], i
}

// scanText checks a run of character data and returns it as encoding/xml
// does: line endings normalised to "\n". ok is false for text outside the
// subset: an entity or character reference, "]]>", a character XML does
// not allow, or malformed UTF-8.
func scanText(t string) (string, bool) {
	cr := false
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '&':
			return "", false
		case c == '\r':
			cr = true
		case c == '>' && i >= 2 && t[i-1] == ']' && t[i-2] == ']':
			return "", false
		case c < 0x20 && c != '\t' && c != '\n':
			return "", false
		case c >= 0x80:
			// The rest goes through the slower check, which knows UTF-8.
			if !xmlUTF8(t[i:]) {
				return "", false
			}
			cr = cr || strings.IndexByte(t[i:], '\r') >= 0
			i = len(t)
		}
	}
	if !cr {
		return t, true
	}
	return string(normaliseNewlines([]byte(t))), true
}

// xmlUTF8 reports whether t is valid UTF-8 of characters XML allows
// (XML 1.0 §2.2), as encoding/xml checks them; the ASCII checks of the
// caller still apply to its ASCII bytes.
func xmlUTF8(t string) bool {
	for i := 0; i < len(t); {
		c := t[i]
		if c < 0x80 {
			switch {
			case c == '&', c == '>' && i >= 2 && t[i-1] == ']' && t[i-2] == ']', c < 0x20 && c != '\t' && c != '\n' && c != '\r':
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(t[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		if !xmlChar(r) {
			return false
		}
		i += size
	}
	return true
}

// xmlChar reports whether r is a character XML allows, beyond ASCII.
func xmlChar(r rune) bool {
	return r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// plainAttrValue reports whether an attribute value is one encoding/xml
// returns unchanged: printable ASCII without '<' or '&'.
func plainAttrValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f || c == '<' || c == '&' {
			return false
		}
	}
	return true
}

func isXMLSpaceString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isXMLSpace(s[i]) {
			return false
		}
	}
	return true
}
