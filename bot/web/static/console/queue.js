/* 转人工队列: take a conversation, reply to the citizen, hand it back to the bot.
 * API: bot/web/handoff_api.py. Every text from the server is set with textContent. */
(function () {
  "use strict";
  var C = window.Console;
  var el = C.el;
  var CHANNELS = { web: "网页", wechat: "微信" };
  var SENDERS = { citizen: "群众", bot: "智能助手", system: "系统" };
  var LIST_MS = 5000;
  var DETAIL_MS = 3000;

  var rows = document.querySelector("#handoffs tbody");
  var empty = document.getElementById("empty");
  var hours = document.getElementById("hours");
  var heading = document.getElementById("h-detail");
  var body = document.getElementById("detail-body");
  var facts = document.getElementById("facts");
  var callback = document.getElementById("callback");
  var triage = document.getElementById("triage");
  var transcript = document.getElementById("transcript");
  var form = document.getElementById("reply-form");
  var reply = document.getElementById("reply");
  var takeBtn = document.getElementById("take");
  var sendBtn = document.getElementById("send");
  var releaseBtn = document.getElementById("release");

  var me = null;
  var selected = null; // handoff id
  var current = null; // its details
  var shownLines = -1;

  function waited(seconds) {
    var minutes = Math.floor(seconds / 60);
    if (minutes < 1) return "不到1分钟";
    if (minutes < 60) return minutes + "分钟";
    return Math.floor(minutes / 60) + "小时" + (minutes % 60) + "分";
  }
  function statusText(h) {
    if (h.status === "waiting") return "等待中";
    if (h.status === "held") return "处理中（" + h.operator + "）";
    return "已交还";
  }
  function categoryText(h) {
    var text = h.category_name || "未分类";
    if (h.reason === "not_understood") text += " · 多次没听懂";
    return text;
  }

  async function refreshList() {
    var data;
    try { data = await C.api("GET", "/console/api/handoffs"); } catch (e) { return; }
    hours.textContent = data.working_hours
      ? "人工服务时间：" + data.working_hours
      : "人工服务时间未设置：群众被告知有空时在这里回复，着急请拨打12348。";
    rows.textContent = "";
    data.handoffs.forEach(function (h) {
      var row = el("tr", {
        tabindex: "0",
        "data-id": String(h.id),
        "aria-selected": h.id === selected ? "true" : "false",
        onclick: function () { select(h.id); },
        onkeydown: function (e) {
          if (e.key === "Enter") { e.preventDefault(); select(h.id); }
          else if (e.key === "ArrowDown" && row.nextElementSibling) { e.preventDefault(); row.nextElementSibling.focus(); }
          else if (e.key === "ArrowUp" && row.previousElementSibling) { e.preventDefault(); row.previousElementSibling.focus(); }
        }
      },
        el("td", { text: "#" + h.id + " " + h.tag }),
        el("td", { text: CHANNELS[h.channel] || h.channel }),
        el("td", { text: categoryText(h) + (h.callback_requested ? " · 要回电" : "") }),
        el("td", {}, el("span", { class: "badge" + (h.status === "waiting" ? " warn" : " ok"), text: statusText(h) })),
        el("td", { text: waited(h.waiting_seconds) }));
      rows.appendChild(row);
    });
    empty.classList.toggle("hidden", data.handoffs.length > 0);
  }

  async function select(id) {
    if (selected !== id) { shownLines = -1; reply.value = ""; }
    selected = id;
    rows.querySelectorAll("tr").forEach(function (r) {
      r.setAttribute("aria-selected", r.getAttribute("data-id") === String(id) ? "true" : "false");
    });
    await refreshDetail();
  }

  async function refreshDetail() {
    if (selected === null) return;
    var id = selected;
    var h;
    try { h = await C.api("GET", "/console/api/handoffs/" + id); } catch (e) { return; }
    if (id !== selected) return;
    current = h;
    body.classList.remove("hidden");
    heading.textContent = "对话 #" + h.id + " " + h.tag + " · " + (CHANNELS[h.channel] || h.channel);
    facts.textContent = statusText(h) + " · " + categoryText(h) + " · 转人工于 " + C.dateTime(h.created_at) +
      (h.taken_at ? "，" + C.dateTime(h.taken_at) + " 接手" : "，已等 " + waited(h.waiting_seconds)) +
      (h.outside_hours ? " · 在人工服务时间以外" : "");
    callback.classList.toggle("hidden", !h.callback_phone);
    callback.textContent = h.callback_phone ? "群众留了回电号码：" + h.callback_phone : "";
    triage.textContent = "";
    (h.triage || []).forEach(function (t) {
      triage.appendChild(el("dt", { text: t.label }));
      triage.appendChild(el("dd", { text: t.value }));
    });
    if (h.messages.length !== shownLines) {
      transcript.textContent = "";
      h.messages.forEach(function (m) {
        var who = m.sender === "operator" ? "工作人员 " + (m.operator || "") : SENDERS[m.sender];
        var meta = who + " " + C.dateTime(m.at) + (m.delivered === false ? " · 未送达" : "");
        transcript.appendChild(el("div", { class: "line " + m.sender },
          el("span", { class: "meta", text: meta }), m.text));
      });
      transcript.scrollTop = transcript.scrollHeight;
      shownLines = h.messages.length;
    }
    var mine = h.status === "held" && h.operator === me.username;
    takeBtn.disabled = h.status !== "waiting";
    reply.disabled = sendBtn.disabled = !mine;
    releaseBtn.disabled = !(h.status === "held" && (mine || me.role === "admin"));
  }

  async function act(path, payload, done) {
    if (selected === null) return;
    try {
      var result = await C.api("POST", "/console/api/handoffs/" + selected + path, payload);
      if (done) done(result);
    } catch (e) { /* the toast says why */ }
    await refreshDetail();
    await refreshList();
  }

  takeBtn.addEventListener("click", function () {
    act("/take", undefined, function () {
      C.toast("已接手，群众会看到“工作人员已经接上了”。", true);
      reply.focus();
    });
  });
  releaseBtn.addEventListener("click", function () {
    act("/release", undefined, function () { C.toast("已交还给智能助手。", true); });
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = reply.value.trim();
    if (!text) { C.toast("请先写好要回复的话。"); return; }
    act("/reply", { text: text }, function (result) {
      reply.value = "";
      if (result.delivered === false) {
        C.toast("这条回复没有送到群众的微信（可能超过48小时没发消息）。请改打电话联系。");
      }
    });
  });
  reply.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && e.ctrlKey) { e.preventDefault(); form.requestSubmit(); }
  });

  C.me.then(function (user) {
    me = user;
    refreshList();
    setInterval(refreshList, LIST_MS);
    setInterval(refreshDetail, DETAIL_MS);
  }, function () { /* redirected to sign-in */ });
})();
