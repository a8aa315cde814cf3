/* Call view: the operator's transcript, analysed as they type (debounced), and the
 * application form prefilled from what was recognised. Server texts go in with
 * textContent only. */
(function () {
  "use strict";
  var C = window.Console;
  var el = C.el;
  var DEBOUNCE_MS = 400;

  var turns = [];
  var callId = newCallId();
  var lastAnalysis = null;
  var sequence = 0;
  var timer = null;
  var optionsPromise = C.api("GET", "/console/api/options");

  var input = document.getElementById("turn-input");
  // The operator may settle the category; the model's ranking stays in view.
  var choice = document.getElementById("category-choice");
  optionsPromise.then(function (o) {
    o.categories.forEach(function (c) { choice.appendChild(el("option", { value: c.key, text: c.label })); });
  });
  choice.addEventListener("change", function () { schedule(0); });
  var turnList = document.getElementById("turns");
  var state = document.getElementById("analyse-state");

  function newCallId() {
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return "call-" + Array.prototype.map.call(bytes, function (b) {
      return (b < 16 ? "0" : "") + b.toString(16);
    }).join("");
  }

  function callText() {
    var current = input.value.trim();
    return turns.concat(current ? [current] : []).join("\n");
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  // --- transcript -------------------------------------------------------------

  function renderTurns() {
    clear(turnList);
    turns.forEach(function (t, i) {
      turnList.appendChild(el("li", null, t,
        el("button", { type: "button", class: "secondary", "aria-label": "删掉第" + (i + 1) + "句",
          onclick: function () { turns.splice(i, 1); renderTurns(); schedule(); input.focus(); } }, "删")));
    });
    turnList.scrollTop = turnList.scrollHeight;
  }

  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && !e.ctrlKey) {
      e.preventDefault();
      var text = input.value.trim();
      if (!text) return;
      turns.push(text);
      input.value = "";
      renderTurns();
      schedule(0);
    }
  });
  input.addEventListener("input", function () { schedule(); });

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(analyse, delay === undefined ? DEBOUNCE_MS : delay);
  }

  async function analyse() {
    var text = callText();
    var mine = ++sequence;
    if (!text) { render(null); state.textContent = ""; return; }
    state.textContent = "分析中……";
    try {
      var body = { text: text };
      if (choice.value) body.category = choice.value;
      var result = await C.api("POST", "/console/api/analyse", body);
      if (mine !== sequence) return; // a newer keystroke is on its way
      lastAnalysis = result;
      render(result);
      state.textContent = "已分析（" + text.length + " 字）";
    } catch (e) {
      if (mine === sequence) state.textContent = "分析没有成功";
    }
  }

  // --- analysis panels --------------------------------------------------------

  function render(a) {
    renderFlags(a);
    var notice = document.getElementById("notice");
    notice.textContent = (a && a.notice) || "";
    notice.classList.toggle("hidden", !(a && a.notice));
    renderRanking(a);
    renderEntities(a);
    renderPrecheck(a);
    renderFaqs(a);
  }

  function renderFlags(a) {
    var box = document.getElementById("flags");
    clear(box);
    ((a && a.flags) || []).forEach(function (f) {
      var head = [el("strong", { text: f.level === "danger" ? "紧急：" : "提醒：" }), f.text,
        f.basis ? el("span", { class: "cite", text: "（依据：" + f.basis + "）" }) : null];
      var node;
      if (f.items) {
        // Limitation periods are long: folded, with the count in view (Enter opens).
        var wasOpen = box.getAttribute("data-open-" + f.key) === "1";
        node = el("details", { class: "flag", "data-flag": f.key, open: wasOpen },
          el("summary", null, head, "（" + f.items.length + " 条）"),
          el("ul", null, f.items.map(function (d) {
            return el("li", null, d.text, el("span", { class: "cite", text: "（" + d.basis + "）" }));
          })));
        node.addEventListener("toggle", function () { box.setAttribute("data-open-" + f.key, node.open ? "1" : "0"); });
      } else {
        node = el("div", { class: "flag" + (f.level === "danger" ? " danger" : ""), "data-flag": f.key, role: f.level === "danger" ? "alert" : null }, head);
      }
      box.appendChild(node);
    });
  }

  function renderRanking(a) {
    var list = document.getElementById("ranking");
    clear(list);
    var ranking = (a && a.ranking) || [];
    if (!ranking.length) {
      list.appendChild(el("li", { class: "muted", text: a && !a.rasa ? "模型连不上，请自己判断类别。" : "还没有内容。" }));
      return;
    }
    ranking.forEach(function (r, i) {
      var pct = Math.round(r.confidence * 100);
      list.appendChild(el("li", { "data-category": r.category },
        el(a.category && a.category.code === r.category ? "strong" : "span", { text: r.name }),
        " " + pct + "%",
        el("span", { class: "bar", style: "width:" + Math.max(2, pct) + "px" }),
        el("button", { type: "button", class: "secondary", "aria-label": "按" + r.name + "预审",
          onclick: function () { choice.value = r.category; schedule(0); } }, "选这一类")));
    });
    if (!a.category) list.appendChild(el("li", { class: "muted small", text: "把握不大，请问清楚是哪一类，在下面选定。" }));
  }

  function renderEntities(a) {
    var list = document.getElementById("entities");
    clear(list);
    var items = (a && a.entities) || [];
    if (!items.length) {
      list.appendChild(el("li", { class: "muted", text: "还没有识别到县区、金额、日期。" }));
      return;
    }
    items.forEach(function (e) {
      list.appendChild(el("li", { "data-entity": e.entity }, e.label + "：" + e.value));
    });
  }

  function renderPrecheck(a) {
    var box = document.getElementById("precheck");
    clear(box);
    var p = a && a.precheck;
    if (!p) {
      box.appendChild(el("p", { class: "muted", text: "确定事情类别后显示预审结果。" }));
    } else {
      box.appendChild(el("p", { id: "precheck-outcome" }, el("strong", { text: p.outcome_text })));
      box.appendChild(el("ul", { class: "reasons" }, p.reasons.map(function (r) {
        return el("li", null, r.text, el("span", { class: "cite", text: "（" + r.citation + "）" }));
      })));
      p.notices.forEach(function (n) {
        box.appendChild(el("p", { class: "small" }, n.text, el("span", { class: "cite", text: "（" + n.citation + "）" })));
      });
    }
    var questions = document.getElementById("open-questions");
    clear(questions);
    ((a && a.open_questions) || []).forEach(function (q) {
      questions.appendChild(el("li", { "data-slot": q.slot, text: q.text }));
    });
    if (a && a.open_questions && !a.open_questions.length) {
      questions.appendChild(el("li", { class: "muted", text: "预审要问的都有了；姓名、手机号在申请表里填。" }));
    }
  }

  async function copy(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {
      var area = el("textarea", { class: "sr-label" });
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    C.toast("已复制，可以粘贴给来电人或记到工单里。", true);
  }

  function renderFaqs(a) {
    var box = document.getElementById("faqs");
    clear(box);
    var faqs = (a && a.faqs) || [];
    if (!faqs.length) {
      box.appendChild(el("p", { class: "muted", text: "还没有匹配的常见问题。" }));
      return;
    }
    faqs.forEach(function (f) {
      box.appendChild(el("div", { class: "faq", "data-faq": f.id },
        el("div", { class: "row-between" },
          el("span", { class: "q", text: f.question +
            (f.source === "category" ? "（本类常见问题）" : "（" + Math.round(f.score * 100) + "%）") }),
          el("button", { type: "button", class: "secondary", onclick: function () { copy(f.answer); } }, "复制答案")),
        el("div", { class: "a", text: f.answer }),
        el("div", { class: "cite", text: "引用：" + f.citations.join("；") })));
    });
  }

  // --- application ------------------------------------------------------------

  var dialog = document.getElementById("application-dialog");
  var form = document.getElementById("application-form");
  var field = function (name) { return document.getElementById("f-" + name); };

  function fillSelect(select, items, blank) {
    clear(select);
    select.appendChild(el("option", { value: "", text: blank || "不清楚" }));
    items.forEach(function (o) { select.appendChild(el("option", { value: o.key, text: o.label })); });
  }

  function fillChecks(box, name, items) {
    clear(box);
    items.forEach(function (o) {
      if (o.key === "none" || o.key === "unknown") return;
      box.appendChild(el("label", null, el("input", { type: "checkbox", name: name, value: o.key }), o.label));
    });
  }

  async function setUpForm() {
    var o = await optionsPromise;
    fillSelect(field("category"), o.categories, "请选择");
    fillSelect(field("role"), o.roles.filter(function (r) { return r.key !== "unknown"; }), "不是刑事案件或不清楚");
    fillSelect(field("stage"), o.stages.filter(function (s) { return s.key !== "unknown"; }));
    Array.prototype.forEach.call(document.querySelectorAll("select.county"), function (s) {
      fillSelect(s, o.centres.map(function (c) { return { key: c.county, label: c.county }; }));
    });
    fillChecks(field("circumstances"), "circumstances", o.circumstances);
    fillChecks(field("statuses"), "statuses", o.statuses_of_person);
    field("category").addEventListener("change", function () { fillMatters(o, ""); });
    return o;
  }
  var formReady = setUpForm();

  function fillMatters(o, value) {
    var matters = o.matters[field("category").value] || [];
    fillSelect(field("matter"), matters, matters.length ? "不清楚" : "这一类不用选");
    field("matter").disabled = !matters.length;
    field("matter").value = value || "";
  }

  async function openApplication() {
    var o = await formReady;
    var f = (lastAnalysis && lastAnalysis.fields) || {};
    form.reset();
    ["category", "role", "stage", "organ_place", "event_place", "residence_county",
      "household_size", "monthly_income", "days_to_deadline", "name", "phone"].forEach(function (k) {
      field(k).value = f[k] === undefined || f[k] === null ? "" : f[k];
    });
    fillMatters(o, f.matter);
    ["circumstances", "statuses"].forEach(function (k) {
      Array.prototype.forEach.call(field(k).querySelectorAll("input"), function (box) {
        box.checked = (f[k] || []).indexOf(box.value) >= 0;
      });
    });
    field("urgent_preservation").checked = !!f.urgent_preservation;
    document.getElementById("application-error").textContent = "";
    dialog.showModal();
    (field("category").value ? field("name") : field("category")).focus();
  }

  function collect() {
    var body = { conversation_id: callId };
    ["category", "matter", "role", "stage", "organ_place", "event_place", "residence_county", "name", "phone"].forEach(function (k) {
      var v = field(k).value.trim();
      if (v && !field(k).disabled) body[k] = v;
    });
    ["household_size", "days_to_deadline"].forEach(function (k) {
      if (field(k).value !== "") body[k] = parseInt(field(k).value, 10);
    });
    if (field("monthly_income").value !== "") body.monthly_income = Number(field("monthly_income").value);
    ["circumstances", "statuses"].forEach(function (k) {
      var values = Array.prototype.filter.call(field(k).querySelectorAll("input"), function (b) { return b.checked; })
        .map(function (b) { return b.value; });
      if (values.length) body[k] = values;
    });
    if (field("urgent_preservation").checked) body.urgent_preservation = true;
    return body;
  }

  var FIELD_NAMES = { category: "事情类别", name: "申请人姓名", phone: "手机号", residence_county: "申请人住在" };

  async function save() {
    var errorBox = document.getElementById("application-error");
    errorBox.textContent = "";
    var body = collect();
    var missing = ["category", "residence_county", "name", "phone"].filter(function (k) { return !body[k]; });
    if (missing.length) {
      errorBox.textContent = "请填写：" + missing.map(function (k) { return FIELD_NAMES[k]; }).join("、") + "。";
      field(missing[0]).focus();
      return;
    }
    var button = document.getElementById("application-save");
    button.disabled = true;
    try {
      var receipt = await C.api("POST", "/console/api/intakes", body);
      dialog.close();
      showReceipt(receipt);
    } catch (e) {
      if (e.data && e.data.message) errorBox.textContent = e.data.message;
      if (e.data && e.data.field && field(e.data.field)) field(e.data.field).focus();
    } finally {
      button.disabled = false;
    }
  }

  function showReceipt(r) {
    var box = document.getElementById("receipt");
    clear(box);
    var rec = r.record;
    box.appendChild(el("p", null, el("strong", { text: (r.created ? "已保存。" : "这通来电已经保存过。") + "受理编号：" }),
      el("span", { id: "receipt-reference", text: r.reference })));
    box.appendChild(el("p", { class: "small", text: "接收：" + r.receiving_centre.name +
      (r.competent_centre ? "；负责审查决定：" + r.competent_centre.name : "；负责审查的中心还要确定") +
      "；七日审查期限到 " + C.date(r.review_due) + "（《法律援助法》第四十三条）" }));
    box.appendChild(el("p", { class: "small", text: "状态：" + rec.status_name }));
    box.appendChild(el("a", { href: "/console/records?ref=" + encodeURIComponent(r.reference), id: "receipt-open" }, "打开这条记录（转交、推进办理）"));
    box.classList.remove("hidden");
  }

  form.addEventListener("submit", function (e) { e.preventDefault(); save(); });
  form.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && e.ctrlKey) { e.preventDefault(); save(); }
  });
  document.getElementById("application-close").addEventListener("click", function () { dialog.close(); input.focus(); });
  document.getElementById("to-application").addEventListener("click", openApplication);

  function newCall() {
    if (callText() && !confirm("清空这通来电的内容，开始新来电？")) return;
    turns = [];
    input.value = "";
    choice.value = "";
    callId = newCallId();
    lastAnalysis = null;
    sequence++;
    renderTurns();
    render(null);
    state.textContent = "";
    document.getElementById("receipt").classList.add("hidden");
    input.focus();
  }
  document.getElementById("new-call").addEventListener("click", newCall);

  document.addEventListener("keydown", function (e) {
    if (!e.altKey || e.ctrlKey || e.metaKey) return;
    var key = e.key.toLowerCase();
    if (key === "n") { e.preventDefault(); newCall(); }
    if (key === "s") { e.preventDefault(); openApplication(); }
  });

  input.focus();
})();
