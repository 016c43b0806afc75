/* Shared by the desktop and the wallboard: session token, API calls, SSE over fetch,
   formatting and small DOM helpers. The token lives in sessionStorage (this tab only),
   travels only in the Authorization header, never in a URL or cookie. */
"use strict";
const CCB = (() => {
  const KEY = "ccb.token";
  let config = { env: "production", business_tz: "Asia/Shanghai", sl_target: 0.8, refresh_ms: 1000 };

  const token = () => sessionStorage.getItem(KEY) || "";
  const setToken = (t) => (t ? sessionStorage.setItem(KEY, t) : sessionStorage.removeItem(KEY));

  class ApiError extends Error {
    constructor(status, body) {
      const err = (body && body.error) || {};
      super(err.message || `HTTP ${status}`);
      this.status = status; this.code = err.code || ""; this.reason = err.reason || "";
    }
  }

  async function api(path, body) {
    const resp = await fetch(path, {
      method: body === undefined ? "GET" : "POST", cache: "no-store",
      headers: { "Authorization": `Bearer ${token()}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new ApiError(resp.status, data);
    return data;
  }

  /* POST `path` and call onEvent(name, data) for every Server-Sent Event until the stream
     ends or `signal` aborts. Resolves on a clean end, rejects on errors. */
  async function stream(path, body, onEvent, signal) {
    const resp = await fetch(path, {
      method: "POST", cache: "no-store", signal,
      headers: { "Authorization": `Bearer ${token()}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => ({})));
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut); buf = buf.slice(cut + 2);
        let name = "message"; const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) data.push(line.slice(6));
        }
        if (data.length) onEvent(name, JSON.parse(data.join("\n")));
      }
    }
  }

  async function loadConfig() {
    const resp = await fetch("/api/config", { cache: "no-store" });
    if (resp.ok) config = await resp.json();
    return config;
  }

  /* el("td", {class: "num", "data-kpi": "asa_s"}, "12 s") */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v; else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /* "Customer 客户": English label with the Chinese one marked up for screen readers. */
  function label(en, zh) {
    return [en + " ", el("span", { class: "zh", lang: "zh-CN" }, zh)];
  }

  const CHANNELS = { PHONE: ["Phone", "电话"], APP: ["App", "手机银行"], WEB: ["Web", "网银"],
                     WECHAT: ["WeChat", "微信"], BRANCH: ["Branch", "网点"] };
  const channelLabel = (c) => label(...(CHANNELS[c] || [c, c]));
  const channelText = (c) => (CHANNELS[c] || [c, c]).join(" ");

  const RATIOS = new Set(["service_level", "answer_rate", "abandonment_rate", "transfer_rate",
    "three_rings_rate", "self_service_rate", "fcr", "repeat_contact_rate", "channel_switch_rate",
    "handoff_with_context_rate", "csat", "complaint_rate", "complaint_sla"]);
  /* One formatting rule for every KPI figure (tests compare against it). */
  function kpi(name, value) {
    if (value === undefined || value === null || Number.isNaN(value)) return "—";
    if (RATIOS.has(name)) return `${(value * 100).toFixed(1)}%`;
    if (name.endsWith("_s")) return `${value.toFixed(1)} s`;
    if (name === "nps") return value.toFixed(1);
    return String(Math.round(value));
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.round(seconds);
    return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
  }

  function time(ms, withDate) {
    if (!ms) return "—";
    const opts = { timeZone: config.business_tz, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
    if (withDate) Object.assign(opts, { year: "numeric", month: "2-digit", day: "2-digit" });
    return new Date(ms).toLocaleString("en-GB", opts);
  }

  function requireLogin() {
    if (!token()) { location.replace("/desktop"); return false; }
    return true;
  }

  return { api, stream, el, label, loadConfig, config: () => config, token, setToken, ApiError,
           CHANNELS, channelLabel, channelText, kpi, duration, time, requireLogin };
})();
