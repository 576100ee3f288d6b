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

// capture keeps the first max bytes written to it and remembers whether
// more came.
type capture struct {
	max       int
	buf       []byte
	truncated bool
}

func (c *capture) Write(p []byte) (int, error) {
	n := len(p)
	if room := c.max - len(c.buf); n > room {
		c.truncated = true
		p = p[:max(room, 0)]
	}
	c.buf = append(c.buf, p...)
	return n, nil
}
