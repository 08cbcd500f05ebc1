"""Export the contracts as files: JSON Schema per event and an AsyncAPI 3 document of every topic.

    python -m aduan_schemas.export [OUT_DIR]     (default: the schemas/ folder of this checkout)

The files are committed; a test fails when they drift from the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from aduan_schemas.events import SCHEMA_VERSION, Event
from aduan_schemas.topics import SKPD_TEMPLATE, TOPICS, Topic

DEFAULT_OUT = Path(__file__).resolve().parents[2]
CE_HEADERS = ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject", "content-type"]


def schema_name(model: type[Event]) -> str:
    return model.__name__


def json_schemas() -> dict[str, dict[str, Any]]:
    models = {t.model for t in (*TOPICS, SKPD_TEMPLATE)}
    out = {}
    for m in sorted(models, key=schema_name):
        s = m.model_json_schema(mode="serialization")
        s["$id"] = f"urn:aduan:schema:{schema_name(m)}:v{SCHEMA_VERSION}"
        s["x-cloudevents-type"] = m.EVENT_TYPE
        out[schema_name(m)] = s
    return out


def _channel_id(t: Topic) -> str:
    return t.name.replace("{skpd_code}", "skpd").replace(".", "_")


def asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for t in (*TOPICS, SKPD_TEMPLATE):
        cid, name = _channel_id(t), schema_name(t.model)
        messages[name] = {
            "name": name,
            "title": t.model.EVENT_TYPE,
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "description": "CloudEvents 1.0 Kafka binary mode",
                "properties": {h: {"type": "string"} for h in CE_HEADERS},
                "required": CE_HEADERS[:5],
            },
            "payload": {"$ref": f"./jsonschema/{name}.json"},
            "bindings": {"kafka": {"key": {"type": "string", "description": t.key}}},
        }
        channel: dict[str, Any] = {
            "address": t.name,
            "description": t.description,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {"kafka": {"topic": t.name, "partitions": t.partitions}},
        }
        if "{skpd_code}" in t.name:
            channel["parameters"] = {"skpd_code": {"description": "An SKPD code from the registry"}}
        channels[cid] = channel
        operations[f"publish_{cid}"] = {"action": "send", "channel": {"$ref": f"#/channels/{cid}"}}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Aduan events",
            "version": SCHEMA_VERSION,
            "description": "Every topic of the Aduan complaint pipeline. Values are JSON; headers are "
            "CloudEvents binary mode; keys keep all events of one report on one partition.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render() -> dict[str, str]:
    """Relative path -> file content, for every exported file."""
    files = {
        f"jsonschema/{n}.json": json.dumps(s, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        for n, s in json_schemas().items()
    }
    files["asyncapi.yaml"] = yaml.safe_dump(asyncapi(), sort_keys=False, allow_unicode=True)
    return files


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    for rel, content in render().items():
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content, encoding="utf-8")
        print(p.relative_to(out))


if __name__ == "__main__":
    main()
