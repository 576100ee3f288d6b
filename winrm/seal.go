package winrm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// WinRM message encryption framing ([MS-WSMV] 2.2.9.1.1, "Encrypted
// Message Types"): a sealed SOAP message travels as a two-part MIME body
// whose parts are separated by a fixed boundary. Windows writes the part
// headers with a leading tab and without the blank line MIME requires, and
// the second part is binary: a little-endian signature length, the NTLM
// signature, then the sealed message, as long as the plaintext (RC4 keeps
// the length), followed directly by the closing boundary.

const (
	sealBoundary    = "Encrypted Boundary"
	sealProtocol    = "application/HTTP-SPNEGO-session-encrypted"
	sealContentType = `multipart/encrypted;protocol="` + sealProtocol + `";boundary="` + sealBoundary + `"`
	soapContentType = "application/soap+xml;charset=UTF-8"
	// ntlmSignatureSize is the size of an NTLMSSP_MESSAGE_SIGNATURE.
	ntlmSignatureSize = 16
)

// frameSealed builds a sealed request body from the signature and the
// sealed message of a plaintext of length plainLen.
func frameSealed(signature, sealed []byte, plainLen int) []byte {
	var b bytes.Buffer
	b.Grow(sealedFrameLen(signature, sealed, plainLen))
	writeFrameSealed(&b, signature, sealed, plainLen)
	return b.Bytes()
}

// sealedFrameLen is the length of frameSealed's body.
func sealedFrameLen(signature, sealed []byte, plainLen int) int {
	return sealedFrameOverhead(plainLen) + len(signature) + len(sealed)
}

// sealedFrameOverhead is the length of the framing around the signature
// and the sealed message of a plaintext of length plainLen.
func sealedFrameOverhead(plainLen int) int {
	var num [20]byte
	return len(sealFrameStart) + len(strconv.AppendInt(num[:0], int64(plainLen), 10)) + len(sealFrameMiddle) + 4 + len(sealFrameEnd)
}

// The fixed text of the framing, around the plaintext's length and the
// binary part.
const (
	sealFrameStart  = "--" + sealBoundary + "\r\n\tContent-Type: " + sealProtocol + "\r\n\tOriginalContent: type=" + soapContentType + ";Length="
	sealFrameMiddle = "\r\n--" + sealBoundary + "\r\n\tContent-Type: application/octet-stream\r\n"
	sealFrameEnd    = "--" + sealBoundary + "--\r\n"
)

// writeFrameSealed writes frameSealed's body to b.
func writeFrameSealed(b *bytes.Buffer, signature, sealed []byte, plainLen int) {
	writeFrameHead(b, len(signature), plainLen)
	b.Write(signature)
	b.Write(sealed)
	b.WriteString(sealFrameEnd)
}

// writeFrameSealedInto writes the same body as writeFrameSealed for msg
// sealed by s, which seals it straight into b: no buffer of its own for
// the sealed message. sigSize is the length of s's signatures.
func writeFrameSealedInto(b *bytes.Buffer, s sealerInto, sigSize int, msg []byte) {
	writeFrameHead(b, sigSize, len(msg))
	b.Grow(sigSize + len(msg))
	p := b.AvailableBuffer()[:sigSize+len(msg)]
	s.sealInto(p[:sigSize], p[sigSize:], msg)
	b.Write(p) // p is b's own free space: this only takes it into b
	b.WriteString(sealFrameEnd)
}

// writeFrameHead writes the framing up to the signature: the first part,
// the second part's header and the signature's length.
func writeFrameHead(b *bytes.Buffer, sigLen, plainLen int) {
	b.WriteString(sealFrameStart)
	var num [20]byte
	b.Write(strconv.AppendInt(num[:0], int64(plainLen), 10))
	b.WriteString(sealFrameMiddle)
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(sigLen))
	b.Write(n[:])
}

// errFraming says a sealed body is not in the expected framing.
var errFraming = errors.New("malformed encrypted WinRM message")

// maxSealHeader bounds the signature (a Kerberos wrap token's header and
// trailer) a sealed body may announce.
const maxSealHeader = 1024

