package winrm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"syscall"

	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/winquote"
)

// ErrShellGone is wrapped by errors for a shell or command the host no
// longer knows (WS-Man fault 2150858843): closed by its idle timeout, by a
// restart, or by someone else.
var ErrShellGone = errors.New("the WinRS shell is gone")

// classifyNetError turns an error of an HTTP exchange into a classified
// error. ctx is the exchange's context: when it ended, that is the cause,
// whatever the transport reported.
func classifyNetError(ctx context.Context, host string, err error) *transport.Error {
	if cerr := ctx.Err(); cerr != nil {
		return contextError(ctx, host)
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		e := &transport.Error{Class: transport.ClassDNS, Err: err,
			Message: fmt.Sprintf("cannot resolve host name %q: %s", dnsErr.Name, dnsErr.Err)}
		if dnsErr.IsNotFound {
			e.Hint = "check the host's address in the inventory, or that the controller's DNS knows it"
		} else {
			e.Transient = true
		}
		return e
	}
	if tlsErr := classifyTLS(host, err); tlsErr != nil {
		return tlsErr
	}
	var opErr *net.OpError
	isDial := errors.As(err, &opErr) && opErr.Op == "dial"
	switch {
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, syscall.EPIPE):
		// The same fault reads alike whether it struck while connecting
		// (during the TLS handshake, say) or later.
		return &transport.Error{Class: transport.ClassConnectionLost, Transient: true, Err: err,
			Message: fmt.Sprintf("connection to %s was lost: %v", host, err),
			Hint:    "the host or something between (a firewall, a load balancer) closed the connection; a new attempt reconnects"}
	case isDial && errors.Is(err, syscall.ECONNREFUSED):
		return &transport.Error{Class: transport.ClassRefused, Transient: true, Err: err,
			Message: fmt.Sprintf("connection to %s refused", host),
			Hint:    "check that the WinRM service runs and listens on this port (winrm quickconfig; 5985 for HTTP, 5986 for HTTPS) and that no firewall rejects it"}
	case isDial && isTimeout(err):
		return &transport.Error{Class: transport.ClassConnectTimeout, Transient: true, Err: err,
			Message: fmt.Sprintf("connecting to %s timed out", host),
			Hint:    "check that the host is up and that a firewall or security group lets the controller reach the WinRM port"}
	case isDial && (errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)):
		return &transport.Error{Class: transport.ClassConnectTimeout, Transient: true, Err: err,
			Message: fmt.Sprintf("host %s is unreachable: %v", host, opErr.Err),
			Hint:    "check the address and the routes between the controller and the host"}
	case isDial:
		return &transport.Error{Class: transport.ClassRefused, Transient: true, Err: err,
			Message: fmt.Sprintf("cannot connect to %s: %v", host, opErr.Err)}
	case isTimeout(err):
		return &transport.Error{Class: transport.ClassTimeout, Transient: true, Err: err,
			Message: fmt.Sprintf("%s did not answer in time", host)}
	}
	return &transport.Error{Class: transport.ClassInternal, Err: err, Message: fmt.Sprintf("request to %s failed: %v", host, err)}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// contextError is the error for an operation cut short by its context: a
// deadline is a timeout, a cancellation an interruption.
func contextError(ctx context.Context, host string) *transport.Error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &transport.Error{Class: transport.ClassTimeout, Err: ctx.Err(),
			Message: fmt.Sprintf("operation on %s did not finish within its timeout", host)}
	}
	return &transport.Error{Class: transport.ClassInterrupted, Err: ctx.Err(),
		Message: fmt.Sprintf("operation on %s was interrupted", host)}
}

