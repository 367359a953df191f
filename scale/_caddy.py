"""Caddy as the load balancer: TLS from its internal CA, round robin, health checks.

Active checks (`/health/ready` every second) take a stopping instance out as soon as
it answers 503 (readiness turns 503 on SIGTERM; liveness, `/health/ping`, stays 200);
passive checks take out one that refuses connections; retries within `lb_try_duration` send a request that could not reach one instance to another. Each
response names the instance that served it (X-Upstream), so a check can wait until Caddy
sends traffic to a restarted instance again instead of sleeping past a health check.
"""

from __future__ import annotations

import shutil
import ssl
import time
import urllib.request
from pathlib import Path

from bench._procs import Child, Processes, RunFailed, free_port

CADDYFILE = """\
{{
\tadmin off
{options}\tlog {{
\t\tlevel ERROR
\t}}
}}

{site} {{
{tls}\treverse_proxy {upstreams} {{
\t\tlb_policy round_robin
\t\tlb_try_duration 5s
\t\tlb_try_interval 50ms
\t\thealth_uri /health/ready
\t\thealth_interval {health_interval}
\t\thealth_timeout 1s
\t\tfail_duration 5s
\t\tmax_fails 1
\t\tflush_interval -1
\t\theader_down X-Upstream {{http.reverse_proxy.upstream.hostport}}
\t\ttransport http {{
\t\t\tdial_timeout 1s
\t\t}}
\t}}
}}
"""
TLS_OPTIONS = (
    "\tskip_install_trust\n\tauto_https disable_redirects\n\tdefault_sni 127.0.0.1\n"
)


def caddyfile(
    port: int, upstreams: list[str], *, tls: bool = True, health_interval: str = "1s"
) -> str:
    """The load balancer's config: HTTPS from Caddy's internal CA, or plain HTTP (`tls=False`,
    for a test that reaches it over loopback only)."""
    scheme = "https" if tls else "http"
    return CADDYFILE.format(
        options=TLS_OPTIONS if tls else "\tauto_https off\n",
        site=f"{scheme}://127.0.0.1:{port}",
        tls="\ttls internal\n" if tls else "",
        upstreams=" ".join(upstreams),
        health_interval=health_interval,
    )


def available() -> bool:
    return shutil.which("caddy") is not None


class Caddy:
    """One `caddy run` with its state (CA, certificates) under `home`."""

    def __init__(self, home: Path, upstream_ports: list[int]) -> None:
        self.home = home
        self.port = free_port()
        self.upstreams = [f"127.0.0.1:{port}" for port in upstream_ports]
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def root_certificate(self) -> Path:
        return (
            self.home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        )

    def caddyfile(self) -> str:
        return caddyfile(self.port, self.upstreams)

    def start(self, procs: Processes) -> Child:
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "Caddyfile"
        config.write_text(self.caddyfile())
        env = {
            "HOME": str(self.home),
            "XDG_DATA_HOME": str(self.home / "data"),
            "XDG_CONFIG_HOME": str(self.home / "config"),
        }
        argv = ["caddy", "run", "--config", str(config), "--adapter", "caddyfile"]
        self.child = procs.start("caddy", argv, cwd=self.home, env=env)
        return self.child

    def wait_ready(self, timeout: float) -> None:
        """Wait for the CA to exist and a ping through the proxy to answer 200."""
        assert self.child is not None
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.child.proc.poll() is not None:
                raise RunFailed(f"caddy exited:\n{self.child.log_tail()}")
            if self.root_certificate.exists():
                context = ssl.create_default_context(cafile=str(self.root_certificate))
                try:
                    with urllib.request.urlopen(
                        f"{self.url}/health/ping", timeout=2, context=context
                    ) as answer:
                        if answer.status == 200:
                            return
                except OSError as exc:
                    last = str(exc)
            time.sleep(0.1)
        raise RunFailed(
            f"caddy never proxied a ping ({last}):\n{self.child.log_tail()}"
        )
