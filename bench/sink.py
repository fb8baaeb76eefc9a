"""A minimal webhook receiver: the destination every delivery benchmark hits.

    python -m bench.sink PORT [--fail-first PERCENT] [--delay-ms MS]

It answers 200 at once; with `--fail-first` it answers 503 to the first attempt of that share of
messages (chosen by their stable `webhook-id`), so that they are retried; with `--delay-ms` it
answers after half to one and a half times that long (that on average), as endpoints across the
internet do: a delay the same for every request would make the replies to a batch arrive at once.
It runs in its own process so it does not share an event loop with the code being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import zlib

from aiohttp import web


def receiver(fail_first_percent: int, delay_ms: int = 0) -> web.Application:
    seen: set[str] = set()

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        if delay_ms:
            await asyncio.sleep(random.uniform(0.5, 1.5) * delay_ms / 1000)
        message_id = request.headers.get("webhook-id", "")
        if fail_first_percent and message_id not in seen and zlib.crc32(message_id.encode()) % 100 < fail_first_percent:
            seen.add(message_id)
            return web.Response(status=503, text="try again")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--fail-first", type=int, default=0, metavar="PERCENT")
    parser.add_argument("--delay-ms", type=int, default=0, metavar="MS")
    args = parser.parse_args()
    web.run_app(receiver(args.fail_first, args.delay_ms), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
