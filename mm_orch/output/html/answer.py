"""The page's first section: the verdict, what the run says about its SLO and knee, and the headline cards (the JSON's
own values, each with its unit; with --repeat, the statistic and the runs' range)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .context import slo_of, slo_text
from .format import LE, as_dict, dicts, dig, esc, fnum, format_number, num, pct, plural
from .labels import memory_kind, point_label
from .verdict import verdict


@dataclass
class Card:
    key: str  # the JSON's key for the value (catalogue style), for tests and tools
    label: str
    value: Any
    unit: str
    sub: str = ""


def _latency_cards(lat: dict) -> list[Card]:
    dists = as_dict(lat.get("distributions"))
    cards = []
    for key, label in (("ttft_ms", "TTFT mean"), ("tpot_ms", "TPOT mean"), ("e2e_latency_ms", "E2E latency mean")):
        d = as_dict(dists.get(key))
        value = num(lat.get(key)) if num(lat.get(key)) is not None else num(d.get("mean"))
        sub = f"p50 {fnum(d.get('median'))} \u00b7 p95 {fnum(d.get('p95'))} ms" if d else ""
        cards.append(Card(f"latency.{key}", label, value, "ms", sub))
    tps = num(lat.get("tokens_per_second"))
    if tps is None:
        tps = num(dig(dists, "request_tokens_per_second", "mean"))
    cards.append(Card("latency.tokens_per_second", "per-request tokens/s", tps, "tokens/s", "output / own E2E, mean"))
    return cards


def _throughput_cards(report: dict) -> list[Card]:
    pts = dicts(dig(report, "throughput", "points"))
    single = next((p for p in pts if p.get("mode") == "single"), None)
    cards = []
    tps = num(dig(report, "throughput", "single_request_tps"))
    if tps is None and single:
        tps = num(single.get("output_tokens_per_second"))
    if tps is not None:
        cards.append(Card("throughput.single_request_tps", "single-stream tokens/s", tps, "tokens/s", "output / wall"))
    best = max(pts, key=lambda p: num(p.get("output_tokens_per_second")) or 0, default=None)
    if best and best is not single and num(best.get("output_tokens_per_second")) is not None:
        tps = num(best["output_tokens_per_second"])
        cards.append(Card("throughput.best_tps", "best output tokens/s", tps, "tokens/s", point_label(best)))
    return cards


def _memory_cards(mem: dict) -> list[Card]:
    peak = mem.get("peak")
    if isinstance(peak, dict):
        value = num(peak.get("value_gb"))
        sub = memory_kind(peak.get("source")) if value is not None else str(peak.get("reason") or "not measured")
    else:
        value, sub = num(mem.get("peak_gb")), ""
    return [Card("memory.peak_gb", "peak memory", value, "GiB", sub)]


def _load_cards(load: dict) -> list[Card]:
    m = as_dict(load.get("metrics"))
    arrival = as_dict(load.get("ttft_from_arrival_ms"))
    rate = num(load.get("requested_rate_rps"))
    total = (m.get("completed") or 0) + (m.get("failed") or 0)
    return [
        Card(
            "load.throughput_rps",
            "load: completed req/s",
            num(load.get("throughput_rps")),
            "req/s",
            f"requested {format_number(rate) if rate else chr(0x221E)} req/s",
        ),
        Card(
            "load.output_tokens_per_second", "load: output tokens/s", num(m.get("output_tokens_per_second")), "tokens/s"
        ),
        Card(
            "load.ttft_from_arrival_ms.median",
            "load: TTFT p50 from arrival",
            num(arrival.get("median")),
            "ms",
            f"p99 {fnum(arrival.get('p99'))} ms",
        ),
        Card("load.failed", "load: failed requests", m.get("failed"), "", f"of {format_number(total)}"),
    ]


def _saturation_cards(sat: dict) -> list[Card]:
    tail = sat.get("tail_statistic") or "tail"
    return [
        Card(
            "saturation.max_throughput_rps",
            "max throughput (burst)",
            num(sat.get("max_throughput_rps")),
            "req/s",
            f"{fnum(sat.get('max_output_tokens_per_second'))} output tokens/s",
        ),
        Card(
            "saturation.knee_rps",
            "knee",
            num(sat.get("knee_rps")),
            "req/s",
            f"{tail} TTFT {fnum(sat.get('knee_ttft_tail_ms'))} ms",
        ),
    ]


def _other_cards(report: dict) -> list[Card]:
    cards = []
    work = report.get("workload")
    if isinstance(work, dict):
        m = as_dict(work.get("metrics"))
        kind = work.get("kind")
        cards.append(
            Card(
                "workload.requests_per_second", f"workload ({kind}): req/s", num(m.get("requests_per_second")), "req/s"
            )
        )
        tps = num(m.get("output_tokens_per_second"))
        cards.append(Card("workload.output_tokens_per_second", "workload: output tokens/s", tps, "tokens/s"))
    for run in dicts(dig(report, "accuracy", "runs")):
        o = as_dict(run.get("overall"))
        ci = f"{fnum(pct(o.get('ci95_low')))}\u2013{fnum(pct(o.get('ci95_high')))} %"
        sub = f"{o.get('correct')}/{o.get('total')}, 95 % CI {ci}"
        cards.append(
            Card(
                f"accuracy.{run.get('mode')}.accuracy",
                f"accuracy ({run.get('mode')})",
                pct(o.get("accuracy")),
                "%",
                sub,
            )
        )
    ok = [p for p in dicts(dig(report, "context_length", "points")) if not p.get("failed")]
    top = max(ok, key=lambda p: num(p.get("context_tokens")) or 0, default=None)
    if top:
        sub = f"TTFT {fnum(top.get('ttft_ms'))} ms"
        cards.append(
            Card("context_length.max_tokens", "longest context measured", top.get("context_tokens"), "tokens", sub)
        )
    return cards


def headline_metrics(report: dict) -> list[Card]:
    """The numbers the page leads with, each with its unit: the JSON's own headline values, formatted."""
    cards: list[Card] = []
    if isinstance(report.get("latency"), dict):
        cards += _latency_cards(report["latency"])
    cards += _throughput_cards(report)
    if isinstance(report.get("memory"), dict):
        cards += _memory_cards(report["memory"])
    if isinstance(report.get("saturation"), dict):
        cards += _saturation_cards(report["saturation"])
    elif isinstance(report.get("load"), dict):  # a saturation run's load is its burst: never the headline
        cards += _load_cards(report["load"])
    cards += _other_cards(report)
    repeat = as_dict(dig(report, "repeat", "metrics"))
    for card in cards:  # with --repeat N: say what the value is and how far the runs spread
        r = as_dict(repeat.get(card.key))
        if num(r.get("min")) is not None:
            stat = dig(report, "repeat", "statistic") or "median"
            n = dig(report, "repeat", "n")
            card.sub = f"{stat} of {n} runs, range {fnum(r.get('min'))}\u2013{fnum(r.get('max'))}"
    return cards


