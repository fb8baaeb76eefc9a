"""`python -m commlog.store.probe URL`: exit 0 when the database answers, 1 when it does not."""

from __future__ import annotations

import asyncio
import sys

from sqlalchemy import text

from commlog.store.database import create_engine


async def reachable(url: str) -> bool:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        await engine.dispose()


if __name__ == "__main__":
    sys.exit(0 if asyncio.run(reachable(sys.argv[1])) else 1)
