/* mm_orch HTML report: draws the chart specs that mm_orch/output/html/ embeds (JSON in #mm-charts) with uPlot.
 * A spec: {id, title, x: {label, unit, values, categories, titles, log}, y: {label, unit},
 *          series: [{label, values, color, style: "line"|"dash"|"points"|"ring"|"bar"}]}
 * (categories: tick labels of a category axis, titles: their longer names on hover; log: a log scale's base).
 * Hover shows each series' value with its unit (uPlot's live legend); drag across a plot zooms, a double-click
 * zooms back out. The y axis always starts at zero. Nothing here reaches the network. */
(function () {
  "use strict";

  function fmt(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "\u2014";
    if (!Number.isFinite(v)) return v > 0 ? "\u221e" : "-\u221e";
    if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en-US");
    if (v === 0) return "0";
    return String(parseFloat(v.toPrecision(4)));
  }

  function ticks(u, splits) {
    return splits.map(function (v) { return v === null || v === undefined ? "" : fmt(v); });
  }

  function axisTitle(a) {
    var named = a.unit && a.label.slice(-a.unit.length) === a.unit;  /* "output tokens/s", not "... (tokens/s)" */
    return a.unit && !named ? a.label + " (" + a.unit + ")" : a.label;
  }

  function withUnit(v, unit) {
    return v === null || v === undefined ? "\u2014" : fmt(v) + (unit ? " " + unit : "");
  }

  function yRange(u, min, max) {
    var hi = max > 0 ? max * 1.08 : 1;
    return [0, hi];
  }

  function seriesOpts(s, spec) {
    var unit = spec.y.unit;
    var o = {
      label: s.label,
      stroke: s.color,
      width: 2,
      spanGaps: true,
      value: function (u, v) { return withUnit(v, unit); },
    };
    if (s.style === "bar") {
      o.fill = s.color + "b3";
      o.width = 1;
      o.paths = uPlot.paths.bars({ size: [spec.x.categories ? 0.6 : 0.92, 90, 1] });
      o.points = { show: false };
    } else if (s.style === "points" || s.style === "ring") {
      o.paths = function () { return null; };
      o.points = s.style === "ring"
        ? { show: true, size: 16, width: 2.5, stroke: s.color, fill: "rgba(0,0,0,0)" }
        : { show: true, size: 7, fill: s.color };
    } else {
      o.points = { show: true, size: 6, fill: s.color };
      if (s.style === "dash") {
        o.dash = [7, 5];
        o.points = { show: false };
      }
    }
    return o;
  }

  /* 1-2-5 ticks on a log10 axis: uPlot's own thin out to powers of ten on a narrow plot */
  function logSplits(u, axisIdx, min, max) {
    var out = [];
    for (var e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
      [1, 2, 5].forEach(function (m) {
        var v = m * Math.pow(10, e);
        if (v >= min && v <= max) out.push(v);
      });
    }
    return out;
  }

  function xAxis(spec, width) {
    var cats = spec.x.categories;
    var ax = { label: axisTitle(spec.x), labelSize: 20, stroke: "#1d232b", grid: { stroke: "#eceff2" } };
    if (cats) {
      var longest = Math.max.apply(null, cats.map(function (c) { return String(c).length; }));
      ax.splits = function () { return cats.map(function (_, i) { return i; }); };
      ax.values = function (u, splits) { return splits.map(function (i) { return cats[i] === undefined ? "" : cats[i]; }); };
      ax.grid = { show: false };
      if (longest * 7.5 > (width - 90) / cats.length - 8) {  /* tick labels would touch: slant them */
        ax.rotate = -30;
        ax.size = 40 + Math.min(longest, 28) * 4;
      }
    } else {
      ax.values = ticks;
      if (spec.x.log === 10) {
        ax.splits = logSplits;
        ax.filter = function (u, splits) { return splits; };
      }
    }
    return ax;
  }

  function options(spec, width) {
    var cats = spec.x.categories;
    var titles = spec.x.titles || cats;
    var xScale = { time: false };
    if (cats) xScale.range = [-0.5, cats.length - 0.5];
    if (spec.x.log) { xScale.distr = 3; xScale.log = spec.x.log; }
    var xSeries = {
      label: axisTitle(spec.x),
      value: function (u, v) {
        if (v === null || v === undefined) return "\u2014";
        return cats ? (titles[v] === undefined ? "" : titles[v]) : withUnit(v, spec.x.unit);
      },
    };
    return {
      width: width,
      height: 280,
      scales: { x: xScale, y: { range: yRange } },
      axes: [
        xAxis(spec, width),
        {
          label: axisTitle(spec.y), labelSize: 20, size: 64, stroke: "#1d232b", grid: { stroke: "#eceff2" },
          values: ticks,
        },
      ],
      series: [xSeries].concat(spec.series.map(function (s) { return seriesOpts(s, spec); })),
      cursor: { drag: { x: true, y: false, setScale: true }, points: { size: 8 } },
      legend: { live: true },
    };
  }

  function draw(spec) {
    var holder = document.getElementById(spec.id);
    if (!holder) return;
    var data = [spec.x.values].concat(spec.series.map(function (s) { return s.values; }));
    var width = Math.max(320, holder.clientWidth || 560);
    var plot = new uPlot(options(spec, width), data, holder);
    holder.setAttribute("data-rendered", "1");
    holder.uplot = plot;  /* for tests and the console: scales, cursor */
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(function () {
        var w = Math.max(320, holder.clientWidth);
        if (Math.abs(w - plot.width) > 2) plot.setSize({ width: w, height: 280 });
      }).observe(holder);
    }
  }

  function downloadLink() {
    var src = document.getElementById("mm-report");
    var link = document.getElementById("mm-download");
    if (!src || !link) return;
    link.href = "data:application/json;charset=utf-8," + encodeURIComponent(src.textContent);
    link.hidden = false;
  }

  function main() {
    var el = document.getElementById("mm-charts");
    var specs = el ? JSON.parse(el.textContent) : [];
    specs.forEach(draw);
    downloadLink();
  }

  main();
})();
