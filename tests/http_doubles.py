"""What the local HTTP doubles of the Databricks REST APIs (the control plane: the one place a fake is
allowed) share: a quiet request handler that reads JSON bodies, records each POST, and answers JSON."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


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


class ServedDouble:
    """A double served on 127.0.0.1 (port 0) by a ThreadingHTTPServer in a daemon thread: `host` is
    its base URL; a `with` block starts and stops it."""

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class RunsGetDouble(ServedDouble):
    """GET /api/2.2/jobs/runs/get: each known run answers its (life_cycle_state, result_state,
    state_message); an unknown one answers 400 INVALID_PARAMETER_VALUE "Run N does not exist.", as
    the Jobs API does. Checks the auth header and records every request."""

    TOKEN = "dapi-liveness-token-123456"

    def __init__(self, states):
        self.states = states
        self.requests: list[dict] = []
        self.errors: list[str] = []
        double = self

        class Handler(JsonApiHandler):
            def do_GET(self):
                url = urlsplit(self.path)
                double.requests.append({"path": url.path, "query": parse_qs(url.query),
                                        "auth": self.headers.get("Authorization")})
                if url.path == "/.well-known/databricks-config":
                    return self._reply(404, {"error_code": "NOT_FOUND", "message": "no host metadata"})
                if url.path not in ("/api/2.1/jobs/runs/get", "/api/2.2/jobs/runs/get"):
                    double.errors.append(f"unexpected GET {url.path}")
                    return self._reply(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": url.path})
                if self.headers.get("Authorization") != f"Bearer {double.TOKEN}":
                    return self._reply(401, {"error_code": "UNAUTHENTICATED", "message": "Invalid access token."})
                run_id = int(parse_qs(url.query)["run_id"][0])
                if run_id not in double.states:
                    return self._reply(400, {"error_code": "INVALID_PARAMETER_VALUE",
                                             "message": f"Run {run_id} does not exist."})
                life, result, message = double.states[run_id]
                state = {"life_cycle_state": life, "state_message": message}
                if result:
                    state["result_state"] = result
                self._reply(200, {"job_id": 987, "run_id": run_id, "state": state,
                                  "tasks": [{"task_key": "extract_metadata", "run_id": run_id + 1, "state": state}]})

        self._serve(Handler)

    def gets(self):
        return [r for r in self.requests if not r["path"].startswith("/.well-known")]
