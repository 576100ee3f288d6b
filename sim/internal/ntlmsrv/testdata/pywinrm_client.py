"""Drive Debian's python3-winrm (pywinrm) unchanged against a test host.

Reads a JSON request on stdin:
  {"endpoint": "http://127.0.0.1:PORT/wsman", "user": "...", "password": "...",
   "auth": "ntlm" | "basic", "encryption": "always" | "auto" | "never",
   "messages": ["<soap/>", ...]}
and sends every message with winrm.transport.Transport.send_message on one
Transport (one requests session, so one keep-alive connection). Writes a JSON
report on stdout:
  {"encrypted": bool, "results": [{"body": "..."} | {"error": "..."}]}
An exception ends nothing: the next message is sent on the same Transport.
"""

import json
import sys

from winrm.exceptions import InvalidCredentialsError, WinRMTransportError
from winrm.transport import Transport


def main():
    req = json.load(sys.stdin)
    transport = Transport(
        endpoint=req["endpoint"],
        username=req["user"],
        password=req["password"],
        auth_method=req["auth"],
        message_encryption=req["encryption"],
        server_cert_validation="ignore",
    )
    results = []
    for message in req["messages"]:
        try:
            body = transport.send_message(message)
            if isinstance(body, bytes):
                body = body.decode("utf-8")
            results.append({"body": body})
        except InvalidCredentialsError as e:
            results.append({"error": "InvalidCredentialsError: %s" % e})
        except WinRMTransportError as e:
            text = e.response_text
            if isinstance(text, bytes):
                text = text.decode("utf-8")
            results.append({"error": "WinRMTransportError %s: %s" % (e.code, text)})
    json.dump({"encrypted": transport.encryption is not None, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
