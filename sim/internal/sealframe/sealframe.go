// Package sealframe reads and writes the MIME framing of WinRM message
// encryption ([MS-WSMV] 2.2.9.1): a multipart/encrypted body whose parts
// are pairs of a header part (the protocol and the plaintext's type and
// length) and a data part (a 4-byte little-endian length, the security
// token's header, then the sealed bytes). NTLM (2.2.9.1.1) and Kerberos
// (2.2.9.1.2) seal with different tokens in the same framing; the
// simulator's NTLM and Kerberos servers share it from here.
package sealframe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

const (
	// Boundary is the MIME boundary Windows writes.
	Boundary = "Encrypted Boundary"
	// OctetStream is the data part's Content-Type.
	OctetStream = "application/octet-stream"
)

// ContentType is the Content-Type of a sealed body, byte for byte as
// Windows writes it (clients such as bodgit/ntlmssp/http compare it
// exactly).
func ContentType(protocol string) string {
	return `multipart/encrypted;protocol="` + protocol + `";boundary="` + Boundary + `"`
}

// Part is one sealed message of an encrypted body.
type Part struct {
	// ContentType is the plaintext's type, from OriginalContent.
	ContentType string
	// Header is the security token before the data: NTLM's 16-byte
	// signature, a Kerberos wrap token's header.
	Header []byte
	// Data is the sealed bytes, as long as the plaintext.
	Data []byte
}

// Spec says what a server accepts.
type Spec struct {
	// Protocol is the header part's Content-Type
	// (application/HTTP-SPNEGO-session-encrypted, ...).
	Protocol string
	// CheckHeader judges the token header length a data part announces,
	// given how many bytes follow it; nil accepts any that fits.
	CheckHeader func(n, avail int) error
	// LengthMayCoverDataPart accepts bodgit/ntlmssp/http's framing, whose
	// Length is that of the whole data part (4 + header + sealed bytes)
	// and whose data part runs to the closing boundary.
	LengthMayCoverDataPart bool
}

// Parse parses a multipart/encrypted WinRM body with the given boundary:
//
//	--B\r\n
//	\tContent-Type: <protocol>\r\n
//	\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=N\r\n
//	--B\r\n
//	\tContent-Type: application/octet-stream\r\n
//	<uint32 LE header length><header><N sealed bytes>--B--\r\n
//
// The binary part is delimited by the lengths it carries, never by
// searching for the boundary, so sealed bytes that happen to contain it do
// no harm. Several header/data pairs may follow one another. Header lines
// may omit the leading tab; header names are case-insensitive.
func Parse(body []byte, boundary string, s Spec) ([]Part, error) {
	if boundary == "" {
		return nil, errors.New("encrypted message has no boundary parameter")
	}
	delim := "--" + boundary
	rest := body
	var parts []Part
	for {
		line, after, ok := cutLine(rest)
		if !ok {
			// The closing boundary may lack its final CR LF.
			line, after, ok = string(rest), nil, string(rest) == delim+"--"
		}
		if !ok {
			return nil, fmt.Errorf("encrypted message: expected %q, found %q", delim, Truncate(string(rest)))
		}
		if line == delim+"--" {
			if len(parts) == 0 {
				return nil, errors.New("encrypted message has no parts")
			}
			if len(after) != 0 {
				return nil, fmt.Errorf("encrypted message has %d bytes after the closing boundary", len(after))
			}
			return parts, nil
		}
		if line != delim {
			return nil, fmt.Errorf("encrypted message: expected boundary %q, found %q", delim, Truncate(line))
		}
		rest = after

		// Header part: Content-Type and OriginalContent, up to the next
		// boundary line.
		var ctype, original string
		for {
			line, after, ok = cutLine(rest)
			if !ok {
				return nil, errors.New("encrypted message ends inside the header part")
			}
			rest = after
			if line == delim {
				break
			}
			name, value, err := headerLine(line)
			if err != nil {
				return nil, err
			}
			switch strings.ToLower(name) {
			case "content-type":
				ctype = value
			case "originalcontent":
				original = value
			}
		}
		if !strings.EqualFold(ctype, s.Protocol) {
			return nil, fmt.Errorf("encrypted message header part has Content-Type %q, want %q", Truncate(ctype), s.Protocol)
		}
		origType, length, err := parseOriginalContent(original)
		if err != nil {
			return nil, err
		}

		// Data part: one header line, then the binary payload.
		line, after, ok = cutLine(rest)
		if !ok {
			return nil, errors.New("encrypted message ends before the data part header")
		}
		name, value, err := headerLine(line)
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(name, "content-type") || !strings.EqualFold(value, OctetStream) {
			return nil, fmt.Errorf("encrypted message data part starts with %q, want Content-Type: %s", Truncate(line), OctetStream)
		}
		// A conventional MIME writer puts an empty line here; the WinRM
		// framing does not. The binary starts with a small length, never
		// with CR LF, so skipping one is unambiguous.
		rest, _ = bytes.CutPrefix(after, []byte("\r\n"))
		if len(rest) < 4 {
			return nil, errors.New("encrypted message data part is shorter than its header length")
		}
		hl := int(binary.LittleEndian.Uint32(rest))
		rest = rest[4:]
		if s.CheckHeader != nil {
			if err := s.CheckHeader(hl, len(rest)); err != nil {
				return nil, err
			}
		}
		end := hl + length
		if hl > len(rest) || end > len(rest) || !bytes.HasPrefix(rest[end:], []byte(delim)) {
			closing, ok := closingBoundary(rest, delim)
			if !s.LengthMayCoverDataPart || !ok || closing < hl || 4+closing != length {
				return nil, fmt.Errorf("encrypted message data part: Length=%d does not fit its %d-byte header and the bytes before the next boundary", length, hl)
			}
			end = closing
		}
		parts = append(parts, Part{ContentType: origType, Header: rest[:hl], Data: rest[hl:end]})
		rest = rest[end:]
	}
}

