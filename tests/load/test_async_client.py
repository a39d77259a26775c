"""How the load dispatcher hands slots over and when it decodes, and the client's parser on split reads.

Against real loopback servers: the package's mock (own process) and, for split reads, a small asyncio
server in the test's loop that writes one response in pieces cut inside chunks.
"""

import asyncio

import pytest

from mm_orch.engines.base import GenerationRequest, now_ns
from mm_orch.engines.openai.client import AsyncOpenAIClient, ClientSettings
from mm_orch.load import async_client
from mm_orch.load.async_client import dispatch_async
from mm_orch.mock.server import MockProcess, MockTiming


@pytest.fixture(scope="module")
def mock():
    with MockProcess(MockTiming(ttft_ms=20, itl_ms=2, tokens=8)) as m:
        yield m


def _dispatch(base_url: str, n: int, cap: int | None):
    """n requests all due now, at most cap in flight; (records, finish-call times, idle connections)."""
    async def go():
        c = AsyncOpenAIClient(ClientSettings(base_url=base_url, served_model="mock", api_key_env=None))
        finished = []
        real_finish = c.finish

        def finish(x):
            finished.append(now_ns())
            return real_finish(x)

        c.finish = finish
        try:
            reqs = [GenerationRequest(prompt=f"prompt {i}", max_new_tokens=8) for i in range(n)]
            await c.http.open(cap or n)
            t0 = now_ns()
            recs = await dispatch_async(c, reqs, [c.body(r) for r in reqs], range(n), [t0] * n, cap)
            return recs, finished, len(c.http._idle)
        finally:
            c.close()

    return asyncio.run(go())


def test_a_freed_slot_goes_to_the_next_request_before_anything_is_decoded(mock):
    recs, finished, idle = _dispatch(mock.base_url, 6, cap=2)
    assert len(recs) == 6 and all(r.record.success and r.record.output_tokens == 8 for r in recs)
    assert sorted(r.index for r in recs) == list(range(6))
    by_start = sorted(recs, key=lambda r: r.record.start_ns)
    assert [r.slot_ns == r.due_ns for r in by_start] == [True, True, False, False, False, False]
    ends = sorted(r.record.end_ns for r in recs)
    for i, r in enumerate(by_start[2:]):  # the i-th slot given back is the (2 + i)-th request's
        assert ends[i] <= r.slot_ns <= r.record.start_ns
        assert r.record.start_ns < r.record.token_times_ns[0] <= r.record.end_ns
    assert idle == 2  # the successors went out on the two connections opened before: no new ones
    assert len(finished) == 6 and min(finished) >= ends[-1]  # decoded once every response had ended


def test_past_the_backlog_responses_are_decoded_as_they_end(mock, monkeypatch):
    monkeypatch.setattr(async_client, "DECODE_BACKLOG_EVENTS", 0)
    recs, finished, _ = _dispatch(mock.base_url, 6, cap=2)
    assert len(recs) == 6 and all(r.record.success and r.record.output_tokens == 8 for r in recs)
    assert min(finished) < max(r.record.end_ns for r in recs)  # the first ones before the last had ended


def test_no_cap_sends_everything_when_due(mock):
    recs, finished, _ = _dispatch(mock.base_url, 5, cap=None)
    assert len(recs) == 5 and all(r.record.success for r in recs)
    assert all(r.slot_ns == r.due_ns <= r.record.start_ns for r in recs)


def _chunked(*payloads: bytes) -> bytes:
    return b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in payloads) + b"0\r\n\r\n"


@pytest.mark.parametrize("piece", [1, 7, 23, 64])
def test_events_split_across_reads_inside_chunks_are_parsed(piece):
    events = [b'data: {"choices":[{"index":0,"text":" t%d"}]}\n\n' % i for i in range(5)]
    usage = b'data: {"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":5,"total_tokens":7}}\r\n\r\n'
    body = _chunked(events[0] + events[1], events[2], events[3] + events[4] + usage, b"data: [DONE]\n\n")
    response = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" + body

    async def go():
        async def serve(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            for i in range(0, len(response), piece):  # separate writes, a pause between: separate reads
                writer.write(response[i:i + piece])
                await writer.drain()
                await asyncio.sleep(0.001)
            await reader.read()  # keep the connection until the client closes it
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        c = AsyncOpenAIClient(ClientSettings(base_url=f"http://127.0.0.1:{port}/v1", served_model="m",
                                             api_key_env=None))
        try:
            return await c.stream(GenerationRequest(prompt="hi", max_new_tokens=5))
        finally:
            c.close()
            server.close()

    s = asyncio.run(go())
    r = s.record
    assert r.success, r.error
    assert r.text == " t0 t1 t2 t3 t4" and r.output_tokens == 5 and s.count_source == "usage" and s.events == 5
    assert r.start_ns < r.token_times_ns[0] <= r.token_times_ns[-1] <= r.end_ns
