"""The wdk HTTP server: runs, hooks, webhooks and streams over HTTP (``wdk serve``).

``create_app(...)`` returns a Starlette (ASGI) app with an embedded worker; mount it in any
ASGI server. ``resume_webhook`` is the framework-free webhook bridge. See ``docs/server.md``.
"""

from wdk._delivery import resume_webhook
from wdk.server._app import ServerConfig, create_app

__all__ = ["ServerConfig", "create_app", "resume_webhook"]
