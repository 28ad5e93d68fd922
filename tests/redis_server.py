"""A real ``redis-server`` (Debian's package, ``make system-packages``) as a child of the tests.

Nothing is saved to disk and it listens on 127.0.0.1 only. Every wait is a poll with a deadline,
so a server that never comes up fails the test instead of hanging it.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time

from tests.functional.gateway_process import free_port

#: A cold redis-server answers in ~10 ms; this is for a loaded CI box.
START_TIMEOUT = 10.0


class RedisServer:
    """One ``redis-server`` process on ``port`` (a free one unless given); ``start`` waits until it
    answers PING, ``stop`` ends it and waits for it (both may be called again: stop, then start on
    the same port is Redis coming back)."""

    def __init__(self, port: int | None = None, *args: str) -> None:
        self.port = port or free_port()
        self._args = args
        self._dir = tempfile.TemporaryDirectory(prefix="gateway-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", self._dir.name, *self._args]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers_ping():
            if self._process.poll() is not None:
                stderr = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"redis-server exited with {self._process.returncode}: {stderr}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer PING on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stderr:
            self._process.stderr.close()
        self._process = None

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                # +PONG, or -NOAUTH from a server started with --requirepass: either way it is up.
                return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False
