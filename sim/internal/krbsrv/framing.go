package krbsrv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
)

// The WinRM message encryption framing of [MS-WSMV] 2.2.9.1. A Kerberos
// context seals with the protocol named for the scheme that set it up:
// application/HTTP-Kerberos-session-encrypted after the Kerberos scheme
// (2.2.9.1.2), application/HTTP-SPNEGO-session-encrypted after Negotiate
// (2.2.9.1.1), which is what pywinrm sends for Kerberos.
const (
	protocolKerberos = "application/HTTP-Kerberos-session-encrypted"
	protocolSPNEGO   = "application/HTTP-SPNEGO-session-encrypted"
	boundary         = "Encrypted Boundary"
	octetStream      = "application/octet-stream"
	soapContentType  = "application/soap+xml;charset=UTF-8"
	// maxHeaderLen bounds the wrap token header a part may announce.
	maxHeaderLen = 1024
)

// encryptedContentType is the Content-Type of a sealed answer, byte for
// byte as Windows writes it.
func encryptedContentType(protocol string) string {
	return `multipart/encrypted;protocol="` + protocol + `";boundary="` + boundary + `"`
}

// sealedProtocol returns the encryption protocol and boundary a request's
// Content-Type announces, or ok false for an unsealed request.
func sealedProtocol(contentType string) (protocol, bound string, ok bool) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/encrypted" {
		return "", "", false
	}
	for _, p := range []string{protocolKerberos, protocolSPNEGO} {
		if strings.EqualFold(params["protocol"], p) {
			return p, params["boundary"], true
		}
	}
	return "", "", false
}

// part is one sealed message of an encrypted body.
type part struct {
	contentType string
	header      []byte // wrap token header and the rotated bytes before the data
	data        []byte
}

// parseEncrypted parses a multipart/encrypted body:
//
//	--B\r\n
//	\tContent-Type: <protocol>\r\n
//	\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=N\r\n
//	--B\r\n
//	\tContent-Type: application/octet-stream\r\n
//	<uint32 LE header length><header><sealed data>--B--\r\n
//
// The sealed data is as long as the plaintext (N); several header/data
// pairs may follow one another.
func parseEncrypted(body []byte, protocol, bound string) ([]part, error) {
	if bound == "" {
		return nil, errors.New("encrypted message has no boundary parameter")
	}
	delim := "--" + bound
	rest := body
	var parts []part
	for {
		line, after, ok := cutLine(rest)
		if !ok {
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
			name, value, ok := strings.Cut(strings.TrimLeft(line, " \t"), ":")
			if !ok {
				return nil, fmt.Errorf("encrypted message: malformed header line %q", truncate(line))
			}
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "content-type":
				ctype = strings.TrimSpace(value)
			case "originalcontent":
				original = strings.TrimSpace(value)
			}
		}
		if !strings.EqualFold(ctype, protocol) {
			return nil, fmt.Errorf("encrypted message header part has Content-Type %q, want %q", truncate(ctype), protocol)
		}
		origType, length, err := parseOriginalContent(original)
		if err != nil {
			return nil, err
		}
		line, after, ok = cutLine(rest)
		if !ok || !strings.EqualFold(strings.TrimSpace(strings.TrimLeft(line, " \t")), "Content-Type: "+octetStream) {
			return nil, fmt.Errorf("encrypted message data part starts with %q, want Content-Type: %s", truncate(line), octetStream)
		}
		rest, _ = bytes.CutPrefix(after, []byte("\r\n"))
		if len(rest) < 4 {
			return nil, errors.New("encrypted message data part is shorter than its header length")
		}
		hl := int(binary.LittleEndian.Uint32(rest))
		rest = rest[4:]
		if hl < wrapHeaderLen || hl > maxHeaderLen || hl > len(rest) {
			return nil, fmt.Errorf("encrypted message announces a %d-byte wrap token header", hl)
		}
		end := hl + length
		if end > len(rest) || !bytes.HasPrefix(rest[end:], []byte(delim)) {
			return nil, fmt.Errorf("encrypted message data part: Length=%d does not fit the bytes before the next boundary", length)
		}
		parts = append(parts, part{contentType: origType, header: rest[:hl], data: rest[hl:end]})
		rest = rest[end:]
	}
}

// appendEncrypted appends one sealed message in the framing Windows sends,
// closing boundary included.
func appendEncrypted(b []byte, protocol, contentType string, plainLen int, header, data []byte) []byte {
	const dash = "--" + boundary + "\r\n"
	b = append(b, dash...)
	b = append(b, "\tContent-Type: "+protocol+"\r\n"...)
	b = append(b, "\tOriginalContent: type="+contentType+";Length="...)
	b = strconv.AppendInt(b, int64(plainLen), 10)
	b = append(b, "\r\n"...)
	b = append(b, dash...)
	b = append(b, "\tContent-Type: "+octetStream+"\r\n"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(header)))
	b = append(b, header...)
	b = append(b, data...)
	return append(b, "--"+boundary+"--\r\n"...)
}

func cutLine(b []byte) (line string, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return "", nil, false
	}
	return string(bytes.TrimSuffix(b[:i], []byte("\r"))), b[i+1:], true
}

// parseOriginalContent parses "type=application/soap+xml;charset=UTF-8;Length=1234".
func parseOriginalContent(v string) (contentType string, length int, err error) {
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
		case f != "":
			typ = append(typ, f)
		}
	}
	if length < 0 || len(typ) == 0 || typ[0] == "" {
		return "", 0, fmt.Errorf("encrypted message OriginalContent %q needs a type and a Length", truncate(v))
	}
	return strings.Join(typ, ";"), length, nil
}

func truncate(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
