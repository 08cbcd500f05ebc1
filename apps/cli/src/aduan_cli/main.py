"""``aduan``: stack up | normalize | route | replay | topics create | unit-key new/revoke."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from aduan_cli.offline import route_lines, run_jsonl, utc_now
from aduan_cli.stack import DEFAULT_KEYS_FILE, Stack, StackConfig
from aduan_kit.embedded import StartError
from aduan_kit.kafka import ensure_topics
from aduan_kit.settings import CommonSettings
from aduan_schemas.city import load_city


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aduan", description="Aduan complaint pipeline")
    sub = p.add_subparsers(dest="command", required=True)
    city_help = "city configuration directory (default: $ADUAN_CITY_DIR or config/jakarta)"
    default_city = Path(os.environ.get("ADUAN_CITY_DIR", "config/jakarta"))

    stack = sub.add_parser("stack", help="the embedded stack").add_subparsers(dest="action", required=True)
    up = stack.add_parser(
        "up", help="start broker, database and every service (foreground; Ctrl-C stops all)"
    )
    up.add_argument("--data-dir", type=Path, default=Path(os.environ.get("ADUAN_DATA_DIR", ".aduan-data")))
    up.add_argument("--city-dir", type=Path, default=default_city, help=city_help)
    up.add_argument(
        "--boundaries",
        type=Path,
        default=_env_path("ADUAN_BOUNDARIES_PATH"),
        help="kelurahan boundaries GeoJSON (default: $ADUAN_BOUNDARIES_PATH; none: GPS geocoding off)",
    )
    up.add_argument("--kafka-port", type=int, default=9092)
    up.add_argument("--mongo-port", type=int, default=27017)

    norm = sub.add_parser("normalize", help="raw events (JSONL, stdin) -> normalized reports (JSONL, stdout)")
    norm.add_argument("--city-dir", type=Path, default=default_city, help=city_help)
    norm.add_argument("--boundaries", type=Path, default=_env_path("ADUAN_BOUNDARIES_PATH"))

    rt = sub.add_parser("route", help="normalized reports (JSONL, stdin) -> routed reports (JSONL, stdout)")
    rt.add_argument("--city-dir", type=Path, default=default_city, help=city_help)

    rp = sub.add_parser("replay", help="publish recorded raw events (JSONL) to a running stack")
    rp.add_argument("file", nargs="?", default="-", help="JSONL file of raw events (default: stdin)")
    rp.add_argument("--bootstrap", default=os.environ.get("ADUAN_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    rp.add_argument("--topic-prefix", default=os.environ.get("ADUAN_TOPIC_PREFIX", ""))

    topics = sub.add_parser("topics", help="topic administration").add_subparsers(
        dest="action", required=True
    )
    tc = topics.add_parser("create", help="create every topic of the registry and one per SKPD")
    tc.add_argument("--bootstrap", default=os.environ.get("ADUAN_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    tc.add_argument("--topic-prefix", default=os.environ.get("ADUAN_TOPIC_PREFIX", ""))
    tc.add_argument("--city-dir", type=Path, default=default_city, help=city_help)
    keys = sub.add_parser("unit-key", help="API keys of SKPD systems (status API)").add_subparsers(
        dest="action", required=True
    )
    keys_help = "keys file (default: $ADUAN_SLA_MONITOR_UNIT_KEYS_FILE or the embedded stack's)"
    default_keys = Path(os.environ.get("ADUAN_SLA_MONITOR_UNIT_KEYS_FILE", DEFAULT_KEYS_FILE))
    kn = keys.add_parser("new", help="make a key for a unit; prints it once (only its hash is stored)")
    kn.add_argument("code", help="SKPD code of the unit, as in the registry")
    kn.add_argument("--keys-file", type=Path, default=default_keys, help=keys_help)
    kn.add_argument("--city-dir", type=Path, default=default_city, help=city_help)
    kr = keys.add_parser("revoke", help="remove every key of a unit")
    kr.add_argument("code", help="SKPD code of the unit")
    kr.add_argument("--keys-file", type=Path, default=default_keys, help=keys_help)
    return p


def unit_key(args: argparse.Namespace) -> int:
    from aduan_sla_monitor.unit_keys import add_key, revoke

    if args.action == "revoke":
        removed = revoke(args.keys_file, args.code)
        print(f"revoked {removed} key(s) of {args.code}", file=sys.stderr)
        return 0 if removed else 1
    if args.code not in load_city(args.city_dir).skpd.by_code:
        print(f"aduan: unknown unit {args.code!r}: not in the SKPD registry", file=sys.stderr)
        return 2
    key = add_key(args.keys_file, args.code)
    print(f"key for {args.code} (shown once; only its hash is kept in {args.keys_file}):", file=sys.stderr)
    print(key)
    return 0


def stack_up(args: argparse.Namespace) -> int:
    boundaries = args.boundaries
    if boundaries is not None and not boundaries.is_file():
        print(f"aduan: boundaries file not found: {boundaries}", file=sys.stderr)
        return 2
    stack = Stack(
        StackConfig(
            data_dir=args.data_dir,
            city_dir=args.city_dir,
            boundaries=boundaries,
            kafka_port=args.kafka_port,
            mongo_port=args.mongo_port,
        )
    )
    stopping = False

    def on_signal(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        if stopping:  # a second Ctrl-C: stop without waiting for the stages to drain
            stack.abandon_drain = True
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    print("aduan: starting the embedded stack ...", flush=True)
    try:
        stack.start()
    except (StartError, OSError, ValueError) as e:
        print(f"aduan: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(stack.table())
    print(f"\nready in {time.monotonic() - started:.1f} s. Ctrl-C stops everything.", flush=True)

    try:
        stack.supervise_until(lambda: stopping, lambda line: print(line, flush=True))
    finally:
        print(
            "aduan: stopping: adapters first, then the stages once they have handled every record "
            "(Ctrl-C again: stop without waiting) ...",
            flush=True,
        )
        stack.stop()
        if stack.undrained:
            left = ", ".join(f"{g}: {n if n >= 0 else '?'}" for g, n in sorted(stack.undrained.items()))
            print(f"aduan: stopped before the stages drained; records not handled: {left}", file=sys.stderr)
        print("aduan: stopped", flush=True)
    return 0


def normalize(args: argparse.Namespace) -> int:
    from aduan_normalizer.neardup import load_policy
    from aduan_normalizer.neardup_state import NearDuplicateLinker
    from aduan_normalizer.pipeline import load_geocoder, normalize_lines
    from aduan_text import analyzer_for

    key = os.environ.get("ADUAN_NORMALIZER_PSEUDONYM_KEY")
    if not key:
        print(
            "aduan: set ADUAN_NORMALIZER_PSEUDONYM_KEY (the service's key, so pseudonyms match)",
            file=sys.stderr,
        )
        return 2
    if args.boundaries is None:
        print("aduan: no boundaries file: GPS geocoding is off (text only)", file=sys.stderr)
    elif not args.boundaries.is_file():
        print(f"aduan: boundaries file not found: {args.boundaries}", file=sys.stderr)
        return 2
    city = load_city(args.city_dir)
    results = normalize_lines(
        sys.stdin,
        geocoder=load_geocoder(args.boundaries, registry=city.skpd),
        taxonomy=city.taxonomy,
        pseudonym_key=key,
        now_fn=utc_now,
        # the service's near-duplicate rules, so offline runs set duplicate_of too
        near_duplicates=NearDuplicateLinker(load_policy(args.city_dir), analyzer_for(city.taxonomy)),
    )
    return run_jsonl(results, sys.stdout, sys.stderr)


def route(args: argparse.Namespace) -> int:
    return run_jsonl(route_lines(sys.stdin, load_city(args.city_dir), utc_now), sys.stdout, sys.stderr)


def replay_cmd(args: argparse.Namespace) -> int:
    from aduan_cli.replay import replay

    common = CommonSettings(kafka_bootstrap=args.bootstrap, topic_prefix=args.topic_prefix)
    if args.file == "-":
        published, errors = asyncio.run(replay(sys.stdin, common))
    else:
        with open(args.file, encoding="utf-8") as f:
            published, errors = asyncio.run(replay(f, common))
    for e in errors:
        print(f"aduan: skipped {e}", file=sys.stderr)
    print(f"published {published} raw events, skipped {len(errors)}")
    return 1 if errors else 0


def topics_create(args: argparse.Namespace) -> int:
    common = CommonSettings(
        kafka_bootstrap=args.bootstrap, topic_prefix=args.topic_prefix, city_dir=args.city_dir
    )
    codes = [u.code for u in common.load_city().skpd.units]
    wanted = common.topics.all_topics(codes)
    created = asyncio.run(
        ensure_topics(
            common.kafka_bootstrap,
            wanted,
            common.kafka_replication_factor,
            common.kafka_min_insync_replicas,
        )
    )
    print(f"{len(wanted)} topics wanted, {len(created)} created")
    return 0


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command == "stack":
        code = stack_up(args)
    elif args.command == "topics":
        code = topics_create(args)
    elif args.command == "unit-key":
        code = unit_key(args)
    else:
        code = {"normalize": normalize, "route": route, "replay": replay_cmd}[args.command](args)
    sys.exit(code)
