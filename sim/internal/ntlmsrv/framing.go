package ntlmsrv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
)

// The WinRM message encryption framing of [MS-WSMV] 2.2.9.1.1.
const (
	encryptedProtocol = "application/HTTP-SPNEGO-session-encrypted"
	encryptedBoundary = "Encrypted Boundary"
	// encryptedContentType is the response Content-Type, byte for byte as
	// Windows sends it; bodgit/ntlmssp/http compares it exactly.
	encryptedContentType = `multipart/encrypted;protocol="` + encryptedProtocol + `";boundary="` + encryptedBoundary + `"`
	octetStream          = "application/octet-stream"
	soapContentType      = "application/soap+xml;charset=UTF-8"
)

// encryptedBoundaryOf reports whether a request Content-Type announces an
// encrypted WinRM message and returns its MIME boundary.
func encryptedBoundaryOf(contentType string) (string, bool) {
	if contentType == "" {
		return "", false
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		// Fall back to a plain substring test so a malformed header that
		// still claims the protocol is answered as a framing error (400),
		// not as an unauthenticated plaintext request.
		if strings.Contains(strings.ToLower(contentType), strings.ToLower(encryptedProtocol)) {
			return "", true
		}
		return "", false
	}
	if mt != "multipart/encrypted" || !strings.EqualFold(params["protocol"], encryptedProtocol) {
		return "", false
	}
	return params["boundary"], true
}

// encryptedPart is one sealed message of an encrypted body.
type encryptedPart struct {
	contentType string // from OriginalContent: type=...
	signature   []byte
	sealed      []byte
}

// parseEncrypted parses a multipart/encrypted WinRM body:
//
//	--B\r\n
//	\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n
//	\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=N\r\n
//	--B\r\n
//	\tContent-Type: application/octet-stream\r\n
//	<uint32 LE signature length><signature><N sealed bytes>--B--\r\n
//
// The binary part is delimited by the lengths it carries, never by
// searching for the boundary, so sealed bytes that happen to contain it do
// no harm. Several header/data pairs may follow one another. Header lines
// may omit the leading tab; header names are case-insensitive.
func parseEncrypted(body []byte, boundary string) ([]encryptedPart, error) {
	if boundary == "" {
		return nil, errors.New("encrypted message has no boundary parameter")
	}
	delim := "--" + boundary
	rest := body
	var parts []encryptedPart
	for {
		line, after, ok := cutLine(rest)
		if !ok {
			// The closing boundary may lack its final CR LF.
			line, after, ok = string(rest), nil, string(rest) == delim+"--"
		}
		if !ok {
			return nil, fmt.Errorf("encrypted message: expected %q, found %q", delim, truncate(string(rest)))
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
			return nil, fmt.Errorf("encrypted message: expected boundary %q, found %q", delim, truncate(line))
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
			if line == delim {
				rest = after
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
			rest = after
		}
		if !strings.EqualFold(ctype, encryptedProtocol) {
			return nil, fmt.Errorf("encrypted message header part has Content-Type %q, want %q", truncate(ctype), encryptedProtocol)
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
		if !strings.EqualFold(name, "content-type") || !strings.EqualFold(value, octetStream) {
			return nil, fmt.Errorf("encrypted message data part starts with %q, want Content-Type: %s", truncate(line), octetStream)
		}
		rest = after
		// A conventional MIME writer puts an empty line here; the WinRM
		// framing does not. The binary starts with a small length, never
		// with CR LF, so skipping one is unambiguous.
		rest, _ = bytes.CutPrefix(rest, []byte("\r\n"))
		if len(rest) < 4 {
			return nil, errors.New("encrypted message data part is shorter than its signature length")
		}
		sigLen := int(binary.LittleEndian.Uint32(rest))
		rest = rest[4:]
		if sigLen != signatureSize {
			return nil, fmt.Errorf("encrypted message signature length %d, want %d", sigLen, signatureSize)
		}
		end := sigLen + length
		if end > len(rest) || !bytes.HasPrefix(rest[end:], []byte(delim)) {
			// bodgit/ntlmssp/http puts the length of the whole data part
			// (4 + signature + sealed bytes) in Length; its data part then
			// runs to the closing boundary that ends the body.
			closing, ok := closingBoundary(rest, delim)
			if !ok || closing < sigLen || 4+closing != length {
				return nil, fmt.Errorf("encrypted message data part: Length=%d does not fit its %d-byte signature and the bytes before the next boundary", length, sigLen)
			}
			end = closing
		}
		parts = append(parts, encryptedPart{
			contentType: origType,
			signature:   rest[:sigLen],
			sealed:      rest[sigLen:end],
		})
		rest = rest[end:]
	}
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
		return "", "", fmt.Errorf("encrypted message: malformed header line %q", truncate(line))
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
				return "", 0, fmt.Errorf("encrypted message OriginalContent Length %q is not a byte count", truncate(val))
			}
			length = n
		case strings.EqualFold(key, "type"):
			typ = append(typ, strings.TrimSpace(val))
		default:
			typ = append(typ, f)
		}
	}
	if length < 0 {
		return "", 0, fmt.Errorf("encrypted message OriginalContent %q has no Length", truncate(v))
	}
	if len(typ) == 0 || typ[0] == "" {
		return "", 0, fmt.Errorf("encrypted message OriginalContent %q has no type", truncate(v))
	}
	return strings.Join(typ, ";"), length, nil
}

// appendEncrypted appends one sealed message in the framing Windows sends
// ([MS-WSMV] 2.2.9.1.1 and its example), closing boundary included.
func appendEncrypted(b []byte, contentType string, plainLen int, sig [signatureSize]byte, sealed []byte) []byte {
	const dash = "--" + encryptedBoundary + "\r\n"
	b = append(b, dash...)
	b = append(b, "\tContent-Type: "+encryptedProtocol+"\r\n"...)
	b = append(b, "\tOriginalContent: type="+contentType+";Length="...)
	b = strconv.AppendInt(b, int64(plainLen), 10)
	b = append(b, "\r\n"...)
	b = append(b, dash...)
	b = append(b, "\tContent-Type: "+octetStream+"\r\n"...)
	b = binary.LittleEndian.AppendUint32(b, signatureSize)
	b = append(b, sig[:]...)
	b = append(b, sealed...)
	return append(b, "--"+encryptedBoundary+"--\r\n"...)
}

// truncate keeps error messages about garbage input short.
func truncate(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
