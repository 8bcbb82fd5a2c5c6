"""The dashboard: pages for operators, served by the management listener.

    /dashboard/login      the admin key in, a session cookie out
    /dashboard/logout     POST: ends the session
    /dashboard/logs...    the Logs page and one request in full (logs.py)
    /dashboard/subscriptions...  the list with usage; create, keys, states
    /dashboard/query...   the Query page: KQL, results, charts (query.py)
    /dashboard/overview   requests, errors and tokens over time (overview.py)
    /dashboard/apis...    APIs, backends, effective policies, editors (apis.py)
    /dashboard/console... the Test console: a request through the gateway as
                          a chosen subscription, streamed, traced (console.py)
    /dashboard/settings...  diagnostics, global and per API: each field's
                          value, its layer, what it overrides (settings.py)
    /dashboard/static/... htmx, Chart.js, the style sheet, shipped in the package

Everything but the login page and the static files takes a session: the
cookie ``tollhouse_session`` (``HttpOnly``, ``SameSite=Strict``,
``Path=/dashboard``, ``Secure`` over https) made at login.  Every POST,
PUT, PATCH and DELETE must come from the dashboard's own origin and carry
the session's CSRF token.  The cookie authorises dashboard pages only: the
JSON routes of the management API still want the admin key itself.
"""

from .site import COOKIE, PREFIX, Dashboard

__all__ = ["COOKIE", "PREFIX", "Dashboard"]
