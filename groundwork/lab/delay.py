"""A round-trip time for lab hosts: a TCP proxy on loopback that holds every chunk of
data for half the chosen RTT in each direction before passing it on.

This kernel has no netem, and lab hosts answer in well under a millisecond, which
hides what each SSH round trip costs on a real network (a laptop or CI runner to a
VPS: ~20 ms). The proxy adds latency, not a bandwidth limit: chunks keep their order
and go on as soon as they are due.

    with delayed({"lab1": ("172.31.213.11", 22)}, rtt_ms=20) as ports:
        ...  # connect to 127.0.0.1:ports["lab1"]

It listens on 127.0.0.1 only and connects only to the addresses it is given (the
lab's hosts); it accepts at most MAX_CONNECTIONS connections in its life.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

from ..paths import ROOT

MAX_CONNECTIONS = 512
CHUNK = 65536


class DelayProxy:
    """Proxies for several targets, on one event loop."""

    def __init__(self, targets: dict[str, tuple[str, int]], rtt_ms: float):
        if rtt_ms < 0:
            raise ValueError("rtt_ms must be >= 0")
        self.targets = targets
        self.one_way = rtt_ms / 2000.0
        self.ports: dict[str, int] = {}
        self.connections = 0

    async def listen(self) -> dict[str, int]:
        for name, target in self.targets.items():
            server = await asyncio.start_server(
                lambda r, w, target=target: self._serve(r, w, target), host="127.0.0.1", port=0)
            self.ports[name] = server.sockets[0].getsockname()[1]
        return dict(self.ports)

    async def _serve(self, client_reader, client_writer, target) -> None:
        # A connection the client opened and never used ends with the client: quietly.
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await self._relay(client_reader, client_writer, target)

    async def _relay(self, client_reader, client_writer, target) -> None:
        self.connections += 1
        if self.connections > MAX_CONNECTIONS:
            client_writer.close()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(asyncio.open_connection(*target), 10)
        except (OSError, asyncio.TimeoutError):
            client_writer.close()
            return
        await asyncio.gather(
            self._pipe(client_reader, upstream_writer),
            self._pipe(upstream_reader, client_writer),
            return_exceptions=True,
        )

    async def _pipe(self, reader, writer) -> None:
        """Each chunk read goes on one-way delay after it arrived; the end of the stream too."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        async def read():
            try:
                while data := await reader.read(CHUNK):
                    queue.put_nowait((loop.time() + self.one_way, data))
            finally:
                queue.put_nowait((loop.time() + self.one_way, b""))

        async def write():
            try:
                while True:
                    due, data = await queue.get()
                    wait = due - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    if not data:
                        if writer.can_write_eof():
                            writer.write_eof()
                        return
                    writer.write(data)
                    await writer.drain()
            finally:
                with contextlib.suppress(Exception):
                    writer.close()

        await asyncio.gather(read(), write(), return_exceptions=True)


async def _serve_until_stdin_closes(targets: dict[str, tuple[str, int]], rtt_ms: float, lifetime: float) -> None:
    ports = await DelayProxy(targets, rtt_ms).listen()
    for name, port in ports.items():
        print(name, port, flush=True)
    loop = asyncio.get_running_loop()
    # The parent holds our stdin: when it goes (or after `lifetime`), so do we.
    await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.read), lifetime)


@contextlib.contextmanager
def delayed(targets: dict[str, tuple[str, int]], rtt_ms: float, lifetime: float = 3600) -> Iterator[dict[str, int]]:
    """{name: loopback port} of a proxy per target, adding `rtt_ms` to every round trip.

    The proxy is a process of its own (the caller may be a gevent-patched pyinfra or
    test process, where an event loop in a thread is not safe); it ends with the block,
    or after `lifetime` seconds whatever happens."""
    if rtt_ms < 0:
        raise ValueError("rtt_ms must be >= 0")
    argv = [sys.executable, "-m", "groundwork.lab.delay", "--rtt-ms", str(rtt_ms), "--lifetime", str(lifetime)]
    argv += [f"{name}={address}:{port}" for name, (address, port) in targets.items()]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)  # where `-m groundwork.lab.delay` imports from
    try:
        ports = {}
        for _ in targets:
            line = proc.stdout.readline().split()
            if len(line) != 2:
                raise RuntimeError(f"the delaying proxy did not start (exit {proc.poll()})")
            ports[line[0]] = int(line[1])
        yield ports
    finally:
        with contextlib.suppress(Exception):
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A delaying TCP proxy on loopback (groundwork.lab.delay).")
    parser.add_argument("--rtt-ms", type=float, required=True)
    parser.add_argument("--lifetime", type=float, default=3600)
    parser.add_argument("targets", nargs="+", help="NAME=ADDRESS:PORT")
    args = parser.parse_args(argv)
    targets = {}
    for spec in args.targets:
        name, _, address = spec.partition("=")
        host, _, port = address.rpartition(":")
        targets[name] = (host.strip("[]"), int(port))
    with contextlib.suppress(asyncio.TimeoutError, KeyboardInterrupt):
        asyncio.run(_serve_until_stdin_closes(targets, args.rtt_ms, args.lifetime))
    sys.stdout.flush()
    os._exit(0)  # the thread still reading stdin after `lifetime` must not keep the process


if __name__ == "__main__":
    main()