// Append appends one sealed message in the framing Windows sends
// ([MS-WSMV] 2.2.9.1.1 and its example), closing boundary included.
func Append(b []byte, protocol, contentType string, plainLen int, header, data []byte) []byte {
	const dash = "--" + Boundary + "\r\n"
	b = append(b, dash...)
	b = append(b, "\tContent-Type: "+protocol+"\r\n"...)
	b = append(b, "\tOriginalContent: type="+contentType+";Length="...)
	b = strconv.AppendInt(b, int64(plainLen), 10)
	b = append(b, "\r\n"...)
	b = append(b, dash...)
	b = append(b, "\tContent-Type: "+OctetStream+"\r\n"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(header)))
	b = append(b, header...)
	b = append(b, data...)
	return append(b, "--"+Boundary+"--\r\n"...)
}

// closingBoundary returns where the closing boundary that ends b starts.
func closingBoundary(b []byte, delim string) (int, bool) {
	for _, closing := range []string{delim + "--\r\n", delim + "--"} {
		if bytes.HasSuffix(b, []byte(closing)) {
			return len(b) - len(closing), true
		}
	}
	return 0, false
}

// cutLine splits off one line ending in CR LF (or a bare LF).
func cutLine(b []byte) (line string, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return "", nil, false
	}
	return string(bytes.TrimSuffix(b[:i], []byte("\r"))), b[i+1:], true
}

// headerLine parses "\tName: value".
func headerLine(line string) (name, value string, err error) {
	name, value, ok := strings.Cut(strings.TrimLeft(line, " \t"), ":")
	if !ok || name == "" {
		return "", "", fmt.Errorf("encrypted message: malformed header line %q", Truncate(line))
	}
	return strings.TrimSpace(name), strings.TrimSpace(value), nil
}

// parseOriginalContent parses "type=application/soap+xml;charset=UTF-8;Length=1234".
func parseOriginalContent(v string) (contentType string, length int, err error) {
	if v == "" {
		return "", 0, errors.New("encrypted message header part has no OriginalContent")
	}
	var typ []string
	length = -1
	for _, f := range strings.Split(v, ";") {
		f = strings.TrimSpace(f)
		key, val, _ := strings.Cut(f, "=")
		switch {
		case strings.EqualFold(key, "length"):
			n, err := strconv.Atoi(strings.TrimSpace(val))
			if err != nil || n < 0 {
				return "", 0, fmt.Errorf("encrypted message OriginalContent Length %q is not a byte count", Truncate(val))
			}
			length = n
		case strings.EqualFold(key, "type"):
			typ = append(typ, strings.TrimSpace(val))
		case f != "":
			typ = append(typ, f)
		}
	}
	if length < 0 {
		return "", 0, fmt.Errorf("encrypted message OriginalContent %q has no Length", Truncate(v))
	}
	if len(typ) == 0 || typ[0] == "" {
		return "", 0, fmt.Errorf("encrypted message OriginalContent %q has no type", Truncate(v))
	}
	return strings.Join(typ, ";"), length, nil
}

// Truncate keeps error messages about garbage input short.
func Truncate(s string) string {
	const limit = 40
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
