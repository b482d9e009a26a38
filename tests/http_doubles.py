"""What the local HTTP doubles of the Databricks REST APIs (the control plane: the one place a fake is
allowed) share: a quiet request handler that reads JSON bodies, records each POST, and answers JSON."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler


class JsonApiHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass

    def _reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _posted(self, requests: list[dict]) -> dict:
        """The JSON body of this POST, recorded in `requests` with its path and Authorization header."""
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        requests.append({"method": "POST", "path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        return body
