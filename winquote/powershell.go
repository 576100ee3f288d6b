package winquote

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// psSingleQuotes are the characters PowerShell's tokenizer treats as a
// single quote: the apostrophe and the typographic quotes U+2018 (left),
// U+2019 (right), U+201A (low-9) and U+201B (high-reversed-9).
const psSingleQuotes = "'\u2018\u2019\u201a\u201b"

// PSSingleQuote returns s as a single-quoted (verbatim) PowerShell string
// literal, which PowerShell reads back as exactly s: nothing inside is
// expanded ($, `, @, ; and {} are literal, newlines included). Every
// character PowerShell takes for a single quote, the apostrophe and
// U+2018, U+2019, U+201A, U+201B, is doubled. The empty string gives a
// literal of two apostrophes.
func PSSingleQuote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for _, r := range s {
		if strings.ContainsRune(psSingleQuotes, r) {
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}

// EncodeCommand returns the argument powershell.exe -EncodedCommand takes
// for script: standard base64 (with padding) of its UTF-16LE encoding, with
// no byte order mark. Invalid UTF-8 in script is encoded as U+FFFD.
func EncodeCommand(script string) string {
	buf := make([]byte, 0, 2*len(script))
	for _, r := range script {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			buf = binary.LittleEndian.AppendUint16(buf, uint16(r1))
			buf = binary.LittleEndian.AppendUint16(buf, uint16(r2))
			continue
		}
		// RuneError for invalid UTF-8 lands here as U+FFFD too.
		buf = binary.LittleEndian.AppendUint16(buf, uint16(r))
	}
	return base64.StdEncoding.EncodeToString(buf)
}

// DecodeCommand reverses [EncodeCommand]: it decodes standard base64 (with
// padding) and then UTF-16LE, joining surrogate pairs. It returns an error
// for bad base64, an odd number of bytes, or an unpaired surrogate (which
// no Go string can hold).
func DecodeCommand(b64 string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", fmt.Errorf("decode encoded command: %w", err)
	}
	if len(raw)%2 != 0 {
		return "", fmt.Errorf("decode encoded command: %d bytes is not a whole number of UTF-16 code units", len(raw))
	}
	var b strings.Builder
	b.Grow(len(raw) / 2)
	for i := 0; i < len(raw); i += 2 {
		u := rune(binary.LittleEndian.Uint16(raw[i:]))
		switch {
		case utf16.IsSurrogate(u) && u < 0xdc00 && i+3 < len(raw):
			u2 := rune(binary.LittleEndian.Uint16(raw[i+2:]))
			r := utf16.DecodeRune(u, u2)
			if r == utf8.RuneError {
				return "", fmt.Errorf("decode encoded command: unpaired surrogate %U at byte %d", u, i)
			}
			b.WriteRune(r)
			i += 2
		case utf16.IsSurrogate(u):
			return "", fmt.Errorf("decode encoded command: unpaired surrogate %U at byte %d", u, i)
		default:
			b.WriteRune(u)
		}
	}
	return b.String(), nil
}
