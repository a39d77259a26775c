"""A small OpenAI-compatible server with a fixed TTFT and inter-token latency, for timing tests."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse


def make_app(ttft_s: float, itl_s: float, model: str = "mock") -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": model, "object": "model"}]}

    @app.post("/v1/completions")
    async def completions(request: Request):
        body = await request.json()
        if body.get("model") != model:
            return JSONResponse({"error": {"message": f"model {body.get('model')} not found"}}, status_code=404)
        n = int(body["max_tokens"])
        prompt = body["prompt"]
        n_in = len(prompt) if isinstance(prompt, list) else len(prompt.split())

        async def events():
            start = time.perf_counter()
            for i in range(n):
                # sleep until this token's due time, so delays do not accumulate
                await asyncio.sleep(max(0.0, start + ttft_s + i * itl_s - time.perf_counter()))
                yield f"data: {json.dumps({'choices': [{'index': 0, 'text': f' t{i}'}]})}\n\n"
            usage = {"prompt_tokens": n_in, "completion_tokens": n, "total_tokens": n_in + n}
            yield f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


class MockServer:
    """Context manager: a real uvicorn server on a free loopback port, in a background thread."""

    def __init__(self, ttft_s: float = 0.08, itl_s: float = 0.02, model: str = "mock") -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(make_app(ttft_s, itl_s, model), host="127.0.0.1", port=self.port,
                                log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> MockServer:
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started and time.time() < deadline:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
