"""The ``/api/schedules`` response bodies (beside :mod:`wdk.server._models`, same rules).

Times are epoch seconds; ``args`` are the stored arguments decoded to JSON.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from wdk.server._models import ResponseBody, Timestamp

__all__ = ["ScheduleList", "ScheduleView", "Triggered"]


class ScheduleView(ResponseBody):
    """A schedule: its definition and where its ticks stand."""

    schedule_id: str
    workflow_id: str
    cron: str | None = Field(description="5 fields, or 6 with seconds first; null: every.")
    every: float | None = Field(description="Seconds between ticks; null: cron.")
    timezone: str
    overlap: Literal["skip", "allow", "buffer_one"]
    catchup: Literal["none", "latest", "all"]
    args: Any = Field(description="The arguments of every run, as JSON.")
    paused: bool
    last_fire: Timestamp | None = Field(description="The latest tick handled.")
    next_fire: Timestamp | None = Field(description="The next tick; null while paused.")
    buffered: Timestamp | None = Field(
        description="overlap=buffer_one: the tick waiting for the previous run to end."
    )
    last_run_id: str | None
    updated_at: Timestamp


class ScheduleList(ResponseBody):
    """Every schedule, by id."""

    schedules: list[ScheduleView]


class Triggered(ResponseBody):
    """The run a trigger started."""

    schedule_id: str
    run_id: str
