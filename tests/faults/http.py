"""A small blocking HTTP client for the fault tests: one keep-alive connection, JSON in and out,
reconnecting when the server dropped the connection."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self):
        return json.loads(self.text)


class Client:
    def __init__(self, port: int, headers: dict[str, str] | None = None, timeout: float = 120) -> None:
        self.port, self.headers, self.timeout = port, headers or {}, timeout
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: object = None, *, headers: dict[str, str] | None = None,
                raw: bytes | None = None) -> Reply:
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        all_headers = {**self.headers, **(headers or {})}
        if body is not None and raw is None:
            all_headers.setdefault("Content-Type", "application/json")
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=payload, headers=all_headers)
                response = self.conn.getresponse()
                text = response.read().decode("utf-8", "replace")
                reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, text)
                if response.will_close:
                    self.close()
                return reply
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def post(self, path: str, body: object = None, **kwargs) -> Reply:
        return self.request("POST", path, {} if body is None else body, **kwargs)

    def get(self, path: str, **kwargs) -> Reply:
        return self.request("GET", path, **kwargs)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def annotator_headers(session: str) -> dict[str, str]:
    csrf = "c" * 32
    return {"Cookie": f"sessionid={session}; csrftoken={csrf}", "X-CSRFToken": csrf}


def items(prefix: str, count: int) -> list[dict]:
    return [{"external_id": f"{prefix}-{i}", "prompt": f"Prompt {prefix} {i}",
             "samples": [{"external_id": "a", "text": f"first answer {i}", "model": "m1"},
                         {"external_id": "b", "text": f"second answer {i}", "model": "m2"}]}
            for i in range(count)]
