"""Independent client: google-auth's external_account credentials (executable- or file-sourced) exchanging our
token at a stand-in for Google's STS that records the subject_token it receives.

usage: google_auth_exchange.py executable|file COMMAND_OR_PATH GCP_AUDIENCE [FIELD_NAME]
Prints the recorded subject_token; exits non-zero if google-auth fails.
"""
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

import google.auth.identity_pool
import google.auth.pluggable
import google.auth.transport.requests

recorded = []


class StandInSts(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        form = urllib.parse.parse_qs(body)
        recorded.append(form)
        out = json.dumps(
            {
                "access_token": "stand-in-access-token",
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "token_type": "Bearer",
                "expires_in": 3600,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


def main() -> int:
    mode, source, audience = sys.argv[1], sys.argv[2], sys.argv[3]
    field = sys.argv[4] if len(sys.argv) > 4 else None
    server = HTTPServer(("127.0.0.1", 0), StandInSts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    info = {
        "type": "external_account",
        "audience": audience,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": f"http://127.0.0.1:{server.server_port}/v1/token",
    }
    if mode == "executable":
        info["credential_source"] = {"executable": {"command": source, "timeout_millis": 30000}}
        creds = google.auth.pluggable.Credentials.from_info(info)
    else:
        fmt = {"type": "json", "subject_token_field_name": field} if field else {"type": "text"}
        info["credential_source"] = {"file": source, "format": fmt}
        creds = google.auth.identity_pool.Credentials.from_info(info)
    creds.refresh(google.auth.transport.requests.Request())
    server.shutdown()
    assert creds.token == "stand-in-access-token", creds.token
    assert len(recorded) == 1, recorded
    form = recorded[0]
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:token-exchange"], form
    assert form["audience"] == [audience], form
    print(form["subject_token"][0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