// classifyTLS names the certificate problem of a TLS failure, or returns
// nil when err is not one.
func classifyTLS(host string, err error) *transport.Error {
	mk := func(msg, hint string) *transport.Error {
		return &transport.Error{Class: transport.ClassTLS, Err: err, Message: msg, Hint: hint}
	}
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var header tls.RecordHeaderError
	var alert tls.AlertError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &unknown):
		return mk(fmt.Sprintf("the certificate of %s is signed by an unknown authority (%s)", host, certName(unknown.Cert)),
			"give the CA that signed the host's certificate as ca_file in the inventory, or set insecure_skip_verify for a test host")
	case errors.As(err, &hostname):
		return mk(fmt.Sprintf("the certificate of %s is not valid for %q: %s", host, hostname.Host, hostname.Error()),
			"connect with a name the certificate lists, or issue the WinRM listener a certificate for this name or address")
	case errors.As(err, &invalid):
		reason := invalid.Error()
		hint := "renew the WinRM listener's certificate"
		if invalid.Reason == x509.Expired {
			reason = fmt.Sprintf("the certificate of %s (%s) has expired or is not yet valid", host, certName(invalid.Cert))
			hint = "renew the WinRM listener's certificate, or check the clocks of the host and the controller"
		}
		return mk(reason, hint)
	case errors.As(err, &header), errors.Is(err, http.ErrSchemeMismatch):
		return mk(fmt.Sprintf("%s did not answer with TLS", host),
			"the port probably serves plain HTTP: use https: false with port 5985, or the HTTPS listener's port (5986)")
	case errors.As(err, &alert):
		return mk(fmt.Sprintf("%s refused the TLS handshake: %v", host, alert),
			"check the TLS versions the host allows and, for certificate authentication, the client certificate")
	case isRemoteTLSAlert(err):
		return mk(fmt.Sprintf("%s refused the TLS handshake: %v", host, errors.Unwrap(err)),
			"for certificate authentication check client_cert and client_key and that the host maps the certificate to a user; otherwise check the TLS versions and ciphers the host allows")
	case errors.As(err, &verify):
		return mk(fmt.Sprintf("the certificate of %s cannot be verified: %v", host, verify.Err), "check ca_file and the host's certificate")
	}
	return nil
}

// isRemoteTLSAlert reports an alert the server sent during the handshake
// (crypto/tls returns it as a net.OpError with Op "remote error").
func isRemoteTLSAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

func certName(c *x509.Certificate) string {
	if c == nil {
		return "no certificate"
	}
	return "subject " + c.Subject.String() + ", issuer " + c.Issuer.String()
}

// faultError classifies a WS-Man fault; op names the operation (Create,
// Command, Receive, ...).
func faultError(host, op string, f *fault) *transport.Error {
	e := &transport.Error{Class: transport.ClassWSManFault, Code: f.WSManCode,
		Message: fmt.Sprintf("%s on %s failed: %s", op, host, f.text())}
	switch f.WSManCode {
	case CodeShellNotFound:
		e.Transient = true
		e.Err = ErrShellGone
		e.Hint = "the shell was closed on the host (its IdleTimeout passed, the host restarted, or another client deleted it); a new attempt opens a new shell"
	case CodeMaxShellsPerUser:
		e.Transient = true
		cmdLine, psLine := quotaCommands("MaxShellsPerUser", "30")
		e.Hint = "the user has as many WinRS shells open as winrm/config/winrs MaxShellsPerUser allows; close other sessions of this user, or raise the quota in an elevated prompt: " +
			cmdLine + " (cmd.exe), " + psLine + " (PowerShell)"
	case CodeMaxOperationsPerUser:
		e.Transient = true
		e.Hint = "the user's shells used up MaxConcurrentOperationsPerUser (winrm/config/service); raise it in an elevated prompt: " +
			`winrm set winrm/config/service @{MaxConcurrentOperationsPerUser="1500"}`
	case CodeAccessDenied, 5:
		e.Hint = "the account must be a local administrator (or in Remote Management Users) on the host"
	case CodeFileNotFound:
		e.Hint = "the program was not found on the host"
	case CodeOperationTimeout:
		e.Class = transport.ClassTimeout
		e.Transient = true
	}
	return e
}

// quotaCommands is the winrm set command for a winrs quota, for cmd.exe and
// for PowerShell (where @{...} must be quoted).
func quotaCommands(name, value string) (cmdLine, psLine string) {
	arg := "@{" + name + `="` + value + `"}`
	return "winrm set winrm/config/winrs " + arg, "winrm set winrm/config/winrs " + winquote.PSSingleQuote(arg)
}

// authError is the error for a 401: the credentials were refused, or the
// server does not offer the mechanism.
func authError(host, mechanism, user string, offered []string) *transport.Error {
	offers := "nothing"
	if len(offered) > 0 {
		offers = strings.Join(offered, ", ")
	}
	e := &transport.Error{Class: transport.ClassAuth,
		Message: fmt.Sprintf("%s refused %s authentication of user %q (the server offers: %s)", host, mechanism, user, offers)}
	scheme := map[string]string{"basic": "Basic", "ntlm": "Negotiate", "kerberos": "Negotiate", "certificate": ""}[mechanism]
	offeredScheme := scheme == ""
	for _, o := range offered {
		if strings.EqualFold(o, scheme) {
			offeredScheme = true
		}
	}
	switch {
	case !offeredScheme && mechanism == "basic":
		e.Hint = "the host does not offer Basic here: Windows refuses Basic over HTTP while AllowUnencrypted is false; use auth: ntlm, or HTTPS, or enable Basic (winrm set winrm/config/service/auth @{Basic=\"true\"})"
	case !offeredScheme:
		e.Hint = fmt.Sprintf("the host does not offer %s; pick a mechanism it offers, or enable it in winrm/config/service/auth", scheme)
	default:
		e.Hint = credentialsRefusedHint
	}
	return e
}

