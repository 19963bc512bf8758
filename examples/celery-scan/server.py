"""The scan API, standard library only (the seed's FastAPI flow without FastAPI).

    POST /api/scan {"image": "..."}  -> 202 {"task_id": ROOT_ID, "topic": "scan:ROOT_ID", ...}
    GET  /                           -> the page, which opens EventSource on Herald

The API has no stream endpoint any more: the browser reads the workflow's topic from Herald
(``/v1/events?topic=scan:<task_id>``). The ``scan`` namespace replays all history, so the
page may connect late and still gets every step.

Environment: PORT (default 8000), HERALD_PUBLIC_URL (Herald's URL as browsers reach it,
default HERALD_URL or http://127.0.0.1:8080), and tasks.py's variables.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import tasks

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_BODY = 64 << 10
HERALD_URL = os.environ.get("HERALD_URL", "http://127.0.0.1:8080")
HERALD_PUBLIC_URL = os.environ.get("HERALD_PUBLIC_URL", HERALD_URL).rstrip("/")


class Handler(BaseHTTPRequestHandler):
    server_version = "celery-scan/1"

    def do_GET(self):
        if self.path not in ("/", "/index.html"):
            self._json(404, {"error": "no such page", "code": "not_found"})
            return
        with open(os.path.join(HERE, "index.html"), encoding="utf-8") as f:
            page = f.read().replace("{{HERALD_URL}}", json.dumps(HERALD_PUBLIC_URL))
        body = page.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        if self.path != "/api/scan":
            self._json(404, {"error": "no such endpoint", "code": "not_found"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._json(413, {"error": "body must be at most %d bytes" % MAX_BODY,
                             "code": "too_large"})
            return
        try:
            req = json.loads(self.rfile.read(length) or b"{}")
            image = req.get("image", "photo.jpg") if isinstance(req, dict) else None
            if not isinstance(image, str) or not image or len(image) > 200:
                raise ValueError("image must be a name of at most 200 characters")
        except ValueError as exc:
            self._json(400, {"error": "invalid request: %s" % exc, "code": "invalid_json"})
            return
        root_id = tasks.start_scan(image)
        topic = "scan:" + root_id
        self._json(202, {
            "task_id": root_id,
            "status": "processing",
            "topic": topic,
            "stream": "%s/v1/events?topic=%s" % (HERALD_PUBLIC_URL, topic),
        })

    def _json(self, status, obj):
        body = json.dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("celery-scan: " + (fmt % args) + "\n")


def main():
    port = int(os.environ.get("PORT", "8000"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("celery-scan: listening on http://127.0.0.1:%d (Herald at %s)"
          % (port, HERALD_PUBLIC_URL), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
