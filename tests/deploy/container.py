"""The gateway's image built and run with podman, as an operator would with any container engine.

No image registry is reachable from the test machines, so the Dockerfile's pinned Python base is
swapped (through its ``PYTHON_IMAGE`` build argument, nothing else) for one made here from Debian's
own packages: the same Debian release and Python minor version, with apt (whose libstdc++ the slim
image also carries, and binary wheels such as google-re2 need) and this machine's certificate store,
so pip inside the build reaches the package index the way the host does.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
DOCKERFILE = REPOSITORY / "deploy" / "Dockerfile"
BASE_IMAGE = "localhost/ai-gateway-test-base:bookworm"
IMAGE = "localhost/ai-gateway:test"
_BASE_PACKAGES = "python3,python3-venv,python3-pip,ca-certificates"

#: These machines mount cgroups in hybrid mode, which podman's default runtime (crun) refuses, and
#: let no process raise a resource limit: runc with cgroupfs works on them, given the limits to set.
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
LIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=1024:4096"]


def podman(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a podman command to completion; a failure raises with podman's own output."""
    done = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return done


def build_base_image(work: Path) -> None:
    """The Debian-built stand-in for the pinned base, kept between runs (it depends on nothing here)."""
    exists = subprocess.run([*PODMAN, "image", "exists", BASE_IMAGE], capture_output=True, timeout=30)
    if exists.returncode == 0:
        return
    rootfs = work / "rootfs.tar"
    subprocess.run(
        [
            "mmdebstrap",
            "--quiet",
            "--variant=apt",
            f"--include={_BASE_PACKAGES}",
            "--customize-hook=upload /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt",
            "bookworm",
            str(rootfs),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    podman("import", "--quiet", str(rootfs), BASE_IMAGE, timeout=120)
    rootfs.unlink()


def build_gateway_image() -> None:
    """``podman build -f deploy/Dockerfile .`` from the repository root, in the Docker format (the
    OCI format has no HEALTHCHECK). Builds run with chroot isolation: no runtime needed."""
    podman(
        "build",
        "--quiet",
        "--format=docker",
        "--isolation=chroot",
        f"--build-arg=PYTHON_IMAGE={BASE_IMAGE}",
        f"--file={DOCKERFILE}",
        f"--tag={IMAGE}",
        str(REPOSITORY),
        timeout=600,
    )


def run_in_image(entrypoint: str, *args: str) -> str:
    """A one-off command in a throw-away container of :data:`IMAGE`, without network; its stdout."""
    return podman(
        "run",
        "--rm",
        "--network=none",
        "--health-interval=disable",
        *LIMITS,
        f"--entrypoint={entrypoint}",
        IMAGE,
        *args,
    ).stdout


@dataclass
class Container:
    """A detached container of :data:`IMAGE` on the host's network (the fakes listen on loopback)."""

    name: str

    @classmethod
    async def start(cls, name: str, *run_args: str) -> Container:
        await run_podman(
            "run",
            "--detach",
            f"--name={name}",
            "--network=host",
            "--read-only",
            # Podman schedules health checks with systemd timers, absent here; they are run by hand.
            "--health-interval=disable",
            *LIMITS,
            *run_args,
            IMAGE,
        )
        return cls(name)

    async def stop(self, grace: int) -> None:
        """``podman stop``: the image's STOPSIGNAL, then SIGKILL after ``grace`` seconds."""
        await run_podman("stop", f"--time={grace}", self.name, within=grace + 30)

    async def exit_code(self) -> int:
        return int(await run_podman("inspect", "--format={{.State.ExitCode}}", self.name))

    async def logs(self) -> str:
        """What the gateway printed (it logs to stderr, which podman logs gives back as stderr)."""
        return await run_podman("logs", self.name, stderr_too=True)

    async def exec(self, *command: str) -> str:
        return await run_podman("exec", self.name, *command)

    async def healthcheck(self) -> int:
        """The image's HEALTHCHECK, run once: 0 healthy, 1 unhealthy."""
        process = await asyncio.create_subprocess_exec(
            *PODMAN, "healthcheck", "run", self.name, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return await asyncio.wait_for(process.wait(), 30)

    def remove(self) -> None:
        subprocess.run([*PODMAN, "rm", "--force", self.name], capture_output=True, timeout=60)


async def run_podman(*args: str, within: float = 60, stderr_too: bool = False) -> str:
    """Podman without blocking the event loop the test's fake provider runs on; its output (with its
    stderr when ``stderr_too``)."""
    process = await asyncio.create_subprocess_exec(
        *PODMAN,
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if stderr_too else subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), within)
    if process.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} failed ({process.returncode}): {out.decode()}{err or b''!r}"
        )
    return out.decode()


def is_root() -> bool:
    return os.geteuid() == 0
