"""One workflow run in memory: replayed from its log, advanced by new events.

The invariant everything rests on: **a workflow's decisions are a function of the sequence of
resolution events** (step completed/failed, wait completed, hook payloads) in log order. After
each resolution the scheduler runs every task until all are blocked; whatever durable calls
the code made by then are *commands*. Commands are numbered in call order (their position),
and their correlation ids derive from the run's seed and that position, so replay assigns the
same ids.

``*_created`` events in the log only *confirm* commands: when one is read, the code must
already have made that call (it was written after the code made it). A created event the code
did not make, or made with another step, is a :class:`~wdk.ReplayDivergenceError`. Because
created events do not steer the code, their place in the log relative to other runs' writes
does not matter, and a worker may append them without an ``expect_seq`` guard. A resolution
applied *before* it is in the log (the fast path that batches "step k completed" with
"step k+1 created") does need the guard; see the worker.
"""

from __future__ import annotations

import hashlib
import logging
import random as _random
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from wdk import serde
from wdk._context import _current
from wdk._duration import resolve_deadline
from wdk.errors import (
    REPLAY_DIVERGENCE,
    RUNTIME_ERROR,
    USER_ERROR,
    WORKFLOW_NOT_REGISTERED,
    BuildError,
    HookConflictError,
    PatchError,
    SerializationError,
    WorkflowError,
    WorkflowNotRegisteredError,
    error_text,
)
from wdk.runtime._divergence import Block, _Divergence, coroutine_location, describe, user_location
from wdk.runtime._executor import max_delay_field
from wdk.runtime._keys import patch_key
from wdk.runtime._metadata import WorkflowMetadata
from wdk.runtime._queues import step_limit
from wdk.runtime._scheduler import Future, Scheduler, Task
from wdk.worlds.base import Event, EventType, NewEvent

__all__ = ["Block", "Command", "Outcome", "WorkflowInstance"]

log = logging.getLogger("wdk.workflow")

_WDK_DIR = str(Path(__file__).resolve().parent.parent)

RESOLUTIONS = frozenset(
    {
        EventType.STEP_COMPLETED,
        EventType.STEP_FAILED,
        EventType.WAIT_COMPLETED,
        EventType.HOOK_RECEIVED,
        EventType.HOOK_CONFLICT,
    }
)
CREATIONS = {
    EventType.STEP_CREATED: "step",
    EventType.WAIT_CREATED: "sleep",
    EventType.HOOK_CREATED: "hook",
}


class _Teardown(BaseException):  # noqa: N818 - a control signal, not an error
    """Raised into workflow code that keeps calling wdk while its run is torn down."""


@dataclass(slots=True)
class Command:
    """A durable call the workflow made: a step, a sleep or a hook (or a patch marker)."""

    kind: str  # "step" | "sleep" | "hook" | "dispose" | "patch"
    cid: str
    position: int
    name: str  # step id, "sleep", hook token
    future: Future | None
    data: bytes | None = None  # the created event's data
    resume_at: float = 0.0  # sleeps
    written: bool = False
    hook: Any = None  # the Hook object for hooks
    where: str = ""  # the user's file:line, captured while replaying (for divergences)
    limit: str | None = None  # steps with limits: their message kind (``_flow.limit_kind``)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the run ended: ``completed`` with an encoded value, or ``failed`` with an error."""

    status: str  # "completed" | "failed"
    data: bytes


def make_cid(kind: str, seed: bytes, position: int) -> str:
    """The correlation id of the command at ``position`` (deterministic per run)."""
    digest = hashlib.blake2b(seed + position.to_bytes(8, "big"), digest_size=10).hexdigest()
    return f"{kind}_{digest}"


@dataclass
class RunStart:
    """What ``run_created`` recorded."""

    workflow_id: str
    input: bytes
    seed: bytes
    created_at: float
    deployment_id: str | None = None

    @classmethod
    def from_event(cls, event: Event) -> RunStart:
        """Decode a ``run_created`` event."""
        raw = msgpack.unpackb(event.data or b"\x80", raw=False)
        return cls(
            raw["workflow_id"],
            raw["input"],
            raw.get("seed") or event.run_id.encode(),
            event.created_at,
            raw.get("deployment_id"),
        )


