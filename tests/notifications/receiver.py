"""A webhook receiver on loopback: answers from a script and records every request."""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANG = "hang"  # accept the request and never answer in time


class Receiver:
    def __init__(self, *answers, location: str = ""):
        # Each answer is a status code or HANG; the last one repeats.
        self.answers = list(answers) or [200]
        self.location = location
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/jobs"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _next_answer(self):
        with self._lock:
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body.decode()})
                answer = receiver._next_answer()
                if answer == HANG:
                    time.sleep(2.5)
                    return
                self.send_response(answer)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(f"answer {answer}".encode())

            def log_message(self, *args):
                pass

        return Handler
