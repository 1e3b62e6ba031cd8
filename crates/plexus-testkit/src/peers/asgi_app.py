"""A small ASGI application for the Python peers (aioquic's example HTTP/3 server and
Hypercorn): serves files from $PLEXUS_WWW, echoes POST /echo, and logs every request to
$PLEXUS_ACCESS_LOG as `client_host:client_port http_version method path`."""

import os

WWW = os.environ["PLEXUS_WWW"]
LOG = os.environ["PLEXUS_ACCESS_LOG"]


def log(scope):
    host, port = scope.get("client") or ("?", 0)
    with open(LOG, "a") as f:
        f.write(f"{host}:{port} {scope.get('http_version', '?')} {scope['method']} {scope['path']}\n")


async def read_body(receive):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


async def respond(send, status, body, content_type=b"application/octet-stream"):
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(body)).encode()),
                (b"content-type", content_type),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    body = await read_body(receive)
    log(scope)
    path = scope["path"]
    if path == "/echo":
        await respond(send, 200, body)
        return
    file = os.path.normpath(os.path.join(WWW, path.lstrip("/")))
    if not file.startswith(os.path.normpath(WWW)) or not os.path.isfile(file):
        await respond(send, 404, b"")
        return
    with open(file, "rb") as f:
        await respond(send, 200, f.read())
