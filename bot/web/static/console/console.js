/* Shared script of the operator console. Every console page loads it first:
 *
 *   <script src="/static/console/console.js"></script>
 *   <script src="/static/console/yourpage.js"></script>
 *
 * It puts the nav bar at the top of <body> (links to all pages the role may open,
 * Alt+1..6 as shortcuts, the signed-in user, 退出), and offers window.Console:
 *
 *   Console.me                    Promise of GET /console/api/me
 *                                 {username, role, role_name, centre, csrf, expires_at}
 *   Console.api(method, path, body)  fetch JSON; sends X-CSRF-Token on non-GET;
 *                                 401 -> sign-in page; other errors are shown in the
 *                                 toast and thrown (err.status, err.data)
 *   Console.el(tag, attrs, ...children)  build elements (text via textContent only)
 *   Console.toast(text, ok)       show a message (ok=true: green)
 *   Console.date(iso) / Console.dateTime(iso)  Beijing date / date and time
 *
 * `api` is also a global: api("POST", "/console/api/...", {...}).
 * Texts from the server are always set with textContent, never innerHTML.
 */
(function () {
  "use strict";

  var PAGES = [
    { path: "/console/call", label: "来电处理", roles: ["operator", "admin"] },
    { path: "/console/records", label: "申请记录", roles: null },
    { path: "/console/queue", label: "转人工队列", roles: ["operator", "admin"] },
    { path: "/console/dashboard", label: "数据看板", roles: null },
    { path: "/console/audit", label: "操作日志", roles: ["admin"] },
  ];

  function loginUrl() {
    return "/console/login?next=" + encodeURIComponent(location.pathname + location.search);
  }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    var a = attrs || {};
    Object.keys(a).forEach(function (k) {
      var v = a[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k === "style") node.style.cssText = v; // CSSOM: allowed by the page's CSP
      else if (k.slice(0, 2) === "on" && typeof v === "function") node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) child.forEach(function (c) { if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
      else node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  var toastTimer = null;
  function toast(text, ok) {
    var box = document.getElementById("console-toast");
    if (!box) {
      box = el("div", { id: "console-toast", role: "alert", "aria-live": "assertive" });
      document.body.appendChild(box);
    }
    box.textContent = text;
    box.className = "show" + (ok ? " ok" : "");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { box.className = ""; }, ok ? 3000 : 7000);
  }

  var me = fetch("/console/api/me", { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (res) {
      if (res.status === 401) { location.href = loginUrl(); throw new Error("signed out"); }
      if (!res.ok) throw new Error("me " + res.status);
      return res.json();
    });

  async function api(method, path, body) {
    var headers = { Accept: "application/json" };
    var init = { method: method, headers: headers, credentials: "same-origin" };
    if (method !== "GET" && method !== "HEAD") {
      headers["X-CSRF-Token"] = (await me).csrf;
    }
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    var res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      toast("连不上服务器，请检查网络后再试。");
      throw e;
    }
    var data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (res.status === 401) {
      location.href = loginUrl();
      var signedOut = new Error("signed out");
      signedOut.status = 401;
      throw signedOut;
    }
    if (!res.ok) {
      var text = (data && data.message) || ("请求没有成功（" + res.status + "），请稍后再试。");
      toast(text);
      var err = new Error(text);
      err.status = res.status;
      err.data = data;
      throw err;
    }
    return data;
  }

  // China time whatever the workstation's clock zone: due dates and the dashboard's
  // days are Beijing days, and staff compare them with what callers say.
  var BEIJING = new Intl.DateTimeFormat("en-CA", {
    timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23"
  });
  function beijing(iso) {
    var parts = {};
    BEIJING.formatToParts(new Date(iso)).forEach(function (p) { parts[p.type] = p.value; });
    return parts;
  }
  function date(iso) {
    if (!iso) return "";
    var p = beijing(iso);
    return p.year + "-" + p.month + "-" + p.day;
  }
  function dateTime(iso) {
    if (!iso) return "";
    var p = beijing(iso);
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute;
  }

  function buildNav(user) {
    var nav = el("nav", { class: "console-nav", "aria-label": "控制台导航" },
      el("span", { class: "brand", text: "12348 工作人员控制台" }));
    var shortcuts = {};
    var n = 0;
    PAGES.forEach(function (p) {
      if (p.roles && p.roles.indexOf(user.role) < 0) return;
      n += 1;
      var link = el("a", { href: p.path, title: "Alt+" + n }, p.label, el("kbd", { text: "Alt+" + n }));
      if (location.pathname === p.path || location.pathname.indexOf(p.path + "/") === 0) {
        link.setAttribute("aria-current", "page");
      }
      shortcuts[String(n)] = p.path;
      nav.appendChild(link);
    });
    var who = user.username + "（" + user.role_name + (user.centre_name ? "·" + user.centre_name : "") + "）";
    nav.appendChild(el("span", { class: "who", id: "console-who", text: who }));
    nav.appendChild(el("button", { type: "button", id: "console-logout", onclick: logout }, "退出"));
    document.body.insertBefore(nav, document.body.firstChild);
    document.body.insertBefore(el("a", { class: "skip-link", href: "#main" }, "跳到正文"), nav);
    document.addEventListener("keydown", function (e) {
      if (e.altKey && !e.ctrlKey && !e.metaKey && shortcuts[e.key]) {
        e.preventDefault();
        location.href = shortcuts[e.key];
      }
    });
  }

  async function logout() {
    try { await api("POST", "/console/api/logout"); } catch (e) { /* shown */ }
    location.href = "/console/login";
  }

  window.Console = { me: me, api: api, el: el, toast: toast, date: date, dateTime: dateTime };
  window.api = api;

  function start() { me.then(buildNav, function () { /* redirected */ }); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
