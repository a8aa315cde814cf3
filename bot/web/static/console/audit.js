/* Audit log (administrators): read-only, newest first. */
(function () {
  "use strict";
  var C = window.Console;
  var el = C.el;
  var tbody = document.querySelector("#audit-table tbody");

  var options = null;
  var KEYS = { note: "备注", decision: "决定", channel: "渠道", status: "状态", category: "类别",
    receiving_centre: "接收中心", competent_centre: "负责中心", centre: "中心" };

  function label(list, key) {
    var hit = list.filter(function (x) { return x.key === key; })[0];
    return hit ? hit.label : key;
  }

  // The detail in words: status or centre moves by name, then anything else.
  function describe(d) {
    var parts = [];
    var statuses = options.statuses.map(function (s) { return s.key; });
    if (d.from !== undefined && d.to !== undefined) {
      var list = statuses.indexOf(d.to) >= 0 ? options.statuses : options.centres;
      parts.push(label(list, d.from) + " → " + label(list, d.to));
    }
    Object.keys(d).forEach(function (k) {
      if (k === "from" || k === "to" || d[k] === null || d[k] === "") return;
      var v = d[k];
      if (k.indexOf("centre") >= 0) v = label(options.centres, v);
      else if (k === "status") v = label(options.statuses, v);
      else if (k === "category") v = label(options.categories, v);
      parts.push((KEYS[k] || k) + "：" + v);
    });
    return parts.join("；");
  }

  async function start() {
    options = await C.api("GET", "/console/api/options");
    var select = document.getElementById("audit-action");
    select.appendChild(el("option", { value: "", text: "全部" }));
    options.actions.forEach(function (a) { select.appendChild(el("option", { value: a.key, text: a.label })); });
    await load();
  }

  async function load() {
    var q = new URLSearchParams();
    ["who", "action", "target"].forEach(function (k) {
      var v = document.getElementById("audit-" + k).value.trim();
      if (v) q.set(k, v);
    });
    var body = await C.api("GET", "/console/api/audit" + (q.toString() ? "?" + q : ""));
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    body.entries.forEach(function (e) {
      // Intake references link to the record; other targets (handoffs) are text.
      var target = /^XY\d{6}-[A-Z0-9]{4}$/.test(e.target)
        ? el("a", { href: "/console/records?ref=" + encodeURIComponent(e.target), text: e.target })
        : e.target;
      tbody.appendChild(el("tr", { "data-action": e.action },
        el("td", { text: C.dateTime(e.at) }), el("td", { text: e.who }),
        el("td", { text: e.action_name }), el("td", null, target),
        el("td", { class: "small", text: describe(e.detail) })));
    });
    if (!body.entries.length) tbody.appendChild(el("tr", null, el("td", { colspan: "5", class: "muted", text: "没有符合条件的记录。" })));
  }

  document.getElementById("audit-filters").addEventListener("submit", function (e) { e.preventDefault(); load(); });
  start();
})();
