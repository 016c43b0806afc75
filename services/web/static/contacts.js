/* Rendering of the customer's contacts (grouped by the server, services/web/contacts.py). */
"use strict";
CCB.contacts = (() => {
  const { el, label, duration, time } = CCB;
  const KINDS = { call: ["Call", "电话"], chat: ["Chat session", "在线会话"], wechat: ["WeChat session", "微信会话"],
                  branch_visit: ["Branch visit", "网点到访"], visit: ["Visit", "访问"], other: ["Contact", "接触"] };
  const OUTCOMES = { answered: "answered 已接通", completed: "completed 已完成", abandoned: "abandoned 放弃",
    timed_out: "timed out 超时", transferred: "transferred 已转接", closed: "closed 已关闭", called: "called 已叫号",
    in_service: "in service 办理中", no_show: "no show 过号" };

  function row(dl, en, zh, value, attrs) {
    if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) return;
    dl.append(el("dt", {}, label(en, zh)), el("dd", attrs || {}, Array.isArray(value) ? value.join(" → ") : value));
  }

  function card(c) {
    const [en, zh] = KINDS[c.kind] || KINDS.other;
    const dl = el("dl", { class: "kv" });
    row(dl, "Channel", "渠道", CCB.channelText(c.channel));
    if (c.kind === "other") row(dl, "What", "事项", c.steps.map((s) => s.summary).join("; "));
    row(dl, "Queue", "队列", c.queues, { "data-field": "queues" });
    if (c.branch) row(dl, "Branch", "网点", c.branch);
    row(dl, "Wait", "等待", c.wait_s === null ? null : duration(c.wait_s), { "data-field": "wait" });
    row(dl, "Talk", "通话", c.talk_s === null ? null : duration(c.talk_s), { "data-field": "talk" });
    if (c.hold_s) row(dl, "Hold", "保持", duration(c.hold_s));
    if (c.transfers) row(dl, "Transfers", "转接", String(c.transfers), { "data-field": "transfers" });
    if (c.wrapup) row(dl, "Wrap-up", "话后处理", c.acw_s === null ? c.wrapup : `${c.wrapup} (${duration(c.acw_s)})`,
                      { "data-field": "wrapup" });
    row(dl, "Agent", "坐席", c.agents);
    row(dl, "Reason", "原因", c.reasons);
    row(dl, "Outcome", "结果", OUTCOMES[c.outcome] || c.outcome, { "data-field": "outcome" });
    const steps = el("ol", {}, c.steps.map((s) => el("li", {}, `${time(s.at_ms)} ${s.summary}`)));
    return el("li", { class: "contact", "data-kind": c.kind, "data-interaction": c.interaction_id },
      el("h3", {}, label(en, zh), " ", el("span", { class: "note" }, `${time(c.started_at_ms, true)} – ${time(c.ended_at_ms)}`)),
      dl, el("details", {}, el("summary", {}, `Events 事件 (${c.steps.length})`), steps));
  }

  function render(list, contacts) {
    list.replaceChildren(...(contacts.length ? contacts.map(card) : [el("li", { class: "note" }, "No contacts 暂无接触记录")]));
  }

  return { render };
})();
