"""The embedded stack: Tansu, SecantusDB and every service as child processes on loopback ports.

Used by ``aduan stack up``, the end-to-end tests (which pass their own broker, database, topic prefix and
free ports) and the benchmark. Stopping the stack stops every process group it started: nothing is left
behind.

A service may run as several worker processes (``StackConfig.workers``, e.g. ``{"normalizer": 2}``): the
first keeps the service's name and port, the others are named ``<service>-2``, ``<service>-3``... and
listen on ports of their own (from ``service_ports`` under that name, else a free port). Workers of a
consuming service share its consumer group, so they split the partitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from aduan_cli.services import ServiceSpec, discover
from aduan_kit import embedded
from aduan_kit.embedded import ManagedProcess, StartError
from aduan_kit.kafka import ensure_topics
from aduan_schemas.city import CityConfig, load_city
from aduan_schemas.topics import TopicNames
from aduan_sla_monitor.unit_keys import append_hash, key_hash, new_key, parse

# The development profile: fast consumer-group joins on Tansu. Apache Kafka refuses sessions under 6 s,
# so these values stay out of the services' defaults.
DEV_KAFKA_ENV = {
    "ADUAN_KAFKA_FETCH_MAX_WAIT_MS": "20",
    "ADUAN_KAFKA_SESSION_TIMEOUT_MS": "3000",
    "ADUAN_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
}
SECRETS_FILE = "secrets.env"
UNIT_KEYS_FILE = "unit-keys"  # hashes of the status API's unit keys (``aduan unit-key new``)
DEFAULT_KEYS_FILE = Path(".aduan-data") / UNIT_KEYS_FILE
# One development key for the README's example unit (Suku Dinas Lingkungan Hidup, Jakarta Pusat); the key
# itself is kept in secrets.env, its hash in the keys file.
DEMO_UNIT = "dlh-3171"
DEMO_UNIT_KEY_ENV = "ADUAN_DEMO_UNIT_KEY"


@dataclass
class StackConfig:
    data_dir: Path
    city_dir: Path
    boundaries: Path | None = None
    kafka_port: int = 9092
    mongo_port: int = 27017
    kafka_bootstrap: str | None = None  # use this broker instead of starting Tansu
    mongodb_url: str | None = None  # use this server instead of starting SecantusDB
    mongodb_db: str = "aduan"
    topic_prefix: str = ""
    service_ports: dict[str, int] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    ready_timeout_s: float = 60
    consumer_env: dict[str, str] = field(default_factory=lambda: dict(DEV_KAFKA_ENV))
    workers: dict[str, int] = field(default_factory=dict)  # service name -> processes (default 1)


def parse_workers(text: str) -> dict[str, int]:
    """``"normalizer=2,router=2"`` -> ``{"normalizer": 2, "router": 2}``. Raises ``ValueError``."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, count = part.partition("=")
        if not sep or not count.strip().isdigit() or int(count) < 1:
            raise ValueError(f"expected <service>=<processes ≥ 1>, got {part!r}")
        out[name.strip()] = int(count)
    return out


def instance_name(service: str, index: int) -> str:
    """The name of a service's ``index``-th worker process (1-based): the first keeps the service's."""
    return service if index == 1 else f"{service}-{index}"


