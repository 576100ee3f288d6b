"""Drive simulated hosts with pywinrm, unchanged, and check what comes back.

Usage: python3 pywinrm_check.py CONFIG.json
CONFIG names the hosts (endpoints), the account and the CA file. Prints one
line per check and exits 1 when any check fails.
"""
import base64
import json
import sys

import winrm
from winrm.exceptions import InvalidCredentialsError

failures = []
checks = [0]


def check(name, got, want):
    checks[0] += 1
    if got == want:
        print("ok   " + name)
    else:
        print("FAIL %s: got %r, want %r" % (name, got, want))
        failures.append(name)


def check_true(name, cond, detail):
    checks[0] += 1
    if cond:
        print("ok   " + name)
    else:
        print("FAIL %s: %r" % (name, detail))
        failures.append(name)


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    user, password = cfg["user"], cfg["password"]

    # NTLM over plain HTTP: pywinrm seals every message (message_encryption
    # "auto"), which the host requires (AllowUnencrypted is false).
    s = winrm.Session(cfg["ntlm"], auth=(user, password), transport="ntlm",
                      read_timeout_sec=30, operation_timeout_sec=20)

    r = s.run_cmd("hostname")
    check("run_cmd hostname", (r.status_code, r.std_out, r.std_err), (0, b"sim-0001\r\n", b""))

    # WinRS joins Command and Arguments with spaces and adds no quoting:
    # "a b" arrives as two arguments and the quote in c"d disappears.
    r = s.run_cmd(r"C:\tools\echoargs.exe", ["a b", 'c"d'])
    argv = json.loads(r.std_out.decode("utf-8"))["argv"]
    check("run_cmd with arguments splits them as Windows does", argv, [r"C:\tools\echoargs.exe", "a", "b", "cd"])

    r = s.run_cmd("cmd", ["/c", "echo out && echo err>&2 && exit 3"])
    check("run_cmd stdout, stderr and a non-zero exit", (r.status_code, r.std_out, r.std_err), (3, b"out \r\n", b"err \r\n"))

    # Session.run_ps, on a host whose PowerShell writes nothing to stderr:
    # pywinrm 0.3.0 on Python 3 fails on any stderr output in run_ps
    # (_clean_error_msg compares bytes with str).
    quiet = winrm.Session(cfg["quiet"], auth=(user, password), transport="ntlm")
    r = quiet.run_ps('Write-Output "hello from powershell"')
    check("run_ps output", (r.status_code, r.std_out, r.std_err), (0, b"hello from powershell\r\n", b""))
    r = quiet.run_ps("exit 5")
    check("run_ps exit code", r.status_code, 5)

    # What run_ps sends, on a Windows PowerShell 5.1 host: module loading is
    # reported as CLIXML progress on stderr, errors as CLIXML error records,
    # which pywinrm's own cleaner turns back into text.
    def ps(session, script):
        encoded = base64.b64encode(script.encode("utf_16_le")).decode("ascii")
        r = session.run_cmd("powershell -encodedcommand " + encoded)
        return r.status_code, r.std_out, r.std_err

    code, out, err = ps(s, 'Write-Output "hello"')
    check("powershell -encodedcommand output", (code, out), (0, b"hello\r\n"))
    check_true("module loading shows as CLIXML progress on stderr",
               err.startswith(b"#< CLIXML\r\n") and b"Preparing modules for first use." in err, err)

    code, out, err = ps(s, 'Write-Error "boom"')
    cleaned = s._clean_error_msg(err.decode("utf-8"))
    check_true("Write-Error fails and pywinrm cleans its CLIXML",
               code == 1 and "boom" in cleaned and "CLIXML" not in cleaned, (code, cleaned))

    code, out, err = ps(s, 'throw "fatal error"')
    cleaned = s._clean_error_msg(err.decode("utf-8"))
    check_true("throw exits 1 with the message", code == 1 and "fatal error" in cleaned, (code, cleaned))

    # Japanese text: pywinrm opens shells with code page 437, where cmd.exe
    # turns what it cannot show into '?'; with 65001 it arrives as UTF-8.
    r = s.run_cmd("echo", ["こんにちは"])
    check("Japanese under code page 437 becomes question marks", r.std_out, b"?????\r\n")
    p = s.protocol
    shell = p.open_shell(codepage=65001)
    cmd = p.run_command(shell, "echo", ["こんにちは"])
    out, err, code = p.get_command_output(shell, cmd)
    p.cleanup_command(shell, cmd)
    p.close_shell(shell)
    check("Japanese under code page 65001 arrives as UTF-8", (code, out.decode("utf-8")), (0, "こんにちは\r\n"))

    # A Japanese Windows host whose programs write CP932.
    s932 = winrm.Session(cfg["cp932"], auth=(user, password), transport="ntlm")
    code, out, err = ps(s932, "Get-Greeting")
    check("a CP932 host's program output is CP932", (code, out.decode("cp932")), (0, "こんにちは\r\n"))

    # Basic inside TLS, verifying the server with the fleet's CA.
    ssl = winrm.Session(cfg["https"], auth=(user, password), transport="ssl",
                        ca_trust_path=cfg["ca"], server_cert_validation="validate")
    r = ssl.run_cmd("whoami")
    check("basic over https with the CA file", (r.status_code, r.std_out), (0, b"sim-0003\\fleetrun\r\n"))

    bad = winrm.Session(cfg["ntlm"], auth=(user, "wrong password"), transport="ntlm")
    try:
        bad.run_cmd("hostname")
        check_true("wrong password is refused", False, "no error")
    except InvalidCredentialsError:
        check_true("wrong password is refused", True, None)

    # UAC remote restrictions (KB 951016): with LocalAccountTokenFilterPolicy
    # 0 a local administrator other than the built-in Administrator gets a
    # filtered token over the network, and WinRM answers 401 although the
    # password is right; pywinrm cannot tell that from a wrong password
    # (pywinrm issue 188).
    def refused(name, session):
        try:
            session.run_cmd("hostname")
            check_true(name, False, "no error")
        except InvalidCredentialsError as e:
            check_true(name, "rejected" in str(e), str(e))

    refused("a filtered local administrator is refused over NTLM",
            winrm.Session(cfg["filtered"], auth=(user, password), transport="ntlm"))
    refused("a filtered local administrator is refused over Basic in TLS",
            winrm.Session(cfg["filtered_https"], auth=(user, password), transport="ssl",
                          ca_trust_path=cfg["ca"], server_cert_validation="validate"))
    # The built-in Administrator keeps its full token with the policy at 0.
    r = winrm.Session(cfg["builtin"], auth=(user, password), transport="ntlm").run_cmd("hostname")
    check("the built-in Administrator is let in with the policy at 0", (r.status_code, r.std_out), (0, b"sim-0007\r\n"))

    print("%d passed, %d failed" % (checks[0] - len(failures), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
