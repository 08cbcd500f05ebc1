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
from aduan_kit.backoff import retry_delay
from aduan_kit.embedded import ManagedProcess, StartError
from aduan_kit.kafka import ensure_topics
from aduan_kit.lag import group_lag
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


@dataclass(frozen=True)
class CrashBackoff:
    """When the stack restarts a service that exited: at once after its first crash, then after a delay
    that doubles with every further crash in a row (jittered, capped at ``max_s``), so a service that
    cannot start does not spin; one that stayed up ``stable_s`` has its count start over."""

    initial_s: float = 1.0
    max_s: float = 60.0
    stable_s: float = 60.0

    def crashes(self, previous: int, up_s: float) -> int:
        """Crashes in a row, counting this one, of a process that ran ``up_s`` seconds."""
        return 1 if up_s >= self.stable_s else previous + 1

    def delay(self, crashes: int) -> float:
        return 0.0 if crashes <= 1 else retry_delay(crashes - 1, self.initial_s, self.max_s)


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
    crash_backoff: CrashBackoff = field(default_factory=CrashBackoff)
    drain_timeout_s: float = 120  # how long a stop waits for the stages to drain (then stops anyway)


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
    started_at: float = field(default_factory=time.monotonic)
    crashes: int = 0  # crashes in a row (see CrashBackoff)
    restart_at: float | None = None  # set once it is seen dead: when the supervisor restarts it

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
        self.undrained: dict[str, int] = {}  # lag per consumer group left by the last stop (empty: none)
        self.abandon_drain = False  # set (e.g. by a second Ctrl-C) to stop without waiting any longer

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
            s.wait_port(timeout=60)  # SecantusDB took over 30 s to listen on a loaded 2-core machine

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
            spec,
            port,
            proc,
            restarts=previous.restarts + 1 if previous else 0,
            name=name,
            crashes=previous.crashes if previous else 0,
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
        self, now: float | None = None, on_restart: Callable[[str], None] | None = None
    ) -> list[str]:
        """One look at every process: schedule the restart of each one newly found dead (see
        ``CrashBackoff``), restart those whose time has come (``on_restart(name)`` told of each).
        Returns a line per decision."""
        now = time.monotonic() if now is None else now
        policy = self.config.crash_backoff
        said = []
        for name in self.dead_services():
            svc = self.services[name]
            log = self.logs_dir / f"{name}.log"
            if svc.restart_at is None:
                svc.crashes = policy.crashes(svc.crashes, now - svc.started_at)
                delay = policy.delay(svc.crashes)
                svc.restart_at = now + delay
                said.append(
                    f"aduan: {name} exited (crash {svc.crashes} in a row); restarting it"
                    + (f" in {delay:.1f} s" if delay else "")
                    + f" (see {log})"
                )
            if now >= svc.restart_at:
                with contextlib.suppress(StartError, OSError):  # e.g. its port not free yet: next look
                    self.restart(name, wait=False)
                    if on_restart is not None:
                        on_restart(name)
        return said

    def supervise_until(
        self,
        stopping: Callable[[], bool],
        say: Callable[[str], None] = print,
        on_restart: Callable[[str], None] | None = None,
        interval_s: float = 0.2,
    ) -> None:
        """``supervise`` every ``interval_s`` until ``stopping()``."""
        while not stopping():
            for line in self.supervise(on_restart=on_restart):
                say(line)
            time.sleep(interval_s)

    def stop(self, drain: bool = True) -> None:
        """An orderly stop: the ingest adapters first (they stop accepting; what they accepted and did
        not publish yet stays in their durable outbox, published after the next start), then wait until
        every consumer group of the stages has committed to the end of its topics (``drain``), then the
        stages, then the broker and the database. So an in-memory broker holds nothing unhandled when it
        stops. Gives up waiting after ``drain_timeout_s`` or when ``abandon_drain`` is set; what was
        left is in ``undrained``."""
        for svc in self.services.values():
            if svc.spec.name.startswith("ingest-"):
                svc.process.stop()
        self.undrained = self.drain() if drain else {}
        for svc in self.services.values():
            svc.process.stop()
        for server in reversed(self.servers):
            server.stop()
        for f in self._logs:
            f.close()
        self._logs.clear()

    def consumer_groups(self) -> dict[str, list[str]]:
        """The consumer groups of the running services and the topics each reads (``GET /consumers``)."""
        groups: dict[str, list[str]] = {}
        with httpx.Client(timeout=5) as client:
            for svc in self.services.values():
                if not svc.process.alive:
                    continue
                try:
                    groups.update(client.get(f"{svc.url}/consumers").raise_for_status().json())
                except httpx.HTTPError:
                    continue  # not serving (yet): it has committed nothing it could lose
        return groups

    def drain(self) -> dict[str, int]:
        """Wait until every consumer group has no lag, seen twice in a row (a stage's outputs reach the
        next stage's topic before it commits). Returns the lag per group that was left: empty when
        drained."""
        groups = self.consumer_groups()
        deadline = time.monotonic() + self.config.drain_timeout_s
        clean = 0
        lag: dict[str, int] = dict.fromkeys(groups, -1)
        while groups and not self.abandon_drain:
            try:
                lag = asyncio.run(group_lag(self.kafka_bootstrap, groups))
            except Exception:  # the broker is not answering: keep trying until the deadline
                lag = dict.fromkeys(groups, -1)
            clean = clean + 1 if not any(lag.values()) else 0
            if clean == 2:
                return {}
            if time.monotonic() > deadline:
                break
            time.sleep(0.3)
        return {g: n for g, n in lag.items() if n} if groups else {}

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
