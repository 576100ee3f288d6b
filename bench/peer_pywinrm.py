"""The peer in fleetrun's benchmarks: what a Linux operator would write with
Debian's python3-winrm (pywinrm) to run the same steps on many hosts at once.

Usage: python3 peer_pywinrm.py CONFIG.json

CONFIG is written by the benchmark harness:

    {"forks": 200,
     "transport": "ntlm" | "basic",
     "user": "...", "password": "...", "ca_file": "" | "/path/ca.pem",
     "urls": ["http://127.0.0.1:40001/wsman", ...],
     "steps": [{"kind": "cmd", "command": "C:\\tools\\echoargs.exe", "args": ["a"], "min_stdout": 1},
               {"kind": "ps", "script": "Write-Output 'x'", "min_stdout": 1}]}

Every host runs every step in order (a step fails when it exits non-zero
or prints less than min_stdout bytes), in a thread pool of `forks` workers,
through winrm.Session.run_cmd (a shell opened and closed per step, as the
library does). A "ps" step is run_ps as pywinrm 0.3.0 implements it
(powershell -encodedcommand with the UTF-16LE script), without its stderr
clean-up, which fails on Python 3 whenever PowerShell writes CLIXML progress
to stderr (it compares bytes with str). NTLM runs over plain HTTP with
message encryption; basic runs over HTTPS with the fleet's CA verified.

Prints one JSON object: hosts, ok, failed, wall_seconds, and the first few
errors. Exits 0 when it ran (even with failed hosts), 2 on bad usage.
"""
import base64
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import winrm


def run_host(cfg, url):
    kwargs = {"transport": cfg["transport"], "read_timeout_sec": 70, "operation_timeout_sec": 60}
    if cfg["transport"] == "ntlm":
        kwargs["message_encryption"] = "always"
    elif cfg.get("ca_file"):
        kwargs["server_cert_validation"] = "validate"
        kwargs["ca_trust_path"] = cfg["ca_file"]
    session = winrm.Session(url, auth=(cfg["user"], cfg["password"]), **kwargs)
    for step in cfg["steps"]:
        if step["kind"] == "ps":
            encoded = base64.b64encode(step["script"].encode("utf_16_le")).decode("ascii")
            r = session.run_cmd("powershell -encodedcommand " + encoded)
        else:
            r = session.run_cmd(step["command"], step.get("args", []))
        if r.status_code != 0:
            return "%s: step exited %d: %r" % (url, r.status_code, r.std_err[:200])
        if len(r.std_out) < step.get("min_stdout", 0):
            return "%s: step printed %d bytes, expected at least %d" % (url, len(r.std_out), step["min_stdout"])
    return None


def safe_run_host(cfg, url):
    try:
        return run_host(cfg, url)
    except Exception as e:  # a failed host is a result, not the end of the run
        return "%s: %s: %s" % (url, type(e).__name__, e)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=cfg["forks"]) as pool:
        errors = list(pool.map(lambda u: safe_run_host(cfg, u), cfg["urls"]))
    wall = time.monotonic() - start
    failed = [e for e in errors if e is not None]
    json.dump({
        "hosts": len(cfg["urls"]),
        "ok": len(cfg["urls"]) - len(failed),
        "failed": len(failed),
        "wall_seconds": wall,
        "errors": failed[:5],
    }, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