// unframeSealedSized splits a sealed response body into the signature
// (sigSize bytes: NTLM's 16; any size from 16 to maxSealHeader when sigSize
// is 0: a Kerberos wrap token's header) and the sealed message, using the
// declared plaintext length to find the end of the binary part exactly
// (the boundary text could occur inside it).
func unframeSealedSized(body []byte, sigSize int) (signature, sealed []byte, err error) {
	dash := []byte("--" + sealBoundary + "\r\n")
	rest, ok := bytes.CutPrefix(body, dash)
	if !ok {
		return nil, nil, fmt.Errorf("%w: no opening boundary", errFraming)
	}
	headers, rest, ok := bytes.Cut(rest, dash)
	if !ok {
		return nil, nil, fmt.Errorf("%w: no second part", errFraming)
	}
	length := -1
	for _, line := range strings.Split(string(headers), "\r\n") {
		name, value, found := strings.Cut(strings.TrimSpace(line), ":")
		if !found || !strings.EqualFold(strings.TrimSpace(name), "OriginalContent") {
			continue
		}
		_, l, found := strings.Cut(value, "Length=")
		if !found {
			return nil, nil, fmt.Errorf("%w: OriginalContent without Length", errFraming)
		}
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimRight(l, "; ")))
		if err != nil || n < 0 {
			return nil, nil, fmt.Errorf("%w: bad Length %q", errFraming, l)
		}
		length = n
	}
	if length < 0 {
		return nil, nil, fmt.Errorf("%w: no OriginalContent header", errFraming)
	}
	// The second part's header line, then the binary data.
	line, data, ok := bytes.Cut(rest, []byte("\r\n"))
	if !ok || !strings.EqualFold(strings.TrimSpace(string(line)), "Content-Type: application/octet-stream") {
		return nil, nil, fmt.Errorf("%w: second part is not application/octet-stream", errFraming)
	}
	if len(data) < 4 {
		return nil, nil, fmt.Errorf("%w: truncated signature length", errFraming)
	}
	sigLen := int(binary.LittleEndian.Uint32(data))
	if sigSize != 0 && sigLen != sigSize {
		return nil, nil, fmt.Errorf("%w: signature of %d bytes, want %d", errFraming, sigLen, sigSize)
	}
	if sigSize == 0 && (sigLen < 16 || sigLen > maxSealHeader) {
		return nil, nil, fmt.Errorf("%w: signature of %d bytes", errFraming, sigLen)
	}
	data = data[4:]
	if len(data) < sigLen+length {
		return nil, nil, fmt.Errorf("%w: %d bytes of sealed data, declared %d", errFraming, len(data)-sigLen, length)
	}
	signature, sealed, tail := data[:sigLen], data[sigLen:sigLen+length], data[sigLen+length:]
	if !bytes.HasPrefix(tail, []byte("--"+sealBoundary+"--")) {
		return nil, nil, fmt.Errorf("%w: no closing boundary after %d bytes", errFraming, length)
	}
	return signature, sealed, nil
}

// sealer is a security context's message protection: NTLM's or
// Kerberos'. wrap returns the signature (token header) and the sealed
// bytes; unwrap checks and opens them, and may do so in place (NTLM's
// does): sealed is not to be used after it.
type sealer interface {
	wrap(msg []byte) (sig, sealed []byte, err error)
	unwrap(sig, sealed []byte) ([]byte, error)
}

// sealerInto is a sealer that can also seal straight into the request
// body, sparing wrap's buffer: sealInto writes msg's signature to sig (as
// long as the sealer's signatures) and the sealed msg to dst (as long as
// msg).
type sealerInto interface {
	sealInto(sig, dst, msg []byte)
}

// sendSealed seals body, posts it and opens a sealed answer; answers that
// are not sealed (401, 400 and 413 carry no body) come back as they are.
// sigSize is the signature length the framing must carry (0: any).
// broken reports an answer that could not be unframed or opened: the
// context's state no longer matches the server's, and the caller drops it.
func sendSealed(ctx context.Context, ep *endpoint, body []byte, scheme string, s sealer, sigSize int) (reply *httpReply, broken bool, err error) {
	h := http.Header{}
	h.Set("Content-Type", sealContentType)
	plainLen := len(body)
	var n int
	var write func(*bytes.Buffer)
	if si, ok := s.(sealerInto); ok && sigSize > 0 {
		// Sealed as the request is written (once, when the connection
		// is there; if it is not, the context is dropped anyway).
		n = sealedFrameOverhead(plainLen) + sigSize + plainLen
		write = func(b *bytes.Buffer) { writeFrameSealedInto(b, si, sigSize, body) }
	} else {
		sig, sealed, err := s.wrap(body)
		if err != nil {
			return nil, false, fmt.Errorf("%s: seal message: %w", scheme, err)
		}
		n = sealedFrameLen(sig, sealed, plainLen)
		write = func(b *bytes.Buffer) { writeFrameSealed(b, sig, sealed, plainLen) }
	}
	reply, err = ep.doWith(ctx, h, n, write)
	if err != nil {
		return nil, false, err
	}
	if !strings.Contains(reply.header.Get("Content-Type"), `protocol="`+sealProtocol+`"`) {
		return reply, false, nil
	}
	sig, sealed, err := unframeSealedSized(reply.body, sigSize)
	if err != nil {
		return nil, true, err
	}
	plain, err := s.unwrap(sig, sealed)
	if err != nil {
		return nil, true, fmt.Errorf("%s: unseal response: %w", scheme, err)
	}
	reply.body = plain
	reply.header.Set("Content-Type", soapContentType)
	return reply, false, nil
}
