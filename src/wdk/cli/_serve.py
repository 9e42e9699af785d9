"""``wdk serve``: the HTTP API, webhooks and streams on uvicorn, with an embedded worker."""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

import click

from wdk.cli._common import (
    adopt_option,
    deployment_option,
    import_modules,
    import_option,
    log_level_option,
    root_option,
    setup_project,
    use_deployment,
    world_option,
)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _loopback(sock: socket.socket) -> bool:
    """Whether ``sock`` listens only on a loopback address (a name was resolved by bind)."""
    address = ipaddress.ip_address(sock.getsockname()[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _chat_routes(workflow: str, page: Path | None, max_body: int) -> tuple[Any, ...]:
    """``/api/chat`` (and the page at ``/chat/``) for ``wdk serve --chat``."""
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    from wdk.ai._chat import chat_routes

    routes: list[Any] = chat_routes(
        workflow, max_body=max_body, abort_after_chunks=_abort_after_chunks()
    )
    if page is not None:
        routes.append(Mount("/chat", StaticFiles(directory=str(page), html=True)))
    return tuple(routes)


def _chat_workflow(target: str, project: Any) -> str:
    """The workflow ID of ``--chat`` (an ID, or MODULE:FUNCTION), checked now."""
    from wdk.cli._run import _workflow_id
    from wdk.errors import WorkflowNotRegisteredError

    workflow_id = target if target.startswith("workflow//") else _workflow_id(target, project)
    try:
        project.workflow_target(workflow_id)
    except WorkflowNotRegisteredError as exc:
        raise click.BadParameter(str(exc), param_hint="--chat") from None
    return workflow_id


def _abort_after_chunks() -> int | None:
    """``WDK_CHAT_ABORT_AFTER_CHUNKS``: test-only, cut each chat answer after N chunks."""
    raw = os.environ.get("WDK_CHAT_ABORT_AFTER_CHUNKS", "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise click.UsageError("WDK_CHAT_ABORT_AFTER_CHUNKS must be an integer") from None
    if value < 0:
        raise click.UsageError("WDK_CHAT_ABORT_AFTER_CHUNKS must be >= 0")
    click.echo(
        f"wdk serve: TEST MODE: every POST /api/chat answer is cut after {value} chunks", err=True
    )
    return value


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    default=3000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to bind (0: any free port, printed).",
)
@click.option(
    "--workers",
    default=8,
    show_default=True,
    type=click.IntRange(min=0),
    help="Slots of the embedded worker (steps run at once); 0 serves the API only.",
)
@world_option
@root_option
@click.option(
    "--base-url",
    envvar="WDK_BASE_URL",
    show_envvar=True,
    default=None,
    help="Public base URL for webhook and run URLs. Default: http://HOST:PORT.",
)
@click.option(
    "--webhook-timeout",
    envvar="WDK_WEBHOOK_TIMEOUT",
    show_envvar=True,
    default=30.0,
    show_default=True,
    help="Seconds a respond_with='manual' webhook caller waits before a 504.",
)
@click.option(
    "--body-timeout",
    envvar="WDK_BODY_TIMEOUT",
    show_envvar=True,
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds a client has to send a whole request body (slower: 408); 0 disables.",
)
@click.option(
    "--max-body",
    envvar="WDK_MAX_BODY",
    show_envvar=True,
    default=1 << 20,
    show_default=True,
    help="Largest accepted request body in bytes (larger: 413).",
)
@click.option(
    "--chat",
    "chat",
    envvar="WDK_CHAT_WORKFLOW",
    show_envvar=True,
    default=None,
    metavar="WORKFLOW",
    help="Serve this workflow (MODULE:FUNCTION or workflow ID) to useChat clients at /api/chat.",
)
@click.option(
    "--chat-page",
    envvar="WDK_CHAT_PAGE",
    show_envvar=True,
    default=None,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="A directory (a built chat page) served at /chat/ (needs --chat).",
)
@import_option
@deployment_option
@adopt_option
@log_level_option
def serve(
    host: str,
    port: int,
    workers: int,
    world_url: str | None,
    roots: tuple[Path, ...],
    base_url: str | None,
    webhook_timeout: float,
    body_timeout: float,
    max_body: int,
    chat: str | None,
    chat_page: Path | None,
    imports: tuple[str, ...],
    deployment: str | None,
    adopt: bool,
    log_level: str,
) -> None:
    """Serve the wdk HTTP API (runs, hooks, webhooks, streams) with an embedded worker.

    Routes are listed at /openapi.json. Set WDK_API_TOKEN to require
    "Authorization: Bearer <token>" under /api (webhook URLs never need it). With --chat,
    POST /api/chat and GET /api/chat/{run_id}/stream speak the WorkflowChatTransport
    protocol (docs/chat.md).
    """
    import uvicorn

    from wdk.sandbox import ensure_hash_seed
    from wdk.server import ServerConfig, create_app

    ensure_hash_seed(sys.argv)
    use_deployment(deployment, adopt)
    project = setup_project(roots)
    level = log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    import_modules(project, imports)
    chat_workflow = _chat_workflow(chat, project) if chat else None
    if chat_page is not None and chat_workflow is None:
        raise click.UsageError("--chat-page needs --chat WORKFLOW")
    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}"
    config = ServerConfig(
        api_token=os.environ.get("WDK_API_TOKEN") or None,
        max_body=max_body,
        body_timeout=body_timeout,
        webhook_timeout=webhook_timeout,
        base_url=(base_url or url).rstrip("/"),
        worker_concurrency=max(0, workers),
        routes=_chat_routes(chat_workflow, chat_page, max_body) if chat_workflow else (),
        deployment_id=deployment,
        adopt=adopt,
    )
    app = create_app(world_url, project=project, config=config)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            loop="asyncio",
            lifespan="on",
            log_level=level.lower(),
            access_log=False,
            timeout_graceful_shutdown=5,
        )
    )
    if not config.api_token and not _loopback(sock):
        click.echo(
            f"wdk serve: WARNING: the API at {url}/api is open to anyone who can reach "
            "this address (WDK_API_TOKEN is not set): they can start, cancel and read runs "
            "and resume hooks. Set WDK_API_TOKEN to require a bearer token, or listen on "
            "--host 127.0.0.1.",
            err=True,
        )
    click.echo(f"wdk serve: listening on {url}", err=True)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
