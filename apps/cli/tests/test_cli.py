"""The `aduan` command as a user runs it: a real process, real stdin/stdout, real servers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from aduan_kit.embedded import free_port, port_open
from aduan_kit.settings import CommonSettings
from aduan_kit.testing.kafka import create_topics, find_events
from aduan_kit.testing.plugin import CITY_DIR, REPO
from aduan_kit.testing.samples import normalized, raw_qlue
from aduan_schemas.events import RawQlue, RoutedReport

ADUAN = [sys.executable, "-c", "from aduan_cli.main import main; main()"]


def run(
    args: list[str], stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ADUAN, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def test_route_reads_jsonl_and_reports_bad_lines() -> None:
    good = normalized(category="lampu-jalan")
    res = run(["route", "--city-dir", str(CITY_DIR)], stdin=good.model_dump_json() + "\nnot json\n")
    assert res.returncode == 1
    (line,) = res.stdout.splitlines()
    routed = RoutedReport.model_validate_json(line)
    assert (routed.report_id, routed.skpd_code) == (good.report_id, "dbm-3171")
    err = json.loads(res.stderr.splitlines()[-1])
    assert err["record"] == 2 and err["error"]


def test_normalize_runs_the_service_code_offline(boundaries_path: Path) -> None:
    raw = raw_qlue(channel_message_id="cli-1")
    lines = raw.model_dump_json() + "\n" + raw.model_dump_json() + "\n"
    res = run(
        ["normalize", "--city-dir", str(CITY_DIR), "--boundaries", str(boundaries_path)],
        stdin=lines,
        env={"ADUAN_NORMALIZER_PSEUDONYM_KEY": "k"},
    )
    out = [json.loads(x) for x in res.stdout.splitlines()]
    assert len(out) == 1, res.stderr  # the repeated channel message is a duplicate, not a second report
    assert out[0]["area"]["kelurahan"] == "Gambir" and out[0]["category"] == "sampah"
    assert "+6281200000000" not in res.stdout
    assert res.returncode == 1 and "duplicate" in res.stderr


def test_normalize_links_near_duplicates_like_the_service(boundaries_path: Path) -> None:
    """Two channel messages about the same rubbish at the same place: the second carries
    ``duplicate_of`` (fails without the linker passed in ``aduan_cli.main.normalize``; checked)."""
    first, second = raw_qlue(channel_message_id="cli-a"), raw_qlue(channel_message_id="cli-b")
    res = run(
        ["normalize", "--city-dir", str(CITY_DIR), "--boundaries", str(boundaries_path)],
        stdin=first.model_dump_json() + "\n" + second.model_dump_json() + "\n",
        env={"ADUAN_NORMALIZER_PSEUDONYM_KEY": "k"},
    )
    out = [json.loads(x) for x in res.stdout.splitlines()]
    assert res.returncode == 0, res.stderr
    assert out[0]["duplicate_of"] is None and out[1]["duplicate_of"] == out[0]["report_id"]


def test_normalize_without_a_key_says_what_to_set() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ADUAN_NORMALIZER_PSEUDONYM_KEY"}
    res = subprocess.run([*ADUAN, "normalize"], input="", capture_output=True, text=True, env=env, cwd=REPO)
    assert res.returncode == 2 and "ADUAN_NORMALIZER_PSEUDONYM_KEY" in res.stderr


async def test_replay_publishes_valid_lines_and_skips_invalid(common: CommonSettings, tmp_path: Path) -> None:
    await create_topics(common)
    events = [raw_qlue() for _ in range(3)]
    f = tmp_path / "events.jsonl"
    f.write_text(
        "".join(e.model_dump_json() + "\n" for e in events) + '{"channel": "fax"}\n', encoding="utf-8"
    )
    res = run(
        ["replay", str(f), "--bootstrap", common.kafka_bootstrap, "--topic-prefix", common.topic_prefix]
    )
    assert res.returncode == 1 and "published 3 raw events, skipped 1" in res.stdout
    ids = {e.channel_message_id for e in events}
    got = await find_events(
        common, common.topics.raw("qlue"), RawQlue, lambda e: e.channel_message_id in ids, count=3
    )
    assert {e.channel_message_id for e in got} == ids


def test_unit_key_new_prints_the_key_once_and_keeps_only_its_hash(tmp_path: Path) -> None:
    """Fails if ``unit_keys.add_key`` writes the key instead of its hash (checked)."""
    keys = tmp_path / "keys"
    made = run(["unit-key", "new", "dlh-3171", "--keys-file", str(keys), "--city-dir", str(CITY_DIR)])
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("aduk_") and len(key) > 40 and "shown once" in made.stderr
    stored = keys.read_text()
    assert stored.startswith("dlh-3171 ") and key not in stored and keys.stat().st_mode & 0o077 == 0
    unknown = run(["unit-key", "new", "no-such-unit", "--keys-file", str(keys), "--city-dir", str(CITY_DIR)])
    assert unknown.returncode == 2 and "not in the SKPD registry" in unknown.stderr
    assert run(["unit-key", "revoke", "dlh-3171", "--keys-file", str(keys)]).returncode == 0
    assert keys.read_text() == ""


def test_stack_up_refuses_a_taken_port(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        res = run(
            [
                "stack",
                "up",
                "--data-dir",
                str(tmp_path),
                "--kafka-port",
                str(taken),
                "--mongo-port",
                str(free_port()),
            ]
        )
    assert res.returncode == 1
    assert f"port {taken}" in res.stderr and "already in use" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_stack_up_runs_everything_and_ctrl_c_stops_everything(tmp_path: Path, boundaries_path: Path) -> None:
    kafka, mongo = free_port(), free_port()
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            *ADUAN,
            "stack",
            "up",
            "--data-dir",
            str(tmp_path),
            "--kafka-port",
            str(kafka),
            "--mongo-port",
            str(mongo),
            "--boundaries",
            str(boundaries_path),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    output = []
    try:
        for line in proc.stdout:
            output.append(line)
            if line.startswith("ready in"):
                break
        text = "".join(output)
        assert "ready in" in text, text
        assert time.monotonic() - started < 60
        parts = ("kafka", "mongodb", "normalizer", "router", "sla-monitor", "notifier")
        adapters = ("ingest-qlue", "ingest-twitter", "ingest-email", "ingest-sms", "ingest-open311")
        for part in (*parts, *adapters):
            assert part in text
        assert "POST /requests.json" in text
        for adapter in ("ingest-qlue", "ingest-sms", "ingest-open311"):  # one durable outbox each
            assert (tmp_path / "outbox" / adapter).is_dir(), adapter
        assert "ADUAN_INGEST_OPEN311_DEV_API_KEY=" in (tmp_path / "secrets.env").read_text()
        assert "GPS geocoding on" in text
        assert (tmp_path / "secrets.env").stat().st_mode & 0o077 == 0
        secrets = (tmp_path / "secrets.env").read_text()
        assert "ADUAN_ROUTER_OPERATOR_TOKEN=" in secrets  # operator API on
        assert (tmp_path / "mongodb").is_dir()
        ports = [kafka, mongo, 8101, 8102, 8103, 8104, 8105, 8111, 8112, 8113, 8114]
        assert all(port_open(p) for p in ports)
        # The README's SKPD example: the development key of dlh-3171 opens the status API.
        (key,) = [x.split("=", 1)[1] for x in secrets.splitlines() if x.startswith("ADUAN_DEMO_UNIT_KEY=")]
        listing = httpx.get(
            "http://127.0.0.1:8113/v1/unit/cases", headers={"Authorization": f"Bearer {key}"}, timeout=5
        )
        assert listing.status_code == 200 and listing.json()["skpd_code"] == "dlh-3171"
        assert key not in (tmp_path / "unit-keys").read_text()  # only its hash
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert "stopped" in rest
    deadline = time.monotonic() + 5
    while any(port_open(p) for p in ports) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in ports if port_open(p)], "a process was left behind"
