"""Run a WSGI application under gunicorn (threaded workers), configured programmatically.

The one gunicorn runner behind ``ticketbooth serve`` (the API) and ``ticketbooth gateway`` (the S3 gateway).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .multiproc import hooks
from .settings import MetricsSettings

__all__ = ["run_gunicorn", "GATEWAY_THREADS"]

#: The gateway's threads per worker process. Few: every thread of a process busy with a request takes the GIL
#: back at each system call, so eight threads in one process cost a 4 KiB GET up to twice the CPU of two
#: processes of four threads (benchmarks/README.md, bench_small); the number of transfers that stream at once is
#: workers x threads.
GATEWAY_THREADS = 4


def run_gunicorn(load_app: Callable[[], Any], *, host: str, port: int, workers: int, threads: int,
                 log_level: str, metrics: MetricsSettings | None = None, **options: Any) -> None:
    """Serve ``load_app()`` on ``host:port`` with ``gthread`` workers until interrupted.

    ``load_app`` is called in each worker, after the fork, so no SQLite connection (or other handle) crosses
    processes. Access and error logs go to stderr at ``log_level``. ``options`` are further gunicorn settings
    (``timeout``, ``logger_class`` ...); one this gunicorn does not know is skipped, so a setting of a newer
    gunicorn (``control_socket_disable``, gunicorn >= 24) does no harm on an older one.
    """
    from gunicorn.app.base import (
        BaseApplication,  # here: the CLI reads this module's defaults without gunicorn
    )

    settings = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": log_level.lower(),
        **hooks(metrics.multiproc_dir, metrics.port),
        # Both processes: no presigned signature, link ticket string or token in any log line.
        "logger_class": "ticketbooth.gunicornlog.TicketBoothLogger",
        **options,
    }

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for name, value in settings.items():
                if name in self.cfg.settings:
                    self.cfg.set(name, value)

        def load(self) -> Any:
            return load_app()

    Server().run()
