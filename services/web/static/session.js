/* Sign-in for both pages: the token typed in the form is checked by the web server with
   the context service (no customer is read), then kept in sessionStorage for this tab. */
"use strict";
CCB.session = (onReady) => {
  const $ = (id) => document.getElementById(id);
  const form = $("login-form"), login = $("login"), workspace = $("workspace");
  const status = $("session-status"), signOut = $("sign-out"), error = $("login-error");

  async function check() {
    try {
      const session = await CCB.api("/api/session", {});
      login.hidden = true; workspace.hidden = false; signOut.hidden = false;
      status.textContent = "Signed in 已登录";
      onReady(session);
    } catch (exc) {
      CCB.setToken("");
      login.hidden = false; workspace.hidden = true; signOut.hidden = true;
      status.textContent = "Signed out 未登录";
      error.textContent = exc.status === 401 ? "Unknown token 令牌无效" : `Sign-in failed 登录失败: ${exc.message}`;
    }
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    error.textContent = "";
    CCB.setToken($("token").value.trim());
    $("token").value = "";
    check();
  });
  signOut.addEventListener("click", () => { CCB.setToken(""); location.reload(); });

  CCB.loadConfig().then((config) => {
    $("dev-hint").hidden = config.env !== "dev";
    if (CCB.token()) check(); else { login.hidden = false; $("token").focus(); }
  });
};