@dataclass
class RunningService:
    spec: ServiceSpec
    port: int
    process: ManagedProcess
    restarts: int = 0
    name: str = ""  # the worker's name (``instance_name``); empty means the service's own

    def __post_init__(self) -> None:
        self.name = self.name or self.spec.name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.specs = discover()
        self.servers: list[ManagedProcess] = []
        self.services: dict[str, RunningService] = {}
        self.logs_dir = config.data_dir / "logs"
        self._logs: list[IO[bytes]] = []
        self._secrets: dict[str, str] | None = None

    # -- start -------------------------------------------------------------------------------------
    @property
    def kafka_bootstrap(self) -> str:
        return self.config.kafka_bootstrap or f"127.0.0.1:{self.config.kafka_port}"

    @property
    def mongodb_url(self) -> str:
        return self.config.mongodb_url or f"mongodb://127.0.0.1:{self.config.mongo_port}"

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.config.topic_prefix)

    def port_of(self, spec: ServiceSpec, instance: str | None = None) -> int:
        """The port of a worker: configured under its name, else the service's default (first worker)
        or a free port (the others)."""
        name = instance or spec.name
        if name in self.config.service_ports:
            return self.config.service_ports[name]
        if name == spec.name:
            return spec.default_port
        port = embedded.free_port()
        self.config.service_ports[name] = port  # keep it across restarts
        return port

    def instances(self) -> list[tuple[ServiceSpec, str]]:
        """Every worker process to run, in start order: (its service, its name)."""
        known = {s.name for s in self.specs}
        unknown = sorted(set(self.config.workers) - known)
        if unknown:
            raise StartError(
                f"unknown service in workers: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        return [
            (spec, instance_name(spec.name, i))
            for spec in self.specs
            for i in range(1, self.config.workers.get(spec.name, 1) + 1)
        ]

    def check_ports(self) -> None:
        wanted = [(name, self.port_of(s, name)) for s, name in self.instances()]
        if self.config.kafka_bootstrap is None:
            wanted.append(("kafka", self.config.kafka_port))
        if self.config.mongodb_url is None:
            wanted.append(("mongodb", self.config.mongo_port))
        for name, port in wanted:
            if embedded.port_open(port):
                raise StartError(
                    f"port {port} (for {name}) is already in use: stop what uses it or pick another"
                )

    def start(self) -> None:
        if not self.specs:
            raise StartError("no services installed: run `make env`")
        city = load_city(self.config.city_dir)  # fail fast on a broken city configuration
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(exist_ok=True)
        self.check_ports()
        self.demo_unit_key(city)
        try:
            self._start_servers()
            codes = [u.code for u in city.skpd.units]
            asyncio.run(ensure_topics(self.kafka_bootstrap, self.topics.all_topics(codes)))
            for spec, name in self.instances():
                self._start_service(spec, name)
            self.wait_ready(list(self.services))
        except BaseException:
            self.stop()
            raise

    def _log(self, name: str) -> IO[bytes]:
        f = (self.logs_dir / f"{name}.log").open("ab")
        self._logs.append(f)
        return f

    def _start_servers(self) -> None:
        if self.config.kafka_bootstrap is None:
            self.servers.append(embedded.tansu(self.config.kafka_port, self._log("tansu")).start())
        if self.config.mongodb_url is None:
            db_dir = self.config.data_dir / "mongodb"
            self.servers.append(
                embedded.secantus(self.config.mongo_port, db_dir, self._log("secantusdb")).start()
            )
        for s in self.servers:
            s.wait_port(timeout=30)

    def secrets(self) -> dict[str, str]:
        """Dev values for every required secret, kept in the data dir (0600) so they survive restarts.
        Values set in the environment win. Read (or made) once per stack."""
        if self._secrets is None:
            self._secrets = self._load_secrets()
        return self._secrets

    def _load_secrets(self) -> dict[str, str]:
        path = self.config.data_dir / SECRETS_FILE
        stored: dict[str, str] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if "=" in line and not line.startswith("#"):
                    k, v = line.split("=", 1)
                    stored[k.strip()] = v.strip()
        names = sorted({n for s in self.specs for n in s.generated_secrets()})
        changed = False
        for n in names:
            if n not in stored:
                stored[n] = secrets.token_hex(24)
                changed = True
        if changed or not path.exists():
            body = "# Development secrets of the embedded stack (generated). Never use them in production.\n"
            body += "".join(f"{k}={v}\n" for k, v in sorted(stored.items()))
            path.touch(mode=0o600, exist_ok=True)
            path.write_text(body, encoding="utf-8")
            path.chmod(0o600)
        return {n: os.environ.get(n, stored[n]) for n in names}

    @property
    def unit_keys_file(self) -> Path:
        return self.config.data_dir / UNIT_KEYS_FILE

    def demo_unit_key(self, city: CityConfig) -> str | None:
        """The development key of ``DEMO_UNIT``: made once into secrets.env, its hash kept in the keys
        file (added again if that file lost it)."""
        if DEMO_UNIT not in city.skpd.by_code:
            return None  # another city: make keys with `aduan unit-key new`
        self.secrets()  # the secrets file exists from here on
        path = self.config.data_dir / SECRETS_FILE
        text = path.read_text(encoding="utf-8")
        key = next(
            (
                v.strip()
                for k, _, v in (x.partition("=") for x in text.splitlines())
                if k == DEMO_UNIT_KEY_ENV
            ),
            None,
        )
        if not key:
            key = new_key()
            path.write_text(text + f"{DEMO_UNIT_KEY_ENV}={key}\n", encoding="utf-8")
        known = self.unit_keys_file.read_text(encoding="utf-8") if self.unit_keys_file.exists() else ""
        if key_hash(key) not in parse(known):
            append_hash(self.unit_keys_file, DEMO_UNIT, key)
        return key

    def service_env(self, spec: ServiceSpec, instance: str | None = None) -> dict[str, str]:
        env = {
            **self.config.consumer_env,
            "ADUAN_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "ADUAN_MONGODB_URL": self.mongodb_url,
            "ADUAN_MONGODB_DB": self.config.mongodb_db,
            "ADUAN_TOPIC_PREFIX": self.config.topic_prefix,
            "ADUAN_CITY_DIR": str(self.config.city_dir.resolve()),
            spec.env_name("port"): str(self.port_of(spec, instance)),
            spec.env_name("host"): "127.0.0.1",
            **self.secrets(),
        }
        fields = spec.settings.model_fields
        if spec.name == "sla-monitor":
            env[spec.env_name("unit_keys_file")] = str(self.unit_keys_file.resolve())
        if self.config.boundaries is not None:
            env["ADUAN_NORMALIZER_BOUNDARIES_PATH"] = str(self.config.boundaries.resolve())
            if "boundaries_path" in fields:  # an ingest adapter flags GPS points outside the city
                env[spec.env_name("boundaries_path")] = str(self.config.boundaries.resolve())
        if "outbox_dir" in fields:  # one durable outbox per worker process, kept across restarts
            env[spec.env_name("outbox_dir")] = str(
                (self.config.data_dir / "outbox" / (instance or spec.name)).resolve()
            )
        env.update(self.config.extra_env)
        return env

    def _start_service(self, spec: ServiceSpec, instance: str | None = None) -> RunningService:
        name = instance or spec.name
        port = self.port_of(spec, name)
        proc = ManagedProcess(
            name,
            [sys.executable, "-m", spec.module],
            port,
            env=self.service_env(spec, name),
            log=self._log(name),
        ).start()
        previous = self.services.get(name)
        running = RunningService(
            spec, port, proc, restarts=previous.restarts + 1 if previous else 0, name=name
        )
        self.services[name] = running
        return running

    def wait_ready(self, names: list[str]) -> None:
        deadline = time.monotonic() + self.config.ready_timeout_s
        pending = set(names)
        with httpx.Client(timeout=2) as client:
            while pending:
                for name in sorted(pending):
                    svc = self.services[name]
                    if not svc.process.alive:
                        raise StartError(
                            f"{name} exited during start-up; see {self.logs_dir / (name + '.log')}"
                        )
                    try:
                        if client.get(f"{svc.url}/readyz").status_code == 200:
                            pending.discard(name)
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise StartError(
                        f"not ready within {self.config.ready_timeout_s:.0f} s: {', '.join(sorted(pending))}"
                    )
                time.sleep(0.2)

    # -- operate -----------------------------------------------------------------------------------
    def kill(self, name: str) -> None:
        """SIGKILL one service (crash simulation)."""
        self.services[name].process.kill()

    def restart(self, name: str, wait: bool = True) -> None:
        svc = self.services[name]
        svc.process.stop()
        self._start_service(svc.spec, svc.name)
        if wait:
            self.wait_ready([name])

    def dead_services(self) -> list[str]:
        return [n for n, s in self.services.items() if not s.process.alive]

    def supervise(
        self,
        stopping: Callable[[], bool],
        on_restart: Callable[[str, float], None] = lambda name, delay: None,
        interval_s: float = 0.2,
        max_backoff_s: float = 30.0,
    ) -> None:
        """Until ``stopping()``: restart every worker process that died. The first restart is immediate;
        one that dies again within a minute of its restart waits twice as long as last time (1 s, 2 s,
        ... up to ``max_backoff_s``), so a crash loop does not hog the machine. ``on_restart(name,
        waited_s)`` is told of each restart."""
        waits: dict[str, float] = {}  # name -> back-off of its next restart
        restarted_at: dict[str, float] = {}
        due: dict[str, float] = {}  # name -> when a dead worker may be started again
        while not stopping():
            now = time.monotonic()
            for name in self.dead_services():
                if name not in due:
                    stable = now - restarted_at.get(name, -1e9) > 60
                    wait = 0.0 if stable else min(max(1.0, 2 * waits[name]), max_backoff_s)
                    waits[name], due[name] = wait, now + wait
                if now >= due[name] and not stopping():
                    del due[name]
                    restarted_at[name] = now
                    on_restart(name, waits[name])
                    with contextlib.suppress(StartError, OSError):  # e.g. its port not free yet: later
                        self.restart(name, wait=False)
            time.sleep(interval_s)

    def stop(self) -> None:
        for svc in self.services.values():
            svc.process.stop()
        for server in reversed(self.servers):
            server.stop()
        for f in self._logs:
            f.close()
        self._logs.clear()

    # -- describe ----------------------------------------------------------------------------------
    def table(self) -> str:
        rows = [("part", "where", "notes")]
        rows.append(
            (
                "kafka",
                self.kafka_bootstrap,
                "Tansu (in memory)" if self.config.kafka_bootstrap is None else "external",
            )
        )
        rows.append(
            ("mongodb", self.mongodb_url, "SecantusDB" if self.config.mongodb_url is None else "external")
        )
        for name, svc in self.services.items():
            note = "POST /v1/reports" if svc.spec.name.startswith("ingest-") else ""
            if svc.spec.name == "ingest-open311":
                note = "POST /requests.json, GET /services.json"
            if svc.spec.name == "sla-monitor":
                note = "GET /v1/cases/{report_id}, status API, /open311/v2/*.json, /laporan/{report_id}"
            rows.append((name, svc.url, note))
        width = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, width, strict=True)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in width))
        geo = (
            f"GPS geocoding on: {self.config.boundaries}"
            if self.config.boundaries is not None
            else "GPS geocoding OFF: no boundaries file (pass --boundaries PATH or set ADUAN_BOUNDARIES_PATH)"
        )
        lines += [
            "",
            f"data dir:   {self.config.data_dir.resolve()}",
            f"logs:       {self.logs_dir.resolve()}/<part>.log",
            f"secrets:    {(self.config.data_dir / SECRETS_FILE).resolve()} (development values)",
            f"city:       {self.config.city_dir.resolve()}",
            geo,
        ]
        return "\n".join(lines)
