# ruff: noqa: D300, D403, D415
# (the "use step" and "use workflow" directives are docstrings; pydocstyle cannot know)
"""A research assistant chat on one durable run.

Tools: search (a step), wait (a workflow-level durable sleep) and publish_report (a step that
needs the user's approval).

Serve it to browsers and curl with ``wdk serve --chat research:research_chat`` (README.md).
The model is any OpenAI-compatible server: ``OPENAI_BASE_URL`` (default: the offline fake in
fake_openai.py on 127.0.0.1:8787) and ``RESEARCH_MODEL`` are read by the model step, on the
worker, so neither ever enters the workflow's event log.
"""

from wdk import create_hook, get_workflow_metadata, get_writable, sleep
from wdk.ai import DurableAgent, chat_hook_token, tool

INSTRUCTIONS = (
    "You are a research assistant. Use search to find sources before answering, wait when "
    "the user asks you to pause, and publish_report only when asked to publish."
)

LIBRARY = [
    {
        "title": "Durable execution explained",
        "url": "https://example.org/durable",
        "tags": "durable workflows crash",
    },
    {
        "title": "Event sourcing and replay",
        "url": "https://example.org/replay",
        "tags": "durable replay log",
    },
    {
        "title": "Resumable streams for chat",
        "url": "https://example.org/streams",
        "tags": "chat stream resume",
    },
    {
        "title": "Human-in-the-loop approvals",
        "url": "https://example.org/approval",
        "tags": "approval hook",
    },
]


async def research_model():
    "use step"
    import os

    from wdk.ai.providers import build_model

    return build_model(
        provider="openai_compatible",
        model=os.environ.get("RESEARCH_MODEL", "fake-research"),
        base_url=os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8787/v1"),
        api_key_env="OPENAI_API_KEY",
        max_retries=0,
    )


async def search(query: str) -> list[dict]:
    "use step"
    words = {w.strip("?.,!").lower() for w in query.split()}
    hits = [doc for doc in LIBRARY if words & set(doc["tags"].split())]
    return [{"title": d["title"], "url": d["url"]} for d in hits] or LIBRARY[:1]


async def wait(seconds: float) -> str:
    """Pause the research for a number of seconds (a durable timer: no process waits)."""
    await sleep(seconds)
    return f"waited {seconds:g}s"


async def publish_report(title: str, summary: str) -> str:
    "use step"
    import json
    import os

    with open(os.environ.get("RESEARCH_PUBLISHED", "published.jsonl"), "a") as f:
        f.write(json.dumps({"title": title, "summary": summary}) + "\n")
    return f"published {title!r}"


async def research_chat(messages: list[dict]) -> list[dict]:
    "use workflow"
    run_id = get_workflow_metadata().workflow_run_id
    next_message = create_hook(token=chat_hook_token(run_id))  # where POST /api/chat delivers
    agent = DurableAgent(
        research_model,
        instructions=INSTRUCTIONS,
        tools={
            "search": tool(search, description="Search the library for sources on a query."),
            "wait": wait,
            "publish_report": tool(
                publish_report, description="Publish a research report.", needs_approval=True
            ),
        },
    )
    history = list(messages)
    while True:
        result = await agent.stream(
            messages=history, writable=get_writable(), prevent_close=True, max_steps=6
        )
        history = result.messages
        message = await next_message
        if message.get("done"):
            return history
        history.append(message)
