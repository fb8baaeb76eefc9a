"""Error bodies per dialect: the matched route chooses the format, so one path can speak two dialects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from commlog.api.errors import ApiError, Problem, install_error_handlers
from commlog.api.mambu_errors import MambuV1Route, MambuV2Route


class Body(BaseModel):
    limit: int


def _app() -> FastAPI:
    """GET and POST share a path but not a dialect, as GET/POST /api/notifications/messages do."""
    app = FastAPI()
    install_error_handlers(app)
    native, v1, v2 = APIRouter(), APIRouter(route_class=MambuV1Route), APIRouter(route_class=MambuV2Route)

    @native.get("/x")
    async def native_get(status: int = 400, code: str = "INVALID_REQUEST") -> None:
        raise ApiError(status, [Problem("status", "refused")], code)

    for router in (v1, v2):

        @router.post("/x")
        async def mambu_post(body: Body, status: int = 400, code: str = "INVALID_REQUEST") -> None:
            if status == 500:
                raise RuntimeError("boom")
            raise ApiError(status, [Problem("a[0].b", "is wrong"), Problem("c", "is missing")], code)

    app.include_router(native)
    app.include_router(v1, prefix="/v1")
    app.include_router(v2, prefix="/v2")
    app.include_router(native, prefix="/v1")
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


MAMBU_CASES = [
    # (status raised, code raised, status answered, returnCode, returnStatus)
    (400, "INVALID_REQUEST", 400, 4, "INVALID_PARAMETERS"),
    (400, "INVALID_PAGINATION_LIMIT_VALUE", 400, 13, "INVALID_PAGINATION_LIMIT_VALUE"),
    (400, "OUT_OF_BOUNDS_PAGINATION_LIMIT_VALUE", 400, 14, "OUT_OF_BOUNDS_PAGINATION_LIMIT_VALUE"),
    (400, "OUT_OF_BOUNDS_PAGINATION_OFFSET_VALUE", 400, 12, "OUT_OF_BOUNDS_PAGINATION_OFFSET_VALUE"),
    (400, "INVALID_PAGINATION_OFFSET_VALUE", 400, 11, "INVALID_PAGINATION_OFFSET_VALUE"),
    (401, "UNAUTHENTICATED", 401, 2, "INVALID_CREDENTIALS"),
    (403, "FORBIDDEN", 403, 15, "INVALID_PERMISSIONS"),
    (500, "x", 500, 6, "INTERNAL_ERROR"),
]


def read_mambu(dialect: str, payload: dict[str, Any]) -> tuple[set[tuple[int, str]], list[str]]:
    """((code, status name) pairs, errorSource list) from either Mambu dialect's body."""
    if dialect == "v1":
        return {(payload["returnCode"], payload["returnStatus"])}, [payload["errorSource"]]
    errors = payload["errors"]
    return {(e["errorCode"], e["errorReason"]) for e in errors}, [e["errorSource"] for e in errors]


@pytest.mark.parametrize(
    ("dialect", "sources"), [("v1", ["a[0].b: is wrong; c: is missing"]), ("v2", ["a[0].b: is wrong", "c: is missing"])]
)
@pytest.mark.parametrize(("raised", "code", "status", "return_code", "return_status"), MAMBU_CASES)
async def test_mambu_body(
    client: httpx.AsyncClient,
    dialect: str,
    sources: list[str],
    raised: int,
    code: str,
    status: int,
    return_code: int,
    return_status: str,
) -> None:
    response = await client.post(f"/{dialect}/x", params={"status": raised, "code": code}, json={"limit": 1})
    assert response.status_code == status
    codes, found_sources = read_mambu(dialect, response.json())
    assert codes == {(return_code, return_status)}
    if raised != 500:
        assert found_sources == sources


@pytest.mark.parametrize(
    ("body", "source"),
    [({"limit": "many"}, "limit: Input should be a valid integer"), ({}, "limit: is required")],
)
@pytest.mark.parametrize("dialect", ["v1", "v2"])
async def test_request_validation_is_a_400_invalid_parameters(
    client: httpx.AsyncClient, dialect: str, body: dict[str, Any], source: str
) -> None:
    response = await client.post(f"/{dialect}/x", json=body)
    assert response.status_code == 400
    codes, sources = read_mambu(dialect, response.json())
    assert codes == {(4, "INVALID_PARAMETERS")}
    assert sources[0].startswith(source)


async def test_same_path_other_method_keeps_its_own_format(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/x")
    assert response.status_code == 400
    assert response.json() == {"errors": [{"code": "INVALID_REQUEST", "field": "status", "message": "refused"}]}


async def test_unknown_path_answers_native_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "HTTP_ERROR"
