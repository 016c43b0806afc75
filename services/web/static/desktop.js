/* The agent desktop: look a customer up, show the masked context, follow it live
   (WatchCustomerContext as SSE), create and accept handoffs, show the queue's KPIs. */
"use strict";
(() => {
  const { el, label, api, time, kpi } = CCB;
  const $ = (id) => document.getElementById(id);
  const state = { context: null, watch: null, session: null, kpiTimer: null, refreshTimer: null };
  const DAY = 86400000;

  function renderProfile(ctx, role) {
    const p = ctx.profile || {}, counts = ctx.counts || {};
    const dl = $("profile");
    const row = (en, zh, v, id) => dl.append(el("dt", {}, label(en, zh)), el("dd", { id }, v));
    dl.replaceChildren();
    row("Customer id", "客户编号", ctx.customer_id, "customer-id");
    row("First seen", "首次接触", time(p.first_seen_ms, true));
    row("Last seen", "最近接触", time(p.last_seen_ms, true));
    row("Channels", "使用渠道", (p.channels || []).map(CCB.channelText).join(", ") || "—");
    row("Contacts 7 d / 30 d", "近7天/30天接触", `${counts.contacts_7d || 0} / ${counts.contacts_30d || 0}`);
    const survey = (s) => (s ? `${s.score}/${s.scale_max} (${time(s.at_ms, true)})` : "—");
    row("Last CSAT", "最近满意度", survey(ctx.last_csat));
    row("Last NPS", "最近净推荐值", survey(ctx.last_nps));
    row("Your role", "当前角色", role || "—");
    $("identities").replaceChildren(...ctx.identities.map((i) => el("li", { "data-type": i.type },
      el("span", { class: "tag" }, i.type), " ", el("span", { class: "identity-value" }, i.value),
      i.verified ? el("span", { class: "note" }, " verified 已验证") : null)));
  }

  function renderJourneys(journeys) {
    const box = $("journeys");
    if (!journeys.length) { box.replaceChildren(el("p", { class: "note" }, "No open journey 无进行中的旅程")); return; }
    box.replaceChildren(...journeys.map((j) => el("article", { class: "journey", "data-journey": j.journey_id },
      el("dl", { class: "kv" },
        el("dt", {}, label("Reason", "原因")), el("dd", { class: "journey-reason" }, j.reason || "—"),
        el("dt", {}, label("Status", "状态")), el("dd", {}, j.status),
        el("dt", {}, label("Channels", "渠道")), el("dd", {}, j.channels.map(CCB.channelText).join(" → ")),
        el("dt", {}, label("Since", "开始于")), el("dd", {}, time(j.started_at_ms, true)),
        el("dt", {}, label("Handoffs", "交接次数")), el("dd", {}, String(j.handoff_count))),
      el("h3", {}, label("Already tried", "已尝试")),
      el("ul", { class: "tried" }, j.tried.length ? j.tried.map((t) => el("li", {}, t)) : el("li", { class: "note" }, "—")))));
    const journey = $("handoff-reason");
    if (!journey.value && journeys[0]) journey.value = journeys[0].reason;
  }

  function renderComplaints(complaints) {
    const now = Date.now();
    if (!complaints.length) { $("complaints").replaceChildren(el("p", { class: "note" }, "No open complaints 无未结投诉")); return; }
    const rows = complaints.map((c) => {
      const left = c.due_at_ms - now;
      const cls = left < 0 ? "bad" : left < 2 * DAY ? "warn" : "ok";
      const word = left < 0 ? "overdue 已逾期" : left < 2 * DAY ? "due soon 即将到期" : `${Math.floor(left / DAY)} d left 剩余天数`;
      const owner = [c.owner, c.team].filter(Boolean).join(" / ");
      return el("tr", { "data-complaint": c.complaint_id },
        el("td", {}, c.category || "—", c.promise ? el("div", { class: "note" }, `promised 承诺: ${c.promise}`) : null),
        el("td", {}, c.status, owner ? el("div", { class: "note" }, owner) : null),
        el("td", {}, time(c.opened_at_ms, true)), el("td", { class: cls }, `${time(c.due_at_ms, true)} · ${word}`));
    });
    $("complaints").replaceChildren(el("table", {}, el("thead", {}, el("tr", {},
      el("th", { scope: "col" }, label("Category", "类别")), el("th", { scope: "col" }, label("Status", "状态")),
      el("th", { scope: "col" }, label("Opened", "受理时间")), el("th", { scope: "col" }, label("Due", "办结期限")))),
      el("tbody", {}, rows)));
  }

  function renderHandoffs(handoffs) {
    $("active-handoffs").replaceChildren(...handoffs.map((h) => el("p", { class: "handoff", "data-handoff": h.handoff_id },
      el("span", { class: "tag" }, h.status), ` ${CCB.channelText(h.from_channel)} → ${CCB.channelText(h.to_channel)}: `,
      h.reason || "", h.summary ? ` — ${h.summary}` : "", el("span", { class: "note" }, ` expires 过期 ${time(h.expires_at_ms)}`))));
  }

  function show(ctx, role) {
    state.context = ctx;
    renderProfile(ctx, role);
    renderJourneys(ctx.open_journeys);
    renderComplaints(ctx.open_complaints);
    renderHandoffs(ctx.active_handoffs);
    CCB.contacts.render($("contacts"), ctx.contacts);
    const queue = ctx.contacts.flatMap((c) => c.queues)[0];
    if (queue) selectQueue(`queue:${queue}`);
    watch(ctx.customer_id);
  }

  async function reread() {
    if (!state.context) return;
    try {
      const data = await api("/api/context", { customer_id: state.context.customer_id, purpose: "agent_desktop_refresh" });
      renderProfile(data.context, data.caller_role);
      renderComplaints(data.context.open_complaints);
      renderHandoffs(data.context.active_handoffs);
    } catch (exc) { $("live-status").textContent = `Refresh failed 刷新失败: ${exc.message}`; }
  }

  function onUpdate(u) {
    const status = $("live-status");
    status.textContent = `Live 实时 · v${(u.freshness || {}).version || 0} · ${time(Date.now())}`;
    if (u.erased) { status.textContent = "Customer erased 客户数据已删除"; return; }
    CCB.contacts.render($("contacts"), u.contacts);
    if (!u.full_snapshot) $("contacts").firstElementChild?.classList.add("flash");
    if (u.full_snapshot) renderJourneys(u.changed_journeys);
    else if (u.changed_journeys.length) {
      const byId = new Map(state.context.open_journeys.map((j) => [j.journey_id, j]));
      for (const j of u.changed_journeys) byId.set(j.journey_id, j);
      state.context.open_journeys = [...byId.values()].filter((j) => !["resolved", "closed"].includes(j.status));
      renderJourneys(state.context.open_journeys);
    }
    if (u.refresh) { clearTimeout(state.refreshTimer); state.refreshTimer = setTimeout(reread, 300); }
  }

  function watch(customerId) {
    if (state.watch) state.watch.abort();
    const ctrl = new AbortController();
    state.watch = ctrl;
    const run = () => CCB.stream("/api/watch", { customer_id: customerId }, (name, data) => {
      if (name === "update") onUpdate(data);
      if (name === "error") {
        const code = (data.error || {}).code;
        throw new CCB.ApiError(code === "UNAUTHENTICATED" ? 401 : code === "PERMISSION_DENIED" ? 403 : 0, data);
      }
    }, ctrl.signal).then(() => retry(), (exc) => {
      if (ctrl.signal.aborted) return;
      $("live-status").textContent = `Live updates stopped 实时更新中断: ${exc.message}`;
      if (exc.status !== 401 && exc.status !== 403) retry();
    });
    const retry = () => { if (!ctrl.signal.aborted) setTimeout(() => !ctrl.signal.aborted && run(), 2000); };
    run();
  }

  async function lookup(ev) {
    ev.preventDefault();
    $("lookup-error").textContent = ""; $("lookup-note").textContent = "";
    const type = $("lookup-type").value, value = $("lookup-value").value.trim();
    try {
      if (type === "HANDOFF_CODE") {
        const data = await api("/api/handoffs/accept", { short_code: value, channel: $("my-channel").value });
        const h = data.handoff;
        $("lookup-note").textContent = `Handoff accepted 已接受交接: ${CCB.channelText(h.from_channel)} → ` +
          `${CCB.channelText(h.to_channel)}, ${h.reason}${h.summary ? " — " + h.summary : ""}`;
        show(data.context, "");
      } else {
        const data = await api("/api/context", { type, value, purpose: "agent_desktop" });
        show(data.context, data.caller_role);
      }
    } catch (exc) {
      const words = { 404: "Not found 未找到", 403: "Not allowed 无权限", 409: "Not possible 无法办理", 429: "Too many attempts 尝试次数过多" };
      $("lookup-error").textContent = `${words[exc.status] || "Failed 失败"}: ${exc.reason || exc.message}`;
    }
  }

  async function createHandoff(ev) {
    ev.preventDefault();
    $("handoff-error").textContent = "";
    if (!state.context) { $("handoff-error").textContent = "Look a customer up first 请先查找客户"; return; }
    const journey = state.context.open_journeys[0];
    try {
      const data = await api("/api/handoffs", {
        customer_id: state.context.customer_id, from_channel: $("my-channel").value, to_channel: $("handoff-to").value,
        journey_id: journey ? journey.journey_id : "", reason: $("handoff-reason").value, summary: $("handoff-summary").value });
      $("handoff-result").replaceChildren(el("p", {}, label("Code for the customer", "告知客户的交接码")),
        el("p", { class: "code", id: "handoff-code" }, data.short_code),
        el("p", { class: "note" }, `expires 过期 ${time(data.handoff.expires_at_ms)}`));
      reread();
    } catch (exc) { $("handoff-error").textContent = `Failed 失败: ${exc.reason || exc.message}`; }
  }

  function selectQueue(scope) {
    const select = $("queue-select");
    if (![...select.options].some((o) => o.value === scope)) select.append(el("option", { value: scope }, scope));
    select.value = scope;
    queueKpis();
  }

  const QUEUE_KPIS = [["service_level", "Service level", "服务水平"], ["offered", "Offered", "呼入量"],
    ["answered", "Answered", "接通量"], ["abandonment_rate", "Abandon rate", "放弃率"],
    ["asa_s", "ASA", "平均应答时长"], ["aht_s", "AHT", "平均处理时长"]];

  async function queueKpis() {
    clearTimeout(state.kpiTimer);
    const box = $("queue-kpis");
    if (!state.session.may_read_kpis) {
      box.replaceChildren(el("p", { class: "note" }, "Your role may not read queue KPIs (agents, supervisors and auditors may). 当前角色无权查看队列指标。"));
      return;
    }
    const scope = $("queue-select").value || "all";
    try {
      const data = await api("/api/kpis", { channels: ["PHONE"], scope });
      const by = Object.fromEntries(data.snapshots.map((s) => [s.window, s.values]));
      for (const s of data.snapshots) if (s.scope.startsWith("queue:")) selectQueueOption(s.scope);
      const windows = ["15m", "today"];
      box.replaceChildren(el("table", {}, el("thead", {}, el("tr", {}, el("th", { scope: "col" }, label("KPI", "指标")),
        ...windows.map((w) => el("th", { scope: "col", class: "num" }, w === "today" ? label("Today", "今日") : label("15 min", "15分钟"))))),
        el("tbody", {}, QUEUE_KPIS.map(([name, en, zh]) => el("tr", {}, el("th", { scope: "row" }, label(en, zh)),
          ...windows.map((w) => el("td", { class: "num", "data-kpi": name, "data-window": w }, kpi(name, (by[w] || {})[name]))))))));
    } catch (exc) { box.replaceChildren(el("p", { class: "error" }, `KPIs unavailable 指标不可用: ${exc.message}`)); }
    state.kpiTimer = setTimeout(queueKpis, 5000);
  }

  function selectQueueOption(scope) {
    const select = $("queue-select");
    if (![...select.options].some((o) => o.value === scope)) select.append(el("option", { value: scope }, scope));
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("lookup-form").addEventListener("submit", lookup);
    $("handoff-form").addEventListener("submit", createHandoff);
    $("queue-select").addEventListener("change", queueKpis);
    CCB.session((session) => { state.session = session; queueKpis(); });
  });
})();
