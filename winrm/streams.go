package winrm

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"strings"
)

// Receive responses are mostly base64: up to 150 KB of it per response,
// and a megabyte of output is ten responses. encoding/xml examines
// character data byte by byte (entities, line endings, character ranges),
// which made it most of the cost of reading output. cutStreams takes the
// base64 text of Stream elements out of the document before the decoder
// sees it, and streamTokens hands it back to the caller as the CharData
// token the decoder would have produced, so parseResponse reads exactly
// the same tokens either way (FuzzParseResponseStreams checks this).

// minCutStreams is the body size from which cutting streams pays off.
const minCutStreams = 4 << 10

// cutStreams returns body without the text of every element whose local
// name is Stream and whose content is only base64 characters and XML
// whitespace followed by an end tag, and those texts, one entry per Stream
// start tag in document order (nil where nothing was cut). The line feeds
// of a cut text stay in place, so the decoder's line numbers (in its
// errors) do not change. ok is false, and
// body is to be parsed as it is, when nothing was cut or the document has
// anything but elements, attributes and text (comments, CDATA sections,
// processing instructions, a DOCTYPE): there a '<' need not start a tag, so
// the scan could not be sure which elements the decoder will see.
func cutStreams(body []byte) (stripped []byte, texts [][]byte, ok bool) {
	start := 0
	if bytes.HasPrefix(body, []byte("<?xml")) {
		end := bytes.Index(body, []byte("?>"))
		if end < 0 {
			return nil, nil, false
		}
		start = end + 2
	}
	if bytes.Contains(body[start:], []byte("<!")) || bytes.Contains(body[start:], []byte("<?")) {
		return nil, nil, false
	}
	var out []byte
	copied := 0 // body[:copied] is in out
	cut := false
	i := start
	for {
		lt := bytes.IndexByte(body[i:], '<')
		if lt < 0 {
			break
		}
		i += lt
		if i+1 >= len(body) || body[i+1] == '/' {
			i++
			continue
		}
		end, selfClosing, local := scanStartTag(body, i)
		if end < 0 {
			return nil, nil, false // malformed: let the decoder say so
		}
		if local != "Stream" {
			i = end
			continue
		}
		if selfClosing {
			texts = append(texts, nil)
			i = end
			continue
		}
		next := bytes.IndexByte(body[end:], '<')
		if next <= 0 || end+next+1 >= len(body) || body[end+next+1] != '/' || !isBase64Text(body[end:end+next]) {
			texts = append(texts, nil)
			i = end
			continue
		}
		text := body[end : end+next]
		texts = append(texts, text)
		out = append(out, body[copied:end]...)
		for range bytes.Count(text, []byte("\n")) {
			out = append(out, '\n')
		}
		copied = end + next
		cut = true
		i = end + next
	}
	if !cut {
		return nil, nil, false
	}
	out = append(out, body[copied:]...)
	return out, texts, true
}

// scanStartTag reads the start tag at body[i] ('<'): it returns the index
// just after its '>', whether it ends with "/>", and the local part of its
// name. Quoted attribute values may hold '>'. end is -1 when the tag does
// not end.
func scanStartTag(body []byte, i int) (end int, selfClosing bool, local string) {
	j := i + 1
	for j < len(body) && !isXMLSpace(body[j]) && body[j] != '>' && body[j] != '/' {
		j++
	}
	name := body[i+1 : j]
	if c := bytes.LastIndexByte(name, ':'); c >= 0 {
		name = name[c+1:]
	}
	var quote byte
	for ; j < len(body); j++ {
		c := body[j]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return j + 1, body[j-1] == '/', string(name)
		}
	}
	return -1, false, ""
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// isBase64Text reports whether b is non-empty and holds only the standard
// base64 alphabet, '=' and XML whitespace: text the decoder would hand
// over unchanged but for line endings.
func isBase64Text(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !base64Text[c] {
			return false
		}
	}
	return true
}

var base64Text = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \t\r\n") {
		t[c] = true
	}
	return t
}()

// streamTokens returns the tokens of a document that cutStreams stripped:
// the decoder's, with each cut text put back as the CharData that follows
// its Stream start tag (line endings normalised as the decoder does), in
// place of the line feeds left for it.
func streamTokens(dec *xml.Decoder, texts [][]byte) func() (xml.Token, error) {
	n := 0
	var pending []byte
	placeholder := false // the decoder's next token is the cut text's line feeds
	return func() (xml.Token, error) {
		if pending != nil {
			t := xml.CharData(pending)
			pending = nil
			return t, nil
		}
		tok, err := dec.Token()
		if placeholder {
			placeholder = false
			if _, ok := tok.(xml.CharData); ok && err == nil {
				tok, err = dec.Token()
			}
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "Stream" {
			if n < len(texts) && texts[n] != nil {
				pending = normaliseNewlines(texts[n])
				placeholder = bytes.IndexByte(texts[n], '\n') >= 0
			}
			n++
		}
		return tok, err
	}
}

// normaliseNewlines turns CRLF and lone CR into LF, as XML requires of
// character data (XML 1.0 §2.11).
func normaliseNewlines(b []byte) []byte {
	if bytes.IndexByte(b, '\r') < 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\r' {
			c = '\n'
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		}
		out = append(out, c)
	}
	return out
}

// decodeStream decodes a Stream's base64 text, ignoring white space. The
// decoder itself skips CR and LF, the only white space Windows puts there,
// so the text goes to it as it is first; only text it refuses is
// compacted and decoded again, which yields what decoding the compacted
// text always would have.
func decodeStream(text string) ([]byte, error) {
	if data, err := base64.StdEncoding.DecodeString(text); err == nil {
		return data, nil
	}
	return base64.StdEncoding.DecodeString(compactSpace(text))
}

// compactSpace is strings.Join(strings.Fields(s), ""): s without white
// space, in one pass when s is ASCII.
func compactSpace(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return strings.Join(strings.Fields(s), "")
		}
		if asciiSpace[c] {
			if b == nil {
				b = make([]byte, i, len(s))
				copy(b, s[:i])
			}
			continue
		}
		if b != nil {
			b = append(b, c)
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}

// asciiSpace is the ASCII white space strings.Fields splits on.
var asciiSpace = [256]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}
