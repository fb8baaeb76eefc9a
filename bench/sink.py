"""A minimal webhook receiver that answers 200 at once: the destination every delivery benchmark hits.

Run as its own process (`python -m bench.sink PORT`) so it does not share an event loop with the
code being measured.
"""

from __future__ import annotations

import sys

from aiohttp import web


async def _ok(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text="ok")


def main() -> None:
    app = web.Application()
    app.router.add_post("/{tail:.*}", _ok)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
