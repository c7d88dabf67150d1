// The callguard API as the console uses it: bearer token from memory, JSON, no caching, no cookies.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class Api {
  constructor(base, token, onUnauthorized) {
    this.base = base || "";
    this.token = token;
    this.onUnauthorized = onUnauthorized;
  }

  url(path) {
    return new URL(this.base + path, location.href).toString();
  }

  async fetch(path, init = {}) {
    const token = this.token();
    if (!token) {
      this.onUnauthorized();
      throw new ApiError(401, "unauthorized", "not signed in");
    }
    const headers = { Authorization: `Bearer ${token}`, Accept: "application/json", ...(init.headers || {}) };
    const answer = await fetch(this.url(path), {
      ...init, headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer",
    });
    if (answer.status === 401) {
      this.onUnauthorized();
      throw new ApiError(401, "unauthorized", "not signed in");
    }
    if (!answer.ok) {
      let code = "error";
      let message = `HTTP ${answer.status}`;
      try {
        const body = await answer.json();
        code = body.error?.code || code;
        message = body.error?.message || body.message || message;
      } catch {
        // not JSON: keep the status line
      }
      throw new ApiError(answer.status, code, message);
    }
    return answer;
  }

  async json(method, path, body) {
    const init = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { "Content-Type": "application/json" };
    }
    const answer = await this.fetch(path, init);
    return answer.json();
  }

  listRequests(filters, cursor) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filters)) if (value) query.set(key, value);
    if (cursor) query.set("cursor", cursor);
    const text = query.toString();
    return this.json("GET", `/v1/privacy/requests${text ? "?" + text : ""}`);
  }

  fileRequest(body) { return this.json("POST", "/v1/privacy/requests", body); }
  request(id) { return this.json("GET", `/v1/privacy/requests/${encodeURIComponent(id)}`); }
  verify(id, body) { return this.json("POST", `/v1/privacy/requests/${encodeURIComponent(id)}/verify`, body); }
  approve(id) { return this.json("POST", `/v1/privacy/requests/${encodeURIComponent(id)}/approve`); }
  holds() { return this.json("GET", "/v1/privacy/holds"); }
  addHold(body) { return this.json("POST", "/v1/privacy/holds", body); }
  liftHold(id, reason) { return this.json("DELETE", `/v1/privacy/holds/${encodeURIComponent(id)}`, { reason }); }
  auditDay(day) { return this.json("GET", `/v1/audit/days/${encodeURIComponent(day)}`); }

  /** The export as a Blob: the download link's path on this API (its single-use ticket), following
   * the redirect to the short-lived storage URL. Never cached (no-store), never in the URL bar. */
  async download(downloadUrl) {
    const link = new URL(downloadUrl, location.href);
    const answer = await this.fetch(link.pathname + link.search, { method: "GET" });
    return answer.blob();
  }
}
