"""A delay proxy: a unix socket in front of a TCP server, every byte held back ``--delay-ms / 2`` each way.

This kernel has no ``netem`` (``tc qdisc ... netem delay``), so the round trip of a distant HSM is made here: each
chunk read from one side is written to the other once ``delay / 2`` has passed since it was read, in order, so a
request and its answer take one ``delay`` more than on the bare link (bandwidth is not limited). Used by the
network lab (:mod:`benchmarks.netlab`) in the client's network namespace, between ``p11-kit-client.so`` and the TCP
connection to an HSM host. Standalone (no imports from the project): it runs as a script inside ``ip netns exec``.

    python delayproxy.py --listen UNIX_PATH --connect HOST:PORT --delay-ms 1.5 --lifetime 900

It stops by itself after ``--lifetime`` seconds (the lab stops it before then), on SIGTERM, and when its parent
dies (``PR_SET_PDEATHSIG``, set by whoever starts it); its connections' threads are daemons and end with it.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import signal
import socket
import sys
import threading
import time

CHUNK = 65536


def _pump(source: socket.socket, sink: socket.socket, delay: float, stop: threading.Event) -> None:
    """Copy ``source`` to ``sink``, each chunk written ``delay`` seconds after it was read, in order. Two threads:
    one reads (never waiting for the writer), one writes when each chunk is due (``time.sleep`` is precise to tens
    of microseconds; an asyncio loop's timers round to the millisecond, which would double a 1 ms delay)."""
    queue: collections.deque[tuple[float, bytes]] = collections.deque()
    ready = threading.Condition()
    ended = [False]

    def read() -> None:
        try:
            while not stop.is_set():
                data = source.recv(CHUNK)
                if not data:
                    break
                with ready:
                    queue.append((time.monotonic() + delay, data))
                    ready.notify()
        except OSError:
            pass
        finally:
            with ready:
                ended[0] = True
                ready.notify()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        while True:
            with ready:
                while not queue and not ended[0]:
                    ready.wait(1.0)
                if not queue:
                    break
                due, data = queue.popleft()
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
        reader.join(1.0)


def _serve_one(client: socket.socket, host: str, port: int, delay: float, stop: threading.Event) -> None:
    try:
        server = socket.create_connection((host, port), timeout=5)
    except OSError:
        client.close()
        return
    server.settimeout(None)
    server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    up = threading.Thread(target=_pump, args=(client, server, delay, stop), daemon=True)
    up.start()
    _pump(server, client, delay, stop)
    up.join()
    client.close()
    server.close()


def serve(listen: str, host: str, port: int, delay: float, lifetime: float) -> None:
    """Accept on ``listen`` until ``lifetime`` s have passed or SIGTERM; each connection in threads of its own."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(listen)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    deadline = time.monotonic() + lifetime
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(listen)
        listener.listen(16)
        listener.settimeout(0.2)
        print(f"delayproxy: {listen} -> {host}:{port}, {delay * 2000:g} ms round trip", flush=True)
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            client.settimeout(None)
            threading.Thread(target=_serve_one, args=(client, host, port, delay, stop), daemon=True).start()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(listen)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--listen", required=True, help="unix socket path to listen on")
    parser.add_argument("--connect", required=True, help="HOST:PORT of the TCP server")
    parser.add_argument("--delay-ms", type=float, required=True, help="round trip to add, in milliseconds")
    parser.add_argument("--lifetime", type=float, default=900.0, help="stop after this many seconds")
    args = parser.parse_args(argv)
    host, _, port = args.connect.rpartition(":")
    if not host or not port.isdigit() or args.delay_ms < 0 or args.lifetime <= 0:
        parser.error("--connect HOST:PORT, --delay-ms >= 0, --lifetime > 0")
    serve(args.listen, host, int(port), args.delay_ms / 2000.0, args.lifetime)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
