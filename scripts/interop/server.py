"""An independent WebSocket server for wsppclient's interop checks.

Built on the `websockets` package (not on wspp), so what wsppclient is tested against
here is someone else's reading of RFC 6455. It listens on 127.0.0.1 port 0 and prints,
as its first line on stdout, the ports it really bound:

    ports ws=PORT nonhttp=PORT hangup=PORT

`ws` is the WebSocket server, with one behaviour per path:

    /echo                 echoes every Text and Binary message
    /subprotocol          requires a subprotocol: 400 without one; chooses the first of
                          SUBPROTOCOLS the client offers (400 when it offers none of them)
    /subprotocol/unoffered  answers with a subprotocol the client never offered
    /refuse               refuses the upgrade: 403 with a text body
    /close-1011           accepts, then closes with 1011 and a reason
    /ping                 sends a Ping, waits for its Pong, says so in a Text message,
                          then closes with 1000 (1002 if no Pong came)
    /eof                  sends one Text message, then ends its side of the TCP connection
                          (FIN) without a Close frame
    /reset                sends one Text message, waits for one message from the client,
                          then resets the TCP connection (RST)
    /greet                sends a Text and a Binary message, then echoes like /echo

`nonhttp` answers any connection with an SSH banner instead of HTTP; `hangup` reads the
request head and closes the connection without answering.

It runs until it is killed (the script that starts it stops it by PID).
"""

import asyncio
import socket
import struct
import sys
from urllib.parse import urlsplit

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed, NegotiationError

SUBPROTOCOLS = ("chat.v2", "chat.v1")
REFUSAL_BODY = "no entry: this route refuses every WebSocket upgrade\n"
CLOSE_1011_REASON = "the handler failed on purpose"
PONG_TIMEOUT = 5.0


def route(connection):
    return urlsplit(connection.request.path).path


def select_subprotocol(connection, offered):
    path = route(connection)
    if path == "/subprotocol/unoffered":
        return "not-offered"
    if path != "/subprotocol":
        return None
    if not offered:
        raise NegotiationError("missing subprotocol")
    for name in SUBPROTOCOLS:
        if name in offered:
            return name
    raise NegotiationError("no supported subprotocol; this route speaks " + ", ".join(SUBPROTOCOLS))


def process_request(connection, request):
    if urlsplit(request.path).path == "/refuse":
        return connection.respond(403, REFUSAL_BODY)
    return None


async def echo(connection):
    try:
        async for message in connection:
            await connection.send(message)
    except ConnectionClosed:
        pass


async def handler(connection):
    path = route(connection)
    if path in ("/echo", "/subprotocol"):
        await echo(connection)
    elif path == "/greet":
        await connection.send("hello from the interop server")
        await connection.send(bytes([0x00, 0x01, 0x02, 0xFE, 0xFF]))
        await echo(connection)
    elif path == "/close-1011":
        await connection.close(1011, CLOSE_1011_REASON)
    elif path == "/ping":
        pong = await connection.ping(b"are you there?")
        try:
            await asyncio.wait_for(pong, PONG_TIMEOUT)
        except asyncio.TimeoutError:
            await connection.close(1002, "no pong")
            return
        await connection.send("pong received")
        await connection.close(1000, "done")
    elif path == "/eof":
        await connection.send("closing without a close frame")
        # Half-close and stop reading: what the client sends next stays unread here,
        # so the kernel does not answer it with a reset before the client saw the EOF.
        connection.transport.pause_reading()
        connection.transport.write_eof()
        await asyncio.sleep(PONG_TIMEOUT)
        connection.transport.abort()
    elif path == "/reset":
        await connection.send("send anything and I reset")
        try:
            await connection.recv()
        except ConnectionClosed:
            return
        sock = connection.transport.get_extra_info("socket")
        # Linger on, timeout zero: close() sends RST instead of FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.transport.abort()
    else:
        await connection.close(1008, "no such route: " + path)


async def read_head(reader):
    try:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PONG_TIMEOUT)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError):
        pass


async def nonhttp(reader, writer):
    await read_head(reader)
    writer.write(b"SSH-2.0-OpenSSH_9.6 not a web server\r\n")
    await writer.drain()
    writer.close()


async def hangup(reader, writer):
    await read_head(reader)
    writer.close()


async def main():
    async with serve(
        handler,
        "127.0.0.1",
        0,
        select_subprotocol=select_subprotocol,
        process_request=process_request,
        ping_interval=None,
    ) as ws:
        nonhttp_server = await asyncio.start_server(nonhttp, "127.0.0.1", 0)
        hangup_server = await asyncio.start_server(hangup, "127.0.0.1", 0)
        ports = {
            "ws": ws.sockets[0].getsockname()[1],
            "nonhttp": nonhttp_server.sockets[0].getsockname()[1],
            "hangup": hangup_server.sockets[0].getsockname()[1],
        }
        print("ports " + " ".join(f"{k}={v}" for k, v in ports.items()), flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
