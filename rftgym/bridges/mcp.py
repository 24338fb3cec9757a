"""MCP both ways (the official ``mcp`` SDK; ``pip install rftgym[mcp]``).

* **An env's tools as an MCP server**: ``rftgym mcp serve ENV_ID`` (stdio; ``--http --port N``:
  Streamable HTTP at ``/mcp``). The env is reset onto one task (``--task-id``, else the first task
  of ``--split``) and every ``tools/call`` runs through the env's own
  :class:`~rftgym.envs.tools.Toolbox`: the same argument validation and the same error messages
  as in an episode; an error is a result with ``isError`` set and the message as its text.
* **An MCP server's tools inside a ChatEnv**: :class:`MCPTools` connects to a server (a command
  over stdio, or a Streamable HTTP URL), and :func:`add_mcp_tools` adds its tools to an env's
  toolbox as ordinary tools: the model sees their JSON schemas, ``Toolbox.call`` validates the
  arguments with ``jsonschema`` against the server's ``inputSchema`` and answers a bad call with
  the same messages as for an ``@tool`` method; a result the server marks ``isError`` is a
  ``tool_exception`` (``Error: NAME failed: MCPToolError: ...``)::

      class MyEnv(ChatEnv):
          def __init__(self, **kwargs):
              super().__init__(**kwargs)
              self.mcp = MCPTools(["python", "-m", "my_mcp_server"])   # or MCPTools("http://host:8000/mcp")
              add_mcp_tools(self, self.mcp)

          def close(self):
              self.mcp.close()

The connection lives on an event loop in a background thread, so tools stay plain synchronous
calls, as ``env.step`` makes them (it runs in a worker thread of the rollout loop).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Any

import jsonschema

try:
    import anyio
    import mcp.types as mcp_types
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.server.lowlevel import Server
except ImportError as e:  # pragma: no cover - the extra is missing
    raise ImportError("the MCP bridge needs the mcp extra: pip install 'rftgym[mcp]'") from e

from rftgym.envs.core import ChatEnv
from rftgym.envs.spaces import MessageSpace
from rftgym.envs.tools import Tool
from rftgym.types import ToolSchema, tool_call


class MCPToolError(Exception):
    """The MCP server answered a tool call with an error result (``isError``)."""


# ----- an MCP server's tools inside an env -----


class MCPTools:
    """A live connection to one MCP server; ``tools()`` are rftgym tools calling it."""

    def __init__(
        self,
        server: str | Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        timeout: float = 60.0,
    ):
        """Args:
        server: A Streamable HTTP URL (``http://127.0.0.1:8000/mcp``), or the command that starts
            a stdio server (``["python", "-m", "my_server"]``).
        env: Extra environment variables of a stdio server's process.
        cwd: Working folder of a stdio server's process.
        timeout: Seconds to connect, and per tool call.
        """
        if isinstance(server, str):
            if not server.startswith(("http://", "https://")):
                raise ValueError(f"an MCP server is an http(s) URL or a command list, got {server!r}")
            self._target: Any = server
        else:
            command = list(server)
            if not command:
                raise ValueError("the MCP server command is empty")
            self._target = StdioServerParameters(command=command[0], args=command[1:], env=env, cwd=cwd)
        self.timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="rftgym-mcp", daemon=True)
        self._thread.start()
        self._client: Any = None
        self._stop: asyncio.Event | None = None
        self._main: concurrent.futures.Future[None] | None = None
        try:
            self._schemas = self._run(self._connect())
        except BaseException:
            self.close()
            raise

    def tools(self) -> list[Tool]:
        """The server's tools as rftgym tools (validated against their ``inputSchema``)."""
        found = []
        for mcp_tool in self._schemas:
            parameters = dict(mcp_tool.inputSchema or {"type": "object"})
            schema: ToolSchema = {
                "type": "function",
                "function": {
                    "name": mcp_tool.name,
                    "description": mcp_tool.description or "",
                    "parameters": parameters,
                },
            }
            validator = jsonschema.Draft202012Validator(parameters)
            fn = functools.partial(self.call, mcp_tool.name)
            found.append(Tool(mcp_tool.name, fn, schema, validator, ()))
        return found

    def call(self, name: str, /, **arguments: Any) -> str:
        """Call one tool; its text content. Raises :class:`MCPToolError` for an error result."""
        result = self._run(self._client.call_tool(name, arguments))
        text = "\n".join(
            block.text if block.type == "text" else json.dumps(block.model_dump()) for block in result.content
        )
        if result.isError:  # an rftgym server's message already says "Error: NAME failed: "
            raise MCPToolError(text.removeprefix(f"Error: {name} failed: "))
        if not text and result.structuredContent is not None:
            return json.dumps(result.structuredContent)
        return text

    def close(self) -> None:
        """Disconnect (a stdio server's process ends) and stop the background loop."""
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            if self._main is not None:
                with contextlib.suppress(Exception):  # the peer may be gone already
                    self._main.result(timeout=self.timeout)
            self._stop = None
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=self.timeout)

    def __enter__(self) -> MCPTools:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=self.timeout)

    async def _connect(self) -> list[Any]:
        """Start the task that holds the connection open; the server's tools once connected."""
        ready: asyncio.Future[list[Any]] = self._loop.create_future()
        self._stop = asyncio.Event()
        stop = self._stop

        async def hold() -> None:
            try:
                async with self._transport() as streams, ClientSession(streams[0], streams[1]) as client:
                    await client.initialize()
                    self._client = client
                    ready.set_result(list((await client.list_tools()).tools))
                    await stop.wait()
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(exc)
                    return
                raise

        self._main = asyncio.run_coroutine_threadsafe(hold(), self._loop)
        return await ready

    def _transport(self) -> Any:
        if isinstance(self._target, str):
            return streamable_http_client(self._target)
        return stdio_client(self._target)


