"""Rendering pages: one Jinja2 environment (autoescaped), the navigation a caller may see, and the
small formatting helpers every template shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from commlog.api.context import Caller
from commlog.domain.failures import describe
from commlog.domain.permissions import Permission

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True, slots=True)
class NavItem:
    path: str
    label: str
    permission: Permission
    #: The sidebar section it is listed under (seed 003: Messaging → Failed Messages).
    section: str
    #: Other paths whose pages belong to this item, so that it stays highlighted there.
    also: tuple[str, ...] = ()

    def current(self, path: str) -> bool:
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in (self.path, *self.also))


@dataclass(frozen=True, slots=True)
class NavSection:
    name: str
    items: tuple[NavItem, ...]


#: The sidebar, in order; an item appears only for callers with its permission, a section only
#: when one of its items does.
NAVIGATION = (
    NavItem("/log", "Communication log", Permission.VIEW_COMMUNICATIONS, "Messaging", ("/recipients",)),
    NavItem("/failed", "Failed Messages", Permission.VIEW_COMMUNICATIONS, "Messaging"),
    NavItem("/stats", "Statistics", Permission.VIEW_COMMUNICATIONS, "Messaging"),
    NavItem("/settings", "Retry policy", Permission.MANAGE_SETTINGS, "Settings"),
)


def navigation(caller: Caller | None) -> list[NavSection]:
    """The sections and items `caller` may use, in the sidebar's order."""
    if caller is None:
        return []
    allowed = [item for item in NAVIGATION if item.permission in caller.permissions]
    names = list(dict.fromkeys(item.section for item in allowed))
    return [NavSection(name, tuple(i for i in allowed if i.section == name)) for name in names]


def when(moment: datetime | None) -> str:
    """A moment as people read it in the log: UTC, to the second."""
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def number(value: float | int | None) -> str:
    return "" if value is None else f"{value:,}"


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "svg"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, number=number, percent=percent)
    env.globals.update(describe=describe, Permission=Permission)
    return env


ENVIRONMENT = _environment()


def page(request: Request, caller: Caller | None, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render `template` inside the layout, with the navigation `caller` may use."""
    html = ENVIRONMENT.get_template(template).render(
        request=request, caller=caller, nav=navigation(caller), path=request.url.path, **context
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response
