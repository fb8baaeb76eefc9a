"""Saved views (seed 000's custom views): kept for their owner, or shared with the workspace.

A caller sees their own views and every shared one; saving again under a name they already use
replaces that view's definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from commlog.domain.keys import new_key
from commlog.store.tables import saved_views

v = saved_views.c


@dataclass(frozen=True, slots=True)
class SavedView:
    id: str
    owner: str
    name: str
    shared: bool
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> SavedView:
        return cls(row.id, row.owner, row.name, row.shared, row.definition, row.created_at, row.updated_at)


async def list_views(conn: AsyncConnection, workspace_id: str, actor: str) -> list[SavedView]:
    """The caller's own views and the workspace's shared ones, by name."""
    query = (
        select(saved_views)
        .where(v.workspace_id == workspace_id, or_(v.owner == actor, v.shared.is_(True)))
        .order_by(v.name, v.owner)
    )
    return [SavedView.from_row(row) for row in await conn.execute(query)]


async def get_view(conn: AsyncConnection, workspace_id: str, view_id: str) -> SavedView | None:
    row = (await conn.execute(select(saved_views).where(v.workspace_id == workspace_id, v.id == view_id))).first()
    return None if row is None else SavedView.from_row(row)


async def save_view(
    conn: AsyncConnection,
    workspace_id: str,
    actor: str,
    name: str,
    shared: bool,
    definition: dict[str, Any],
    now: datetime,
) -> tuple[str, bool]:
    """Store the view under (owner, name), replacing one of the same name; its id, and whether it is new."""
    found = (
        await conn.execute(
            select(v.id).where(v.workspace_id == workspace_id, v.owner == actor, v.name == name).with_for_update()
        )
    ).first()
    if found is not None:
        await conn.execute(
            update(saved_views).where(v.id == found.id).values(shared=shared, definition=definition, updated_at=now)
        )
        return str(found.id), False
    return await _insert(conn, workspace_id, actor, name, shared, definition, now), True


async def _insert(
    conn: AsyncConnection,
    workspace_id: str,
    owner: str,
    name: str,
    shared: bool,
    definition: dict[str, Any],
    now: datetime,
) -> str:
    view_id = new_key()
    await conn.execute(
        saved_views.insert().values(
            id=view_id,
            workspace_id=workspace_id,
            owner=owner,
            name=name,
            shared=shared,
            definition=definition,
            created_at=now,
        )
    )
    return view_id


async def delete_view(conn: AsyncConnection, workspace_id: str, view_id: str) -> None:
    await conn.execute(delete(saved_views).where(v.workspace_id == workspace_id, v.id == view_id))


class NameTaken(Exception):
    """The owner already has a view of that name (names are unique per owner)."""

    def __init__(self, existing_id: str) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id


async def _named(conn: AsyncConnection, workspace_id: str, owner: str, name: str) -> str | None:
    found = (
        await conn.execute(select(v.id).where(v.workspace_id == workspace_id, v.owner == owner, v.name == name))
    ).first()
    return None if found is None else str(found.id)


async def create_view(
    conn: AsyncConnection,
    workspace_id: str,
    actor: str,
    name: str,
    shared: bool,
    definition: dict[str, Any],
    now: datetime,
) -> SavedView:
    """A new view of `actor`'s; NameTaken when they already have one of that name (the API's
    create does not replace, unlike the dashboard's Save as view)."""
    existing = await _named(conn, workspace_id, actor, name)
    if existing is not None:
        raise NameTaken(existing)
    view_id = await _insert(conn, workspace_id, actor, name, shared, definition, now)
    return SavedView(view_id, actor, name, shared, definition, now, None)


async def update_view(
    conn: AsyncConnection,
    view: SavedView,
    workspace_id: str,
    name: str,
    shared: bool,
    definition: dict[str, Any],
    now: datetime,
) -> SavedView:
    """Replace `view`'s name, sharing and definition; NameTaken when its owner has another view of that name."""
    existing = await _named(conn, workspace_id, view.owner, name)
    if existing is not None and existing != view.id:
        raise NameTaken(existing)
    await conn.execute(
        update(saved_views)
        .where(v.workspace_id == workspace_id, v.id == view.id)
        .values(name=name, shared=shared, definition=definition, updated_at=now)
    )
    return SavedView(view.id, view.owner, name, shared, definition, view.created_at, now)
