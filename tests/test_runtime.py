"""The process entry point's lifespan: start-up's heap is frozen once the app has started."""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shared.runtime import _frozen_after_start


async def test_what_start_up_made_is_frozen_after_the_apps_own_start_and_startup_garbage_is_not():
    events: list[str] = []
    garbage_collected = []

    class Cycle:
        def __del__(self) -> None:
            garbage_collected.append(True)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        events.append(f"started, frozen {gc.get_freeze_count()}")
        cycle = Cycle()
        cycle.me = cycle  # garbage only a collection can find
        del cycle
        yield {"state": 1}
        events.append("stopped")

    app = FastAPI()
    gc.unfreeze()
    try:
        async with _frozen_after_start(lifespan)(app) as state:
            assert state == {"state": 1}
            assert events == ["started, frozen 0"]
            assert gc.get_freeze_count() > 0
            assert garbage_collected == [True]  # collected before the freeze, not frozen with it
        assert events[-1] == "stopped"
    finally:
        gc.unfreeze()
