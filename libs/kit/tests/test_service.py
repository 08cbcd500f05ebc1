"""A deployed service whose background loop dies stops, so its supervisor restarts it."""

import subprocess
import sys
import textwrap

from aduan_kit.embedded import free_port

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from aduan_kit.runner import serve
    from aduan_kit.service import Wiring, build_service
    from aduan_kit.settings import CommonSettings, ServiceSettings

    async def broken_loop() -> None:
        await asyncio.sleep(0.5)
        raise RuntimeError("loop broke")

    async def setup(_):
        return Wiring(tasks=[broken_loop])

    settings = ServiceSettings(port=int(sys.argv[1]), common=CommonSettings(kafka_bootstrap=sys.argv[2]))
    serve("failing", build_service("failing", settings.common, setup), settings)
    """
)


def test_a_dead_background_loop_stops_the_process(kafka_bootstrap: str) -> None:
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(free_port()), kafka_bootstrap],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "background task failed" in res.stderr and "loop broke" in res.stderr
    assert "service stopped" in res.stderr
