"""/healthz, /readyz and /metrics over HTTP, for systemd, Kubernetes and Prometheus.

* ``/healthz`` — the process and its event loop answer (liveness).
* ``/readyz`` — the bot has synced successfully within ``ready_within_seconds``
  (readiness), or it is a healthy standby (PostgreSQL failover: another instance
  is active and this one reached the database within ``ready_within_seconds``;
  the answer starts with ``standby``); 503 with a one-line reason otherwise.
* ``/metrics`` — the Prometheus text format of :class:`bot.metrics.Metrics`.

The listener is loopback by default and serves nothing else; no answer carries a
room, a person or a case.
"""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.metrics import Metrics

log = logging.getLogger(__name__)


class HealthServer:
    def __init__(self, metrics: Metrics, *, ready_within_seconds: float) -> None:
        self._metrics = metrics
        self._ready_within = ready_within_seconds
        self._runner: web.AppRunner | None = None
        self.port: int | None = None  # the bound port (useful with port 0)

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics_text)
        return app

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, _request: web.Request) -> web.Response:
        role = self._metrics.role
        if role == "fenced":
            return web.Response(status=503, text="Sperre verloren, Instanz hält an\n")
        if role == "standby":
            seen = self._metrics.standby_age()
            if seen is None or seen > self._ready_within:
                return web.Response(status=503, text="standby: Datenbank nicht erreichbar\n")
            return web.Response(
                text="standby: bereit zur Übernahme, eine andere Instanz ist aktiv\n"
            )
        age = self._metrics.sync_age()
        if age is None:
            return web.Response(status=503, text="noch kein Sync\n")
        if age > self._ready_within:
            return web.Response(status=503, text=f"letzter Sync vor {age:.0f} s\n")
        return web.Response(text=f"bereit (letzter Sync vor {age:.0f} s)\n")

    async def _metrics_text(self, _request: web.Request) -> web.Response:
        body = generate_latest(self._metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        log.info("Gesundheits- und Metrik-Endpunkt auf %s:%s", host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
