"""What every API endpoint shares: token sign-in, per-token throttling and JSON errors in the user's language.

The endpoints themselves live with their records (`branches/api/`, `assessments/api/`) and call the same
selectors and services as the pages; this module is wired in through `settings.REST_FRAMEWORK`.
"""

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle


class TokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>`, checked once per request by `portal.middleware.ApiTokenMiddleware`."""

    keyword = "Bearer"

    def authenticate(self, request):
        django_request = request._request
        token = getattr(django_request, "api_token", None)
        if token is not None:
            return django_request.user, token
        refused = getattr(django_request, "api_token_refused", None)
        if refused:
            raise exceptions.AuthenticationFailed(refused)
        return None

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = TokenAuthentication
    name = "personalToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A personal API token (API 令牌)."}


class TokenRateThrottle(SimpleRateThrottle):
    """Each token has its own budget of requests (`API_RATE`, e.g. 120/min)."""

    scope = "api_token"
    cache = caches["api_throttle"]

    def get_rate(self):
        return settings.API_RATE

    def get_cache_key(self, request, view):
        token = request.auth
        if token is not None and hasattr(token, "prefix"):
            ident = f"token:{token.prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"address:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


def _as_fields(error):
    """A Django ValidationError as {field: [messages]}, the non-field messages under `non_field_errors`."""
    if hasattr(error, "error_dict"):
        return {
            ("non_field_errors" if field == NON_FIELD_ERRORS else field): messages
            for field, messages in error.message_dict.items()
        }
    return {"non_field_errors": error.messages}


def _is_stale(error):
    """A write from a version of the record that someone else has changed since (the services' code "stale")."""
    return not hasattr(error, "error_dict") and all(e.code == "stale" for e in error.error_list)


def exception_handler(exc, context):
    """DRF's answers (already translated by its catalog), plus the services' ValidationError as a 400 by field.

    The bodies are those the schema documents (`portal.api_schema`): `{detail}`, or `{field: [messages]}` for
    a refused input (a body that is not JSON at all included, under `non_field_errors`); a stale version is 409.
    """
    from rest_framework.views import exception_handler as drf_exception_handler  # it imports these settings

    if isinstance(exc, DjangoValidationError):
        if _is_stale(exc):
            return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_409_CONFLICT)
        return Response(_as_fields(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.ParseError):
        exc = exceptions.ValidationError({"non_field_errors": [exc.detail]})
    return drf_exception_handler(exc, context)
