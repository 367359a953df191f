"""Container engines for tests: find one that runs, build a registry-free Debian base, build apps.

engine, why = find_engine()            # None and a reason where neither podman nor docker runs
base = ensure_base_image(engine)       # debootstrap bookworm + python3, imported once
bun = ensure_bun_image(engine, base, cache_dir)
engine.build(app_dir, "localhost/my-app", build_args={...})
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BASE_IMAGE = "localhost/vibetuner-base:bookworm"
BUN_IMAGE = "localhost/vibetuner-bun:bookworm"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")


NEVER_STARTED = frozenset({"created", "configured", "initialized"})
"""Container states before its process first ran."""


class ContainerError(RuntimeError):
    """A container command failed; the message carries the tail of its output."""


@dataclass(frozen=True)
class Engine:
    """podman or docker, by path, with the few calls the tests need."""

    path: str

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def is_podman(self) -> bool:
        return self.name == "podman"

    def run(self, *args: str, timeout: float = 900, check: bool = True) -> str:
        result = subprocess.run([self.path, *args], capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
            raise ContainerError(f"{self.name} {' '.join(args[:3])} … failed:\n{tail}")
        return result.stdout

    def image_exists(self, tag: str) -> bool:
        probe = subprocess.run(
            [self.path, "image", "inspect", tag], capture_output=True, timeout=60
        )
        return probe.returncode == 0

    def build(
        self,
        context: Path,
        tag: str,
        *,
        build_args: dict[str, str] | None = None,
        file: Path | None = None,
        target: str | None = None,
    ) -> float:
        """Build `context` into `tag`, passing the host's CA bundle when it has one; seconds."""
        args = ["build", "-t", tag]
        if self.is_podman:
            args += ["--format", "docker"]  # OCI images drop HEALTHCHECK
        for key, value in (build_args or {}).items():
            args += ["--build-arg", f"{key}={value}"]
        if CA_BUNDLE.is_file():
            args += ["--secret", f"id=extra_ca,src={CA_BUNDLE}"]
        if file is not None:
            args += ["-f", str(file)]
        if target is not None:
            args += ["--target", target]
        started = time.monotonic()
        self.run(*args, str(context), timeout=1800)
        return time.monotonic() - started

    def health(self, container: str) -> bool:
        """Run the image's HEALTHCHECK now (podman runs none by itself without systemd)."""
        if self.is_podman:
            probe = subprocess.run(
                [self.path, "healthcheck", "run", container], capture_output=True, timeout=60
            )
            return probe.returncode == 0
        status = self.run("inspect", "--format", "{{.State.Health.Status}}", container)
        return status.strip() == "healthy"

    def state(self, container: str) -> str:
        """The container's status word (running, created, exited, ...), empty if unknown."""
        out = self.run("inspect", "--format", "{{.State.Status}}", container, check=False)
        return out.strip()

    def describe(self, container: str) -> str:
        """What a failure message needs: the container's state and the tail of its logs."""
        state = self.run(
            "inspect", "--format",
            "status={{.State.Status}} exit={{.State.ExitCode}} error={{.State.Error}} "
            "started={{.State.StartedAt}} restarts={{.RestartCount}}",
            container, check=False,
        )  # fmt: skip
        logs = self._output("logs", "--tail", "40", container)
        text = f"{state.strip() or 'no such container'}\nlogs: {logs}"
        if self.is_podman:
            text += f"\nhealthcheck: {self._output('healthcheck', 'run', container)}"
        return text

    def _output(self, *args: str) -> str:
        """A command's exit status and output, for a message: a hang is said, not raised."""
        try:
            done = subprocess.run([self.path, *args], capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return f"`{self.name} {args[0]}` gave no answer in 60 s"
        return f"exit {done.returncode}\n{done.stdout}{done.stderr}"


def find_engine() -> tuple[Engine | None, str]:
    """The first of podman and docker that answers `info`, else None and why not."""
    reasons: list[str] = []
    for name in ("podman", "docker"):
        path = shutil.which(name)
        if path is None:
            reasons.append(f"{name} is not installed")
            continue
        try:
            probe = subprocess.run([path, "info"], capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            reasons.append(f"`{name} info` hung")
            continue
        if probe.returncode == 0:
            return Engine(path), ""
        last = (probe.stderr or probe.stdout).strip().splitlines()[-1:] or ["no output"]
        reasons.append(f"`{name} info` failed: {last[0]}")
    return None, "; ".join(reasons)


def debian_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this host's apt uses (deb822 or one-line sources), else deb.debian.org."""
    files = [sources / "sources.list", *sorted((sources / "sources.list.d").glob("*"))]
    for file in files:
        if not file.is_file():
            continue
        for line in file.read_text(errors="replace").splitlines():
            words = line.split()
            if line.startswith("URIs:"):
                urls = words[1:]
            elif line.startswith("deb ") and len(words) > 2:
                urls = [word for word in words[1:] if "://" in word][:1]
            else:
                continue
            for url in urls:
                if url.rstrip("/").endswith("/debian"):
                    return url.rstrip("/")
    return DEFAULT_MIRROR


def bun_binary(cache: Path) -> Path:
    """bun's Linux binary, installed once from the npm registry into `cache`."""
    link = cache / "node_modules" / ".bin" / "bun"
    if not link.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise ContainerError("npm is needed to fetch bun for the base image")
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(cache), "bun"],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
    return link.resolve()


def ensure_base_image(engine: Engine, tag: str = BASE_IMAGE) -> str:
    """A minimal Debian bookworm with python3, built without any registry; kept once built."""
    if engine.image_exists(tag):
        return tag
    if os.geteuid() != 0:
        raise ContainerError("debootstrap needs root to build the local base image")
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise ContainerError("debootstrap is not installed (apt-get install debootstrap)")
    with tempfile.TemporaryDirectory(prefix="vibetuner-rootfs-") as scratch:
        rootfs = Path(scratch) / "rootfs"
        subprocess.run(
            [debootstrap, "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
             "bookworm", str(rootfs), debian_mirror()],
            check=True, capture_output=True, timeout=1200,
        )  # fmt: skip
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "var/log"):
            for item in (rootfs / junk).rglob("*"):
                if item.is_file():
                    item.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            [engine.path, "import", "--change", 'CMD ["/bin/bash"]', "-", tag],
            stdin=tar.stdout, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        tar.wait()
        if imported.returncode != 0:
            raise ContainerError(f"{engine.name} import failed: {imported.stderr.strip()}")
    return tag


