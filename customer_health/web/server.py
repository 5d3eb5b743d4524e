"""`customer-health serve`: run the web app and API with uvicorn, quietly, and say where it is."""

from __future__ import annotations

import socket

from customer_health.config import ConfigError, Settings


class CannotListen(ConfigError):
    """The address or port is taken or not ours; the message says which and what to change."""


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CannotListen(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another "
                           "--port or --host (serve.port, serve.host in the configuration)") from None
    return sock


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serve the app for ``settings`` until interrupted; host and port default to ``serve`` in the
    configuration (port 0 picks a free one). Refuses to start without a token (``MissingToken``)."""
    import uvicorn

    from customer_health.web.app import create_app

    options = settings.options.serve
    app = create_app(settings)  # reads and checks the token first
    host = host or options.host
    sock = _bind(host, options.port if port is None else port)
    shown = f"[{host}]" if ":" in host else host
    print(f"customer-health web app and API on http://{shown}:{sock.getsockname()[1]}/ "
          f"(log in with the token in {options.token_env}; Ctrl+C stops it)", flush=True)
    if not settings.serving_file.exists():
        print(f"note: nothing is published in {settings.home} yet; the pages say so until "
              "`customer-health run` publishes", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False,
                            proxy_headers=False)
    uvicorn.Server(config).run(sockets=[sock])
