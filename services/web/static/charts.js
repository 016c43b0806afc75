/* Inline SVG charts: a service-level gauge coloured against its target, and the day's
   intervals as bars (offered, answered) with the service level as a line. */
"use strict";
CCB.charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const svg = (tag, attrs, ...kids) => {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const kid of kids) node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    return node;
  };

  /* "ok" at or above the target, "warn" within 10 points under it, else "bad". */
  const grade = (value, target) =>
    value === undefined || value === null ? "none" : value >= target ? "ok" : value >= target - 0.1 ? "warn" : "bad";
  const COLOURS = { ok: "#1a7f37", warn: "#9a6700", bad: "#c21f2b", none: "#8c959f" };
  const WORDS = { ok: "meets target 达标", warn: "near target 接近目标", bad: "below target 未达标", none: "no data 无数据" };

  function arc(fraction) {
    const a = Math.PI * (1 - Math.max(0, Math.min(1, fraction)));
    return [60 + 50 * Math.cos(a), 60 - 50 * Math.sin(a)];
  }

  function gauge(value, target, title, small) {
    const g = grade(value, target);
    const text = value === undefined || value === null ? "—" : `${(value * 100).toFixed(1)}%`;
    const [x, y] = arc(value || 0), [tx, ty] = arc(target);
    const root = svg("svg", { viewBox: "0 0 120 75", class: small ? "gauge mini" : "gauge", role: "img",
      "aria-label": `${title}: ${text}, target ${(target * 100).toFixed(0)}%, ${WORDS[g]}`, "data-grade": g });
    root.append(svg("path", { d: "M10 60 A50 50 0 0 1 110 60", fill: "none", class: "track", "stroke-width": 10 }));
    if (value) root.append(svg("path", { d: `M10 60 A50 50 0 0 1 ${x.toFixed(2)} ${y.toFixed(2)}`, fill: "none",
      stroke: COLOURS[g], "stroke-width": 10 }));
    const [ix, iy] = [60 + 38 * (tx - 60) / 50, 60 + 38 * (ty - 60) / 50];
    root.append(svg("line", { x1: ix.toFixed(2), y1: iy.toFixed(2), x2: (60 + 1.24 * (tx - 60)).toFixed(2),
      y2: (60 + 1.24 * (ty - 60)).toFixed(2), stroke: "#1f2328", "stroke-width": 2 }));
    if (!small) {
      root.append(svg("text", { x: 60, y: 56, "text-anchor": "middle" }, text));
      root.append(svg("text", { x: 60, y: 72, "text-anchor": "middle", class: "label" },
        `target ${(target * 100).toFixed(0)}%`));
    }
    return root;
  }

  /* intervals: [{window_start_ms, values}], oldest first. */
  function intervals(rows, target, title, fmtTime) {
    const W = 600, H = 220, L = 34, R = 34, T = 10, B = 24;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
    root.append(svg("title", {}, title));
    const max = Math.max(1, ...rows.map((r) => r.values.offered || r.values.contacts || 0));
    // at least 16 slots, so a morning with two intervals does not draw two huge bars
    const n = Math.max(rows.length, 16), slot = (W - L - R) / n, bw = Math.max(2, slot * 0.4);
    const yCount = (v) => H - B - (H - T - B) * (v / max);
    const yRatio = (v) => H - B - (H - T - B) * v;
    for (const f of [0, 0.5, 1]) {
      root.append(svg("line", { x1: L, x2: W - R, y1: yRatio(f), y2: yRatio(f), stroke: "#e1e4e8" }));
      root.append(svg("text", { x: W - R + 4, y: yRatio(f) + 3 }, `${f * 100}%`));
      root.append(svg("text", { x: L - 4, y: yRatio(f) + 3, "text-anchor": "end" }, Math.round(max * f)));
    }
    root.append(svg("line", { x1: L, x2: W - R, y1: yRatio(target), y2: yRatio(target), stroke: "#9a6700",
      "stroke-dasharray": "4 3" }));
    const points = [];
    rows.forEach((r, i) => {
      const x = L + i * slot + slot / 2, v = r.values;
      const offered = v.offered || v.contacts || 0, answered = v.answered || 0;
      root.append(svg("rect", { x: x - bw, y: yCount(offered), width: bw, height: H - B - yCount(offered), fill: "#9ec5fe" },
        svg("title", {}, `${fmtTime(r.window_start_ms)} offered ${offered}`)));
      root.append(svg("rect", { x, y: yCount(answered), width: bw, height: H - B - yCount(answered), fill: "#0b57d0" },
        svg("title", {}, `${fmtTime(r.window_start_ms)} answered ${answered}`)));
      if (v.service_level !== undefined) {
        points.push(`${x.toFixed(1)},${yRatio(v.service_level).toFixed(1)}`);
        root.append(svg("circle", { cx: x.toFixed(1), cy: yRatio(v.service_level).toFixed(1), r: 3, fill: "#1a7f37" },
          svg("title", {}, `${fmtTime(r.window_start_ms)} service level ${(v.service_level * 100).toFixed(1)}%`)));
      }
      if (i % Math.ceil(rows.length / 8) === 0) root.append(svg("text", { x, y: H - 8, "text-anchor": "middle" }, fmtTime(r.window_start_ms)));
    });
    if (points.length) root.append(svg("polyline", { points: points.join(" "), fill: "none", stroke: "#1a7f37", "stroke-width": 2 }));
    return root;
  }

  return { gauge, intervals, grade, WORDS };
})();