// credentialsRefusedHint names both reasons Windows gives a 401 to a
// mechanism it offers. The second looks like the first on the wire: with
// UAC remote restrictions (LocalAccountTokenFilterPolicy 0, the default;
// KB 951016) the network logon of a local administrator other than the
// built-in Administrator gets a filtered token, which WinRM's default
// RootSDDL refuses with the same 401 as a wrong password (pywinrm issue
// 188: "the specified credentials were rejected by the server" until the
// policy was set to 1).
const credentialsRefusedHint = "either the user name or the password is wrong (domain accounts: DOMAIN\\user or user@domain), " +
	"or the account is a local administrator other than the built-in Administrator, whose token UAC remote restrictions filter over the network so that WinRM refuses it: " +
	"use the built-in Administrator or a domain account, or on the host, elevated: " + TokenFilterPolicyCommand

// TokenFilterPolicyCommand turns UAC remote restrictions off for local
// administrators (LocalAccountTokenFilterPolicy = 1), as winrm quickconfig
// and Enable-PSRemoting do; cmd.exe and PowerShell take it as written.
const TokenFilterPolicyCommand = `reg add HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System /v LocalAccountTokenFilterPolicy /t REG_DWORD /d 1 /f`

// offeredSchemes lists the schemes of WWW-Authenticate headers, without
// their tokens or parameters (Basic realm="WSMAN" becomes Basic).
func offeredSchemes(values []string) []string {
	var out []string
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			scheme, _, _ := strings.Cut(strings.TrimSpace(part), " ")
			if scheme != "" && !strings.Contains(scheme, "=") {
				out = append(out, scheme)
			}
		}
	}
	return out
}

// memorySignatures are messages programs print when an allocation fails,
// which under WinRS usually means the shell's MaxMemoryPerShellMB was hit
// (Windows sends no fault for it; docs/winrm-reference.md §5).
var memorySignatures = []string{
	"the paging file is too small for this operation to complete",
	"could not reserve enough space for object heap",
	"outofmemoryexception",
	"java.lang.outofmemoryerror",
	"insufficient memory for the java runtime environment",
	"not enough storage is available to process this command",
	"not enough memory resources are available to process this command",
	"not enough memory resources are available to complete this operation",
	"insufficient system resources exist to complete the requested service",
}

// matchesMemorySignature reports whether a step's output looks like a
// failed allocation.
func matchesMemorySignature(res transport.Result) bool {
	out := strings.ToLower(res.Stdout + "\n" + res.Stderr)
	for _, s := range memorySignatures {
		if strings.Contains(out, s) {
			return true
		}
	}
	return false
}

// ClassifyExit explains a step that exited with an unexpected code:
//   - remote_denied when Windows refused the step's work to a remote
//     caller (see RemoteDenied);
//   - memory_cap when the output matches a known out-of-memory message and
//     memCapMB, the host's MaxMemoryPerShellMB, is known and finite
//     (greater than zero); the hint carries the cap and the command that
//     removes it, for cmd.exe and for PowerShell;
//   - not_found when the step's program does not exist on the host (see
//     launcher.NotFound).
//
// Otherwise it returns nil, and the caller reports the exit as unexpected.
func ClassifyExit(cmd transport.Command, res transport.Result, memCapMB int) *transport.Error {
	if te := RemoteDenied(cmd, res); te != nil {
		return te
	}
	if memCapMB > 0 && matchesMemorySignature(res) {
		cmdLine, psLine := winquote.WinrmSetMemoryCapCommands(0)
		return &transport.Error{
			Class: transport.ClassMemoryCap,
			Message: fmt.Sprintf("the step ran out of memory (exit code %d) under the host's WinRS limit of %d MB per shell (MaxMemoryPerShellMB)",
				res.ExitCode, memCapMB),
			Hint: fmt.Sprintf("WinRM caps every remote shell at MaxMemoryPerShellMB = %d MB. Remove the cap in an elevated prompt on the host, "+
				"from cmd.exe: %s ; from PowerShell: %s (or give a number of MB instead of 0, or run fleetrun preflight --fix-memory-cap MB). "+
				"On WMF 3.0 hosts a raised cap only takes effect with hotfix KB2842230. A step with run_as: system runs outside the shell and its cap.", memCapMB, cmdLine, psLine),
		}
	}
	return launcher.NotFound(cmd, res)
}

