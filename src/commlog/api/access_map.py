"""Which permission each route asks for, published in the OpenAPI document.

Every operation gets `x-commlog-permission` (a permission's value, or `public`) and
`x-commlog-error-format` (the error dialect of its refusals: native, mambu_v1 or mambu_v2), read from
the access dependency the route declares (`api.context.requires` / `public`). The access test walks
the document with them, so a route added later is checked without anyone listing it; a route that
declares neither gets no extension and fails that test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from commlog.api import errors

PUBLIC = "public"
PERMISSION_EXTENSION = "x-commlog-permission"
FORMAT_EXTENSION = "x-commlog-error-format"


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def required_access(route: APIRoute) -> str | None:
    """The permission `route` checks at the door, `public`, or None when it declares neither."""
    for call in _calls(route.dependant):
        permission = getattr(call, "required_permission", None)
        if permission is not None:
            return str(permission.value)
        if getattr(call, "is_public", False):
            return PUBLIC
    return None


def error_format(route: APIRoute) -> str:
    """The name of the dialect `route` answers errors in (see api/errors.py `dialect_route`)."""
    formatter = errors._ROUTE_FORMATS.get(type(route), errors.native_format)
    return formatter.__name__.removesuffix("_format")


def api_routes(app: FastAPI) -> Iterator[APIRoute]:
    """Every API route of `app` (dashboard pages included), however routers were included."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            yield route


def install_access_map(app: FastAPI) -> None:
    """Make `app.openapi()` carry each operation's permission and error format."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema and app.openapi_schema.get("x-commlog-access-map"):
            return app.openapi_schema
        document = plain()
        for route in api_routes(app):
            access = required_access(route)
            for method in route.methods or ():
                operation = document.get("paths", {}).get(route.path_format, {}).get(method.lower())
                if operation is None:
                    continue
                if access is not None:
                    operation[PERMISSION_EXTENSION] = access
                operation[FORMAT_EXTENSION] = error_format(route)
        document["x-commlog-access-map"] = True
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
