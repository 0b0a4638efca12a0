"""A local OpenAI-compatible server for tests: real HTTP on 127.0.0.1, scripted answers."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    """Serves POST /v1/chat/completions.

    `answer(messages) -> str` writes the reply; `failures` is a list of HTTP statuses returned,
    in order, before any success (e.g. [429, 500]). Every request body is kept in `requests`.
    """

    def __init__(self, answer: Callable[[list[dict]], str], failures: list[int] | None = None):
        self.answer = answer
        self.failures = list(failures or [])
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, payload = server._respond(self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("retry-after-ms", "10")
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            request_queue_size = 64
            daemon_threads = True

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def _respond(self, path: str, body: dict) -> tuple[int, dict]:
        with self._lock:
            self.requests.append(body)
            status = self.failures.pop(0) if self.failures else 200
            self.statuses.append(status)
        if path != "/v1/chat/completions":
            return 404, {"error": {"message": f"no route {path}"}}
        if status != 200:
            return status, {"error": {"message": "scripted failure", "type": "test"}}
        text = self.answer(body["messages"])
        return 200, {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
        }

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
