"""aioquic's example HTTP/3 server (http3_server.py from the aioquic sdist, found on
PYTHONPATH) with the knobs plexus's interop cases need: several listen addresses, Retry,
TLS_CHACHA20_POLY1305_SHA256 only, a small MAX_STREAMS, and a log line for every
completed handshake (ALPN, resumed, early data accepted), every key update and every Retry
sent, written to
$PLEXUS_HANDSHAKE_LOG, so that those are counted by the server."""

import argparse
import asyncio
import os

import http3_server as example
from aioquic.asyncio import serve
from aioquic.asyncio import server as aioquic_server
from aioquic.h0.connection import H0_ALPN
from aioquic.h3.connection import H3_ALPN
from aioquic.quic import crypto
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import HandshakeCompleted
from aioquic.tls import CipherSuite

EVENTS = os.environ["PLEXUS_HANDSHAKE_LOG"]


def note(line):
    with open(EVENTS, "a") as f:
        f.write(line + "\n")


MAX_STREAMS = None


class Protocol(example.HttpServerProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if MAX_STREAMS is not None:
            # Sent in the transport parameters, and as MAX_STREAMS as streams finish.
            limit = self._quic._local_max_streams_bidi
            limit.sent = limit.value = MAX_STREAMS

    def quic_event_received(self, event):
        if isinstance(event, HandshakeCompleted):
            note(
                f"handshake alpn={event.alpn_protocol} "
                f"resumed={int(event.session_resumed)} "
                f"early_data={int(event.early_data_accepted)}"
            )
        super().quic_event_received(event)


_update_key = crypto.CryptoPair._update_key


def logged_update_key(self, trigger):
    note(f"key_update trigger={trigger}")
    _update_key(self, trigger)


crypto.CryptoPair._update_key = logged_update_key

_encode_quic_retry = aioquic_server.encode_quic_retry


def logged_encode_quic_retry(*args, **kwargs):
    note("retry sent")
    return _encode_quic_retry(*args, **kwargs)


aioquic_server.encode_quic_retry = logged_encode_quic_retry


async def main(args):
    configuration = QuicConfiguration(
        alpn_protocols=H3_ALPN + H0_ALPN,
        is_client=False,
        max_datagram_frame_size=65536,
    )
    if args.chacha20_only:
        configuration.cipher_suites = [CipherSuite.CHACHA20_POLY1305_SHA256]
    configuration.load_cert_chain(args.certificate, args.private_key)
    store = example.SessionTicketStore()
    for host in args.host:
        await serve(
            host,
            args.port,
            configuration=configuration,
            create_protocol=Protocol,
            session_ticket_fetcher=store.pop,
            session_ticket_handler=store.add,
            retry=args.retry,
        )
    await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("app")
    parser.add_argument("--certificate", required=True)
    parser.add_argument("--private-key", required=True)
    parser.add_argument("--host", action="append", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--retry", action="store_true")
    parser.add_argument("--chacha20-only", action="store_true")
    parser.add_argument("--max-streams", type=int)
    args = parser.parse_args()
    MAX_STREAMS = args.max_streams
    module, attr = args.app.split(":", 1)
    example.application = getattr(__import__(module), attr)
    asyncio.run(main(args))
