"""Property-based fuzzing of every HTTP service of the stack from its own OpenAPI document.

For each running service (the embedded stack's processes, over real sockets) every operation of its
``/openapi.json`` gets generated requests, both valid by the schema and invalid (schemathesis'
positive and negative modes, on hypothesis). Every answer must be below 500, a 4xx must say why
(JSON ``detail``: FastAPI's validation list or the apps' own string), and a 2xx body must conform to
the schema the app declares for it. Runtime is bounded:
``MAX_EXAMPLES`` per operation and mode, derandomized, no example database.

Checked to fail: before GeoReport's error list counted as a reason (``gives_reason`` accepting only
``{"detail": …}``), the test went red on ``ingest-open311 POST /requests.json`` (its 400 answers); and
before 4xx bodies were left out of the conformance check, on a 422 whose ``detail`` is a string where
FastAPI's generated schema declares a list.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import response_schema_conformance

from aduan_cli.stack import Stack
from tests.hostile.corpus import gives_reason

MAX_EXAMPLES = 25
OPS_ENDPOINTS = {"/healthz", "/readyz", "/metrics"}  # plain text/ops answers, tested elsewhere


def fuzz_operation(url: str, operation: Any, auth: dict[str, str]) -> list[str]:
    """Problems found on one operation: 5xx answers, 4xx without a reason, non-conforming bodies."""
    problems: list[str] = []
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    def run(case: Any) -> None:
        headers = {**auth, **(case.headers or {})}
        try:
            response = case.call(base_url=url, headers=headers, timeout=15)
        except (UnicodeEncodeError, ValueError):  # a header the client library itself cannot send
            return
        where = f"{case.method} {case.formatted_path} query={case.query!r}"
        if response.status_code >= 500:
            problems.append(f"{where}: {response.status_code} {response.text[:200]}")
            return
        if 400 <= response.status_code < 500 and "json" in response.headers.get("content-type", [""])[0]:
            body = response.json()
            if not gives_reason(body):
                problems.append(f"{where}: {response.status_code} without a detail: {response.text[:200]}")
        if response.status_code >= 400:  # a 4xx must give its reason (above); its shape varies by app
            return
        try:
            case.validate_response(response, checks=[response_schema_conformance])
        except Exception as e:  # schemathesis raises a group of the failed checks
            problems.append(f"{where}: body does not conform: {str(e)[:300]}")

    run()
    return problems


def test_every_service_survives_fuzzing_of_its_openapi(stack: Stack) -> None:
    auth_of = {
        "router": {"Authorization": f"Bearer {stack.secrets()['ADUAN_ROUTER_OPERATOR_TOKEN']}"},
    }
    problems: dict[str, list[str]] = {}
    fuzzed = 0
    for name, service in sorted(stack.services.items()):
        schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.path in OPS_ENDPOINTS:
                continue
            fuzzed += 1
            found = fuzz_operation(service.url, operation, auth_of.get(name, {}))
            if found:
                problems[f"{name} {operation.method.upper()} {operation.path}"] = found[:5]
    assert fuzzed >= 10, f"only {fuzzed} operations found: is the stack serving its OpenAPI documents?"
    assert problems == {}, problems
