"""A local HTTP server that speaks the OpenAI wire format.

Tests drive it with the real ``openai`` client, so the adapter's request
building, response parsing, timeouts and retries are all exercised. Only the
model is fake: a *script* decides each reply.

    with FakeOpenAIServer(lambda req: "Hello") as server:
        settings = Settings(llm_base_url=server.base_url, llm_model="fake")
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Fail:
    """Reply with an HTTP error instead of a completion."""

    status: int = 500
    message: str = "fake server error"


@dataclass
class Slow:
    """Sleep before replying (to trigger client timeouts)."""

    seconds: float
    then: str = "late reply"


Reply = str | dict[str, Any] | Fail | Slow
Script = Callable[[dict[str, Any]], Reply]


class FakeOpenAIServer:
    def __init__(self, script: Script, *, embedding_dim: int = 16) -> None:
        self.script = script
        self.embedding_dim = embedding_dim
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        port = self._httpd.server_address[1]
        return f"http://127.0.0.1:{port}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def chat_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if "messages" in r]

    # ------------------------------------------------------------------ wire format
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(body)
                if self.path.endswith("/embeddings"):
                    self._send(200, server._embeddings(body))
                elif self.path.endswith("/chat/completions"):
                    self._reply(server.script(body), body)
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def _reply(self, reply: Reply, body: dict[str, Any]) -> None:
                if isinstance(reply, Slow):
                    time.sleep(reply.seconds)
                    reply = reply.then
                if isinstance(reply, Fail):
                    self._send(reply.status, {"error": {"message": reply.message, "type": "fake"}})
                    return
                content = reply if isinstance(reply, str) else json.dumps(reply)
                self._send(200, _completion(body.get("model", "fake"), content))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        return Handler

    def _embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": _hash_vector(t, self.embedding_dim)}
            for i, t in enumerate(inputs)
        ]
        return {
            "object": "list",
            "data": data,
            "model": body.get("model", "fake"),
            "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
        }


def _completion(model: str, content: str) -> dict[str, Any]:
    prompt_tokens, completion_tokens = 100, max(1, len(content.split()))
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _hash_vector(text: str, dim: int) -> list[float]:
    """A deterministic pseudo-embedding: bag of hashed words, so similar texts are close."""
    vec = [0.0] * dim
    for word in text.lower().split():
        vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % dim] += 1.0
    return vec


def last_user_message(request: dict[str, Any]) -> str:
    """The text of the final user turn in a chat request (handy in scripts)."""
    users = [m["content"] for m in request.get("messages", []) if m.get("role") == "user"]
    return users[-1] if users else ""


def passages(request: dict[str, Any]) -> list[str]:
    """The numbered knowledge-base passages of a responder request, text only, in order
    (``build_messages`` writes them as ``[n] Title > Heading`` then the text, ``---`` between)."""
    text = last_user_message(request)
    start = text.find("Knowledge-base passages:\n")
    end = text.find("\n\nCustomer's latest message:")
    if start < 0:
        return []
    block = text[start + len("Knowledge-base passages:\n"): end if end > 0 else None]
    out = []
    for part in block.split("\n\n---\n\n"):
        _, _, body = part.partition("\n")
        out.append(body.strip())
    return out


def first_sentences(text: str, n: int = 2) -> list[str]:
    """The first ``n`` prose sentences of a passage (skipping headings and short lines)."""
    import re

    lines = [ln.strip(" -*#") for ln in text.splitlines() if len(ln.split()) >= 5]
    sentences = [s for ln in lines for s in re.split(r"(?<=[.!?])\s+", ln) if len(s.split()) >= 5]
    return sentences[:n]
