"""Running an asyncio HTTP server in a background thread, for tests, notebooks and benchmarks."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
from typing import Any

from aiohttp import web


class BackgroundServer:
    """Base of servers that ``start()`` on their own event loop in a daemon thread.

    A subclass writes ``async serve() -> base_url`` (start listening on the running loop) and
    ``async close()`` (stop listening, release what ``serve`` took); ``with server:`` does the rest.
    """

    host: str = "127.0.0.1"
    port: int = 0
    base_url: str = ""
    _runner: web.AppRunner | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    async def listen(self, app: web.Application, **runner_options: Any) -> str:
        """Serve ``app`` on ``host:port`` (0: a free port) from the running loop; sets ``port``,
        ``base_url`` (``http://host:port/v1``) and ``_runner`` (``close`` calls its ``cleanup``)."""
        self._runner = web.AppRunner(app, access_log=None, **runner_options)  # no per-request log
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock, backlog=1024).start()
        self.base_url = f"http://{self.host}:{self.port}/v1"
        return self.base_url

    async def serve(self) -> str:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def start(self) -> Any:
        """Serve from a background thread; returns ``self`` once the port is listening."""
        ready: concurrent.futures.Future[str] = concurrent.futures.Future()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, args=(self._loop, ready), name=type(self).__name__, daemon=True
        )
        self._thread.start()
        ready.result()  # re-raises what went wrong, e.g. the port is taken
        return self

    def _run(self, loop: asyncio.AbstractEventLoop, ready: concurrent.futures.Future[str]) -> None:
        """The thread's body: serve, report the URL (or the failure) through ``ready``, then run
        ``loop`` until :meth:`stop` and close the server on it."""
        try:
            ready.set_result(loop.run_until_complete(self.serve()))
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            ready.set_exception(exc)
            loop.close()
            return
        loop.run_forever()
        loop.run_until_complete(self.close())
        loop.close()

    def stop(self) -> None:
        """Stop the background thread's server (in-flight requests are dropped)."""
        if self._thread is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
