// The hosted UI's redirect target (in the sign-in pop-up): hand code and state to the console page
// over a same-origin channel, take the code out of this window's history, close.
const params = new URLSearchParams(location.search);
const message = { state: params.get("state"), code: params.get("code"), error: params.get("error") };
history.replaceState(null, "", location.pathname);
const channel = new BroadcastChannel("callguard-signin");
channel.postMessage(message);
channel.close();
window.close();