def add_mcp_tools(env: ChatEnv, tools: MCPTools) -> None:
    """Give ``env`` the tools of ``tools``'s server, beside its own (a name clash is refused)."""
    for found in tools.tools():
        if found.name in env.toolbox.tools:
            raise ValueError(f"{type(env).__name__} already has a tool named {found.name!r}")
        env.toolbox.tools[found.name] = found
    env.action_space = MessageSpace(("assistant",), tool_names=list(env.toolbox.tools))


# ----- an env's tools as an MCP server -----


def env_server(env: ChatEnv) -> Server[Any]:
    """An MCP server of ``env``'s tools (reset the env onto a task first); calls run in a thread."""

    server: Server[Any, Any] = Server(f"rftgym:{env.spec.id if env.spec else type(env).__name__}")

    @server.list_tools()
    async def list_tools() -> list[mcp_types.Tool]:
        return [
            mcp_types.Tool(
                name=schema["function"]["name"],
                description=schema["function"].get("description") or None,
                inputSchema=schema["function"]["parameters"],
            )
            for schema in env.toolbox.schemas
        ]

    # The Toolbox validates, with the messages an episode gives; the SDK's own check would differ.
    @server.call_tool(validate_input=False)
    async def call_tool(name: str, arguments: dict[str, Any]) -> mcp_types.CallToolResult:
        call = tool_call(name, arguments or {}, call_id="mcp")
        result = await anyio.to_thread.run_sync(env.toolbox.call, call)
        content = result.message.get("content")
        text = content if isinstance(content, str) else json.dumps(content)
        return mcp_types.CallToolResult(
            content=[mcp_types.TextContent(type="text", text=text)], isError=result.error is not None
        )

    return server


def serve_stdio(env: ChatEnv) -> None:
    """Serve ``env``'s tools over this process's stdin/stdout until the client leaves."""
    from mcp.server.stdio import stdio_server

    server = env_server(env)

    async def run() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(run)


def serve_http(env: ChatEnv, host: str, port: int, on_ready: Any = None) -> None:
    """Serve ``env``'s tools over Streamable HTTP at ``http://HOST:PORT/mcp`` until Ctrl-C."""
    import uvicorn
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from starlette.applications import Starlette
    from starlette.routing import Route

    manager = StreamableHTTPSessionManager(app=env_server(env))

    class Endpoint:  # an ASGI app (a class instance), which a starlette Route passes requests to as they are
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await manager.handle_request(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with manager.run():
            yield

    app = Starlette(routes=[Route("/mcp", endpoint=Endpoint())], lifespan=lifespan)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if on_ready is not None and server.started:
            bound = server.servers[0].sockets[0].getsockname()[1]
            on_ready(f"http://{host}:{bound}/mcp")
        await task

    asyncio.run(run())
