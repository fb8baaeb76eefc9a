"""Reading what a browser sends: URL-encoded forms and query strings, as lists of strings per name.

Pages parse their input themselves (rather than through FastAPI's typed parameters) so that a bad
value is answered on the page, naming the field, instead of as the API's JSON error.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import Request

from commlog.web.access import PageRefused

#: Largest form a page accepts; the biggest is a bulk retry naming a few hundred keys.
MAX_FORM_BYTES = 256 * 1024

Form = dict[str, list[str]]


async def read_form(request: Request) -> Form:
    body = await request.body()
    if not body:
        return {}
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise PageRefused(415, "The form must be sent as application/x-www-form-urlencoded.")
    if len(body) > MAX_FORM_BYTES:
        raise PageRefused(413, f"The form is larger than {MAX_FORM_BYTES // 1024} KiB.")
    return parse_qs(body.decode(errors="replace"), keep_blank_values=True)


def query(request: Request) -> Form:
    return parse_qs(request.url.query, keep_blank_values=True)


def one(form: Form, name: str, default: str = "") -> str:
    """The first value of `name`, stripped; `default` when absent."""
    values = form.get(name)
    return values[0].strip() if values else default
