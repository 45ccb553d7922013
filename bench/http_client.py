"""A small asyncio HTTP/1.1 keep-alive client for the HTTP benchmark (standard library only).

Why not httpx/aiohttp: the load generator shares the 2 cores with gunicorn and PostgreSQL, so
every client microsecond is taken from the server. This client does one write and a
header/body read per request and nothing else (no cookie jar, no redirects, no TLS); it costs
roughly 50-100 us of CPU per request, about a tenth of what httpx needs."""

import asyncio
import json
import math
import time
from dataclasses import dataclass, field


class HttpError(Exception):
    pass


class Connection:
    """One keep-alive connection to host:port; reconnects when the server closed it."""

    def __init__(self, host: str, port: int, base_headers: dict[str, str] | None = None):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.base = "".join(f"{k}: {v}\r\n" for k, v in (base_headers or {}).items())
        self.connects = 0

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 22)
        self.connects += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: str = "", timeout: float = 60.0
    ) -> tuple[int, bytes]:
        try:
            return await asyncio.wait_for(self._request(method, path, body, headers), timeout)
        except TimeoutError:
            self.close()
            raise HttpError(f"timeout after {timeout:.0f}s") from None

    async def _request(self, method: str, path: str, body: bytes, headers: str) -> tuple[int, bytes]:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.base}{headers}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        for attempt in (0, 1):
            reused = self.writer is not None
            if not reused:
                await self._connect()
            try:
                self.writer.write(head + body if len(body) < 65536 else head)
                if len(body) >= 65536:
                    self.writer.write(body)
                await self.writer.drain()
                return await self._read_response()
            except (ConnectionError, asyncio.IncompleteReadError, HttpError) as error:
                self.close()
                # A keep-alive connection the server closed while idle: retry once on a fresh one.
                if not reused or attempt == 1:
                    raise HttpError(f"{type(error).__name__}: {error}") from error
        raise AssertionError("unreachable")

    async def _read_response(self) -> tuple[int, bytes]:
        status_line = await self.reader.readline()
        if not status_line:
            raise HttpError("connection closed before the status line")
        parts = status_line.split(None, 2)
        status = int(parts[1])
        length, chunked, close = None, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            chunks = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    break
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readline()
            body = b"".join(chunks)
        elif length is not None:
            body = await self.reader.readexactly(length)
        else:
            body = await self.reader.read()
            close = True
        if close:
            self.close()
        return status, body


def json_body(data) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


@dataclass
class Recorder:
    """Latencies (seconds) and outcomes per endpoint."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, dict[str, int]] = field(default_factory=dict)

    def ok(self, endpoint: str, seconds: float) -> None:
        self.latencies.setdefault(endpoint, []).append(seconds)

    def error(self, endpoint: str, kind: str) -> None:
        bucket = self.errors.setdefault(endpoint, {})
        bucket[kind] = bucket.get(kind, 0) + 1

    def error_count(self) -> int:
        return sum(sum(b.values()) for b in self.errors.values())


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_ms(values: list[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 50) * 1000, 2),
        "p90_ms": round(percentile(values, 90) * 1000, 2),
        "p99_ms": round(percentile(values, 99) * 1000, 2),
        "max_ms": round(max(values) * 1000, 2) if values else math.nan,
        "mean_ms": round(sum(values) / len(values) * 1000, 2) if values else math.nan,
    }


async def sleep_until(loop_time: float) -> None:
    delay = loop_time - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
