// Sign-in through the Cognito hosted UI: authorization code with PKCE (S256), in a pop-up window,
// so the code verifier and the tokens never leave this page's memory (no localStorage, no
// sessionStorage, no cookie of ours). The pop-up lands on callback.html, which hands code and state
// over a same-origin BroadcastChannel and closes itself.

const CHANNEL = "callguard-signin";
const session = { accessToken: null, expiresAt: 0, person: null };

function base64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(byteCount) {
  return base64url(crypto.getRandomValues(new Uint8Array(byteCount)));
}

function claimsOf(token) {
  // display only (the API verifies the token); never stored
  const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(decodeURIComponent(escape(atob(payload))));
}

function waitForCode(state, popup) {
  return new Promise((resolve, reject) => {
    const channel = new BroadcastChannel(CHANNEL);
    const finish = (fn, value) => {
      clearInterval(watch);
      clearTimeout(timer);
      channel.close();
      fn(value);
    };
    channel.onmessage = (event) => {
      const data = event.data || {};
      if (data.state !== state) return; // another sign-in's answer, or a forgery
      if (data.error || !data.code) finish(reject, new Error(data.error || "no_code"));
      else finish(resolve, data.code);
    };
    const watch = setInterval(() => {
      if (popup.closed) setTimeout(() => finish(reject, new Error("popup_closed")), 500);
    }, 500);
    const timer = setTimeout(() => finish(reject, new Error("timeout")), 10 * 60 * 1000);
  });
}

/** Open the hosted UI, wait for the code, redeem it with the verifier; keeps the token in memory. */
export async function signIn(config) {
  // opened synchronously in the click handler (pop-up blockers), pointed at the hosted UI below
  const popup = window.open("about:blank", "callguard-signin", "popup,width=520,height=720");
  if (!popup) throw new Error("popup_blocked");
  try {
    const verifier = randomString(48); // 64 characters of [A-Za-z0-9_-]
    const state = randomString(24);
    const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
    const authorize = new URL(config.authorize_url, location.href);
    authorize.search = new URLSearchParams({
      response_type: "code",
      client_id: config.client_id,
      redirect_uri: config.redirect_uri,
      scope: config.scopes.join(" "),
      state,
      code_challenge: challenge,
      code_challenge_method: "S256",
    }).toString();
    popup.location.href = authorize.toString();
    const code = await waitForCode(state, popup);
    const answer = await fetch(new URL(config.token_url, location.href), {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        client_id: config.client_id,
        code,
        redirect_uri: config.redirect_uri,
        code_verifier: verifier,
      }),
      cache: "no-store",
      credentials: "omit",
    });
    if (!answer.ok) throw new Error("token_refused");
    const tokens = await answer.json();
    const claims = claimsOf(tokens.access_token);
    session.accessToken = tokens.access_token;
    session.expiresAt = Date.now() + Number(tokens.expires_in || 0) * 1000;
    session.person = claims.username || claims["cognito:username"] || claims.sub;
  } finally {
    if (!popup.closed) popup.close();
  }
}

export function accessToken() {
  if (session.accessToken && Date.now() < session.expiresAt) return session.accessToken;
  return null;
}

export function person() {
  return session.person;
}

/** Forget everything this page holds; the caller then ends the hosted UI's own session. */
export function forget() {
  session.accessToken = null;
  session.expiresAt = 0;
  session.person = null;
}

export function logoutUrl(config) {
  const url = new URL(config.logout_url, location.href);
  url.search = new URLSearchParams({ client_id: config.client_id, logout_uri: config.logout_uri }).toString();
  return url.toString();
}
