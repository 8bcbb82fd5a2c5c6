"""The dashboard's application: login, sessions, CSRF, layout and errors.

Mounted by the management API at `PREFIX`; pages render on the server with
Jinja2 (autoescaped: logged prompts are arbitrary text) and update in place
with htmx, which is shipped in ``static/`` like every other asset.
"""

from __future__ import annotations

import contextvars
import hmac
import logging
import math
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
import markupsafe
from aiohttp import web

from ..config import GatewayConfig
from ..console import ConsoleTickets
from ..diagnostics import DiagnosticsSettings
from ..errors import ManagementError, TollhouseError
from ..kql.run import QueryResult
from ..management.keys import AdminKeys
from ..management.logs import LogRoutes
from ..management.policies import PolicyRoutes
from ..management.subscriptions import SubscriptionRoutes
from ..management.usage import UsageRoutes
from .sessions import LoginThrottle, Session, Sessions

logger = logging.getLogger(__name__)

#: Where the management listener serves the dashboard.
PREFIX = "/dashboard"
#: The session cookie's name.
COOKIE = "tollhouse_session"

#: The pages in the navigation, in order: (name, title, path below PREFIX).
PAGES = (
    ("overview", "Overview", "/overview"),
    ("logs", "Logs", "/logs"),
    ("query", "Query", "/query"),
    ("subscriptions", "Subscriptions", "/subscriptions"),
    ("apis", "APIs and policies", "/apis"),
    ("console", "Test console", "/console"),
    ("settings", "Settings", "/settings"),
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Runs KQL off the event loop, within the query limits (the management API's).
QueryRunner = Callable[[str], Awaitable[QueryResult]]
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PUBLIC = frozenset({f"{PREFIX}/login"})
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class Dashboard:
    """The dashboard as an aiohttp application to mount at `PREFIX`."""

    def __init__(
        self,
        config: GatewayConfig,
        admin_keys: AdminKeys,
        logs: LogRoutes,
        sessions: Sessions | None = None,
        *,
        queries: QueryRunner | None = None,
        subscriptions: SubscriptionRoutes | None = None,
        usage: UsageRoutes | None = None,
        policies: PolicyRoutes | None = None,
        diagnostics: DiagnosticsSettings | None = None,
        console: tuple[ConsoleTickets, Callable[[], str]] | None = None,
    ) -> None:
        self.config = config
        self._admin_keys = admin_keys
        self.sessions = sessions if sessions is not None else Sessions()
        self.throttle = LoginThrottle()
        # The session of the request being handled, for the templates.
        self._current: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
            "dashboard_session", default=None
        )
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("tollhouse.dashboard", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["breakable"] = _breakable
        self.templates.filters["seconds"] = _seconds
        self.app = web.Application(middlewares=[self._errors, self._guard])
        self.app.on_response_prepare.append(_secure_headers)
        router = self.app.router
        router.add_get("/", self._index)
        router.add_get("/login", self._login_page)
        router.add_post("/login", self._login)
        router.add_post("/logout", self._logout)
        router.add_static("/static", Path(__file__).parent / "static")

        from .logs import LogsPage

        LogsPage(self, logs).add_to(router)

        if usage is not None:
            from .overview import OverviewPage

            OverviewPage(self, usage).add_to(router)
        if subscriptions is not None and usage is not None:
            from .subscriptions import SubscriptionsPage

            SubscriptionsPage(self, subscriptions, usage).add_to(router)
        if queries is not None:
            from .query import QueryPage

            QueryPage(self, queries).add_to(router)
        if policies is not None:
            from .apis import ApisPage

            ApisPage(self, policies).add_to(router)
        if console is not None and subscriptions is not None:
            from .console import ConsolePage

            page = ConsolePage(self, *console, subscriptions)
            page.add_to(router)
            self.app.on_cleanup.append(page.close)
        if diagnostics is not None:
            from .settings import SettingsPage

            SettingsPage(self, diagnostics).add_to(router)

    def mount(self, parent: web.Application) -> None:
        """Serve the dashboard from ``parent`` at `PREFIX`."""
        parent.add_subapp(PREFIX, self.app)

    def render(
        self,
        request: web.Request,
        template: str,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> web.Response:
        """``template`` rendered as an HTML response for ``request``."""
        session = self._current.get()
        page = self.templates.get_template(template).render(
            prefix=PREFIX,
            pages=PAGES,
            path=request.path,
            csrf_token=None if session is None else session.csrf_token,
            **context,
        )
        return web.Response(
            status=status,
            text=page,
            content_type="text/html",
            headers={"Cache-Control": "no-store", **(headers or {})},
        )

    # Middleware ------------------------------------------------------------

    @web.middleware
    async def _errors(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except ManagementError as error:
            return self._error_page(request, error.status, error.message)
        except web.HTTPException as exc:
            return self._error_page(request, exc.status, _said(exc))
        except Exception:
            logger.exception("dashboard: %s %s failed", request.method, request.path)
            return self._error_page(request, 500, "Something went wrong.")

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        if request.path.startswith(f"{PREFIX}/static/"):
            return await handler(request)

        # A state-changing request comes from one of our own pages or not
        # at all: the browser says where it comes from.
        if request.method not in _SAFE_METHODS and not _same_origin(request):
            logger.info("dashboard refused a cross-site %s", request.method)
            raise web.HTTPForbidden(text="This request came from another site.")
        if request.path in _PUBLIC:
            return await handler(request)

        session = self._session(request)
        if session is None:
            return _to_login(request)
        self._current.set(session)
        if request.method not in _SAFE_METHODS:
            presented = request.headers.get("X-CSRF-Token")
            if presented is None:
                presented = str((await request.post()).get("csrf_token", ""))
            if not hmac.compare_digest(presented, session.csrf_token):
                logger.info("dashboard refused a request without its CSRF token")
                raise web.HTTPForbidden(
                    text="This form has expired; reload the page and try again."
                )
        return await handler(request)

    def _session(self, request: web.Request) -> Session | None:
        session_id = request.cookies.get(COOKIE)
        if not session_id:
            return None
        try:
            admin_key = self._admin_keys.key()
        except TollhouseError:
            return None
        return self.sessions.get(session_id, admin_key)

    def _error_page(
        self, request: web.Request, status: int, message: str
    ) -> web.Response:
        return self.render(
            request,
            "error.html",
            status=status,
            status_code=status,
            phrase=_phrase(status),
            message=message,
        )

    # Routes ----------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        return see_other(f"{PREFIX}{PAGES[0][2]}")

    async def _login_page(self, request: web.Request) -> web.Response:
        return self.render(
            request, "login.html", next=_next(request.query.get("next")), error=None
        )

    async def _login(self, request: web.Request) -> web.Response:
        form = await request.post()
        presented = str(form.get("admin_key", "")).strip()
        following = _next(str(form.get("next", "")))
        address = request.remote or ""
        wait = math.ceil(self.throttle.wait(address))
        if wait > 0:
            logger.warning("dashboard throttled the logins of %s", address)
            return self.render(
                request,
                "login.html",
                status=429,
                headers={"Retry-After": str(wait)},
                next=following,
                error=f"Too many wrong admin keys from this address; "
                f"try again in {wait} seconds.",
            )
        if not self._admin_keys.verify(presented):
            logger.info("dashboard refused a login from %s", address)
            self.throttle.failed(address)
            return self.render(
                request,
                "login.html",
                status=401,
                next=following,
                error="That is not the admin key.",
            )

        self.throttle.succeeded(address)
        session_id, _ = self.sessions.open(presented)
        logger.info("dashboard login from %s", request.remote)
        response = see_other(following)
        response.set_cookie(
            COOKIE,
            session_id,
            path=PREFIX,
            max_age=int(self.sessions.lifetime),
            httponly=True,
            samesite="Strict",
            secure=request.scheme == "https",
        )
        return response

    async def _logout(self, request: web.Request) -> web.Response:
        self.sessions.close(request.cookies.get(COOKIE, ""))
        response = see_other(f"{PREFIX}/login")
        response.del_cookie(COOKIE, path=PREFIX)
        return response


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _said(exc: web.HTTPException) -> str:
    """What an HTTP exception tells a person, not aiohttp's "404: Not Found"."""
    text = exc.text or ""
    if not text or text == f"{exc.status}: {exc.reason}":
        if exc.status == 404:
            return "There is no such page in the dashboard."
        return f"The request could not be served ({exc.reason})."
    return text


def _same_origin(request: web.Request) -> bool:
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser, or one that says so by Sec-Fetch-Site
    return origin == f"{request.scheme}://{request.host}"


def _to_login(request: web.Request) -> web.Response:
    login = f"{PREFIX}/login"
    if request.method == "GET":
        login += "?next=" + quote(request.path_qs, safe="/")
    if request.headers.get("HX-Request") == "true":
        # htmx swaps what it gets: have it load the login page instead.
        return web.Response(status=401, headers={"HX-Redirect": login})
    if request.method not in _SAFE_METHODS:
        raise web.HTTPForbidden(text="Your session has ended; log in again.")
    return see_other(login)


def see_other(location: str) -> web.Response:
    """A 303 to ``location``: after a form, or to the login page."""
    return web.Response(status=303, headers={"Location": location})


def _next(target: str | None) -> str:
    """Where to go after login: a dashboard path, never another site."""
    default = f"{PREFIX}/"
    if not target or not target.isascii() or not target.isprintable():
        return default  # a Location header holds printable ASCII only
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(f"{PREFIX}/"):
        return default
    return target


async def _secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(_HEADERS)


def _breakable(text: str | None) -> markupsafe.Markup:
    """``text`` escaped, with line-break chances after slashes (long paths)."""
    escaped = markupsafe.escape(text or "")
    return markupsafe.Markup(escaped.replace("/", markupsafe.Markup("/<wbr>")))


def _seconds(timestamp: str | None) -> str:
    """A store timestamp to the second, for lists: ``2026-12-04 09:30:00``."""
    return "" if not timestamp else timestamp.replace("T", " ")[:19]
