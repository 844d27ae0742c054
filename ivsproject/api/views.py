"""Django-level handlers that must still answer with the envelope."""

from django.http import HttpRequest, HttpResponse

from ivsproject.api.exceptions import InternalError, NotFound, error_json_response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_json_response(NotFound())


def server_error(request: HttpRequest) -> HttpResponse:
    return error_json_response(InternalError())
