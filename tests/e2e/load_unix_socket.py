"""Bounded load against the app's unix socket, run ON a lab host.

    python3 load_unix_socket.py SOCKET PATH SECONDS STOPFILE

Four threads GET PATH until SECONDS pass or STOPFILE exists, then print JSON:
the count of each status (errors as "error: ...") and the versions answered.
"""

import http.client
import json
import os
import socket
import sys
import threading
import time
from collections import Counter


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.unix_path)


def main():
    sock_path, path, seconds, stopfile = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    deadline = time.monotonic() + min(seconds, 900)
    statuses, versions, lock = Counter(), Counter(), threading.Lock()

    def worker():
        while time.monotonic() < deadline and not os.path.exists(stopfile):
            try:
                conn = UnixConnection(sock_path)
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                conn.close()
                key = str(response.status)
                version = json.loads(body).get("version") if response.status == 200 else None
            except Exception as exc:  # every failure counts; the test asserts none
                key, version = f"error: {type(exc).__name__}: {exc}", None
            with lock:
                statuses[key] += 1
                if version:
                    versions[version] += 1
            time.sleep(0.01)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"statuses": statuses, "versions": versions}))


main()
