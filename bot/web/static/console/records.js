/* Records view: filters, the list (overdue rows highlighted), the record with its
 * reasons, materials, history and audit log, and the transfer / status actions. */
(function () {
  "use strict";
  var C = window.Console;
  var el = C.el;
  var tbody = document.querySelector("#records-table tbody");
  var detail = document.getElementById("detail");
  var options = null;
  var me = null;
  var rows = [];
  var current = null;

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function fillSelect(select, items, blank) {
    clear(select);
    if (blank) select.appendChild(el("option", { value: "", text: blank }));
    items.forEach(function (o) { select.appendChild(el("option", { value: o.key, text: o.label })); });
  }

  async function start() {
    var both = await Promise.all([C.me, C.api("GET", "/console/api/options")]);
    me = both[0];
    options = both[1];
    var centre = document.getElementById("filter-centre");
    fillSelect(centre, options.centres, "全部中心");
    if (me.role === "centre") {
      // The server only ever returns this centre's records; the filter says so.
      centre.value = me.centre;
      centre.disabled = true;
    }
    fillSelect(document.getElementById("filter-status"), options.statuses, "全部状态");
    fillSelect(document.getElementById("filter-category"), options.categories, "全部类别");
    var params = new URLSearchParams(location.search);
    ["status", "category", "from", "to"].forEach(function (k) {
      if (params.get(k)) document.getElementById("filter-" + k).value = params.get(k);
    });
    if (params.get("overdue") === "1") document.getElementById("filter-overdue").checked = true;
    await load();
    if (params.get("ref")) openRecord(params.get("ref"));
  }

  function query() {
    var q = new URLSearchParams();
    var centre = document.getElementById("filter-centre");
    if (centre.value && !centre.disabled) q.set("centre", centre.value);
    ["status", "category", "from", "to"].forEach(function (k) {
      var v = document.getElementById("filter-" + k).value;
      if (v) q.set(k, v);
    });
    if (document.getElementById("filter-overdue").checked) q.set("overdue", "1");
    return q.toString();
  }

  async function load() {
    var q = query();
    var body = await C.api("GET", "/console/api/records" + (q ? "?" + q : ""));
    rows = body.records;
    clear(tbody);
    rows.forEach(function (r, i) {
      var tr = el("tr", { tabindex: "0", "data-reference": r.reference, class: r.overdue ? "overdue" : null,
        onclick: function () { openRecord(r.reference); },
        onkeydown: function (e) { rowKeys(e, i); } },
        el("td", null, el("strong", { text: r.reference })),
        el("td", { text: r.category_name }),
        el("td", null, r.status_name, r.overdue ? el("span", { class: "badge danger", text: "超期" }) : null),
        el("td", { text: r.applicant_name || "" }),
        el("td", { text: (r.competent_centre || r.receiving_centre).name }),
        el("td", { text: C.date(r.created_at) }),
        el("td", { class: r.overdue ? "overdue-text" : null, text: C.date(r.review_due) }));
      tbody.appendChild(tr);
    });
    document.getElementById("records-count").textContent = rows.length ? "共 " + rows.length + " 条" : "没有符合条件的记录。";
    markSelected();
  }

  function rowKeys(e, i) {
    var all = tbody.querySelectorAll("tr");
    if (e.key === "ArrowDown" && all[i + 1]) { e.preventDefault(); all[i + 1].focus(); }
    if (e.key === "ArrowUp" && all[i - 1]) { e.preventDefault(); all[i - 1].focus(); }
    if (e.key === "Enter") { e.preventDefault(); openRecord(rows[i].reference); }
  }

  function markSelected() {
    Array.prototype.forEach.call(tbody.querySelectorAll("tr"), function (tr) {
      tr.classList.toggle("selected", !!current && tr.getAttribute("data-reference") === current.reference);
    });
  }

  async function openRecord(reference) {
    try {
      current = await C.api("GET", "/console/api/records/" + encodeURIComponent(reference));
    } catch (e) {
      return;
    }
    renderDetail(current);
    markSelected();
    var url = new URL(location.href);
    url.searchParams.set("ref", current.reference);
    history.replaceState(null, "", url);
  }

  function item(term, value, cls) {
    return [el("dt", { text: term }), el("dd", { class: cls || null, text: value || "—" })];
  }

  function renderDetail(r) {
    clear(detail);
    detail.appendChild(el("div", { class: "row-between" },
      el("h1", { id: "detail-reference", text: r.reference }),
      el("span", { class: "badge" + (r.overdue ? " danger" : ""), id: "detail-status", text: r.status_name + (r.overdue ? "（超期）" : "") })));
    var dl = el("dl");
    [
      item("类别", r.category_name),
      item("渠道", { hotline: "12348 热线", web: "网页", wechat: "微信", api: "接口" }[r.channel] || r.channel),
      item("申请人", r.applicant.name),
      item("手机号", r.applicant.phone),
      item("住在", r.applicant.residence_county),
      item("接收中心", r.receiving_centre.name),
      item("负责中心", r.competent_centre ? r.competent_centre.name : "还要确定（看办案机关或事情发生地，《法律援助法》第三十八条）"),
      item("受理时间", C.dateTime(r.created_at)),
      item("审查期限", C.date(r.review_due) + "（七日内作出决定，《法律援助法》第四十三条）", r.overdue ? "overdue-text" : null),
      item("指派期限", r.assign_due ? C.date(r.assign_due) + "（决定给予后三日内指派）" : ""),
    ].forEach(function (pair) { dl.appendChild(pair[0]); dl.appendChild(pair[1]); });
    detail.appendChild(dl);

    detail.appendChild(el("h2", { text: "预审结论与理由" }));
    detail.appendChild(el("p", { text: r.outcome_text }));
    detail.appendChild(el("ul", null, r.reasons.map(function (x) {
      return el("li", null, x.text || x.rule, el("span", { class: "cite", text: "（" + x.citation + "）" }));
    })));
    if (r.missing.length) detail.appendChild(el("p", { class: "small muted", text: "预审时还缺：" + r.missing.join("、") }));

    renderActions(r);

    detail.appendChild(el("h2", { text: "办理经过" }));
    detail.appendChild(el("ol", { id: "detail-history" }, r.history.map(function (h) {
      return el("li", { text: C.dateTime(h.at) + "  " + h.status_name + (h.note ? "：" + h.note : "") });
    })));

    detail.appendChild(el("h2", { text: "操作日志（只读）" }));
    var table = el("table", { class: "audit-list", id: "detail-audit" },
      el("thead", null, el("tr", null, el("th", { text: "时间" }), el("th", { text: "谁" }), el("th", { text: "做了什么" }), el("th", { text: "内容" }))));
    var body = el("tbody");
    r.audit.forEach(function (e) {
      body.appendChild(el("tr", { "data-action": e.action },
        el("td", { text: C.dateTime(e.at) }), el("td", { text: e.who }),
        el("td", { text: e.action_name }), el("td", { text: describe(e.detail) })));
    });
    table.appendChild(body);
    detail.appendChild(table);

    detail.appendChild(el("h2", { text: "要带的材料" }));
    detail.appendChild(el("ul", null, r.materials.map(function (m) { return el("li", { text: m }); })));
  }

  function centreName(key) {
    var c = options.centres.filter(function (x) { return x.key === key; })[0];
    return c ? c.label : key || "";
  }
  function statusName(key) {
    var s = options.statuses.filter(function (x) { return x.key === key; })[0];
    return s ? s.label : key || "";
  }

  function describe(d) {
    var parts = [];
    if (d.from && d.to && d.to in { received: 1, transferred: 1, under_review: 1, decided: 1 }) parts.push(statusName(d.from) + " → " + statusName(d.to));
    else if (d.from || d.to) parts.push(centreName(d.from) + " → " + centreName(d.to));
    if (d.receiving_centre) parts.push("接收：" + centreName(d.receiving_centre));
    if (d.note) parts.push("备注：" + d.note);
    return parts.join("；");
  }

  function renderActions(r) {
    var acts = r.actions;
    if (!acts.transfer && !acts.next_statuses.length) return;
    detail.appendChild(el("h2", { text: "办理" }));
    var box = el("div", { class: "actions" });
    if (acts.transfer) {
      var handling = (r.competent_centre || r.receiving_centre).key;
      var select = el("select", { id: "transfer-centre", required: true });
      fillSelect(select, options.centres.filter(function (c) { return c.key !== handling; }), "选择有管辖权的中心");
      var note = el("input", { id: "transfer-note", maxlength: "200", placeholder: "备注（可不填）" });
      box.appendChild(el("form", { id: "transfer-form", onsubmit: function (e) { e.preventDefault(); transfer(select.value, note.value); } },
        el("strong", { text: "转交（全域通办）" }),
        el("label", null, "转给", select), note,
        el("button", { type: "submit", id: "transfer-submit" }, "转交")));
    }
    if (acts.next_statuses.length) {
      var status = el("select", { id: "status-next" });
      fillSelect(status, acts.next_statuses.map(function (s) { return { key: s, label: statusName(s) }; }));
      var decision = el("select", { id: "status-decision" });
      fillSelect(decision, options.decisions, "（作出决定时选）");
      var statusNote = el("input", { id: "status-note", maxlength: "200", placeholder: "备注（可不填）" });
      box.appendChild(el("form", { id: "status-form", onsubmit: function (e) {
        e.preventDefault();
        var body = { status: status.value, note: statusNote.value };
        if (status.value === "decided") body.decision = decision.value || null;
        advance(body);
      } },
        el("strong", { text: "推进办理" }),
        el("label", null, "改为", status), el("label", null, "决定", decision), statusNote,
        el("button", { type: "submit", id: "status-submit" }, "确定")));
    }
    detail.appendChild(box);
  }

  async function transfer(centre, note) {
    if (!centre) { C.toast("请选择要转给哪个中心。"); return; }
    try {
      current = await C.api("POST", "/console/api/records/" + current.reference + "/transfer", { centre: centre, note: note });
    } catch (e) { return; }
    C.toast("已转交给" + current.competent_centre.name + "。", true);
    renderDetail(current);
    await load();
  }

  async function advance(body) {
    try {
      current = await C.api("POST", "/console/api/records/" + current.reference + "/status", body);
    } catch (e) { return; }
    C.toast("状态已改为“" + current.status_name + "”。", true);
    renderDetail(current);
    await load();
  }

  document.getElementById("filters").addEventListener("submit", function (e) { e.preventDefault(); load(); });
  start();
})();
