package winrm

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
)

// DefaultOutputCap is how many bytes of each stream a Result keeps when
// Options.OutputCap is zero.
const DefaultOutputCap = 1 << 20

// codePages maps Windows code page numbers to their encodings where the
// WHATWG names (windows-125x and friends) do not cover them.
var codePages = map[int]encoding.Encoding{
	437: charmap.CodePage437, 850: charmap.CodePage850, 852: charmap.CodePage852,
	855: charmap.CodePage855, 858: charmap.CodePage858, 860: charmap.CodePage860,
	862: charmap.CodePage862, 863: charmap.CodePage863, 865: charmap.CodePage865,
	866: charmap.CodePage866, 874: charmap.Windows874,
	932: japanese.ShiftJIS, 936: simplifiedchinese.GBK, 949: korean.EUCKR,
	950: traditionalchinese.Big5, 1200: unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM),
	1201: unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), 65001: unicode.UTF8,
}

// LookupEncoding returns the text encoding a host's output is decoded with,
// by name: "" and "utf-8" mean UTF-8; Windows code pages are accepted as
// cpNNN, windows-NNN or ibmNNN (cp932 is Shift JIS as Windows extends it);
// otherwise any WHATWG or IANA name (shift_jis, euc-jp, iso-8859-1).
func LookupEncoding(name string) (encoding.Encoding, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	switch n {
	case "", "utf-8", "utf8":
		return unicode.UTF8, nil
	}
	for _, prefix := range []string{"cp", "windows-", "ibm", "ms"} {
		if rest, ok := strings.CutPrefix(n, prefix); ok {
			if num, err := strconv.Atoi(rest); err == nil {
				if e, ok := codePages[num]; ok {
					return e, nil
				}
				if e, err := htmlindex.Get("windows-" + rest); err == nil {
					return e, nil
				}
			}
		}
	}
	if e, err := htmlindex.Get(n); err == nil {
		return e, nil
	}
	if e, err := ianaindex.IANA.Encoding(n); err == nil && e != nil {
		return e, nil
	}
	return nil, fmt.Errorf("unknown output encoding %q (use utf-8, a Windows code page such as cp932 or cp1252, or an IANA name such as shift_jis)", name)
}

// decodeOutput decodes a stream's bytes; bytes that are not valid in the
// encoding become U+FFFD, so the result is always valid UTF-8.
func decodeOutput(enc encoding.Encoding, b []byte) string {
	if enc == unicode.UTF8 {
		if utf8.Valid(b) {
			return string(b) // one copy instead of ToValidUTF8's and string's
		}
		return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		// x/text decoders substitute rather than fail; keep the bytes
		// readable if one does not.
		return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
	}
	return string(bytes.ToValidUTF8(out, []byte("\uFFFD")))
}

// capture keeps at most max bytes of a stream for the Result: the first
// quarter and the last three quarters of the cap, because a failing
// program's reason is usually at its end. When bytes were dropped between
// the two, a marker line says how many, and truncated is set. The
// Command's own writers still receive every byte.
//
// It never holds more than max bytes: with a thousand hosts writing
// megabytes each, what it keeps is most of the controller's memory.
type capture struct {
	max  int
	head []byte
	// tail holds the latest bytes after the head, up to tailMax; once
	// full it is a ring whose oldest byte is at start.
	tail      []byte
	start     int
	dropped   int64
	truncated bool
}

func (c *capture) headMax() int { return c.max / 4 }
func (c *capture) tailMax() int { return c.max - c.headMax() }

func (c *capture) Write(p []byte) (int, error) {
	n := len(p)
	c.head, p = fill(c.head, p, c.headMax())
	tm := c.tailMax()
	c.tail, p = fill(c.tail, p, tm)
	if len(p) == 0 {
		return n, nil
	}
	// The tail is full: the newest bytes replace the oldest.
	c.truncated = true
	c.dropped += int64(len(p))
	if tm == 0 {
		return n, nil
	}
	if len(p) >= tm {
		copy(c.tail, p[len(p)-tm:])
		c.start = 0
		return n, nil
	}
	k := copy(c.tail[c.start:], p)
	copy(c.tail, p[k:])
	c.start = (c.start + len(p)) % tm
	return n, nil
}

// fill appends to dst what fits of p below limit bytes, growing dst as
// append would but never past limit, and returns the rest of p.
func fill(dst, p []byte, limit int) ([]byte, []byte) {
	k := min(limit-len(dst), len(p))
	if k <= 0 {
		return dst, p
	}
	if len(dst)+k > cap(dst) {
		grown := make([]byte, len(dst), min(limit, max(2*cap(dst), len(dst)+k)))
		copy(grown, dst)
		dst = grown
	}
	return append(dst, p[:k]...), p[k:]
}

// bytes returns what was kept: head, a marker when bytes were dropped, and
// tail.
func (c *capture) bytes() []byte {
	out := make([]byte, 0, len(c.head)+len(c.tail)+128)
	out = append(out, c.head...)
	if c.dropped > 0 {
		out = append(out, fmt.Sprintf("\r\n[... fleetrun kept the first and last bytes of this output; %d bytes in between are in --log-dir ...]\r\n", c.dropped)...)
	}
	out = append(out, c.tail[c.start:]...)
	return append(out, c.tail[:c.start]...)
}
