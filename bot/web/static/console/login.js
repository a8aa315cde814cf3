/* Sign-in page: POST the credentials as JSON, then go where the user was heading. */
(function () {
  "use strict";
  var form = document.getElementById("login-form");
  var errorBox = document.getElementById("login-error");

  function nextPage() {
    var next = new URLSearchParams(location.search).get("next") || "";
    // Only back into the console, never to another site ("//evil", "/\\evil").
    return /^\/console(\/|$|\?)/.test(next) && next.indexOf("//") < 0 && next.indexOf("\\") < 0
      ? next : "/console/";
  }

  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    errorBox.textContent = "";
    var username = document.getElementById("username").value.trim();
    var password = document.getElementById("password").value;
    if (!username || !password) {
      errorBox.textContent = "请填写用户名和密码。";
      return;
    }
    var button = document.getElementById("login-submit");
    button.disabled = true;
    try {
      var res = await fetch("/console/api/login", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ username: username, password: password }),
      });
      if (res.ok) {
        location.href = nextPage();
        return;
      }
      var data = null;
      try { data = await res.json(); } catch (err) { data = null; }
      errorBox.textContent = (data && data.message) || "登录没有成功，请稍后再试。";
      document.getElementById("password").select();
    } catch (err) {
      errorBox.textContent = "连不上服务器，请检查网络后再试。";
    } finally {
      button.disabled = false;
    }
  });
})();