def _card_html(c: Card) -> str:
    unit = f'<span class="unit">{esc(c.unit)}</span>' if c.unit and c.value is not None else ""
    sub = f'<div class="sub">{esc(c.sub)}</div>' if c.sub else ""
    value = f'<div class="value">{esc(format_number(c.value))}{unit}</div>'
    return f'<div class="card" data-key="{esc(c.key)}"><div class="label">{esc(c.label)}</div>{value}{sub}</div>'


def answer_section(report: dict) -> str:
    word, cls, lines = verdict(report)
    items = "".join(f"<li>{esc(line)}</li>" for line in lines)
    parts = [f'<div class="verdict {cls}" id="verdict"><span class="word">{esc(word)}</span><ul>{items}</ul></div>']
    parts.append(slo_answer(report))
    parts.append(f'<div class="cards" id="headline">{"".join(_card_html(c) for c in headline_metrics(report))}</div>')
    warnings = [str(w) for w in report.get("warnings") or [] if w]
    if dig(report, "system_info", "busy") and not warnings:
        warnings = ["the machine was busy during the run (load average above its CPU count)"]
    if warnings:
        link = f'<a href="#warnings">{plural(len(warnings), "warning")}</a>'
        parts.append(f'<p class="hint">{link}: {esc(warnings[0])}</p>')
    return '<section id="answer"><h2>Answer</h2>' + "".join(parts) + "</section>"


def _goodput_line(label: str, good: Any) -> list[str]:
    if not isinstance(good, dict):
        return []
    met = f"{good.get('met')}/{good.get('requests')} requests met it ({fnum(pct(good.get('share_met')))} %)"
    return [f"<p>{esc(label)}: {esc(met)}, goodput {esc(fnum(good.get('goodput_rps')))} req/s</p>"]


def slo_answer(report: dict) -> str:
    """What the run says about its SLO (goodput per phase, the best swept rate within it) and the saturation knee."""
    slo = slo_of(report)
    lines: list[str] = []
    if slo:
        lines.append(f"<p><b>SLO:</b> {esc(slo_text(slo))}</p>")
        for p in dicts(dig(report, "throughput", "points")):
            lines += _goodput_line(point_label(p), p.get("goodput"))
        lines += _goodput_line(f"workload ({dig(report, 'workload', 'kind')})", dig(report, "workload", "goodput"))
        lines += _goodput_line("load test", dig(report, "load", "goodput"))
        swept = dicts(dig(report, "saturation", "points"))
        met = [p for p in swept if (num(dig(p, "goodput", "share_met")) or 0) >= 0.99]
        if met:
            best = max(met, key=lambda p: num(p.get("achieved_rps")) or 0)
            rate = fnum(best.get("achieved_rps"))
            lines.append(f"<p>highest swept rate with {LE} 1 % of requests missing the SLO: {esc(rate)} req/s</p>")
    sat = as_dict(report.get("saturation"))
    if num(sat.get("knee_rps")) is not None:
        note = f" \u2014 {sat['knee_note']}" if sat.get("knee_note") else ""
        knee = f"{fnum(sat.get('knee_rps'))} req/s at tail TTFT {fnum(sat.get('knee_ttft_tail_ms'))} ms{note}"
        lines.append(f"<p><b>Knee:</b> {esc(knee)}</p>")
    return f'<div class="answer-block" id="slo-answer">{"".join(lines)}</div>' if lines else ""
