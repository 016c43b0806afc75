/* The supervisor wallboard: one SSE stream pushes GetLiveKpis every second, today's
   30-minute intervals every few seconds and alerts as they fire and clear. */
"use strict";
(() => {
  const { el, label, kpi, time } = CCB;
  const $ = (id) => document.getElementById(id);
  const CHANNELS = ["PHONE", "APP", "WEB", "WECHAT", "BRANCH"];
  const TILE = [["offered", "Offered", "呼入量"], ["answered", "Answered", "接通量"],
    ["answer_rate", "Answer rate", "接通率"], ["abandonment_rate", "Abandon rate", "放弃率"],
    ["asa_s", "ASA", "平均应答"], ["aht_s", "AHT", "平均处理"], ["contacts", "Contacts", "接触量"],
    ["csat", "CSAT", "满意度"]];
  const QUEUE_COLS = [["offered", "Offered", "呼入"], ["answered", "Answered", "接通"],
    ["abandonment_rate", "Abandon", "放弃率"], ["asa_s", "ASA", "平均应答"], ["aht_s", "AHT", "平均处理"]];
  const SLA = [["complaints_open", "Open", "未结"], ["complaints_due_soon", "Due in 48 h", "48小时内到期"],
    ["complaints_overdue", "Overdue", "已逾期"], ["complaint_sla", "Closed on time", "按期办结率"],
    ["complaints_opened", "Opened today", "今日受理"], ["complaints_closed", "Closed today", "今日办结"]];
  const state = { kpis: [], intervals: [], alerts: null, lastAt: 0 };

  const cell = (tag, s, name, attrs) => el(tag, Object.assign({ "data-kpi": name, "data-channel": s ? s.channel : "",
    "data-scope": s ? s.scope : "", "data-window": s ? s.window : "",
    "data-value": s && s.values[name] !== undefined ? s.values[name] : null }, attrs || {}), kpi(name, s ? s.values[name] : undefined));
  const target = () => CCB.config().sl_target;

  function find(channel, scope, window) {
    return state.kpis.find((s) => s.channel === channel && s.scope === scope && s.window === window);
  }

  function renderChannels(window) {
    $("channels").replaceChildren(...CHANNELS.map((c) => {
      const s = find(c, "all", window);
      const sl = s ? s.values.service_level : undefined;
      const dl = el("dl", { class: "kv" }, TILE.flatMap(([name, en, zh]) => [el("dt", {}, label(en, zh)), cell("dd", s, name)]));
      return el("article", { class: "card tile", "data-channel": c, "aria-label": CCB.channelText(c) },
        el("h3", {}, CCB.channelLabel(c)),
        el("div", { "data-kpi": "service_level", "data-channel": c, "data-scope": "all", "data-window": window,
                    "data-value": sl === undefined ? null : sl, "data-grade": CCB.charts.grade(sl, target()) },
          CCB.charts.gauge(sl, target(), `${CCB.channelText(c)} service level 服务水平`)),
        dl);
    }));
  }

  function renderQueues(window) {
    const rows = state.kpis.filter((s) => s.window === window && s.scope !== "all")
      .sort((a, b) => (a.channel + a.scope).localeCompare(b.channel + b.scope));
    if (!rows.length) { $("queues").replaceChildren(el("p", { class: "note" }, "No queue data yet 暂无队列数据")); return; }
    $("queues").replaceChildren(el("table", {},
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, label("Scope", "范围")),
        el("th", { scope: "col" }, label("Service level", "服务水平")),
        ...QUEUE_COLS.map(([, en, zh]) => el("th", { scope: "col", class: "num" }, label(en, zh))))),
      el("tbody", {}, rows.map((s) => {
        const sl = s.values.service_level, g = CCB.charts.grade(sl, target());
        return el("tr", { "data-scope": s.scope, "data-channel": s.channel },
          el("th", { scope: "row" }, el("span", { class: "tag" }, CCB.channelLabel(s.channel)[0].trim()), " ", s.scope),
          el("td", {}, CCB.charts.gauge(sl, target(), `${s.scope} service level`, true), " ",
            cell("span", s, "service_level", { class: g === "none" ? "" : g })),
          ...QUEUE_COLS.map(([name]) => cell("td", s, name, { class: "num" })));
      }))));
  }

  function renderChart() {
    const channel = $("chart-channel").value;
    const rows = state.intervals.filter((s) => s.channel === channel && s.scope === "all")
      .sort((a, b) => a.window_start_ms - b.window_start_ms);
    $("chart").replaceChildren(rows.length
      ? CCB.charts.intervals(rows, target(), `${CCB.channelText(channel)}: offered, answered and service level per 30 minutes today`,
        (ms) => time(ms).slice(0, 5))
      : el("p", { class: "note" }, "No intervals today yet 今日暂无区间数据"));
  }

  function renderSla() {
    const rows = CHANNELS.map((c) => find(c, "all", "today")).filter((s) => s && SLA.some(([n]) => s.values[n] !== undefined));
    if (!rows.length) { $("complaint-sla").replaceChildren(el("p", { class: "note" }, "No complaints today 今日无投诉")); return; }
    $("complaint-sla").replaceChildren(el("table", {},
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, label("Channel", "渠道")),
        ...rows.map((s) => el("th", { scope: "col", class: "num" }, CCB.channelLabel(s.channel))))),
      el("tbody", {}, SLA.map(([name, en, zh]) => el("tr", {}, el("th", { scope: "row" }, label(en, zh)),
        ...rows.map((s) => cell("td", s, name, { class: name === "complaints_overdue" && s.values[name] ? "num bad" : "num" })))))));
  }

  function renderAlerts() {
    const a = state.alerts;
    if (!a) return;
    const item = (x, resolved) => el("li", { class: resolved ? "alert resolved" : "alert", "data-alert": x.alert,
      "data-scope": `${x.channel}|${x.scope}`, "data-state": x.state },
      x.severity ? el("span", { class: `tag ${x.severity === "critical" ? "bad" : "warn"}` },
        x.severity === "critical" ? "critical 严重" : "warning 警告") : null, " ",
      el("strong", {}, x.alert.replaceAll("_", " ")), ` · ${CCB.channelText(x.channel)} ${x.scope}`,
      el("br", {}), x.message || (resolved ? "cleared 已恢复" : ""),
      el("span", { class: "note" }, ` ${x.state === "firing" ? "fired 触发" : "cleared 恢复"} ${time(x.at)}` +
        (x.since && x.state === "firing" ? ` (since 始于 ${time(x.since)})` : "")));
    $("alerts").replaceChildren(
      el("h3", {}, label(`Firing (${a.active.length})`, "进行中")),
      el("ul", { class: "plain", id: "alerts-active" }, a.active.length ? a.active.map((x) => item(x, false)) : el("li", { class: "note" }, "None 无")),
      el("h3", {}, label("Recent", "最近变化")),
      el("ul", { class: "plain", id: "alerts-recent" }, a.recent.slice(0, 8).map((x) => item(x, x.state !== "firing"))));
  }

  function render() {
    const window = $("window").value;
    renderChannels(window); renderQueues(window); renderSla();
  }

  function tickStatus(lag) {
    const age = Date.now() - state.lastAt;
    const status = $("board-status");
    status.className = age > 5000 ? "stale" : "";
    status.textContent = state.lastAt ? `${age > 5000 ? "Stale 数据滞后" : "Live 实时"} · ${time(state.lastAt)}` +
      (lag ? ` · lag ${lag}` : "") : "Connecting 连接中";
  }

  function connect() {
    CCB.stream("/api/wallboard/stream", {}, (name, data) => {
      if (name === "kpis") { state.kpis = data.snapshots; state.lastAt = data.at_ms; render(); tickStatus(data.view_lag_messages); }
      if (name === "intervals") { state.intervals = data.intervals; renderChart(); }
      if (name === "alerts") { state.alerts = data; renderAlerts(); }
      if (name === "error") $("board-status").textContent = `Error 错误: ${data.error.message}`;
    }).then(() => setTimeout(connect, 2000), (exc) => {
      $("board-status").textContent = `Disconnected 已断开: ${exc.message}`;
      if (exc.status !== 401 && exc.status !== 403) setTimeout(connect, 2000);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("window").addEventListener("change", render);
    $("chart-channel").addEventListener("change", renderChart);
    setInterval(() => tickStatus(0), 1000);
    CCB.session((session) => {
      if (!session.may_read_kpis) { $("board-status").textContent = "Your role may not read KPIs 当前角色无权查看指标"; return; }
      connect();
    });
  });
})();