// Windows refuses these to a network logon such as a WinRS shell.
var (
	// wusaRE finds wusa.exe in a step's program, line or script.
	wusaRE = regexp.MustCompile(`(?i)(^|[\\/\s"'&(])wusa(\.exe)?($|[\s"'])`)
	// wuaRE finds the Windows Update Agent API or the module around it.
	wuaRE = regexp.MustCompile(`(?i)Microsoft\.Update\.|CreateUpdate(Installer|Downloader)|Install-WindowsUpdate|Get-WindowsUpdate|Invoke-WUJob|PSWindowsUpdate`)
	// deniedRE finds ERROR_ACCESS_DENIED in Windows' words ("Access is
	// denied.") and in .NET's (UnauthorizedAccessException: "Access to the
	// path '\\fs01\share\x' is denied.", what [IO.File] and Copy-Item
	// of a file say).
	deniedRE = regexp.MustCompile(`(?i)access is denied|access to the path .* is denied`)
	// uncRE finds a path on another machine's file share.
	uncRE = regexp.MustCompile(`\\\\[A-Za-z0-9._$-]+\\[^\s"']+`)
)

// RemoteDenied explains a failed step that did what Windows refuses to a
// remote caller — a WinRS shell is a network logon — and returns nil when
// the step ran as SYSTEM (run_as: system) or its failure is something else:
//   - wusa.exe exits 5 (ERROR_ACCESS_DENIED), silently, when it is asked to
//     install an update from WinRM/WinRS (Microsoft KB 2773898);
//   - the Windows Update Agent's downloader and installer throw
//     E_ACCESSDENIED, 0x80070005, to remote callers (MSDN "Using WUA From a
//     Remote Computer");
//   - a file share on another machine is access denied: the shell has no
//     credentials to pass on (the second hop).
func RemoteDenied(cmd transport.Command, res transport.Result) *transport.Error {
	if cmd.RunAs == transport.RunAsSystem {
		return nil
	}
	text := commandText(cmd)
	switch {
	case res.ExitCode == 5 && wusaRE.MatchString(text):
		return &transport.Error{Class: transport.ClassRemoteDenied,
			Message: "wusa.exe exited with 5 (ERROR_ACCESS_DENIED): Windows refuses to install updates with wusa from a WinRM/WinRS session, which is a network logon (Microsoft KB 2773898)",
			Hint: "add run_as: system to the step, so that fleetrun runs it as a scheduled task as SYSTEM on the host; or extract the package with " +
				`wusa.exe PACKAGE.msu /extract:C:\patches\x and install the .cab with dism.exe /online /add-package /PackagePath:C:\patches\x\PACKAGE.cab /quiet /norestart, which works remotely`}
	case strings.Contains(res.Stderr, "0x80070005") && (wuaRE.MatchString(text) || wuaRE.MatchString(res.Stderr)):
		return &transport.Error{Class: transport.ClassRemoteDenied,
			Message: "the Windows Update Agent refused the step with E_ACCESSDENIED (0x80070005): its downloader and installer cannot be used by a remote caller (MSDN, Using WUA From a Remote Computer)",
			Hint:    "add run_as: system to the step, so that fleetrun runs it as a scheduled task as SYSTEM on the host (what PSWindowsUpdate's Invoke-WUJob does)"}
	case deniedRE.MatchString(res.Stdout+"\n"+res.Stderr) && (uncRE.MatchString(text) || uncRE.MatchString(res.Stderr)):
		share := uncRE.FindString(text)
		if share == "" {
			share = uncRE.FindString(res.Stderr)
		}
		return &transport.Error{Class: transport.ClassRemoteDenied,
			Message: fmt.Sprintf("access to %s was denied: a WinRM session has no credentials to use on another machine (the second hop)", share),
			Hint: "copy what the step needs onto the host first; or run the step with run_as: system, where the host's computer account reaches shares that grant it access; " +
				"or delegate credentials to the host (CredSSP, or Kerberos delegation in a domain)"}
	}
	return nil
}

// commandText is what a step runs, as text to search: the argv, the cmd
// line or the script.
func commandText(cmd transport.Command) string {
	switch cmd.Kind {
	case transport.KindArgv:
		return strings.Join(cmd.Argv, " ")
	case transport.KindCmd:
		return cmd.Line
	}
	return cmd.Script
}
