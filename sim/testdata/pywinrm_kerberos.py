"""pywinrm (Debian's python3-winrm) with Kerberos and message encryption
against a simulated host.

pywinrm 0.3 seals Kerberos messages through requests-kerberos, which calls
authGSSWinRMEncryptMessage and authGSSWinRMDecryptMessage of its GSS
binding; Debian's pykerberos 1.1.14 lacks those two (only a fork has them),
so pywinrm refuses message encryption with it. This script hands
requests-kerberos a binding with the same functions built on python3-gssapi
(MIT's GSS-API library), wrapping and unwrapping with gss_wrap_iov and
gss_unwrap_iov exactly as pyspnego, pywinrm's later backend, does.
Everything else (HTTP, SPNEGO headers, the multipart framing) is pywinrm's
and requests-kerberos's own code, unchanged.

The config file names the host's URL and its SPN host name; KRB5_CONFIG and
KRB5CCNAME (a ticket cache kinit filled) come from the environment. Prints
one line per check and exits 1 if any failed.
"""
import json
import sys

import base64
import types

import gssapi
from gssapi.raw import IOV, IOVBufferType, unwrap_iov, wrap_iov
import requests_kerberos.kerberos_ as rk

import winrm


def gss_binding():
    """A pykerberos-shaped module over python3-gssapi."""
    m = types.SimpleNamespace()
    m.GSSError = gssapi.exceptions.GSSError
    m.GSS_C_DELEG_FLAG = 1
    m.GSS_C_MUTUAL_FLAG = 2
    m.GSS_C_SEQUENCE_FLAG = 8

    class Ctx:
        pass

    def init(service, gssflags=0, principal=None, **_):
        c = Ctx()
        name = gssapi.Name(service, gssapi.NameType.hostbased_service)
        flags = gssapi.RequirementFlag.confidentiality | gssapi.RequirementFlag.integrity
        if gssflags & m.GSS_C_MUTUAL_FLAG:
            flags |= gssapi.RequirementFlag.mutual_authentication
        if gssflags & m.GSS_C_SEQUENCE_FLAG:
            flags |= gssapi.RequirementFlag.out_of_sequence_detection
        c.ctx = gssapi.SecurityContext(name=name, usage="initiate", flags=flags,
                                       mech=gssapi.MechType.kerberos)
        c.response = None
        return 1, c

    def step(c, challenge, **_):
        token = c.ctx.step(base64.b64decode(challenge) if challenge else None)
        c.response = base64.b64encode(token).decode() if token else None
        return 1 if c.ctx.complete else 0

    def encrypt(c, message):
        iov = IOV(IOVBufferType.header, message, IOVBufferType.padding, std_layout=False)
        wrap_iov(c.ctx, iov, confidential=True)
        return iov[1].value + (iov[2].value or b""), iov[0].value

    def decrypt(c, message, header):
        iov = IOV((IOVBufferType.header, False, header), message, (IOVBufferType.data, False, b""),
                  std_layout=False)
        unwrap_iov(c.ctx, iov)
        return iov[1].value

    m.authGSSClientInit = init
    m.authGSSClientStep = step
    m.authGSSClientResponse = lambda c: c.response
    m.authGSSWinRMEncryptMessage = encrypt
    m.authGSSWinRMDecryptMessage = decrypt
    return m

failures = 0


def check(name, got, want):
    global failures
    if got == want:
        print("ok   %s" % name)
    else:
        failures += 1
        print("FAIL %s: got %r, want %r" % (name, got, want))


def main():
    if not hasattr(rk.kerberos, "authGSSWinRMEncryptMessage"):
        rk.kerberos = gss_binding()
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    # The host is reached by address; its SPN is HTTP/<host name>.
    s = winrm.Session(cfg["url"], auth=(None, None), transport="kerberos",
                      message_encryption="always",
                      kerberos_hostname_override=cfg["spn_host"],
                      read_timeout_sec=30, operation_timeout_sec=20)

    r = s.run_cmd("ipconfig")
    check("ipconfig exits 0", r.status_code, 0)
    check("ipconfig prints the Windows IP Configuration",
          b"Windows IP Configuration" in r.std_out, True)

    r = s.run_cmd(r"C:\scripts\exit9999.bat")
    check("a batch file's exit 9999", (r.status_code, r.std_out, r.std_err),
          (9999, b"finishing\r\n", b""))

    r = s.run_cmd("hostname")
    check("hostname", (r.status_code, r.std_out), (0, cfg["spn_host"].encode() + b"\r\n"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
