package krbsrv

import (
	"fmt"
	"mime"
	"strings"

	"github.com/fleetrun/fleetrun/sim/internal/sealframe"
)

// The WinRM message encryption framing of [MS-WSMV] 2.2.9.1. A Kerberos
// context seals with the protocol named for the scheme that set it up:
// application/HTTP-Kerberos-session-encrypted after the Kerberos scheme
// (2.2.9.1.2), application/HTTP-SPNEGO-session-encrypted after Negotiate
// (2.2.9.1.1), which is what pywinrm sends for Kerberos.
const (
	protocolKerberos = "application/HTTP-Kerberos-session-encrypted"
	protocolSPNEGO   = "application/HTTP-SPNEGO-session-encrypted"
	boundary         = sealframe.Boundary
	soapContentType  = "application/soap+xml;charset=UTF-8"
	// maxHeaderLen bounds the wrap token header a part may announce.
	maxHeaderLen = 1024
)

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

// parseEncrypted parses a multipart/encrypted body sealed with protocol
// (see sealframe.Parse for the framing); the token header a part
// announces must be a wrap token's, at most maxHeaderLen bytes.
func parseEncrypted(body []byte, protocol, bound string) ([]part, error) {
	ps, err := sealframe.Parse(body, bound, sealframe.Spec{Protocol: protocol, CheckHeader: func(n, avail int) error {
		if n < wrapHeaderLen || n > maxHeaderLen || n > avail {
			return fmt.Errorf("encrypted message announces a %d-byte wrap token header", n)
		}
		return nil
	}})
	if err != nil {
		return nil, err
	}
	parts := make([]part, len(ps))
	for i, p := range ps {
		parts[i] = part{contentType: p.ContentType, header: p.Header, data: p.Data}
	}
	return parts, nil
}

// appendEncrypted appends one sealed message in the framing Windows sends,
// closing boundary included.
func appendEncrypted(b []byte, protocol, contentType string, plainLen int, header, data []byte) []byte {
	return sealframe.Append(b, protocol, contentType, plainLen, header, data)
}
