"""Step-wrapped model factories: the model is built inside the model step, never in the log.

``openai("gpt-4o")`` in workflow code returns a *step reference* (a built-in step carrying
``{"provider": "openai", "model": "gpt-4o"}`` as its closure). Only that reference is recorded
in the event log; the model step calls it, which builds the pydantic-ai model (reading API
keys from the environment of the worker running the step)::

    agent = DurableAgent(openai("gpt-4o"))
    agent = DurableAgent(openai_compatible(base_url="http://127.0.0.1:8080/v1", model="m"))

A factory of your own works the same way: any ``"use step"`` function returning a pydantic-ai
``Model`` can be passed as ``model=``.
"""

from __future__ import annotations

import os
from typing import Any

from wdk.runtime._proxies import StepFunction

__all__ = ["anthropic", "build_model", "google", "openai", "openai_compatible"]

BUILD_STEP_ID = "step//wdk//ai.providers.build"


def _factory(provider: str, **options: Any) -> StepFunction:
    closure = {"provider": provider, **{k: v for k, v in options.items() if v is not None}}
    return StepFunction(BUILD_STEP_ID, closure, name=f"{provider}_model")


def openai(
    model: str,
    *,
    api_key_env: str = "OPENAI_API_KEY",
    base_url: str | None = None,
    max_retries: int | None = None,
) -> Any:
    """An OpenAI chat model (``OpenAIChatModel``); the key is read from ``api_key_env``.

    ``max_retries`` sets the OpenAI client's own retries inside one step attempt (its default
    when None); 0 leaves every retry to wdk's durable step retries.
    """
    return _factory(
        "openai", model=model, api_key_env=api_key_env, base_url=base_url, max_retries=max_retries
    )


def anthropic(model: str, *, api_key_env: str = "ANTHROPIC_API_KEY") -> Any:
    """An Anthropic model (needs ``pydantic-ai-slim[anthropic]`` on the workers)."""
    return _factory("anthropic", model=model, api_key_env=api_key_env)


def google(model: str, *, api_key_env: str = "GOOGLE_API_KEY") -> Any:
    """A Google Gemini model (needs ``pydantic-ai-slim[google]`` on the workers)."""
    return _factory("google", model=model, api_key_env=api_key_env)


def openai_compatible(
    *, base_url: str, model: str, api_key_env: str | None = None, max_retries: int | None = None
) -> Any:
    """Any OpenAI-compatible chat completions server (vLLM, Ollama, a local fake...).

    ``api_key_env`` names the environment variable holding the key; without it a placeholder
    key is sent (local servers ignore it). ``max_retries`` as for :func:`openai`.
    """
    return _factory(
        "openai_compatible",
        model=model,
        base_url=base_url,
        api_key_env=api_key_env,
        max_retries=max_retries,
    )


def _key(env: str | None) -> str | None:
    return os.environ.get(env) if env else None


def build_model(
    *,
    provider: str,
    model: str,
    api_key_env: str | None = None,
    base_url: str | None = None,
    max_retries: int | None = None,
) -> Any:
    """Build the pydantic-ai model (the body of the built-in factory step)."""
    if provider in ("openai", "openai_compatible"):
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        key = _key(api_key_env)
        if provider == "openai_compatible" and key is None:
            key = "not-needed"
        from openai import AsyncOpenAI

        # A client of its own (not pydantic-ai's process-wide cached one): the model step
        # closes it when the call ends, so no connection outlives the step attempt.
        options: dict[str, Any] = {"base_url": base_url, "api_key": key}
        if max_retries is not None:
            options["max_retries"] = max_retries
        client = AsyncOpenAI(**options)
        return OpenAIChatModel(model, provider=OpenAIProvider(openai_client=client))
    if provider in ("anthropic", "google"):
        from pydantic_ai.models import infer_model

        key = _key(api_key_env)
        if key is not None:
            os.environ.setdefault(
                "ANTHROPIC_API_KEY" if provider == "anthropic" else "GOOGLE_API_KEY", key
            )
        return infer_model(f"{'google-gla' if provider == 'google' else provider}:{model}")
    raise ValueError(f"unknown model provider {provider!r}")
