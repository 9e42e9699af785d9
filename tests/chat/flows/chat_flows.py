"""Chat workflows for tests/chat: deterministic AI SDK UI chunks written from steps.

``chat_fixture`` is a multi-turn conversation (its hook token is ``"<run_id>:chat"``, what
``POST /api/chat`` with ``runId`` resumes). What it does depends on the user's text:

* anything: answers ``turn N: you said <text>`` word by word, a durable sleep between words so
  the stream is observably live, then waits for the next message;
* ``bye``: answers, then the run completes;
* ``fail``: writes a partial answer, then a step fails fatally: the run fails without ``finish``;
* ``quiet``: writes a partial answer and the run completes without ``finish``.
"""

from wdk import FatalError, create_hook, get_workflow_metadata, get_writable, sleep


async def emit(writable, chunk):
    "use step"
    await writable.write(chunk)


async def explode(message):
    "use step"
    raise FatalError(message)


def text_of(message):
    return "".join(p.get("text", "") for p in message.get("parts", []) if p.get("type") == "text")


def reply_words(text, turn):
    return f"turn {turn}: you said {text}".split(" ")


async def partial(out, turn):
    await emit(out, {"type": "start", "messageId": f"m{turn}"})
    await emit(out, {"type": "text-start", "id": f"t{turn}"})
    await emit(out, {"type": "text-delta", "id": f"t{turn}", "delta": "partial"})


async def answer(out, text, turn):
    await emit(out, {"type": "start", "messageId": f"m{turn}"})
    await emit(out, {"type": "text-start", "id": f"t{turn}"})
    for i, word in enumerate(reply_words(text, turn)):
        await sleep("5ms")
        await emit(
            out, {"type": "text-delta", "id": f"t{turn}", "delta": word if i == 0 else " " + word}
        )
    await emit(out, {"type": "text-end", "id": f"t{turn}"})
    await emit(out, {"type": "finish"})


async def chat_fixture(messages):
    "use workflow"
    run_id = get_workflow_metadata().workflow_run_id
    out = get_writable()
    hook = create_hook(token=f"{run_id}:chat")
    message = messages[-1]
    turn = 0
    while True:
        text = text_of(message)
        if text == "fail":
            await partial(out, turn)
            await explode("the model exploded")
        if text == "quiet":
            await partial(out, turn)
            return turn
        await answer(out, text, turn)
        if text == "bye":
            return turn
        message = await hook
        turn += 1


async def not_a_chat():
    "use workflow"
    await create_hook(token=f"{get_workflow_metadata().workflow_run_id}:other")
