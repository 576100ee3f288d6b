// Package winrm is fleetrun's WinRM transport: it implements
// transport.Session and transport.Dialer for Windows hosts reached over
// WS-Management (WinRS shells), with Basic, NTLM (with message encryption
// over HTTP), Kerberos and certificate authentication. It turns a step into
// the fixed PowerShell launcher plus a data payload (see docs/design.md,
// "The launcher contract"), runs it in one reused shell per host, decodes
// the output, and classifies every failure as a transport.Error.
//
// It leaves quoting rules to winquote, scheduling, retries and budgets to
// the runner, and fleet checks to preflight, which uses the session's
// GetWinRMConfig and GetOS.
//
// # How it uses masterzen/winrm
//
// The SOAP messages are built with masterzen/winrm's request builders and
// its soap package, once per kind of message: later messages splice their
// values into that template (templates.go). The HTTP exchange is this package's own, on one
// keep-alive connection per session that the session's goroutine uses
// synchronously (net/http writes requests and parses responses; see
// httpConn). masterzen/winrm's transports send requests without a
// context, and its NTLM encryption decorator posts through
// http.DefaultTransport (ignoring the endpoint's dialer and TLS settings)
// and never checks the HTTP status, so a fault on Receive would
// loop until the process dies. Kerberos comes from the library
// masterzen/winrm itself uses (jcmturner/gokrb5). Written here are the
// WS-Man framing of sealed messages ([MS-WSMV] 2.2.9.1), because
// bodgit/ntlmssp's MIME rewriting works line by line on binary data;
// NTLM's per-message sealing (ntlmseal.go), because bodgit/ntlmssp's
// allocated three copies of every message, a third of all the controller
// allocated with 1,000 hosts; and the NTLMv2 handshake's NEGOTIATE and
// AUTHENTICATE messages (ntlmclient.go), because bodgit/ntlmssp's client
// took 7.5% of the controller's CPU per host at 10,000 hosts (its AV
// pairs copied through encoding/gob, its messages encoded by reflection,
// session keys derived that were no longer used). ntlmClient sends what
// bodgit/ntlmssp's client sends, field for field, and hands the session
// key straight to the sealing. bodgit/ntlmssp still answers, with its
// own sealing or a session derived from its AUTHENTICATE message, the
// CHALLENGEs ntlmClient does not implement: no Unicode, no extended
// session security, signing without sealing, anonymous logons.
//
// Every request is bounded by its context: the request carries it, and the
// transport's dialer and TLS handshake honour it. Nothing above this package
// needs to match error strings.
package winrm
