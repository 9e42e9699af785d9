"""Structured output: ``Output.object(Model)`` parses the final step's text into ``Model``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Output", "OutputSpec"]


@dataclass(frozen=True)
class OutputSpec:
    """How to read the final answer; make one with :class:`Output`."""

    schema: Any = None
    """A pydantic model class (or any type pydantic accepts), or None for plain text."""
    name: str | None = None
    description: str | None = None

    def request(self) -> dict[str, Any] | None:
        """What the model step needs to ask for this output (JSON schema), or None."""
        if self.schema is None:
            return None
        from pydantic import TypeAdapter

        schema = TypeAdapter(self.schema).json_schema()
        name = self.name or getattr(self.schema, "__name__", None)
        return {"schema": schema, "name": name, "description": self.description}

    def parse(self, text: str) -> Any:
        """The final text as the output value (ValueError if it does not match)."""
        if self.schema is None:
            return text
        from pydantic import TypeAdapter, ValidationError

        body = text.strip()
        if body.startswith("```"):
            body = body.strip("`").removeprefix("json").strip()
        try:
            return TypeAdapter(self.schema).validate_json(body)
        except ValidationError as exc:
            raise ValueError(f"the model's output does not match the schema: {exc}") from None


class Output:
    """Factories for ``agent.stream(output=...)``."""

    @staticmethod
    def object(
        schema: Any, *, name: str | None = None, description: str | None = None
    ) -> OutputSpec:
        """Structured output validated against ``schema`` (a pydantic model class)."""
        return OutputSpec(schema, name, description)

    @staticmethod
    def text() -> OutputSpec:
        """Plain text output (the default)."""
        return OutputSpec()
