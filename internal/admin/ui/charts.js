// tandem status page: one app's charts over the series endpoint's window,
// drawn with uPlot, with a vertical line at each deploy's start.
'use strict';

// chartSpecs: what each chart shows, from GET /v1/series's per-app arrays.
const chartSpecs = [
  { key: 'rps', title: 'Requests/s', series: [{ field: 'rps', label: 'req/s', color: '#2563eb' }], fmt: (v) => v.toFixed(1) },
  { key: 'errors', title: 'Errors (% of responses)', series: [{ field: 'errors', label: '5xx %', color: '#dc2626', scale: 100 }], fmt: (v) => v.toFixed(2) + '%', minMax: 1 },
  {
    key: 'latency', title: 'Latency (ms)', fmt: (v) => v.toFixed(1) + ' ms',
    series: [
      { field: 'p50_ms', label: 'p50', color: '#16a34a' },
      { field: 'p95_ms', label: 'p95', color: '#d97706' },
      { field: 'p99_ms', label: 'p99', color: '#dc2626' },
    ],
  },
  { key: 'hit_ratio', title: 'Cache hit ratio (%)', series: [{ field: 'hit_ratio', label: 'hits %', color: '#7c3aed', scale: 100 }], fmt: (v) => v.toFixed(1) + '%', max: 100 },
];

const CHART_HEIGHT = 170;
const MARKER_COLOR = '#f59e0b';

// AppCharts owns one app's chart containers and uPlot instances.
class AppCharts {
  constructor(app, parent) {
    this.app = app;
    this.markers = []; // [{t, label}]: deploy starts, unix seconds
    this.charts = chartSpecs.map((spec) => {
      const box = el('div', { class: 'chart', 'data-app': app, 'data-chart': spec.key, 'data-points': '0', 'data-values': '0', 'data-markers': '0' });
      const note = el('p', { class: 'note' }, 'waiting for metrics…');
      box.append(el('h4', {}, spec.title), note);
      parent.append(box);
      return { spec, box, note, plot: null };
    });
  }

  // update draws the app's series (or says why there is none) and deploys.
  update(series, deploys) {
    this.markers = (deploys || []).map((d) => ({ t: Date.parse(d.started) / 1000, label: d.to }));
    for (const c of this.charts) {
      if (!series || !series.t || series.t.length === 0) {
        this.empty(c, series ? 'no traffic recorded yet' : 'no metrics from this node');
        continue;
      }
      const data = [series.t];
      let values = 0;
      for (const s of c.spec.series) {
        const col = (series[s.field] || []).map((v) => (v == null ? null : v * (s.scale || 1)));
        values += col.filter((v) => v != null).length;
        data.push(col);
      }
      this.draw(c, data);
      c.note.hidden = values > 0;
      c.note.textContent = 'no requests in this window';
      c.box.dataset.points = String(series.t.length);
      c.box.dataset.values = String(values);
      const t0 = series.t[0], t1 = series.t[series.t.length - 1];
      c.box.dataset.markers = String(this.markers.filter((m) => m.t >= t0 && m.t <= t1).length);
    }
  }

  empty(c, why) {
    c.note.textContent = why;
    c.note.hidden = false;
    c.box.dataset.points = '0';
    c.box.dataset.values = '0';
    c.box.dataset.markers = '0';
    if (c.plot) {
      c.plot.destroy();
      c.plot = null;
    }
  }

  draw(c, data) {
    if (c.plot) {
      c.plot.setData(data);
      return;
    }
    if (typeof uPlot === 'undefined') return; // reported once at boot
    c.plot = new uPlot(this.options(c.spec), data, c.box);
  }

  options(spec) {
    return {
      width: chartWidth(this.charts[0].box),
      height: CHART_HEIGHT,
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true },
        y: { range: (u, min, max) => [0, Math.max(spec.max || 0, spec.minMax || 0, max == null ? 1 : max * 1.1)] },
      },
      axes: [{}, { size: 56, values: (u, splits) => splits.map((v) => (v == null ? '' : fmtAxis(v))) }],
      series: [{}].concat(spec.series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 1.5,
        spanGaps: false,
        value: (u, v) => (v == null ? '–' : spec.fmt(v)),
      }))),
      plugins: [this.markerPlugin()],
    };
  }

  // markerPlugin draws a dashed vertical line and the new version at each
  // deploy start inside the chart's time range.
  markerPlugin() {
    return {
      hooks: {
        draw: [(u) => {
          const { left, top, width, height } = u.bbox;
          const ctx = u.ctx;
          const px = window.devicePixelRatio || 1;
          ctx.save();
          ctx.strokeStyle = MARKER_COLOR;
          ctx.fillStyle = MARKER_COLOR;
          ctx.lineWidth = 2 * px;
          ctx.setLineDash([4 * px, 3 * px]);
          ctx.font = (11 * px) + 'px system-ui, sans-serif';
          for (const m of this.markers) {
            const x = Math.round(u.valToPos(m.t, 'x', true));
            if (!(x >= left && x <= left + width)) continue;
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + height);
            ctx.stroke();
            ctx.fillText(m.label, x + 3 * px, top + 11 * px);
          }
          ctx.restore();
        }],
      },
    };
  }

  resize() {
    for (const c of this.charts) {
      if (c.plot) c.plot.setSize({ width: chartWidth(c.box), height: CHART_HEIGHT });
    }
  }

  destroy() {
    for (const c of this.charts) if (c.plot) c.plot.destroy();
  }
}

function chartWidth(box) {
  return Math.max(240, Math.floor(box.clientWidth || 480) - 2);
}

function fmtAxis(v) {
  if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (Math.abs(v) >= 1e3) return (v / 1e3).toFixed(1) + 'k';
  return String(+v.toFixed(2));
}
