"""A run's telemetry: what to watch, watching it through the runner's phases, and the sections it yields.

    tele = RunTelemetry.start(cfg, engine, info)        # threads only for what is asked
    progress = tele.progress(progress)                  # each progress.phase(...) is a phase boundary
    tap = tele.request_log(requests)                    # each open-loop run's records and schedule start
    ... the tests ...
    tele.stop(); tele.attach(report)                    # server_metrics, gpu_telemetry, timeline

Decisions (benchmark.telemetry): server metrics are on when asked, or (auto) when the engine's plug-in names a
/metrics URL (the openai engine: beside its base URL) and probe() finds Prometheus text there; GPU telemetry when
asked, or (auto) when the engine runs on CUDA; the engine's scheduler (Engine.scheduler_stats, vLLM) is sampled
whenever the engine offers one and GPU telemetry is not switched off. Every time is on time.perf_counter_ns, the
clock of the request timestamps, relative to one t0, so all three sections share the plot's x axis.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from mm_orch.engines.base import now_ns
from mm_orch.errors import ConfigError
from mm_orch.report.telemetry import GpuTelemetrySection, ServerMetricsSection
from mm_orch.telemetry import server_windows
from mm_orch.telemetry.phases import LoadTap, Phase, PhaseTracker, Served, Tally
from mm_orch.telemetry.timeline import build

log = logging.getLogger(__name__)
SETTLE_S = 0.05  # before a boundary scrape: a server counts a request's last tokens just after writing them
START_WAIT_S = 0.012  # an open-loop schedule starts 20 ms after its hook: wait this long for the boundary scrape
SCHEDULER_MAX_HZ = 20.0
MAX_WINDOW_WARNINGS = 3


def metrics_url(cfg: Any) -> str | None:
    """benchmark.telemetry.server_metrics_url, else the URL the engine's plug-in names (None: none)."""
    from mm_orch.engines.registry import capabilities

    s = cfg.benchmark.telemetry
    if s.server_metrics_url:
        return s.server_metrics_url
    name = cfg.engine.name
    return capabilities(name).metrics_url(cfg.engine.section(name))


def check_telemetry(cfg: Any) -> None:
    """Before anything loads: server metrics asked for where no URL is known is a usage error (exit 2)."""
    if cfg.benchmark.telemetry.server_metrics and metrics_url(cfg) is None:
        raise ConfigError(f"--server-metrics: the {cfg.engine.name} engine talks to no server; give the URL "
                          "(--server-metrics http://host:port/metrics or benchmark.telemetry.server_metrics_url)")


class SchedulerPoller:
    """A daemon thread reading engine.scheduler_stats() at hz on the run's clock."""

    def __init__(self, engine: Any, hz: float) -> None:
        self.engine, self.period_s = engine, 1.0 / min(hz, SCHEDULER_MAX_HZ)
        self.rows: list[tuple[int, Any, Any, Any]] = []
        self.source = ""
        self.cpu_ns = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="engine-scheduler", daemon=True)

    def start(self) -> SchedulerPoller:
        self._thread.start()
        return self

    def _run(self) -> None:
        cpu0 = time.thread_time_ns()
        while not self._stop.wait(self.period_s):
            self.sample()
        self.cpu_ns += time.thread_time_ns() - cpu0

    def sample(self) -> None:
        try:
            st = self.engine.scheduler_stats()
        except Exception as e:  # an engine's internals changed: stop sampling, never fail the run
            log.debug("scheduler_stats failed: %s", e)
            self._stop.set()
            return
        if st:
            self.source = st.get("source") or self.source
            self.rows.append((now_ns(), st.get("running"), st.get("waiting"), st.get("kv_cache_usage")))

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def _scraper(cfg: Any) -> Any:
    from mm_orch.telemetry.server_metrics import ServerMetricsScraper, probe

    s = cfg.benchmark.telemetry
    if s.server_metrics is False:
        return None
    url = metrics_url(cfg)
    if url is None:
        return None
    if s.server_metrics is None:  # auto: only where the endpoint answers with Prometheus text
        found = probe(url)
        if not found.ok:
            log.info("server metrics off: %s does not answer with Prometheus text (%s)", url, found.detail)
            return None
    return ServerMetricsScraper(url, s.server_metrics_interval_s, s.server_metrics_series)


def _gpu(cfg: Any, info: Any) -> Any:
    from mm_orch.telemetry.gpu_telemetry import GpuTelemetrySampler

    s = cfg.benchmark.telemetry
    if s.gpu_telemetry is False or (s.gpu_telemetry is None and getattr(info, "device", None) != "cuda"):
        return None
    return GpuTelemetrySampler(hz=s.gpu_telemetry_hz)


