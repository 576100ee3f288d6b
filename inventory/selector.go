package inventory

import (
	"fmt"
	"path"
	"strings"
)

// Selector chooses hosts by name, group and tags. A selector is a list of
// alternatives (OR); each alternative is a list of terms that must all match
// (AND). The zero Selector matches every host.
//
// Text form, as in playbook `hosts:` and `--limit`: terms separated by `,`
// must all match; a term is a name glob (`web-*`), a group (`@web`, glob
// allowed), `key=value` on tags (the value may be a glob and may be quoted
// with "..." when it contains `,` or `=`), or `all`; `!term` negates.
type Selector struct {
	alts [][]term
	text []string
}

type termKind int

const (
	termAll termKind = iota
	termName
	termGroup
	termTag
)

type term struct {
	kind    termKind
	negate  bool
	pattern string // name or group glob, or tag value glob
	key     string // tag key
}

// SelectorError is a problem in selector text; Offset is the 0-based byte
// offset of the offending term, so callers can point at it.
type SelectorError struct {
	Offset int
	Msg    string
}

func (e *SelectorError) Error() string { return e.Msg }

// ParseSelector parses one alternative (terms joined by `,`).
func ParseSelector(text string) (Selector, error) {
	terms, err := parseTerms(text)
	if err != nil {
		return Selector{}, err
	}
	return Selector{alts: [][]term{terms}, text: []string{text}}, nil
}

// Or combines selectors: a host matches when any of them matches. Or of no
// selectors is the zero Selector, which matches everything.
func Or(sels ...Selector) Selector {
	var out Selector
	for _, s := range sels {
		out.alts = append(out.alts, s.alts...)
		out.text = append(out.text, s.text...)
	}
	return out
}

// String returns the selector's source text; alternatives are joined by
// " | ". The zero Selector prints as "all".
func (s Selector) String() string {
	if len(s.text) == 0 {
		return "all"
	}
	return strings.Join(s.text, " | ")
}

// IsZero reports whether s is the match-everything selector.
func (s Selector) IsZero() bool { return len(s.alts) == 0 }

// Match reports whether h is selected.
func (s Selector) Match(h *Host) bool {
	if len(s.alts) == 0 {
		return true
	}
	for _, alt := range s.alts {
		if matchAll(alt, h) {
			return true
		}
	}
	return false
}

func matchAll(terms []term, h *Host) bool {
	for _, t := range terms {
		if t.match(h) == t.negate {
			return false
		}
	}
	return true
}

func (t term) match(h *Host) bool {
	switch t.kind {
	case termAll:
		return true
	case termName:
		return globMatch(strings.ToLower(t.pattern), strings.ToLower(h.Name))
	case termGroup:
		for _, g := range h.Groups {
			if globMatch(t.pattern, g) {
				return true
			}
		}
		return false
	case termTag:
		v, ok := h.Tags[t.key]
		return ok && globMatch(t.pattern, v)
	}
	return false
}

// globMatch matches shell-style patterns; patterns were validated at parse
// time, so an error cannot occur here.
func globMatch(pattern, s string) bool {
	ok, _ := path.Match(pattern, s)
	return ok
}

func parseTerms(text string) ([]term, error) {
	var terms []term
	start := 0
	for start <= len(text) {
		end, err := termEnd(text, start)
		if err != nil {
			return nil, err
		}
		t, err := parseTerm(text[start:end], start)
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
		start = end + 1
	}
	return terms, nil
}

// termEnd finds the `,` ending the term that starts at start, skipping
// quoted values.
func termEnd(text string, start int) (int, error) {
	inQuote := false
	for i := start; i < len(text); i++ {
		switch c := text[i]; {
		case c == '\\' && inQuote && i+1 < len(text):
			i++
		case c == '"':
			inQuote = !inQuote
		case c == ',' && !inQuote:
			return i, nil
		}
	}
	if inQuote {
		return 0, &SelectorError{Offset: start, Msg: fmt.Sprintf("unterminated quote in selector term %q", text[start:])}
	}
	return len(text), nil
}

func parseTerm(raw string, offset int) (term, error) {
	s := strings.TrimSpace(raw)
	offset += strings.Index(raw, s)
	fail := func(format string, args ...any) (term, error) {
		return term{}, &SelectorError{Offset: offset, Msg: fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return fail("empty selector term (check for a doubled or trailing comma)")
	}
	var t term
	if strings.HasPrefix(s, "!") {
		t.negate = true
		s = strings.TrimSpace(s[1:])
		if s == "" {
			return fail("`!` must be followed by a term")
		}
	}
	switch {
	case s == "all":
		t.kind = termAll
	case strings.HasPrefix(s, "@"):
		t.kind, t.pattern = termGroup, s[1:]
		if t.pattern == "" {
			return fail("`@` must be followed by a group name")
		}
	case strings.Contains(s, "="):
		k, v, _ := strings.Cut(s, "=")
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(v)
		if k == "" {
			return fail("tag term %q has no key before `=`", s)
		}
		if strings.HasPrefix(v, `"`) {
			uq, ok := unquote(v)
			if !ok {
				return fail("tag value %s: a quoted value must be one \"...\" string", v)
			}
			v = uq
		} else if strings.ContainsAny(v, `="`) {
			return fail("tag value %q contains `=` or `\"`; quote it like %s=\"...\"", v, k)
		}
		t.kind, t.key, t.pattern = termTag, k, v
	default:
		if strings.ContainsAny(s, ` "`) {
			return fail("host name pattern %q contains a space or quote", s)
		}
		t.kind, t.pattern = termName, s
	}
	if t.kind != termAll {
		if _, err := path.Match(t.pattern, ""); err != nil {
			return fail("bad pattern %q: %v", t.pattern, err)
		}
	}
	return t, nil
}

// unquote reads a "..." string with \" and \\ escapes; it must span all of s.
func unquote(s string) (string, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s)-1 {
			i++
			c = s[i]
		} else if c == '"' {
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), true
}
