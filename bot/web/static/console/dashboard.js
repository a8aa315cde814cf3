/* The bureau's dashboard: reads GET /console/api/dashboard and draws every chart as
 * plain SVG (no library, nothing from outside this server). Each chart has its numbers
 * in a table under it and an aria-label on the picture and on every bar and point.
 * Text from the server is set with textContent only.
 */
(function () {
  "use strict";

  var el = Console.el;
  var SVG_NS = "http://www.w3.org/2000/svg";
  var SERIES = [
    { key: "conversations", label: "对话", cls: "s-conversations" },
    { key: "intakes", label: "申请", cls: "s-intakes" },
  ];
  var CHANNEL_ORDER = ["web", "wechat", "hotline", "api"];

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) node.appendChild(arguments[i]);
    return node;
  }
  function text(x, y, words, attrs) {
    var t = svg("text", Object.assign({ x: x, y: y }, attrs || {}));
    t.textContent = words;
    return t;
  }
  function titled(node, words) {
    // <title> is the hover tip; aria-label is what a screen reader says.
    var t = svg("title");
    t.textContent = words;
    node.appendChild(t);
    node.setAttribute("aria-label", words);
    node.setAttribute("role", "img");
    return node;
  }
  // The axis ends at 1, 2, 2.5 or 5 times a power of ten, at least 5.
  function niceMax(n) {
    if (n <= 5) return 5;
    var power = Math.pow(10, Math.floor(Math.log10(n)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * power >= n) return steps[i] * power;
    return 10 * power;
  }
  function legend(series) {
    return el("p", { class: "legend", "aria-hidden": "true" }, series.map(function (s) {
      return el("span", { class: "key " + s.cls }, s.label);
    }));
  }

  // --- charts -------------------------------------------------------------

  /* Per day: one line per series, a dot (with its number) on every day. */
  function lineChart(box, days, series, label) {
    var W = 1280, H = 190, L = 44, R = 10, T = 10, B = 26;
    var max = niceMax(Math.max.apply(null, [0].concat(days.map(function (d) {
      return Math.max.apply(null, series.map(function (s) { return d[s.key]; }));
    }))));
    var n = days.length;
    var x = function (i) { return L + (n === 1 ? (W - L - R) / 2 : i * (W - L - R) / (n - 1)); };
    var y = function (v) { return T + (H - T - B) * (1 - v / max); };
    var root = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "plot-svg", role: "group", "aria-label": label });
    [0, 0.5, 1].forEach(function (f) {
      var v = Math.round(max * f);
      root.appendChild(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
      root.appendChild(text(L - 6, y(v) + 4, String(v), { class: "axis", "text-anchor": "end" }));
    });
    var every = Math.max(1, Math.ceil(n / 12));
    days.forEach(function (d, i) {
      if (i % every === 0 || i === n - 1) {
        var anchor = n > 1 && i === n - 1 ? "end" : i === 0 && n > 1 ? "start" : "middle";
        root.appendChild(text(x(i), H - 8, d.day.slice(5), { class: "axis", "text-anchor": anchor }));
      }
    });
    series.forEach(function (s) {
      var points = days.map(function (d, i) { return x(i) + "," + y(d[s.key]); }).join(" ");
      root.appendChild(svg("polyline", { points: points, class: "line " + s.cls, "aria-hidden": "true" }));
      var dots = svg("g", { class: "dots " + s.cls });
      days.forEach(function (d, i) {
        dots.appendChild(titled(svg("circle", { cx: x(i), cy: y(d[s.key]), r: n > 60 ? 2 : 3.5, class: "dot" }),
          d.day + " " + s.label + " " + d[s.key]));
      });
      root.appendChild(dots);
    });
    box.replaceChildren(legend(series), root);
  }

  /* One row per item, one thin bar per series; the number is written at the bar's end. */
  function barChart(box, rows, series, label) {
    var W = 620, L = 190, R = 50, ROW = 8 + 12 * series.length, T = 4;
    var H = T + rows.length * ROW + 4;
    var max = niceMax(Math.max.apply(null, [0].concat(rows.map(function (r) {
      return Math.max.apply(null, series.map(function (s) { return r[s.key]; }));
    }))));
    var scale = function (v) { return (W - L - R) * v / max; };
    var root = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "plot-svg", role: "group", "aria-label": label });
    rows.forEach(function (r, i) {
      var top = T + i * ROW;
      root.appendChild(text(L - 8, top + ROW / 2 + 4, r.name, { class: "label", "text-anchor": "end" }));
      series.forEach(function (s, j) {
        var y = top + 4 + j * 12;
        var v = r[s.key];
        root.appendChild(titled(svg("rect", {
          x: L, y: y, height: 10, width: Math.max(v ? 1.5 : 0, scale(v)), class: "bar " + s.cls,
          "data-key": r.key, "data-series": s.key, "data-value": v,
        }), r.name + " " + s.label + " " + v));
        root.appendChild(text(L + scale(v) + 4, y + 9, String(v), { class: "value", "aria-hidden": "true" }));
      });
    });
    box.replaceChildren(series.length > 1 ? legend(series) : el("span"), root);
  }

  function table(box, heads, rows, caption) {
    box.replaceChildren(el("table", { class: "numbers-table" },
      el("caption", { class: "sr-only", text: caption }),
      el("thead", null, el("tr", null, heads.map(function (h) { return el("th", { scope: "col", text: h }); }))),
      el("tbody", null, rows.map(function (cells) {
        return el("tr", null, cells.map(function (c, i) {
          return el(i === 0 ? "th" : "td", i === 0 ? { scope: "row", text: String(c) } : { text: String(c) });
        }));
      }))));
  }

  // --- the page -------------------------------------------------------------

  function section(id) {
    var s = document.getElementById(id);
    return { plot: s.querySelector(".plot"), numbers: s.querySelector(".numbers") };
  }
  function fmt(v) { return v === null || v === undefined ? "–" : String(v); }

  function render(f) {
    ["conversations", "intakes", "faq", "handoffs", "transfers"].forEach(function (k) {
      document.getElementById("total-" + k).textContent = fmt(f.totals[k]);
    });
    document.getElementById("average-days").textContent = fmt(f.decisions.average_days);
    document.getElementById("median-days").textContent = fmt(f.decisions.median_days);
    var scope = (f.centre ? f.centre.name : "全市") + "，" + f.from + " 至 " + f.to + "（" + f.days.length + " 天）";
    document.getElementById("scope").textContent = "统计范围：" + scope;

    var s = section("chart-days");
    lineChart(s.plot, f.days, SERIES, "每日对话与申请，" + scope);
    table(s.numbers, ["日期", "对话", "申请", "分流", "普法问答", "转人工"], f.days.map(function (d) {
      return [d.day, d.conversations, d.intakes, d.triaged, d.faq, d.handoffs];
    }), "每日数量");

    [["chart-categories", f.categories, "按纠纷类别", "类别"],
     ["chart-counties", f.counties, "按县区", "县区"],
     ["chart-channels", f.channels, "按渠道", "渠道"]].forEach(function (c) {
      var part = section(c[0]);
      barChart(part.plot, c[1], SERIES, c[2] + "的对话与申请数");
      table(part.numbers, [c[3], "对话", "申请"], c[1].map(function (r) {
        return [r.name, r.conversations, r.intakes];
      }), c[2]);
    });

    var t = section("chart-transfers");
    var pairs = f.transfers.map(function (p) {
      return { key: p.from.key + ">" + p.to.key, name: p.from.name.replace("法律援助中心", "") + " → " + p.to.name.replace("法律援助中心", ""), count: p.count };
    });
    if (pairs.length) {
      barChart(t.plot, pairs, [{ key: "count", label: "转交", cls: "s-transfers" }], "县区之间转交的申请数");
    } else {
      t.plot.replaceChildren(el("p", { class: "muted", text: "这段时间没有在县区之间转交的申请。" }));
    }
    table(t.numbers, ["接收的中心", "有管辖权的中心", "申请数"], f.transfers.map(function (p) {
      return [p.from.name, p.to.name, p.count];
    }), "县区之间转交的申请");

    var d = f.decisions;
    var dp = section("chart-decisions");
    // No decision yet: no bar, rather than a bar saying "0 days".
    var timing = [
      { key: "average", name: "平均用时（天）", days: d.average_days },
      { key: "median", name: "用时中位数（天）", days: d.median_days },
      { key: "limit", name: "法定期限（天）", days: d.limit_days },
    ].filter(function (r) { return r.days !== null && r.days !== undefined; });
    barChart(dp.plot, timing, [{ key: "days", label: "天", cls: "s-days" }], "作出决定用时（天）");
    table(dp.numbers, ["项目", "数值"], [
      ["已作出决定的申请", d.decided],
      ["其中七日内作出决定的", d.within_limit],
      ["尚未作出决定的申请", d.pending],
      ["其中已超过七日的", d.overdue],
      ["平均用时（天）", fmt(d.average_days)],
      ["用时中位数（天）", fmt(d.median_days)],
    ], "作出决定用时");
  }

  var centresFilled = false;

  function params() {
    var p = new URLSearchParams();
    ["from", "to"].forEach(function (name) {
      var value = document.getElementById(name).value;
      if (value) p.set(name, value);
    });
    // Until the centre list has arrived, keep the centre the address asked for.
    var centre = centresFilled ? document.getElementById("centre").value
      : new URLSearchParams(location.search).get("centre");
    if (centre) p.set("centre", centre);
    return p;
  }

  function setLinks() {
    var p = params();
    document.getElementById("export-all").href = "/console/api/dashboard.csv?" + p.toString();
    document.querySelectorAll("a.csv").forEach(function (a) {
      var q = new URLSearchParams(p);
      q.set("table", a.getAttribute("data-table"));
      a.href = "/console/api/dashboard.csv?" + q.toString();
      a.setAttribute("download", "");
    });
  }

  function fillCentres(centres) {
    if (centresFilled || !centres) return;
    centresFilled = true;
    var select = document.getElementById("centre");
    var current = new URLSearchParams(location.search).get("centre") || "";
    centres.forEach(function (c) { select.appendChild(el("option", { value: c.key, text: c.name })); });
    select.value = current;
    document.getElementById("centre-field").classList.remove("hidden");
  }

  async function load() {
    var main = document.getElementById("main");
    main.setAttribute("aria-busy", "true");
    try {
      var f = await Console.api("GET", "/console/api/dashboard?" + params().toString());
      fillCentres(f.centres);  // only admins and operators get the list
      // The server counts Beijing-time days and fills in the default range.
      document.getElementById("from").value = f.from;
      document.getElementById("to").value = f.to;
      history.replaceState(null, "", "?" + params().toString());
      render(f);
      setLinks();
    } catch (e) {
      /* shown in the toast by Console.api */
    } finally {
      main.removeAttribute("aria-busy");
      document.body.setAttribute("data-loaded", "true");
    }
  }

  function start() {
    var q = new URLSearchParams(location.search);
    document.getElementById("from").value = q.get("from") || "";
    document.getElementById("to").value = q.get("to") || "";
    document.getElementById("range").addEventListener("submit", function (e) {
      e.preventDefault();
      load();
    });
    load();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
