"""Content negotiation: every API answer is the JSON envelope, whatever `Accept` says.

The API has one representation. DRF's default negotiation refused a request whose `Accept` named
no JSON type (`text/html`, `application/xml`) with NotAcceptable, raised before authentication and
the rate limit, and its error answer could not be rendered either: a 500 with a traceback. Clients
branch on the envelope, so answering JSON to every `Accept` is what they expect. An `Accept` DRF can
satisfy is still honoured (`application/json; indent=4`, the schema views' YAML or JSON), and the
request's parser is still chosen from Content-Type.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class AlwaysJsonNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, Any]:
        renderers = list(renderers)
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            # The view's first renderer — JSON for every API view (REST_FRAMEWORK's only renderer);
            # among those a `?format=` names, for the schema views — with its plain media type.
            fmt = format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
            fallback = self.filter_renderers(renderers, fmt)[0] if fmt else renderers[0]
            return fallback, fallback.media_type
