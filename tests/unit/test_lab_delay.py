"""The lab's delaying TCP proxy (groundwork.lab.delay), against an echo server on loopback."""

from __future__ import annotations

import socket
import socketserver
import threading
import time

import pytest

from groundwork.lab.delay import delayed


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address
    server.shutdown()
    server.server_close()


def round_trips(port: int, count: int, payload: bytes) -> float:
    """Seconds for `count` request/response exchanges over one connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.monotonic()
        for _ in range(count):
            sock.sendall(payload)
            got = b""
            while len(got) < len(payload):
                chunk = sock.recv(65536)
                assert chunk, "the proxy closed the connection"
                got += chunk
            assert got == payload
        return time.monotonic() - start


def test_every_round_trip_takes_at_least_the_rtt(echo_server):
    with delayed({"echo": echo_server}, rtt_ms=40) as ports:
        seconds = round_trips(ports["echo"], 5, b"ping" * 10)
    assert seconds >= 5 * 0.040


def test_data_goes_through_whole_and_in_order(echo_server):
    payload = bytes(range(256)) * 2048  # 512 KiB, many chunks
    with delayed({"echo": echo_server}, rtt_ms=10) as ports:
        assert round_trips(ports["echo"], 2, payload) >= 2 * 0.010


def test_zero_rtt_passes_data_through(echo_server):
    with delayed({"echo": echo_server}, rtt_ms=0) as ports:
        round_trips(ports["echo"], 3, b"x")


def test_a_negative_rtt_is_refused():
    with pytest.raises(ValueError, match="rtt_ms"):
        delayed({}, rtt_ms=-1).__enter__()
