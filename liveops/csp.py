"""The Content-Security-Policy of every page (django-csp), and the nonce the templates give their scripts.

The policy itself is in settings (CONTENT_SECURITY_POLICY). Here: the page's own WebSocket origin
(`ws://host` or `wss://host`) is added to connect-src, as browsers that do not count a WebSocket to the
page's host as 'self' would otherwise refuse the live connection; and the request's nonce is offered to
templates as `csp_nonce`, the name django-htmx's `{% htmx_script %}` reads.
"""

from csp.middleware import CSPMiddleware, PolicyParts
from django.core.exceptions import DisallowedHost

# The pages that load the YAML editor. Monaco 0.52 draws its lines, cursors and widgets as HTML strings
# whose elements carry style="top: ...; height: ..." attributes, which a policy without 'unsafe-inline' for
# style attributes blocks (the editor's <style> elements get the page's nonce: frontend/build.mjs). Only
# style *attributes* are allowed there (style-src-attr); <style> elements and scripts stay nonce-only.
EDITOR_PAGES = {"labs:session"}


class PolicyMiddleware(CSPMiddleware):
    def get_policy_parts(self, request, response, report_only=False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only=report_only)
        update = dict(parts.update or {})
        origin = websocket_origin(request)
        if origin:
            update["connect-src"] = [*(update.get("connect-src") or ()), origin]
        match = getattr(request, "resolver_match", None)
        if match is not None and match.view_name in EDITOR_PAGES:
            update["style-src-attr"] = [*(update.get("style-src-attr") or ()), "'unsafe-inline'"]
        parts.update = update or None
        return parts


def websocket_origin(request) -> str:
    """`wss://host[:port]` for a page served over HTTPS, else `ws://...`; empty for a host not allowed."""
    try:
        host = request.get_host()
    except DisallowedHost:
        return ""
    return f"{'wss' if request.is_secure() else 'ws'}://{host}"


def nonce(request):
    """Context processor: the request's CSP nonce (made, and named in the header, only if a template uses it)."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}
