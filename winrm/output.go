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

// StepEncoding returns the encoding a step's output_encoding forces, or
// nil for "auto" (and ""): output that is valid UTF-8 stays UTF-8, other
// output is decoded with the host's code page (see decodeAuto).
func StepEncoding(name string) (encoding.Encoding, error) {
	if n := strings.ToLower(strings.TrimSpace(name)); n == "" || n == "auto" {
		return nil, nil
	}
	return LookupEncoding(name)
}

// decodeAuto decodes a stream whose step says auto. cmd.exe's built-ins
// write the console's code page, which WinRS sets to what the client asks
// for (65001, UTF-8: the WINRS_CODEPAGE option of MS-WSMV's Create Shell,
// which winrs.exe -cp sets; docs/winrm-reference.md), and the
// launcher's PowerShell writes through the console too; programs that know
// nothing of consoles write the system's ANSI or OEM code page (932 on
// Japanese Windows; "Code Pages", learn.microsoft.com/windows/win32/intl/code-pages).
// Text in a legacy code page is almost never valid UTF-8, so valid UTF-8
// is taken as UTF-8 and anything else is decoded with host, the host's
// code page. head and tail are the kept bytes either side of the bytes
// capture dropped (tail nil when it dropped none): a character cut there
// does not count against UTF-8.
func decodeAuto(host encoding.Encoding, b []byte, head, tail []byte) string {
	if validUTF8Cut(head, false, tail != nil) && (tail == nil || validUTF8Cut(tail, true, false)) {
		return decodeOutput(unicode.UTF8, b)
	}
	return decodeOutput(host, b)
}

// validUTF8Cut reports whether b is valid UTF-8 once an incomplete
// character at a cut start (continuation bytes) or a cut end (a
// sequence's first bytes) is left out.
func validUTF8Cut(b []byte, cutStart, cutEnd bool) bool {
	if cutStart {
		for i := 0; i < utf8.UTFMax-1 && len(b) > 0 && !utf8.RuneStart(b[0]); i++ {
			b = b[1:]
		}
	}
	if cutEnd {
		for i := 1; i < utf8.UTFMax && i <= len(b); i++ {
			if utf8.RuneStart(b[len(b)-i]) {
				if !utf8.FullRune(b[len(b)-i:]) {
					b = b[:len(b)-i]
				}
				break
			}
		}
	}
	return utf8.Valid(b)
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

// decode turns what was kept into text: with step's encoding when the
// step names one, else as auto does with the host's code page. The whole
// stream is decoded at once, so a character that arrived in two Receive
// answers is decoded whole.
func (c *capture) decode(step, host encoding.Encoding) string {
	b := c.bytes()
	if step != nil {
		return decodeOutput(step, b)
	}
	if c.dropped == 0 {
		return decodeAuto(host, b, b, nil)
	}
	return decodeAuto(host, b, c.head, append(append([]byte(nil), c.tail[c.start:]...), c.tail[:c.start]...))
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
