"""GET /api/v1/live — Server-Sent Events of positions and incidents, scoped per user."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from dashboard.deps import CurrentUser
from dashboard.live import sse_frame

router = APIRouter(prefix="/api/v1", tags=["live"])


@router.get("/live")
async def live(request: Request, user: CurrentUser) -> StreamingResponse:
    hub = request.app.state.live
    client = hub.subscribe(user)

    async def stream() -> AsyncIterator[str]:
        try:
            yield sse_frame("hello", {"user": user.username, "role": user.role})
            while not await request.is_disconnected():
                try:
                    event, data = await asyncio.wait_for(client.queue.get(), timeout=15)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield sse_frame(event, data)
        finally:
            hub.unsubscribe(client)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