@dataclass
class _Clock:
    now: float = 0.0


@dataclass
class _HookState:
    payloads: deque[Any] = field(default_factory=deque)
    waiters: deque[Future] = field(default_factory=deque)
    error: BaseException | None = None
    disposed: bool = False


class WorkflowInstance:
    """A run's workflow coroutine plus everything needed to advance and persist it."""

    def __init__(
        self,
        run_id: str,
        start: RunStart,
        *,
        load_workflow: Callable[[WorkflowInstance], Callable[..., Any]],
        log_sink: Callable[[str, str], None] | None = None,
        base_url: str = "",
        is_user_module: Callable[[str], bool] | None = None,
        locate: Callable[[str], str] | None = None,
        budget_s: float = 0.0,
    ) -> None:
        self.run_id = run_id
        self.workflow_id = start.workflow_id
        self.start_info = start
        self.seed = start.seed
        self.started_at = start.created_at
        self.last_seq = 0
        self.outcome: Outcome | None = None
        # Imported here: ``import wdk`` (clients) must not load the sandbox (RestrictedPython).
        from wdk.sandbox import Limiter, SliceExpired

        signals: tuple[type[BaseException], ...] = (_Teardown, SliceExpired)
        self._signals = signals
        self.scheduler = Scheduler(is_control_signal=lambda e: isinstance(e, signals))
        self._clock = _Clock(start.created_at)
        self._random: _random.Random | None = None  # seeded on first use (it costs ~30 us)
        self._position = 0
        self._commands: dict[str, Command] = {}
        self._unwritten: list[Command] = []
        self._hooks: dict[str, _HookState] = {}
        self._load_workflow = load_workflow
        self._log_sink = log_sink
        self._base_url = base_url
        self._replaying = False
        self._replay_until = 0
        self._teardown = False
        self._main: Task | None = None
        self._sandbox: Any = None
        self._is_user_module: Callable[[str], bool] = is_user_module or (lambda _name: False)
        #: how a ``/abs/path.py:line`` reads in messages (relative to the source root)
        self._locate: Callable[[str], str] = locate or (lambda where: where)
        self.ended = False  # a terminal event is in the log
        self.metadata: WorkflowMetadata | None = None
        #: set when this code cannot go on with the run's log (the run is to be parked)
        self.blocked: Block | None = None
        #: the log's last block (``run_blocked`` data) while no ``run_unblocked`` followed it
        self.logged_block: bytes | None = None
        #: every block the log holds, oldest first (which code has tried the run already)
        self.logged_blocks: list[bytes] = []
        self.deployment_id = start.deployment_id
        #: patch names the log holds markers for, and this run's answers so far
        self._patches_logged: set[str] = set()
        self._patch_answers: dict[str, bool] = {}
        #: while feeding: the batch and the index of the event being applied (patched()
        #: looks ahead in the log); ``log_closed`` says the log ends with the run's end
        self._batch: list[Event] | None = None
        self._batch_at = 0
        self._event_seq: int | None = None
        self.log_closed = False
        #: the activation budget: armed around each activation (``_start``, ``_run``, ``close``)
        self.limiter = Limiter(budget_s)

    # -- the WorkflowContext the sandbox and wdk API see -----------------------------------
    @property
    def random(self) -> _random.Random:
        """The run's seeded random generator."""
        if self._random is None:
            self._random = _random.Random(self.seed)
        return self._random

    def now(self) -> float:
        """The workflow clock."""
        return self._clock.now

    def log(self, text: str) -> None:
        """``print`` from workflow code: to the sink, silent while replaying."""
        if self._replaying:
            return
        if self._log_sink is not None:
            self._log_sink(self.run_id, text)
        else:
            log.info("[%s] %s", self.run_id, text)

    def _next(self, kind: str) -> tuple[int, str]:
        if self._teardown:
            raise _Teardown()
        self._position += 1
        return self._position, make_cid(kind, self.seed, self._position)

    def schedule_step(self, step: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Future:
        """A step call from workflow code: returns the future of its result."""
        position, cid = self._next("step")
        fut = Future(self.scheduler, cid)
        try:
            closure = step.closure_values()
            data = _pack(
                step=step.step_id,
                pos=position,
                args=serde.encode(tuple(args), path="args"),
                kwargs=serde.encode(dict(kwargs), path="kwargs") if kwargs else None,
                closure=serde.encode(closure, path="closure") if closure else None,
                max_retries=getattr(step, "max_retries", None),
                # Only when set: the calls of steps without one keep their bytes.
                **_set(max_delay=max_delay_field(getattr(step, "max_delay", None))),
            )
        except SerializationError as exc:
            # Deterministic: replay fails the same call the same way, so nothing is written.
            fut.set_exception(exc)
            return fut
        self._add(Command("step", cid, position, step.step_id, fut, data, limit=step_limit(step)))
        return fut

    def sleep(self, duration: Any) -> Future:
        """A durable timer from workflow code."""
        resume_at = resolve_deadline(duration, self.now())
        position, cid = self._next("wait")
        fut = Future(self.scheduler, cid)
        data = _pack(pos=position, resume_at=resume_at)
        self._add(Command("sleep", cid, position, "sleep", fut, data, resume_at=resume_at))
        return fut

    def create_hook(self, token: str | None, metadata: Any, kind: str) -> Command:
        """Register a hook; payloads are awaited through :meth:`next_payload`.

        Raises:
            HookConflictError: a live hook of this run holds ``token`` already. (A hook of
                another run is found when the hook is written: its ``await`` raises then.)
        """
        if token is not None:
            self._check_own_token(token)
        position, cid = self._next("hook")
        if token is None:
            token = hashlib.blake2b(self.seed + b"token" + cid.encode(), digest_size=24).hexdigest()
        meta = serde.encode(metadata, path="metadata") if metadata is not None else None
        data = msgpack.packb(
            {"token": token, "metadata": meta, "kind": kind, "pos": position}, use_bin_type=True
        )
        cmd = Command("hook", cid, position, token, None, data)
        self._hooks[cid] = _HookState()
        self._add(cmd)
        return cmd

    def _check_own_token(self, token: str) -> None:
        """Refuse a token one of this run's live hooks holds: a token names one live hook.

        The world would refuse it too, but only when the batch is written, and a second hook
        in the same batch would then take the token from the first. Checked here, before a
        position is taken, the refusal is part of the deterministic code path (replay
        refuses the same call).
        """
        for cid, state in self._hooks.items():
            cmd = self._commands.get(cid)
            if cmd is None or cmd.name != token or state.disposed or state.error is not None:
                continue
            raise HookConflictError(
                f"hook token {token!r} is already held by a live hook of this run (run "
                f"{self.run_id}); a token names one live hook. Await the hook you have "
                "(`async for payload in hook` takes every payload), call hook.dispose() "
                "before creating another with the same token, or use another token.",
                token=token,
                conflicting_run_id=self.run_id,
            )

    def next_payload(self, cid: str) -> Future:
        """The next payload of a hook (buffered payloads first, in arrival order)."""
        if self._teardown:
            raise _Teardown()
        state = self._hooks[cid]
        fut = Future(self.scheduler, cid)
        if state.error is not None:
            fut.set_exception(state.error)
        elif state.payloads:
            fut.set_result(state.payloads.popleft())
        else:
            state.waiters.append(fut)
        return fut

    def dispose_hook(self, cid: str) -> None:
        """Release a hook's token (written with the next batch of events)."""
        state = self._hooks.get(cid)
        if state is None or state.disposed:
            return
        state.disposed = True
        cmd = Command("dispose", cid, -1, "dispose", None)
        self._unwritten.append(cmd)

    def patched(self, name: str, *, deprecated: bool = False) -> bool:
        """``wdk.patched(name)``: True on the code path new runs take (see :meth:`_answer`).

        A True answer reached at the log's frontier is recorded (a ``patched`` event written
        with the next commands), so every later replay answers True as well.
        """
        if self._teardown:
            raise _Teardown()
        what = "deprecate_patch" if deprecated else "patched"
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise PatchError(
                f"{what}() takes the patch's name, a non-empty string literal of at most 200 "
                f"characters (got {name!r})",
                name=str(name),
            )
        answer = self._answer(name)
        earlier = self._patch_answers.get(name)
        if earlier is not None and earlier != answer:
            raise PatchError(
                f"patch {name!r} answered {earlier} earlier in this run and would answer "
                f"{answer} now: a run takes one side of a patch for good. Give each patch "
                "point its own name.",
                name=name,
            )
        self._patch_answers[name] = answer
        if deprecated:
            if not answer:
                self.block(
                    Block(
                        REPLAY_DIVERGENCE,
                        f"deprecate_patch({name!r}) is reached by a run that started before "
                        f"the patch and took the old code path. Keep wdk.patched({name!r}) "
                        "with the old branch until such runs have finished.",
                        event=self._event_seq,
                        position=self._position,
                        expected=f"the old code path (before patch {name!r})",
                        actual=f"deprecate_patch({name!r})",
                        location=self._locate(user_location()),
                        suggestion=f"restore `if wdk.patched({name!r}): ... else: ...`",
                    )
                )
            return True
        if answer and name not in self._patches_logged:
            self._patches_logged.add(name)
            data = _pack(name=name, pos=self._position)
            self._unwritten.append(
                Command("patch", patch_key(name), self._position, name, None, data)
            )
        return answer

    def _answer(self, name: str) -> bool:
        """A patch's answer: True if the log marks it, False if the logged run went past it.

        False when the logged run went on past this point without the patch (a durable call
        after it, or its end): it keeps the old path; else True (the frontier: new code from
        here on). A marker is written before any call made after it, so the first of "a marker with
        this name" or "a later call" met ahead in the log decides.
        """
        if name in self._patches_logged:
            return True
        batch = self._batch
        if batch is None:
            return True
        for event in batch[self._batch_at + 1 :]:
            etype = event.type
            if etype == EventType.PATCHED:
                if _unpack(event.data).get("name") == name:
                    return True
            elif etype in EventType.RUN_TERMINAL:
                return False
            elif etype in CREATIONS and _logged_position(event) > self._position:
                return False
        return not self.log_closed

    def _add(self, cmd: Command) -> None:
        if self._batch is not None:
            cmd.where = self._locate(user_location())
        self._commands[cmd.cid] = cmd
        self._unwritten.append(cmd)

    def _decode(self, data: bytes) -> Any:
        """Decode for workflow code: user classes resolve to this run's sandbox copies."""
        if self._sandbox is None:
            return serde.decode(data)
        with serde.module_resolver(self._sandbox_module):
            return serde.decode(data)

    def _sandbox_module(self, name: str) -> Any:
        sandbox = self._sandbox
        module = sandbox.modules.get(name)
        if module is None and self._is_user_module(name):
            module = sandbox.import_module(name)
        return module

    # -- advancing -------------------------------------------------------------------------
    def feed(self, events: list[Event]) -> None:
        """Apply events from the log (in seq order) and run the code as far as it goes.

        A divergence parks the instance (:attr:`blocked`); the rest of the log is still read
        (so ``last_seq`` and the log's own block state are current) but not applied.
        """
        self._batch = events
        try:
            for index, event in enumerate(events):
                if event.seq <= self.last_seq:
                    continue
                self.last_seq = event.seq
                etype = event.type
                if etype == EventType.RUN_BLOCKED:
                    self.logged_block = event.data or b""
                    self.logged_blocks.append(self.logged_block)
                    continue
                if etype == EventType.RUN_UNBLOCKED:
                    self.logged_block = None
                    continue
                if etype == EventType.RUN_ADOPTED:
                    self.deployment_id = _unpack(event.data).get("deployment_id")
                    continue
                if self.outcome is not None or self.blocked is not None:
                    continue
                if etype in EventType.RUN_TERMINAL:
                    self.ended = True
                    self.outcome = Outcome(etype, event.data or b"")
                    continue
                self._replaying = event.seq <= self._replay_until
                self._batch_at, self._event_seq = index, event.seq
                try:
                    self._apply(
                        etype, event.correlation_id, event.data, event.created_at, from_log=True
                    )
                except _Divergence as div:
                    self.block(div.block(event.seq))
        finally:
            self._replaying = False
            self._batch = None
            self._event_seq = None

    def apply_new(self, event: NewEvent, at: float) -> None:
        """Apply an event that is about to be appended (the batching fast path)."""
        self._apply(event.type, event.correlation_id, event.data, at, from_log=False)

    def mark_replay(self, events: list[Event]) -> None:
        """Remember up to where a fresh replay re-does work already done (prints stay quiet)."""
        for event in events:
            if event.type in CREATIONS or event.type == EventType.RUN_STARTED:
                self._replay_until = max(self._replay_until, event.seq)

    def _apply(
        self, etype: str, cid: str | None, data: bytes | None, at: float, *, from_log: bool
    ) -> None:
        if etype == EventType.RUN_STARTED:
            info = serde.decode(data) if data else {}
            self._clock.now = float(info.get("at", at)) if isinstance(info, dict) else at
            self._start()
        elif etype in CREATIONS:
            self._confirm(etype, cid, data)
        elif etype in RESOLUTIONS:
            self._resolve(etype, cid, data, at)
        elif etype == EventType.PATCHED:
            self._confirm_patch(data)
            return
        elif etype == EventType.HOOK_DISPOSED or etype in (
            EventType.STEP_STARTED,
            EventType.STEP_RETRYING,
        ):
            return
        else:
            return
        self._run()

    def _start(self) -> None:
        if self._main is not None:
            return
        self.metadata = WorkflowMetadata(
            workflow_name=self.workflow_id.rsplit("//", 1)[-1],
            workflow_run_id=self.run_id,
            workflow_started_at=_utc(self._clock.now),
            url=f"{self._base_url}/runs/{self.run_id}" if self._base_url else "",
        )
        token = _current.set(self)  # type: ignore[arg-type]
        self.limiter.arm()
        try:
            fn = self._load_workflow(self)
            self._sandbox = getattr(fn, "__globals__", {}).get("wdk sandbox")
            args = self._decode(self.start_info.input)
            posargs, kwargs = _split_args(args)
            coro = fn(*posargs, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - any failure to start fails the run
            if isinstance(exc, (*self._signals, KeyboardInterrupt, SystemExit)):
                raise
            if isinstance(exc, WorkflowNotRegisteredError | BuildError):
                # Missing or broken code is a deploy problem: park the run for other code.
                self.block(
                    Block(
                        WORKFLOW_NOT_REGISTERED,
                        error_text(exc),
                        event=self._event_seq,
                        actual="no such workflow in this code",
                        suggestion="deploy code that has the workflow (or roll back), then "
                        "`wdk retry`; or `wdk cancel` the run",
                    )
                )
                return
            self._fail(exc)
            return
        finally:
            self.limiter.disarm()
            _current.reset(token)
        if self.limiter.tripped is not None:  # caught by the module or the call: fails anyway
            self._fail(self.limiter.tripped)
            return
        self._main = self.scheduler.spawn(coro)

    def _confirm(self, etype: str, cid: str | None, data: bytes | None) -> None:
        kind = CREATIONS[etype]
        cmd = self._commands.get(cid or "")
        logged = _unpack(data) if kind != "hook" else msgpack.unpackb(data or b"\x80", raw=False)
        position = int(logged.get("pos", -1)) if isinstance(logged, dict) else -1
        expected = describe(kind, logged)
        if cmd is None:
            actual, where = self._call_at(position)
            raise _Divergence(position, expected, actual, where)
        actual = describe(
            cmd.kind, _unpack(cmd.data) if cmd.kind != "hook" else {"token": cmd.name}
        )
        if cmd.kind != kind or (kind == "step" and cmd.name != logged.get("step")):
            raise _Divergence(position, expected, actual, cmd.where)
        if not cmd.written:
            cmd.written = True
            self._unwritten = [c for c in self._unwritten if c is not cmd]

    def _call_at(self, position: int) -> tuple[str, str]:
        """What the code made at ``position`` and where; or where it is instead."""
        for cmd in self._commands.values():
            if cmd.position == position:
                described = describe(
                    cmd.kind, _unpack(cmd.data) if cmd.kind != "hook" else {"token": cmd.name}
                )
                return described, cmd.where
        if self._main is not None and self._main.done():
            return "nothing (the workflow returned before it)", self._waiting_at()
        return "nothing (the code made no durable call there)", self._waiting_at()

    def _waiting_at(self) -> str:
        """The user's file:line where the workflow's tasks wait now (or its def line)."""
        for task in self.scheduler.tasks:
            if task.done():
                continue
            where = coroutine_location(task.get_coro())
            if where:
                return self._locate(where)
        main = self._main
        code = getattr(main.get_coro(), "cr_code", None) if main is not None else None
        return self._locate(f"{code.co_filename}:{code.co_firstlineno}") if code is not None else ""

    def _confirm_patch(self, data: bytes | None) -> None:
        """A ``patched`` marker from the log: the answer is True; no write is due."""
        name = _unpack(data).get("name")
        if not isinstance(name, str):
            return
        self._patches_logged.add(name)
        for cmd in self._unwritten:
            if cmd.kind == "patch" and cmd.name == name:
                cmd.written = True
        self._unwritten = [c for c in self._unwritten if not (c.kind == "patch" and c.written)]

    def _resolve(self, etype: str, cid: str | None, data: bytes | None, at: float) -> None:
        cmd = self._commands.get(cid or "")
        if cmd is None:
            raise _Divergence(-1, f"{etype} for {cid}", "no call with that id", self._waiting_at())
        payload = self._decode(data) if data else {}
        self._clock.now = max(self._clock.now, float(payload.get("at", at)))
        if etype == EventType.STEP_COMPLETED:
            assert cmd.future is not None
            cmd.future.set_result(payload.get("result"))
        elif etype == EventType.STEP_FAILED:
            assert cmd.future is not None
            cmd.future.set_exception(_as_exception(payload.get("error")))
        elif etype == EventType.WAIT_COMPLETED:
            assert cmd.future is not None
            cmd.future.set_result(None)
        elif etype == EventType.HOOK_RECEIVED:
            state = self._hooks[cmd.cid]
            value = payload.get("payload")
            if state.waiters:
                state.waiters.popleft().set_result(value)
            else:
                state.payloads.append(value)
        elif etype == EventType.HOOK_CONFLICT:
            state = self._hooks[cmd.cid]
            cmd.written = True
            self._unwritten = [c for c in self._unwritten if c is not cmd]
            state.error = HookConflictError(
                f"hook token {cmd.name!r} is already held by run {payload.get('run_id')}; "
                "tokens are unique among live hooks. Use another token, or wait for that run "
                "to end or dispose its hook.",
                token=cmd.name,
                conflicting_run_id=str(payload.get("run_id", "")),
            )
            while state.waiters:
                state.waiters.popleft().set_exception(state.error)

    def _run(self) -> None:
        if self.outcome is not None or self._main is None or self.blocked is not None:
            return
        token = _current.set(self)  # type: ignore[arg-type]
        self.limiter.arm()
        try:
            self.scheduler.run_until_idle()
        finally:
            self.limiter.disarm()
            _current.reset(token)
        main = self._main
        if self.limiter.tripped is not None:
            # Failed even if the code caught it: where it was stopped depends on time.
            self._unwritten = []
            self._fail(self.limiter.tripped)
        elif main.done() and self.blocked is None:
            exc = main.exception()
            if exc is None:
                try:
                    self.outcome = Outcome(
                        "completed", serde.encode(main.result(), path="return value")
                    )
                except SerializationError as err:
                    self._fail(err)
            else:
                self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        code = USER_ERROR
        if isinstance(exc, _Divergence):
            self.block(exc.block(self._event_seq))
            return
        self.outcome = Outcome("failed", encode_run_error(exc, code))

    def fail_with(self, exc: BaseException, code: str = RUNTIME_ERROR) -> None:
        """End the run failed because the engine could not continue it."""
        if isinstance(exc, _Divergence):
            self.block(exc.block(self._event_seq))
            return
        self.outcome = Outcome("failed", encode_run_error(exc, code))

    def block(self, block: Block) -> None:
        """Park the run: this code cannot go on with its log (the first reason is kept)."""
        if self.blocked is None:
            self.blocked = block
            self._unwritten = []

    # -- what to write ---------------------------------------------------------------------
    def take_unwritten(self) -> list[Command]:
        """Commands made but not yet in the log (cleared: the caller writes them)."""
        cmds, self._unwritten = self._unwritten, []
        return cmds

    def requeue_unwritten(self, cmds: list[Command]) -> None:
        """Put back commands whose write failed."""
        self._unwritten = cmds + self._unwritten

    def step_ids(self) -> set[str]:
        """The ids of every step the code has called so far."""
        return {c.name for c in self._commands.values() if c.kind == "step"}

    def user_modules(self) -> list[str]:
        """The user modules this run's sandbox imported (what its code is made of)."""
        sandbox = self._sandbox
        if sandbox is None:
            return []
        return sorted(name for name in sandbox.modules if self._is_user_module(name))

    def pending_count(self) -> int:
        """Durable calls made but not resolved yet."""
        return sum(
            1 for c in self._commands.values() if c.future is not None and not c.future.done()
        )

    def close(self) -> None:
        """Tear the coroutines down: awaits and durable calls in ``finally`` blocks raise."""
        self._teardown = True
        token = _current.set(self)  # type: ignore[arg-type]
        self.limiter.arm()  # ``finally`` blocks are workflow code too
        try:
            self.scheduler.close()
        except BaseException:  # noqa: BLE001 - teardown must not fail the worker
            log.debug("teardown of %s raised", self.run_id, exc_info=True)
        finally:
            self.limiter.disarm()
            _current.reset(token)


def _logged_position(event: Event) -> int:
    """The ``pos`` a creation event recorded (-1 if none)."""
    if event.type == EventType.HOOK_CREATED:
        logged = msgpack.unpackb(event.data or b"\x80", raw=False)
    else:
        logged = _unpack(event.data)
    pos = logged.get("pos", -1) if isinstance(logged, dict) else -1
    return pos if isinstance(pos, int) else -1


def _set(**fields: Any) -> dict[str, Any]:
    """The fields that are not None."""
    return {k: v for k, v in fields.items() if v is not None}


def _pack(**fields: Any) -> bytes:
    packed: bytes = msgpack.packb(fields, use_bin_type=True)
    return packed


def _unpack(data: bytes | None) -> dict[str, Any]:
    if not data:
        return {}
    value = msgpack.unpackb(data, raw=False)
    return value if isinstance(value, dict) else {}


def _split_args(args: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if isinstance(args, dict) and set(args) <= {"args", "kwargs"} and "args" in args:
        return tuple(args["args"]), dict(args.get("kwargs") or {})
    if isinstance(args, list | tuple):
        return tuple(args), {}
    return (args,), {}


def _utc(ts: float) -> Any:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC)


def user_stack(exc: BaseException) -> str:
    """The traceback of ``exc`` without wdk's own frames, so it points at user code."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(_WDK_DIR)
    ]
    lines = traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "Traceback (most recent call last):\n" + "".join(lines) if frames else "".join(lines)


def encode_run_error(exc: BaseException, code: str) -> bytes:
    """The ``run_failed`` payload: message, code, stack and type of the error."""
    message = error_text(exc) or type(exc).__name__
    stack = getattr(exc, "__wdk_stack__", None) or user_stack(exc)
    return serde.encode(
        {
            "message": message,
            "code": code,
            "stack": stack,
            "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        }
    )


def _as_exception(value: Any) -> BaseException:
    if isinstance(value, BaseException):
        return value
    return WorkflowError(str(value))
