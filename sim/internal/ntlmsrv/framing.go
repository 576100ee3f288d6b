package ntlmsrv

import (
	"fmt"
	"mime"
	"strings"

	"github.com/fleetrun/fleetrun/sim/internal/sealframe"
)

// The WinRM message encryption framing of [MS-WSMV] 2.2.9.1.1.
const (
	encryptedProtocol = "application/HTTP-SPNEGO-session-encrypted"
	encryptedBoundary = sealframe.Boundary
	soapContentType   = "application/soap+xml;charset=UTF-8"
)

// encryptedContentType is the response Content-Type, byte for byte as
// Windows sends it; bodgit/ntlmssp/http compares it exactly.
var encryptedContentType = sealframe.ContentType(encryptedProtocol)

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

// frameSpec is what an NTLM-sealed body must be: 16-byte signatures, and
// bodgit/ntlmssp/http's Length (the whole data part) accepted too.
var frameSpec = sealframe.Spec{
	Protocol:               encryptedProtocol,
	LengthMayCoverDataPart: true,
	CheckHeader: func(n, _ int) error {
		if n != signatureSize {
			return fmt.Errorf("encrypted message signature length %d, want %d", n, signatureSize)
		}
		return nil
	},
}

// parseEncrypted parses a multipart/encrypted WinRM body sealed by NTLM
// (see sealframe.Parse for the framing).
func parseEncrypted(body []byte, boundary string) ([]encryptedPart, error) {
	ps, err := sealframe.Parse(body, boundary, frameSpec)
	if err != nil {
		return nil, err
	}
	parts := make([]encryptedPart, len(ps))
	for i, p := range ps {
		parts[i] = encryptedPart{contentType: p.ContentType, signature: p.Header, sealed: p.Data}
	}
	return parts, nil
}

// appendEncrypted appends one sealed message in the framing Windows sends
// ([MS-WSMV] 2.2.9.1.1 and its example), closing boundary included.
func appendEncrypted(b []byte, contentType string, plainLen int, sig [signatureSize]byte, sealed []byte) []byte {
	return sealframe.Append(b, encryptedProtocol, contentType, plainLen, sig[:], sealed)
}