class RunTelemetry:
    def __init__(self, engine: Any, info: Any, scraper: Any, gpu: Any, scheduler: SchedulerPoller | None) -> None:
        from mm_orch.engines.registry import capabilities

        self.engine, self.info = engine, info
        self.scraper, self.gpu, self.scheduler = scraper, gpu, scheduler
        self.t0_ns = now_ns()
        self.tally = Tally(engine)
        self.tracker: PhaseTracker | None = None
        self.over_http = capabilities(engine.name).load_mode(engine) == "async_http"
        self._schedule_calls: list[int] = []
        self.load_warmups = 0
        self.stopped = False

    @classmethod
    def start(cls, cfg: Any, engine: Any, info: Any) -> RunTelemetry:
        """Start what the settings and the engine ask for. The timeline (phases, requests in flight, TTFT, KV
        held) is always kept: it costs a few integers per request and no thread."""
        s = cfg.benchmark.telemetry
        scraper, gpu = _scraper(cfg), _gpu(cfg, info)
        scheduler = None
        if s.gpu_telemetry is not False:
            try:
                offered = engine.scheduler_stats() is not None
            except Exception:  # an engine whose internals changed: no scheduler on the timeline
                offered = False
            scheduler = SchedulerPoller(engine, s.gpu_telemetry_hz) if offered else None
        tele = cls(engine, info, scraper, gpu, scheduler)
        tele.load_warmups = cfg.benchmark.load.warmup_requests
        for part in (scraper, gpu, scheduler):
            if part is not None:
                part.start()
        return tele

    # -- hooks the runner hands to the tests ---------------------------------------------------------
    def progress(self, inner: Any) -> PhaseTracker:
        self.tracker = PhaseTracker(inner, self._boundary)
        return self.tracker

    def request_log(self, inner: Any) -> LoadTap:
        return LoadTap(inner, self._schedule_started, self._load_run)

    def _boundary(self) -> tuple[int, int | None]:
        scraped = None
        if self.scraper is not None:
            time.sleep(SETTLE_S)
            scraped = self.scraper.scrape_at()
        t = self.gpu.sample_now() if self.gpu is not None else None
        return (t if t is not None else now_ns()), scraped

    def _schedule_started(self, t0_ns: int) -> None:
        """An open-loop schedule starts (its warm-up is over): a server scrape by the scraper's thread, waited for
        at most START_WAIT_S (the first request is due 20 ms after this call: load/dispatch.py's lead)."""
        self._schedule_calls.append(now_ns())
        if self.scraper is not None:
            self.scraper.request_scrape()
            self.scraper.requested_done.wait(START_WAIT_S)  # within the schedule's lead; the GIL is free meanwhile

    def _load_run(self, name: str, served: list[Served], t0_ns: int) -> None:
        ph = self.tracker.find(name) if self.tracker is not None else None
        if ph is None or not served:
            return
        ph.records = served
        ph.window_start_ns = t0_ns
        ph.window_end_ns = max(s.end_ns for s in served)
        if self.scraper is not None:
            # the window's first scrape: the latest taken after the warm-up ended and before the first request was
            # sent; none such (a machine too busy to scrape in time) leaves the phase without a token check
            called = self._schedule_calls[-1] if self._schedule_calls else ph.start_ns
            first_send = min(s.start_ns for s in served)
            between = [t for t in self.scraper.times() if called <= t <= first_send]
            ph.window_scrape_start_ns = between[-1] if between else None
            if ph.window_scrape_start_ns is None and self._no_warmup(ph, first_send):
                ph.window_scrape_start_ns = ph.scrape_start_ns  # nothing ran between the phase's own scrape and it
            time.sleep(SETTLE_S)
            ph.window_scrape_end_ns = self.scraper.scrape_at()

    def _no_warmup(self, ph: Phase, first_send: int) -> bool:
        """Did no request end between the phase's start scrape and its schedule's first send? In-process engines
        show their warm-ups to the tally; over HTTP, only the settings can say (benchmark.load.warmup_requests)."""
        if ph.scrape_start_ns is None:
            return False
        if self.over_http:
            return self.load_warmups == 0
        return not self.tally.between(ph.scrape_start_ns, first_send)

    # -- the end --------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Close the last phase and stop every thread (idempotent; the runner calls it in its finally)."""
        if self.stopped:
            return
        self.stopped = True
        try:
            if self.tracker is not None:
                self.tracker.close()
        finally:
            for part in (self.scraper, self.gpu, self.scheduler):
                if part is not None:
                    part.stop()
            self.tally.remove()

    @property
    def phases(self) -> list[Phase]:
        return [p for p in (self.tracker.phases if self.tracker else []) if p.end_ns is not None]

    def served(self) -> list[Served]:
        """Every request of the run: the engine's, and the open-loop ones sent over HTTP (the engine's stream()
        does not see those)."""
        out = list(self.tally.served)
        if self.over_http:
            out += [s for p in self.phases for s in p.records]
        return out

    def attach(self, report: Any) -> None:
        """The sections, onto the report (the runner's report; nothing raises: a failure is a warning)."""
        self.stop()
        try:
            sched = (self.scheduler.source, self.scheduler.rows) if self.scheduler is not None else None
            report.timeline = build(self.t0_ns, self.phases, self.served(), self.info, sched)
            if self.scraper is not None:
                report.server_metrics = self.server_section()
            if self.gpu is not None:
                report.gpu_telemetry = self.gpu_section()
        except Exception as e:  # monitoring never fails a run
            log.warning("telemetry sections could not be built: %s: %s", type(e).__name__, e)

    def _client_rows(self, ph: Phase) -> list[Served]:
        if ph.window_start_ns is not None:
            return ph.records
        return self.tally.between(ph.start_ns, ph.end_ns or ph.start_ns)

    def server_section(self) -> ServerMetricsSection:
        sc, phases = self.scraper, self.phases
        run = ((phases[0].scrape_start_ns or phases[0].start_ns, phases[-1].scrape_end_ns or phases[-1].end_ns)
               if phases else None)
        sec = sc.summarize(self.t0_ns, window=run)
        checks = []
        for ph in phases:
            if ph.window_start_ns is not None:  # open loop: the schedule, from the scrape as it started
                w = (ph.window_scrape_start_ns or ph.window_start_ns, ph.window_scrape_end_ns or ph.window_end_ns)
            else:
                w = (ph.scrape_start_ns or ph.start_ns, ph.scrape_end_ns or ph.end_ns)
            rows = self._client_rows(ph)
            prompt, output = sum(r.input_tokens for r in rows), sum(r.output_tokens for r in rows)
            exact = ph.window_start_ns is None or ph.window_scrape_start_ns is not None
            check = sc.token_check(prompt, output, w) if rows and (prompt or output) and exact else None
            win = server_windows.window(sc.summarize(self.t0_ns, window=w), ph.name, ph.key, check)
            if not exact:
                win.note = ("no token check: no scrape landed between the warm-up's end and the first request (the "
                            "machine was too busy to scrape in time); the window starts at the scrape before")
            sec.windows.append(win)
            if check is not None:
                checks.append(check)
        sec.token_check = server_windows.combined_check(checks)
        sec.summary = server_windows.window(sec, "run", "run", sec.token_check)
        if sec.token_check is not None and sec.token_check.warning and sec.scrapes:
            sec.warnings.append(f"server metrics: {sec.token_check.warning}")
        off = [w for w in sec.windows if w.token_mismatch_pct is not None
               and w.token_mismatch_pct > server_windows.TOKEN_TOLERANCE_PCT]
        if off and (sec.token_check is None or sec.token_check.within_tolerance):
            named = ", ".join(f"{w.name} ({w.token_mismatch_pct:.1f} %)" for w in off[:MAX_WINDOW_WARNINGS])
            sec.warnings.append(f"server metrics: token counts differ by more than 1 % in {len(off)} phase(s): "
                                f"{named}")
        return sec

    def gpu_section(self) -> GpuTelemetrySection:
        g = self.gpu
        for ph in self.phases:
            g.mark_phase(ph.name, ph.start_ns, ph.end_ns,
                         output_tokens=sum(r.output_tokens for r in self._energy_rows(ph)))
        sec = g.summarize(self.t0_ns)
        keys = {ph.name: ph.key for ph in self.phases}
        for p in sec.phases:
            p.key = keys.get(p.name)
        done = [p for p in sec.phases if p.energy_j is not None]
        if done:
            sec.energy_j = sum(p.energy_j for p in done)
            span = sum(p.duration_s for p in done)
            sec.mean_power_w = sec.energy_j / span if span > 0 else None
            made = [p for p in done if p.output_tokens]
            sec.output_tokens = sum(p.output_tokens for p in made)
            if sec.output_tokens:
                sec.j_per_output_token = sum(p.energy_j for p in made) / sec.output_tokens
        return sec

    def _energy_rows(self, ph: Phase) -> list[Served]:
        """The tokens a phase made: every request the engine ended in it (warm-ups included), and the open-loop
        requests sent over HTTP (the server's work; their warm-ups are not seen)."""
        rows = self.tally.between(ph.start_ns, ph.end_ns or ph.start_ns)
        return rows + ph.records if self.over_http else rows


def telemetry_warnings(report: Any) -> list[str]:
    """What the sections say a reader must know: a dead endpoint, a token mismatch, GPUs that could not be read."""
    out: list[str] = []
    sm = getattr(report, "server_metrics", None)
    if sm is not None:
        out += sm.warnings
    gt = getattr(report, "gpu_telemetry", None)
    if gt is not None and not gt.available:
        out.append(f"GPU telemetry: not available ({gt.reason})")
    return out
