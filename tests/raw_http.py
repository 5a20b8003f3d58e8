"""HTTP/1.1 by hand, for requests a well-behaved client library refuses to send.

Header values with bytes that are not UTF-8, bodies that are not what their type says, a
request cut off half-way: written to the socket as given. The server answers or closes the
connection; ``status`` 0 means it closed without a response.

Example::

    status, body = await raw_request(port, b"GET", b"/admin/faq", [(b"Authorization", b"Bearer \\xff")])
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence

HOST = "127.0.0.1"


async def raw_request(port: int, method: bytes, path: bytes, headers: Sequence[tuple[bytes, bytes]] = (),
                      body: bytes = b"", timeout: float = 30.0) -> tuple[int, bytes]:
    """Send one request (``Connection: close``) to ``127.0.0.1:port``; the status and body."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        lines = [method + b" " + path + b" HTTP/1.1", b"Host: " + HOST.encode(), b"Connection: close",
                 b"Content-Length: " + str(len(body)).encode()]
        lines += [name + b": " + value for name, value in headers]
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
    if not response.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")):  # 1.0: a request the parser refused
        return 0, response
    head, _, content = response.partition(b"\r\n\r\n")
    return int(head[9:12]), content
