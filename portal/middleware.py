import ipaddress
import re
import uuid

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import QueryDict
from django.utils import timezone, translation
from django.utils.cache import patch_cache_control

from branches import audit
from portal import services


class ChosenLanguageMiddleware:
    """Chinese unless the user chose otherwise with the language switch.

    Django's LocaleMiddleware would follow the browser's Accept-Language, and many
    intranet machines run English-language browsers; the portal must still open in Chinese.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.supported = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if is_api(request) and chosen not in self.supported:
            # Another system states its language in Accept-Language; without one it gets Chinese.
            chosen = translation.get_language_from_request(request)
        language = chosen if chosen in self.supported else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        translation.deactivate()
        return response


class RequestIdMiddleware:
    """Give every request an id, echoed in the response.

    The id is taken only from the proxy (nginx sets X-Request-ID from its own `$request_id`, see deploy/), and only in
    a plain form; a client's own header, or anything reaching the portal from elsewhere, gets a fresh id: the audit
    trail's ids must not be chosen by the people it records.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "") if from_proxy(request) else ""
        request.id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        response = self.get_response(request)
        response.headers["X-Request-ID"] = request.id
        return response


class CleanQueryMiddleware:
    """Query parameters reach filters and the database without NUL or other control characters.

    PostgreSQL refuses a NUL in text (a search for `a%00b` was an HTTP 500), and no filter, search box or page
    number means anything by a control character: they are dropped from every name and value, before any view.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.META.get("QUERY_STRING") and any(
            CONTROL.search(key) or any(CONTROL.search(value) for value in values) for key, values in request.GET.lists()
        ):
            cleaned = QueryDict(mutable=True)
            for key, values in request.GET.lists():
                cleaned.setlist(CONTROL.sub("", key), [CONTROL.sub("", value) for value in values])
            cleaned._mutable = False
            request.GET = cleaned
        return self.get_response(request)


CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
REQUEST_ID = re.compile(r"[0-9A-Za-z-]{8,64}")


def from_proxy(request):
    """Whether the request came through the portal's own proxy, whose forwarded headers can be believed."""
    return settings.BEHIND_PROXY and request.META.get("REMOTE_ADDR", "") in settings.PROXY_ADDRESSES


def _ip(text):
    """`text` as a normalised IP address, or None when it is not one (a forged header, a port, a host name)."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def client_address(request):
    """The client's address: behind the proxy the first X-Forwarded-For entry (nginx replaces the header with the
    address it saw), else the socket's. Always a valid IP address or None, so that it can be stored (inet columns)
    and keyed on (the sign-in lockout, see AXES_CLIENT_IP_CALLABLE). Kept on the request once worked out."""
    cached = getattr(request, "_client_address", False)
    if cached is not False:
        return cached
    address = None
    if from_proxy(request):
        address = _ip(request.headers.get("X-Forwarded-For", "").split(",")[0])
    if address is None:
        address = _ip(request.META.get("REMOTE_ADDR", ""))
    request._client_address = address
    return address


class AuditContextMiddleware:
    """Everything written during the request is signed with its user, address and id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        context = audit.RequestContext(
            user=getattr(request, "user", None),
            remote_addr=client_address(request),
            request_id=getattr(request, "id", ""),
            path=request.get_full_path(),
        )
        with audit.in_request(context):
            return self.get_response(request)


class PrivatePagesMiddleware:
    """Signed-in pages are personal and change under the user (the bell's count, what is done):
    never keep them in a browser or proxy cache, so going back shows the page as it is now."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            patch_cache_control(response, private=True, no_store=True)
        return response


API_PREFIX = "/api/"


def is_api(request):
    return request.path.startswith(API_PREFIX)


class ApiTokenMiddleware:
    """`Authorization: Bearer <token>` on an /api/ request signs the token's owner in for that request only.

    It runs before the audit context is bound, so that what an API call writes is signed by the token's owner.
    A refused token leaves the request anonymous and keeps the reason for the API's 401 answer. Once answered,
    the call is recorded as a use of the token (refused ones too: see `portal.models.ApiTokenUse`).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        header = request.headers.get("Authorization", "")
        if not (is_api(request) and header[:7].lower() == "bearer "):
            return self.get_response(request)
        now = timezone.now()
        try:
            request.user, token = services.api_token_user(plain=header[7:].strip(), now=now)
            request.api_token = token
        except services.ApiTokenRefused as error:
            request.user = AnonymousUser()
            request.api_token_refused = error.messages[0]
            token = error.token
        response = self.get_response(request)
        if token is not None:
            services.api_token_use_record(
                token=token,
                at=now,
                method=request.method,
                path=request.get_full_path(),
                status=response.status_code,
                address=client_address(request),
            )
        return response
