/* 12348 智能法律服务助手 — embeddable chat widget. No dependencies, no build step.
 * Embed: <script src="https://HOST/static/widget.js" data-server="https://HOST"
 *          data-title="信阳12348法律服务助手" data-color="#b71c1c" data-mode="float"></script>
 * data-mode="page" fills the page (used by the project's own chat page).
 * Bot text is always rendered with textContent, never as HTML.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var opt = function (name, fallback) {
    return (script && script.getAttribute("data-" + name)) || fallback;
  };
  var server = opt("server", script ? new URL(script.src).origin : "").replace(/\/$/, "");
  var title = opt("title", "信阳12348法律服务助手");
  var color = opt("color", "#b71c1c");
  var mode = opt("mode", "float");
  var exitUrl = opt("exit-url", "https://www.baidu.com/");
  var KEY = "xy12348.session";
  var LOG = "xy12348.log";
  var PREFS = "xy12348.prefs";
  var OPEN = "xy12348.open"; // sessionStorage: a reload keeps the window open
  // 转人工: {open, after} — poll for the operator's replies (after a reload too);
  // `after` is the last reply shown, so a later handoff never repeats old ones.
  var HANDOFF = "xy12348.handoff";
  var POLL_MS = 4000;
  var PREFIX = "xy12348.";

  function newSender() {
    var bytes = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return "web-" + Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }
  function load(key, fallback) {
    try { return JSON.parse(localStorage.getItem(key)) || fallback; } catch (e) { return fallback; }
  }
  function save(key, value) {
    try { localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode */ }
  }
  function forget(storage) {
    for (var i = storage.length - 1; i >= 0; i--) {
      var key = storage.key(i);
      if (key && key.indexOf(PREFIX) === 0) storage.removeItem(key);
    }
  }

  var sender = load(KEY, null) || newSender();
  save(KEY, sender);
  var log = load(LOG, []);
  if (!Array.isArray(log)) log = [];
  var prefs = load(PREFS, { large: false, contrast: false });
  var handoff = load(HANDOFF, { open: false, after: 0 });
  var pollTimer = null;

  var css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = server + "/static/widget.css";
  document.head.appendChild(css);

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  var root = el("div", "xy-root xy-" + mode);
  root.style.setProperty("--xy-brand", color);
  var launcher = el("button", "xy-launcher", "法律咨询");
  launcher.type = "button";
  launcher.setAttribute("aria-label", "打开" + title);
  launcher.setAttribute("aria-expanded", "false");
  var panel = el("section", "xy-panel");
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", title);

  var header = el("header", "xy-header");
  header.appendChild(el("h2", "xy-title", title));
  var tools = el("div", "xy-tools");
  function tool(label, aria, onClick) {
    var b = el("button", "xy-tool", label);
    b.type = "button";
    b.setAttribute("aria-label", aria);
    b.addEventListener("click", onClick);
    tools.appendChild(b);
    return b;
  }
  var bigBtn = tool("大字", "切换大字模式", function () { prefs.large = !prefs.large; applyPrefs(); });
  var hcBtn = tool("高对比", "切换高对比度", function () { prefs.contrast = !prefs.contrast; applyPrefs(); });
  tool("新对话", "开始新的对话", reset);
  var exitBtn = tool("快速离开", "快速离开：清除对话并离开本页", quickExit);
  exitBtn.classList.add("xy-exit");
  if (mode === "float") tool("×", "关闭对话窗口", function () { toggle(false); });
  header.appendChild(tools);

  var notice = el("p", "xy-notice",
    "提示：本助手提供法律信息，不代替律师意见。请不要在这里填写身份证号等敏感信息，除非申请时需要。遇到危险请拨打110。");
  var messages = el("div", "xy-messages");
  messages.setAttribute("role", "log");
  messages.setAttribute("aria-live", "polite");
  messages.setAttribute("aria-label", "对话记录");
  var status = el("div", "xy-status");
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "assertive");

  var form = el("form", "xy-form");
  var label = el("label", "xy-label", "输入您的问题");
  label.setAttribute("for", "xy-input");
  var input = el("textarea", "xy-input");
  input.id = "xy-input";
  input.rows = 2;
  input.maxLength = 2000;
  input.placeholder = "比如：老板欠我三个月工资，咋整？";
  var send = el("button", "xy-send", "发送");
  send.type = "submit";
  form.appendChild(label);
  form.appendChild(input);
  form.appendChild(send);

  panel.appendChild(header);
  panel.appendChild(notice);
  panel.appendChild(messages);
  panel.appendChild(status);
  panel.appendChild(form);
  if (mode === "float") root.appendChild(launcher);
  root.appendChild(panel);

  function applyPrefs() {
    root.classList.toggle("xy-large", !!prefs.large);
    root.classList.toggle("xy-contrast", !!prefs.contrast);
    bigBtn.setAttribute("aria-pressed", String(!!prefs.large));
    hcBtn.setAttribute("aria-pressed", String(!!prefs.contrast));
    save(PREFS, prefs);
  }

  function render(entry) {
    var bubble = el("div", "xy-msg xy-" + entry.who + (entry.operator ? " xy-operator" : ""));
    var lines = String(entry.text || "").split("\n");
    lines.forEach(function (line, i) {
      if (i) bubble.appendChild(document.createElement("br"));
      line.split(/(https?:\/\/[^\s，。、）]+)/).forEach(function (part) {
        if (/^https?:\/\//.test(part)) {
          var a = el("a", null, part);
          a.href = part;
          a.target = "_blank";
          a.rel = "noopener noreferrer";
          bubble.appendChild(a);
        } else if (part) {
          bubble.appendChild(document.createTextNode(part));
        }
      });
    });
    messages.appendChild(bubble);
    if (entry.buttons && entry.buttons.length) {
      var group = el("div", "xy-buttons");
      group.setAttribute("role", "group");
      entry.buttons.forEach(function (b) {
        var btn = el("button", "xy-choice", b.title);
        btn.type = "button";
        btn.addEventListener("click", function () { submit(b.payload, b.title); });
        group.appendChild(btn);
      });
      messages.appendChild(group);
    }
    messages.scrollTop = messages.scrollHeight;
  }

  function add(entry) {
    log.push(entry);
    save(LOG, log.slice(-200));
    render(entry);
  }

  function setStatus(text, cls) {
    status.textContent = text;
    status.className = "xy-status" + (cls ? " " + cls : "");
  }

  // An answer from our server that says what went wrong (4xx/5xx with a message).
  function ApiError(statusCode, message) {
    this.status = statusCode;
    this.message = message;
  }

  var busy = false;
  // Bumped by 新对话 and 快速离开, so a late answer never lands in a conversation
  // the person has already left.
  var turn = 0;
  function submit(text, shown) {
    if (busy || !text || !text.trim()) return;
    var mine = ++turn;
    busy = true;
    send.disabled = true;
    add({ who: "user", text: shown || text });
    setStatus("助手正在输入…", "xy-typing");
    var handoffState = "";
    fetch(server + "/api/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sender: sender, message: text })
    }).then(function (r) {
      handoffState = r.headers.get("X-Handoff") || "";
      return r.json().catch(function () { return null; }).then(function (body) {
        if (r.ok && Array.isArray(body)) return body;
        var message = body && typeof body.message === "string" ? body.message : "";
        // Drop the field name ("message: ...") the API puts first for developers.
        throw new ApiError(r.status, message.replace(/^[a-z_]+:\s*/, ""));
      });
    }).then(function (replies) {
      if (mine !== turn) return;
      setStatus("", "");
      if (!input.value.trim() || (!shown && input.value.trim() === text)) input.value = "";
      replies.forEach(function (m) { add({ who: "bot", text: m.text, buttons: m.buttons }); });
      if (handoffState === "waiting" || handoffState === "held") watch();
      // Held by an operator: the message went to them; their reply comes by polling.
      if (handoffState === "held" && !replies.length) setStatus("已发给工作人员，请等待回复。", "");
    }).catch(function (err) {
      if (mine !== turn) return;
      // Take the unanswered turn off the screen; what the person typed stays put.
      log.pop();
      save(LOG, log);
      messages.removeChild(messages.lastChild);
      if (!shown && !input.value.trim()) input.value = text;
      var isApi = err instanceof ApiError;
      var why = isApi && err.message ? err.message : "网络或服务暂时连不上。";
      if (isApi && err.status < 500) {
        setStatus(why, "xy-error");
        return;
      }
      var retry = shown
        ? "请稍后再点一次“" + shown + "”。"
        : "您的话还在输入框里，请稍后点“发送”重试。";
      setStatus(why + retry + (why.indexOf("12348") < 0 ? "着急可拨打12348。" : ""), "xy-error");
    }).then(function () {
      if (mine !== turn) return;
      busy = false;
      send.disabled = false;
      input.focus();
    });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    submit(input.value.trim());
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submit(input.value.trim());
    } else if (e.key === "Escape" && mode === "float") {
      toggle(false);
    }
  });

  // While a handoff is open, fetch the operator's replies every few seconds.
  function watch() {
    if (!handoff.open) {
      handoff.open = true;
      save(HANDOFF, handoff);
    }
    if (!pollTimer) poll();
  }
  function stopWatching() {
    clearTimeout(pollTimer);
    pollTimer = null;
    handoff.open = false;
    save(HANDOFF, handoff);
  }
  function poll() {
    pollTimer = null;
    var mine = handoff;
    var again = function () {
      if (handoff === mine && mine.open && !pollTimer) pollTimer = setTimeout(poll, POLL_MS);
    };
    fetch(server + "/api/chat/updates", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sender: sender, after: mine.after })
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (handoff !== mine) return; // 新对话 or 快速离开 in between
        if (body && Array.isArray(body.messages)) {
          body.messages.forEach(function (m) {
            if (m.id <= mine.after) return;
            mine.after = m.id;
            add({ who: "bot", operator: true, text: m.text });
          });
          if (body.messages.length) setStatus("", "");
          save(HANDOFF, mine);
          if (body.handoff !== "waiting" && body.handoff !== "held") {
            stopWatching();
            return;
          }
        }
        again();
      }, again);
  }

  function greet() {
    add({ who: "bot", text: "您好！我是" + title + "。请直接说说您遇到的事，我告诉您该找哪里、怎么办、能不能申请法律援助。" });
  }
  function reset() {
    turn++;
    busy = false;
    send.disabled = false;
    messages.textContent = "";
    log = [];
    sender = newSender();
    save(KEY, sender);
    save(LOG, log);
    setStatus("", "");
    clearTimeout(pollTimer);
    pollTimer = null;
    handoff = { open: false, after: 0 };
    save(HANDOFF, handoff);
    greet();
  }
  function quickExit() {
    turn++;
    clearTimeout(pollTimer);
    handoff = { open: false, after: 0 };
    log = [];
    try { forget(localStorage); } catch (e) { /* storage blocked */ }
    try { forget(sessionStorage); } catch (e) { /* storage blocked */ }
    // Off the screen at once, even if the next page is slow to come.
    input.value = "";
    messages.textContent = "";
    if (root.parentNode) root.parentNode.removeChild(root);
    window.location.replace(exitUrl);
  }
  function toggle(open) {
    root.classList.toggle("xy-open", open);
    launcher.setAttribute("aria-expanded", String(open));
    try { sessionStorage.setItem(OPEN, open ? "1" : "0"); } catch (e) { /* storage blocked */ }
    if (open) input.focus(); else launcher.focus();
  }
  launcher.addEventListener("click", function () { toggle(true); });

  function mount() {
    document.body.appendChild(root);
    applyPrefs();
    if (log.length) log.forEach(render); else greet();
    if (handoff.open) poll();
    var wasOpen = false;
    try { wasOpen = sessionStorage.getItem(OPEN) === "1"; } catch (e) { /* storage blocked */ }
    if (mode === "page" || wasOpen) {
      root.classList.add("xy-open");
      launcher.setAttribute("aria-expanded", "true");
    }
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
