"""The compliance console's security headers, in one place for CloudFront and the local stack.

The deployed console gets these from a CloudFront response-headers policy
(``infra/constructs/compliance_console.py``); ``make local`` sends the same ones
(``local/console.py``), so the browser tests run the console under the policy it is deployed with.
No CDK import here: the local stack imports this module.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["CONSOLE_PATH", "FIXED_HEADERS", "HSTS_SECONDS", "content_security_policy"]

#: where the console lives, locally (``http://127.0.0.1:$CALLGUARD_API_PORT/console/``) and behind CloudFront
CONSOLE_PATH = "/console/"
HSTS_SECONDS = 2 * 365 * 24 * 3600


def content_security_policy(connect_src: Iterable[str]) -> str:
    """Everything from the console's own origin only; no inline script or style, no eval, no frames.

    ``connect_src``: the origins ``fetch`` may reach besides ``'self'`` (the Cognito domain for the
    token exchange, the export bucket the download redirects to).
    """
    sources = " ".join(["'self'", *connect_src])
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src {sources}",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ]
    )


#: headers besides CSP and HSTS that every console response carries (CloudFront sets them as
#: security headers of the response-headers policy, except Permissions-Policy and Cache-Control,
#: which it sets as custom headers)
FIXED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cache-Control": "no-store",
}
