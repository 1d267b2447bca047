// The playground's client: PKCE, the authorization request, the token request and an
// API call, each shown as sent and received. State between the two page loads (before
// and after the consent page) lives in sessionStorage, as a browser client keeps it.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const KEY = "portcullis-playground";

  function base64url(bytes) {
    let text = "";
    bytes.forEach((b) => { text += String.fromCharCode(b); });
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function randomString(length) {
    const bytes = new Uint8Array(length);
    crypto.getRandomValues(bytes);
    return base64url(bytes).slice(0, length);
  }

  // RFC 7636 §4.2: S256 where the browser can hash (secure contexts), plain otherwise.
  async function challengeFor(verifier) {
    if (window.crypto && crypto.subtle) {
      const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
      return { challenge: base64url(new Uint8Array(digest)), method: "S256" };
    }
    return { challenge: verifier, method: "plain" };
  }

  function show(id) { $(id).hidden = false; }

  function describe(response, body) {
    const lines = [`HTTP ${response.status} ${response.statusText}`];
    response.headers.forEach((value, name) => lines.push(`${name}: ${value}`));
    lines.push("", body);
    return lines.join("\n");
  }

  async function start() {
    const select = $("application");
    const option = select.options[select.selectedIndex];
    const verifier = randomString(64);
    const { challenge, method } = await challengeFor(verifier);
    const state = randomString(16);
    const flow = {
      clientId: select.value,
      public: option.dataset.public === "true",
      redirectUri: $("callback").textContent.trim(),
      verifier, state,
    };
    sessionStorage.setItem(KEY, JSON.stringify(flow));
    const params = new URLSearchParams({
      response_type: "code",
      client_id: flow.clientId,
      redirect_uri: flow.redirectUri,
      scope: $("scope").value.trim(),
      state,
      code_challenge: challenge,
      code_challenge_method: method,
    });
    const url = `/o/authorize/?${params}`;
    $("authorize-request").textContent = `GET ${url}`;
    show("step-authorize");
    setTimeout(() => { window.location.assign(url); }, 600);
  }

  function callback() {
    const flow = JSON.parse(sessionStorage.getItem(KEY) || "null");
    const query = new URLSearchParams(window.location.search);
    const lines = [`GET ${window.location.pathname}${window.location.search}`, ""];
    query.forEach((value, name) => lines.push(`${name} = ${value}`));
    if (!flow) {
      lines.push("", "No flow was started from this browser tab.");
    } else if (query.get("state") !== flow.state) {
      lines.push("", "The state does not match the one sent: this answer is refused.");
    }
    $("code-response").textContent = lines.join("\n");
    show("step-code");
    const ok = flow && query.get("code") && query.get("state") === flow.state;
    $("exchange").disabled = !ok;
    if (flow && !flow.public) { show("secret-field"); }
  }

  async function exchange() {
    const flow = JSON.parse(sessionStorage.getItem(KEY));
    const code = new URLSearchParams(window.location.search).get("code");
    const form = new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: flow.redirectUri,
      code_verifier: flow.verifier,
      client_id: flow.clientId,
    });
    if (!flow.public) { form.set("client_secret", $("client-secret").value); }
    const shown = new URLSearchParams(form);
    if (shown.has("client_secret")) { shown.set("client_secret", "********"); }
    // The token endpoint's path, under whatever prefix the server is mounted at.
    const tokenEndpoint = $("setup").dataset.tokenEndpoint;
    $("token-request").textContent =
      `POST ${tokenEndpoint}\ncontent-type: application/x-www-form-urlencoded\n\n${shown}`;
    show("step-token");
    const response = await fetch(tokenEndpoint, { method: "POST", body: form, credentials: "omit" });
    const body = await response.text();
    $("token-response").textContent = describe(response, body);
    try {
      flow.accessToken = JSON.parse(body).access_token;
      sessionStorage.setItem(KEY, JSON.stringify(flow));
    } catch (e) { /* the answer is shown as it came */ }
  }

  async function callApi() {
    const flow = JSON.parse(sessionStorage.getItem(KEY));
    const url = $("api-url").value.trim();
    $("api-request").textContent = `GET ${url}\nauthorization: Bearer ${flow.accessToken || ""}`;
    show("step-api");
    const response = await fetch(url, {
      headers: { Authorization: `Bearer ${flow.accessToken || ""}` },
      credentials: "omit",
    });
    $("api-response").textContent = describe(response, await response.text());
  }

  document.addEventListener("DOMContentLoaded", () => {
    if ($("start")) { $("start").addEventListener("click", start); }
    $("exchange").addEventListener("click", exchange);
    $("call-api").addEventListener("click", callApi);
    if (window.location.pathname.replace(/\/$/, "").endsWith("/callback")) { callback(); }
  });
})();
