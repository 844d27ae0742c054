"""The Django admin site, with its login throttled per client address.

Installed as the default admin site (`IvsAdminConfig` in INSTALLED_APPS), so `admin.site`,
`@admin.register` and `admin.site.urls` are this site everywhere and the throttle cannot be
side-stepped through another URL.

Why: the admin is the one password form we serve, and the product's API keys do not protect it.
After ADMIN_LOGIN_MAX_FAILURES failed logins from one client address (the same address the API
rate limit uses, `X-Forwarded-For` trusted only through TRUSTED_PROXY_COUNT proxies) within
ADMIN_LOGIN_WINDOW_SECONDS, further attempts get the login page with an error and HTTP 429 — the
password is not even checked — until the window ends. Only failures count, so an operator who
logs in and out is never locked out.

Count first, then check: each attempt takes its number with one atomic increment before anything
else, and only an attempt whose number is within the limit gets its password checked; a login that
succeeds gives its number back. Reading the count and adding to it after the password check would
let a burst of concurrent guesses all read "under the limit" while the first ones were still being
hashed, so each of them would get a password check. Counters live in the shared Redis cache (Django's cache, in
the same fixed windows and on the same clock as the API rate limit, `ivsproject.api.throttling`),
so every web process enforces the same budget. If Redis is down the login still works (fail
open, logged): operators need the admin most during an outage, and Django's password hashing
keeps guessing slow anyway.
"""

from __future__ import annotations

import hashlib
import logging
import math
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)

_GROUP = "admin-login-failures"


def _client_key(request: HttpRequest) -> str:
    from ivsproject.api.throttling import client_ip  # not at import time: apps are still loading

    return client_ip(request)


def _attempt_key(request: HttpRequest) -> tuple[str, int]:
    """The counter of the client's current window, and the seconds until that window ends."""
    from ivsproject.api import throttling  # not at import time: apps are still loading

    period = settings.ADMIN_LOGIN_WINDOW_SECONDS
    client = _client_key(request)
    window = throttling.window_end(client, period)
    # The client part comes from a header: hashed, so the key stays short and plain whatever it holds.
    digest = hashlib.sha256(client.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{_GROUP}:{period}:{window}:{digest}", window - int(throttling.clock())


def _count_attempt(key: str) -> int | None:
    """This attempt's number in its window (1 for the first), counted atomically; None when the
    cache is unreachable."""
    from ivsproject.api import throttling  # not at import time: apps are still loading

    timeout = settings.ADMIN_LOGIN_WINDOW_SECONDS + throttling.EXPIRY_MARGIN_SECONDS
    try:
        # `add` creates the window's counter once; the increment is one Redis INCR, so concurrent
        # attempts each get a different number and exactly the first N are within the limit.
        cache.add(key, 0, timeout)
        try:
            return int(cache.incr(key))
        except ValueError:  # the counter expired between the two calls: this attempt starts anew
            cache.set(key, 1, timeout)
            return 1
    except Exception:  # Redis down: fail open (see the module docstring)
        logger.warning("admin login throttle unavailable; allowing the attempt", exc_info=True)
        return None


def _give_back(key: str) -> None:
    """A successful login does not count as a failure: its number is returned."""
    try:
        cache.decr(key)
    except Exception:  # expired meanwhile, or Redis down: nothing left to give back
        logger.debug("admin login counter not decremented", exc_info=True)


class IvsAdminSite(admin.AdminSite):
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.method != "POST":
            return super().login(request, extra_context)
        key, retry_after = _attempt_key(request)
        count = _count_attempt(key)
        if count is not None and count > settings.ADMIN_LOGIN_MAX_FAILURES:
            return self._throttled(request, max(retry_after, 1))
        response = super().login(request, extra_context)
        # A successful login redirects; the form coming back (200) means the attempt failed and
        # keeps its count.
        if count is not None and response.status_code != 200:
            _give_back(key)
        return response

    def _throttled(self, request: HttpRequest, retry_after: int) -> HttpResponse:
        logger.warning("admin login throttled for %s", _client_key(request))
        from django.contrib.admin.forms import AdminAuthenticationForm  # imports models: not while apps load

        form_class = self.login_form or AdminAuthenticationForm
        form = form_class(request, initial={"username": request.POST.get("username")})
        # Unbound, so the password is never checked while the client is throttled; the message is
        # set as the form's non-field error, where the login template shows errors.
        message = _("Too many failed login attempts. Try again in %(minutes)d minute(s).")
        errors = [message % {"minutes": math.ceil(retry_after / 60)}]
        form.errors[NON_FIELD_ERRORS] = form.error_class(errors, error_class="nonfield", renderer=form.renderer)
        context = {
            **self.each_context(request),
            "title": _("Log in"),
            "subtitle": None,
            "app_path": request.get_full_path(),
            "username": "",
            "form": form,
            REDIRECT_FIELD_NAME: request.GET.get(REDIRECT_FIELD_NAME, ""),
        }
        response = TemplateResponse(request, self.login_template or "admin/login.html", context, status=429)
        response["Retry-After"] = str(retry_after)
        return response


class IvsAdminConfig(AdminConfig):
    default_site = "ivsproject.admin_site.IvsAdminSite"
