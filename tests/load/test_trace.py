"""Trace reading: the three public formats told by content, speed and limit, skipped rows, one-line errors, the
send-time error and Mooncake's shared prefixes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mm_orch.errors import ConfigError
from mm_orch.load.trace import PrefixBlocks, detect_format, load_trace, prefix_token_ids, send_time_error

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "benchmarks" / "samples"
MOONCAKE, AZURE, BURST = (SAMPLES / n for n in ("trace_mooncake.jsonl", "trace_azure.csv", "trace_burstgpt.csv"))


def test_samples_read_in_their_formats():
    m, a, b = load_trace(MOONCAKE), load_trace(AZURE), load_trace(BURST)
    assert (m.format, len(m.entries), m.skipped) == ("mooncake", 200, 0)
    assert (a.format, len(a.entries), a.skipped) == ("azure", 300, 0)
    assert (b.format, len(b.entries), b.rows, b.skipped) == ("burstgpt", 290, 300, 10)
    assert b.skipped_reasons == {"no output tokens": 10}
    for t in (m, a, b):
        offs = t.offsets_ns
        assert offs[0] == 0 and offs == sorted(offs)
        assert all(e.input_len >= 1 and e.output_len >= 1 for e in t.entries)
    assert all(e.hash_ids for e in m.entries) and all(e.hash_ids is None for e in a.entries + b.entries)
    first = m.entries[0]
    assert (first.offset_ns, first.input_len, first.output_len, first.hash_ids) == (0, 2905, 424, (6, 7, 8, 9, 10, 11))
    assert m.entries[1].offset_ns == (1178 - 70) * 1_000_000  # Mooncake's timestamps are ms
    # Azure's 100 ns ticks survive: 18:15:47.4377582 - 18:15:47.3868749
    assert a.entries[1].offset_ns == 50_883_300
    assert (a.entries[0].input_len, a.entries[0].output_len) == (889, 246)
    assert b.offsets_ns[:2] == [0, 0] and all(o % 1_000_000_000 == 0 for o in b.offsets_ns)  # whole seconds
    assert b.summary()["requests"] == 290 and m.summary()["with_hash_ids"] is True


def test_format_is_told_by_content_not_name(tmp_path):
    for src, fmt in ((MOONCAKE, "mooncake"), (AZURE, "azure"), (BURST, "burstgpt")):
        for name in ("trace.csv", "trace.jsonl", "trace"):
            dst = tmp_path / f"{fmt}-{name}"
            shutil.copy(src, dst)
            assert load_trace(dst).format == fmt
    assert detect_format('\n\n{"timestamp": 1, "input_length": 2, "output_length": 3}\n') == "mooncake"
    assert detect_format("\ufefftimestamp,contexttokens,generatedtokens\n") == "azure"  # case-insensitive


def test_speed_and_limit():
    base = load_trace(AZURE)
    fast = load_trace(AZURE, speed=4)
    assert fast.speed == 4.0
    assert [f.offset_ns for f in fast.entries] == [round(b.offset_ns / 4) for b in base.entries]
    assert fast.duration_s == pytest.approx(base.duration_s / 4, abs=1e-9)
    assert load_trace(AZURE, speed=0.5).duration_s == pytest.approx(base.duration_s * 2, abs=1e-9)
    cut = load_trace(AZURE, limit=10)
    assert cut.entries == base.entries[:10] and cut.rows == 10
    burst = load_trace(BURST, limit=100)  # reading stops at the 100th kept request; skipped ones are counted
    assert len(burst.entries) == 100 and burst.rows == 100 + burst.skipped
    for bad in ({"speed": 0}, {"speed": float("inf")}, {"limit": 0}, {"limit": 2.5}):
        with pytest.raises(ConfigError):
            load_trace(AZURE, **bad)


def test_out_of_order_rows_are_sorted_stably(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text(
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
        "10,ChatGPT,5,6,11,API log\n4,GPT-4,7,8,15,API log\n10,ChatGPT,9,1,10,API log\n"
        "4.5,ChatGPT,3,0,3,API log\n"
    )
    t = load_trace(p)
    assert [(e.offset_ns, e.input_len) for e in t.entries] == [(0, 7), (6_000_000_000, 5), (6_000_000_000, 9)]
    assert t.skipped == 1


def test_azure_datetimes_with_offsets(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2024-05-10 00:00:00.009930+00:00,10,2\n"
        "2024-05-10 02:00:01+02:00,20,3\n2024-05-10T00:00:02Z,30.0,4\n"
    )
    t = load_trace(p)
    assert [e.offset_ns for e in t.entries] == [0, 990_070_000, 1_990_070_000]
    assert [e.input_len for e in t.entries] == [10, 20, 30]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("", "the trace is empty"),
        ("a,b,c\n1,2,3\n", "not a known trace"),
        ('{"timestamp": 1, "input_length": 2}\n', "line 1: a JSON line without Mooncake's keys"),
        (
            '{"timestamp": 0, "input_length": 2, "output_length": 3}\n{"timestamp": 5, "input_length": -2, '
            '"output_length": 3}\n',
            "line 2: input_length must be >= 0",
        ),
        ('{"timestamp": 0, "input_length": 2, "output_length": 3}\n{not json\n', "line 2: "),
        ('{"timestamp": 0, "input_length": 2, "output_length": 3, "hash_ids": [1, "x"]}\n', "line 1: each hash id"),
        (
            "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.1,10,2\nyesterday,10,2\n",
            "line 3: TIMESTAMP 'yesterday'",
        ),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.1,10\n", "line 2: 2 fields"),
        ("Timestamp,Model,Request tokens,Response tokens\n1,GPT-4,ten,3\n", "line 2: Request tokens must be"),
        ("Timestamp,Model,Request tokens,Response tokens\n1,GPT-4,10,3.5\n", "line 2: Response tokens must be"),
        ("Timestamp,Model,Request tokens,Response tokens\nnan,GPT-4,10,3\n", "line 2: Timestamp (s) must be"),
        ("Timestamp,Model,Request tokens,Response tokens\n1,GPT-4,10,0\n", "no replayable request"),
    ],
)
def test_bad_files_are_one_line_config_errors(tmp_path, text, where):
    p = tmp_path / "bad.trace"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_trace(p)
    msg = str(e.value)
    assert msg.startswith(str(p)) and where in msg and "\n" not in msg


def test_unreadable_and_oversized_files(tmp_path):
    with pytest.raises(ConfigError, match="trace not found"):
        load_trace(tmp_path / "missing.csv")
    with pytest.raises(ConfigError, match="is a folder"):
        load_trace(tmp_path)
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"TIMESTAMP,ContextTokens,GeneratedTokens\n\xff\xfe\n")
    with pytest.raises(ConfigError, match="line 2: not UTF-8"):
        load_trace(binary)
    with pytest.raises(ConfigError, match="more than the 1000 bytes"):
        load_trace(AZURE, max_bytes=1000)


def test_send_time_error():
    due = [0, 1_000_000, 2_000_000, 3_000_000]
    sent = [100_000, 1_000_000, 2_500_000, 2_900_000]  # 0.1 ms late, on time, 0.5 ms late, 0.1 ms early
    err = send_time_error(due, sent)
    assert err["count"] == 4 and err["max_ms"] == pytest.approx(0.5)
    assert err["p50_ms"] == pytest.approx(0.1) and err["p99_ms"] == pytest.approx(0.488)
    assert send_time_error([], [])["p99_ms"] is None
    with pytest.raises(ValueError):
        send_time_error([0], [])


def test_hash_ids_become_shared_prefixes():
    vocab = list(range(1000, 1100))
    blocks = PrefixBlocks(vocab, seed=7)
    a = blocks.token_ids([1, 2, 3], 1400)
    b = blocks.token_ids([1, 2, 9], 1536)
    c = blocks.token_ids([5], 300)
    assert len(a) == 1400 and len(b) == 1536 and len(c) == 300
    assert a[:1024] == b[:1024] and a[1024:1100] != b[1024:1100]  # two shared blocks, then different ones
    assert a[:300] != c  # another first block, another prompt
    assert set(a) <= set(vocab)
    assert PrefixBlocks(vocab, seed=7).token_ids([1, 2, 3], 1400) == a  # the same in every run
    assert PrefixBlocks(vocab, seed=8).token_ids([1], 512) != a[:512]
    # ids that do not cover the input: per-request filler, which the salt keeps apart
    short = prefix_token_ids([1], 700, vocab, seed=7, salt=1)
    assert short[:512] == a[:512] and short[512:] != prefix_token_ids([1], 700, vocab, seed=7, salt=2)[512:]
    assert prefix_token_ids(None, 5, vocab, salt=3) == prefix_token_ids(None, 5, vocab, salt=3)
    with pytest.raises(ConfigError):
        PrefixBlocks([])


def test_mooncake_sample_shares_prefixes():
    t = load_trace(MOONCAKE)
    blocks = PrefixBlocks(range(32000), seed=0)
    # a later turn of a conversation holds the earlier turn's blocks as its prefix
    e1, e2 = next(
        (a, b)
        for i, a in enumerate(t.entries)
        for b in t.entries[i + 1 :]
        if len(b.hash_ids) > len(a.hash_ids) > 2 and b.hash_ids[: len(a.hash_ids)] == a.hash_ids
    )
    shared = (len(e1.hash_ids) - 1) * 512  # the first request's full blocks
    assert blocks.token_ids(e1.hash_ids, e1.input_len)[:shared] == blocks.token_ids(e2.hash_ids, e2.input_len)[:shared]