def ensure_bun_image(engine: Engine, base: str, cache: Path, tag: str = BUN_IMAGE) -> str:
    """The base plus bun's binary from the npm registry, standing in for oven/bun."""
    if engine.image_exists(tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="vibetuner-bun-") as scratch:
        context = Path(scratch)
        shutil.copy2(bun_binary(cache / "bun"), context / "bun")
        (context / "Containerfile").write_text(
            "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY bun /usr/local/bin/bun\n"
            'CMD ["/usr/local/bin/bun", "--version"]\n'
        )
        engine.build(context, tag, build_args={"BASE_IMAGE": base}, file=context / "Containerfile")
    return tag


def ensure_image(engine: Engine, containerfile: Path, tag: str, base: str) -> str:
    """Build `containerfile` (FROM the BASE_IMAGE build arg) into `tag` unless it exists."""
    if not engine.image_exists(tag):
        engine.build(containerfile.parent, tag, build_args={"BASE_IMAGE": base}, file=containerfile)
    return tag


def start_order(services: dict[str, Any]) -> list[list[str]]:
    """Services grouped into waves: each wave depends only on earlier ones (compose depends_on)."""
    pending = {name: set(_depends_on(spec)) for name, spec in services.items()}
    waves: list[list[str]] = []
    done: set[str] = set()
    while pending:
        wave = sorted(name for name, deps in pending.items() if deps <= done)
        if not wave:
            raise ContainerError(f"depends_on has a cycle among {sorted(pending)}")
        waves.append(wave)
        done.update(wave)
        for name in wave:
            del pending[name]
    return waves


def _depends_on(spec: dict[str, Any]) -> dict[str, str]:
    raw = spec.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: (cond or {}).get("condition", "service_started") for name, cond in raw.items()}


@dataclass
class ComposeProject:
    """podman-compose driven wave by wave, the test playing the parts podman 4.3 lacks.

    Podman before 4.6 ignores `service_healthy` (and runs no healthchecks without systemd), and
    its `--requires` graph breaks on a finished one-shot job; so each wave starts with
    `--no-deps`, and the conditions its dependents name are awaited here.
    """

    engine: Engine
    compose: list[str]
    cwd: Path
    env: dict[str, str]
    services: dict[str, Any]
    profiles: tuple[str, ...] = ()
    """Compose profiles turned on; a service in other profiles only is not started, as in
    `docker compose up` without `--profile`."""

    def active(self) -> dict[str, Any]:
        on = set(self.profiles)
        return {
            name: spec
            for name, spec in self.services.items()
            if not spec.get("profiles") or set(spec["profiles"]) & on
        }

    def _run(self, *args: str, timeout: float = 600) -> str:
        result = subprocess.run(
            [*self.compose, *args], cwd=self.cwd, env=self.env, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip
        if result.returncode != 0:
            raise ContainerError(f"podman-compose {args[-3:]} failed:\n{result.stderr[-4000:]}")
        return result.stdout

    def containers(self, service: str) -> list[str]:
        project = self.compose[self.compose.index("-p") + 1]
        names = self.engine.run(
            "ps", "-a", "--format", "{{.Names}}",
            "--filter", f"label=io.podman.compose.project={project}",
            "--filter", f"label=io.podman.compose.service={service}",
        )  # fmt: skip
        return sorted(names.split())

    def up(self, timeout: float = 180) -> None:
        conditions: dict[str, set[str]] = {}
        services = self.active()
        for spec in services.values():
            for name, condition in _depends_on(spec).items():
                conditions.setdefault(name, set()).add(condition)
        for wave in start_order(services):
            self._run("up", "-d", "--no-deps", *wave)
            for service in wave:
                for name in self.containers(service):
                    self._await(name, conditions.get(service, set()), timeout)

    def _await(self, name: str, conditions: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if "service_completed_successfully" in conditions:
            code = self.engine.run("wait", name, timeout=timeout).strip()
            if code != "0":
                raise ContainerError(f"{name} exited {code}:\n{self.engine.describe(name)}")
        if "service_healthy" in conditions:
            started_again = ""
            while not self.engine.health(name):
                if time.monotonic() > deadline:
                    raise ContainerError(
                        f"{name} never became healthy{started_again}:\n{self.engine.describe(name)}"
                    )
                if not started_again and self.engine.state(name) in NEVER_STARTED:
                    # `up` said it started it. One that never ran has no process and so no
                    # output, which is what a CI failure's empty logs could mean: start it as
                    # `up` meant to, and say so if it still fails.
                    self.engine.run("start", name, check=False)
                    started_again = " (found never started; `podman start` run once)"
                time.sleep(1)

    def down(self) -> None:
        self._run("down", "-v", "-t", "5")
