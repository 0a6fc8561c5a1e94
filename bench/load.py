"""A closed-loop HTTP/1.1 load generator on asyncio streams (keep-alive, one connection per client).

Used by `python -m bench` for the API latency figure. Not httpx: a thread-per-client httpx load
generator spent more CPU per request than the server it measured (its threads fight over the GIL on
the same two cores), so its latencies measured the client. This one writes a GET and reads the
status line, headers and a Content-Length body, nothing else, in one event loop.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0

    def pct_ms(self, q: float) -> float:
        lat = sorted(self.latencies_s)
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")


async def _client(
    host: str, port: int, headers: bytes, plan: list[str], nxt: list[int], deadline: float, out: LoadResult
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            i = nxt[0]
            nxt[0] += 1
            if i >= len(plan):
                return
            t = time.perf_counter()
            ok = False
            try:
                writer.write(b"GET " + plan[i].encode() + b" HTTP/1.1\r\n" + headers + b"\r\n")
                status = await reader.readline()
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                ok = status.split(b" ", 2)[1] == b"200"
            except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
                out.errors += 1
                out.latencies_s.append(time.perf_counter() - t)
                return
            out.latencies_s.append(time.perf_counter() - t)
            if not ok:
                out.errors += 1
    finally:
        writer.close()


async def _run(host: str, port: int, token: str, plan: list[str], clients: int, limit_s: float) -> LoadResult:
    headers = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\n".encode()
    out = LoadResult()
    nxt = [0]
    t0 = time.perf_counter()
    await asyncio.gather(*(_client(host, port, headers, plan, nxt, t0 + limit_s, out) for _ in range(clients)))
    out.elapsed_s = time.perf_counter() - t0
    return out


def run(host: str, port: int, token: str, paths: list[str], clients: int, limit_s: float) -> LoadResult:
    """Send `paths` in order over `clients` concurrent keep-alive connections (each sends its next request
    when the previous answer arrived), for at most `limit_s` seconds."""
    return asyncio.run(_run(host, port, token, paths, clients, limit_s))
