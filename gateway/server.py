"""Running the gateway: uvloop, one event loop per process, SO_REUSEPORT workers, graceful drain.

Drain (SIGTERM or SIGINT): /readyz turns 503 and every answer closes its connection (keep-alive
pools reconnect elsewhere), then after ``drain_delay`` the listener closes (new connections are
refused), in-flight requests and streams get ``drain_timeout`` seconds to finish, and whatever is
left is cancelled. With ``--workers N`` a supervisor starts N processes
that share the port, forwards the signal to them, and restarts a worker that dies. With metrics on,
it gives the workers a private directory (0700) for prometheus-client's multi-process files, so
one scrape of any worker shows the whole server, and removes it at exit.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import multidict
import uvloop
import yarl
from aiohttp import http_parser, web
from prometheus_client import multiprocess

from gateway.api.metrics import MULTIPROC_DIR
from gateway.app import create_app
from gateway.appkeys import STATE, ServerState
from gateway.config.settings import ServerSettings, Settings
from gateway.observability.logging import configure_logging

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

__all__ = [
    "run",
]

logger = logging.getLogger("gateway.server")

#: Seconds a request cancelled at the end of the drain gets to send its in-band error event.
_CANCEL_GRACE = 1.0


def run(settings: Settings) -> int:
    """Serve until told to stop; the process exit code."""
    configure_logging(settings.server.log_level, settings.server.access_log_format)
    check_speedups()
    if settings.server.workers <= 1:
        return serve(settings, reuse_port=False)
    if not settings.metrics.enabled:
        return _supervise(settings, None)
    # Before any worker starts: spawned workers read it as prometheus-client is imported.
    directory = os.environ[MULTIPROC_DIR] = tempfile.mkdtemp(prefix="gateway-metrics-")
    try:
        return _supervise(settings, directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def serve(settings: Settings, *, reuse_port: bool) -> int:
    configure_logging(settings.server.log_level, settings.server.access_log_format)
    try:
        uvloop.run(_serve(settings, reuse_port))
    except OSError as exc:
        logger.error("cannot listen on %s:%d: %s", settings.server.host, settings.server.port, exc.strerror)
        return 1
    return 0


async def _serve(settings: Settings, reuse_port: bool) -> None:
    server = settings.server
    app = create_app(settings)
    # The drain is ours (below): by the time aiohttp's shutdown runs, no proxied request is left.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=_CANCEL_GRACE)
    await runner.setup()
    try:
        for site in _sites(runner, server, reuse_port):
            await site.start()
    except OSError:
        await runner.cleanup()
        raise
    _settle_garbage_collector()
    logger.info("gateway listening on http://%s:%d/v1", server.host, server.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await _drain(runner, app[STATE], server.drain_delay, server.drain_timeout)
    logger.info("stopped")


def _sites(runner: web.AppRunner, server: ServerSettings, reuse_port: bool) -> Iterator[web.BaseSite]:
    """The process's listening sockets on the port: ``listen_sockets`` of them (SO_REUSEPORT),
    each bound as it is asked for (so a failed bind leaves only the started ones, for the
    runner's cleanup).

    uvloop takes one new connection per listening socket per turn of its loop: a process whose loop
    turns slowly (CPU overload) would leave new connections queued in the kernel, unseen by
    admission control, for seconds. Several sockets take that many per turn. An ephemeral port
    (0) gets one socket, since each would get a port of its own.
    """
    count = server.listen_sockets if server.port else 1
    shared = reuse_port or count > 1
    for _ in range(count):
        yield _site(runner, server, shared)


def _site(runner: web.AppRunner, server: ServerSettings, shared: bool) -> web.BaseSite:
    """One listening socket. An address (127.0.0.1 by default, 0.0.0.0, ::) is bound here: given a
    host, the loop resolves it in libuv's thread pool, whose 4 threads (~0.5 MB) an idle gateway
    otherwise need not hold until its first upstream name lookup. A name goes to TCPSite."""
    try:
        address = ipaddress.ip_address(server.host)
    except ValueError:
        return web.TCPSite(runner, server.host, server.port, backlog=server.backlog, reuse_port=shared)
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # The options the loop's create_server sets on the sockets it binds.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((server.host, server.port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return web.SockSite(runner, sock, backlog=server.backlog)


#: Container allocations (net) between two young-generation collections; CPython's default is 700.
_YOUNG_COLLECTION_EVERY = 10_000


def _settle_garbage_collector() -> None:
    """Keep the cyclic GC off the hot path. A proxied request allocates a few hundred container
    objects, nearly all freed by reference counting as it ends, so at CPython's default threshold a
    young collection ran about every other request and walked the requests in flight each time (5 %
    of a request's CPU in py-spy; 20-40 µs less per request on the 2-core VM at 10,000). Start-up's
    objects (settings, 80 adapters, the price table) are frozen out of every later collection: they
    live as long as the process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(_YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])


async def _drain(runner: web.AppRunner, state: ServerState, delay: float, drain_timeout: float) -> None:
    """Stop taking work, let in-flight requests finish for up to ``drain_timeout`` s, cancel the rest."""
    state.draining = True
    logger.info("draining: %d requests in flight, up to %gs to finish", state.in_flight, drain_timeout)
    if delay:
        await asyncio.sleep(delay)
    for site in list(runner.sites):
        await site.stop()
    if not await _idle_within(state, drain_timeout):
        logger.warning("drain timeout: cancelling %d requests still in flight", state.in_flight)
        state.cancel_all()
        await _idle_within(state, _CANCEL_GRACE)
    await runner.cleanup()


async def _idle_within(state: ServerState, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            await state.wait_idle()
    except TimeoutError:
        return False
    return True


def check_speedups() -> None:
    """Warn when a C extension the hot path relies on is missing (pure-Python fallbacks are slow)."""
    modules = {
        "aiohttp's HTTP parser": http_parser.HttpRequestParser.__module__,
        "multidict": multidict.MultiDict.__module__,
        "yarl": yarl._quoting._Quoter.__module__,
    }
    for name, module in modules.items():
        if module.endswith("_py") or module == "aiohttp.http_parser":
            logger.warning("%s runs without its C extension (%s): expect much higher latency", name, module)


def _supervise(settings: Settings, metrics_dir: str | None) -> int:
    """Run the workers; ``metrics_dir``: their multi-process metrics files (a dead worker's live
    gauges are dropped from it)."""
    # Imported here only: a single-process gateway (the default) never holds multiprocessing.
    import multiprocessing
    from multiprocessing.connection import wait

    context = multiprocessing.get_context("spawn")
    workers: dict[BaseProcess, float] = {}  # process → when it started
    stopping = False
    exit_code = 0

    def start() -> None:
        process = context.Process(target=serve, args=(settings,), kwargs={"reuse_port": True})
        process.start()
        workers[process] = time.monotonic()

    def stop(signum: int, frame: object = None) -> None:
        nonlocal stopping
        stopping = True
        for process in workers:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(settings.server.workers):
        start()
    logger.info("supervising %d workers", len(workers))
    while workers:
        wait([process.sentinel for process in workers], timeout=1.0)
        for process in [p for p in workers if not p.is_alive()]:
            uptime = time.monotonic() - workers.pop(process)
            if metrics_dir is not None and process.pid is not None:
                multiprocess.mark_process_dead(process.pid, metrics_dir)  # type: ignore[no-untyped-call]
            if stopping:
                continue
            if uptime < settings.server.min_worker_uptime:
                logger.error(
                    "worker %d exited after %.1fs (code %s): stopping", process.pid, uptime, process.exitcode
                )
                exit_code = 1
                stop(signal.SIGTERM)
            else:
                logger.warning("worker %d exited (code %s): restarting it", process.pid, process.exitcode)
                start()
    return exit_code
