"""Rendering a message from its stored input, for seed 002's reprocess.

A resend sends the stored rendered content unchanged; a reprocess renders it afresh from the input
the sender stored with the message. That input holds the templates and the values to fill in:

    {"destination": "https://example.com/hooks/{{loan.id}}", "subject": "...",
     "body": "Dear {{client.name}}" or a JSON object whose strings are templates,
     "headers": {"X-Loan": "{{loan.id}}"}, "data": {"client": {"name": "Ada"}, "loan": {"id": "L1"}}}

`{{path.to.value}}` is replaced by that value from `data`; a missing value is an error, never an
empty string, so a reprocess cannot silently send a broken message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w-]*(?:\.[\w-]+)*)\s*\}\}")


class RenderError(ValueError):
    """The input cannot produce a message; the text names the part of the input at fault."""


@dataclass(frozen=True, slots=True)
class Rendered:
    destination: str
    subject: str | None
    body: str
    headers: dict[str, str] | None


def render(stored_input: object) -> Rendered:
    """The message content that `stored_input` describes, rendered now."""
    if not isinstance(stored_input, Mapping):
        raise RenderError("there is no stored input (an object) to render from")
    data = stored_input.get("data", {})
    if not isinstance(data, Mapping):
        raise RenderError("input.data must be an object of values")
    destination = stored_input.get("destination")
    if not isinstance(destination, str) or not destination:
        raise RenderError("input.destination is required and must be a string")
    body = stored_input.get("body")
    if body is None:
        raise RenderError("input.body is required")
    subject = stored_input.get("subject")
    if subject is not None and not isinstance(subject, str):
        raise RenderError("input.subject must be a string")
    headers = stored_input.get("headers")
    if headers is not None and not (isinstance(headers, Mapping) and all(isinstance(v, str) for v in headers.values())):
        raise RenderError("input.headers must be an object of strings")
    rendered_body = _fill(body, data, "input.body")
    return Rendered(
        destination=_text(destination, data, "input.destination"),
        subject=None if subject is None else _text(subject, data, "input.subject"),
        body=rendered_body if isinstance(rendered_body, str) else json.dumps(rendered_body, separators=(",", ":")),
        headers=None if headers is None else {str(k): _text(v, data, f"input.headers.{k}") for k, v in headers.items()},
    )


def _text(template: str, data: Mapping[str, Any], where: str) -> str:
    def value(match: re.Match[str]) -> str:
        found = _lookup(data, match.group(1))
        if found is None:
            raise RenderError(f"{where}: no value for {{{{{match.group(1)}}}}} in input.data")
        return found if isinstance(found, str) else json.dumps(found)

    return _PLACEHOLDER.sub(value, template)


def _fill(template: Any, data: Mapping[str, Any], where: str) -> Any:
    """Render every string inside a JSON value (webhook bodies are often objects)."""
    if isinstance(template, str):
        return _text(template, data, where)
    if isinstance(template, Mapping):
        return {key: _fill(item, data, f"{where}.{key}") for key, item in template.items()}
    if isinstance(template, list):
        return [_fill(item, data, f"{where}[{index}]") for index, item in enumerate(template)]
    return template


def _lookup(data: Mapping[str, Any], path: str) -> Any:
    current: Any = data
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current
