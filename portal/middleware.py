import uuid

from django.conf import settings
from django.utils import translation
from django.utils.cache import patch_cache_control

from branches import audit


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
        language = chosen if chosen in self.supported else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        translation.deactivate()
        return response


class RequestIdMiddleware:
    """Give every request an id (kept from a trusted proxy's X-Request-ID), echoed in the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "") if settings.BEHIND_PROXY else ""
        request.id = given[:64] if given and given.replace("-", "").isalnum() else uuid.uuid4().hex
        response = self.get_response(request)
        response.headers["X-Request-ID"] = request.id
        return response


def client_address(request):
    """The client's address: nginx's X-Forwarded-For behind the proxy, the socket's otherwise."""
    if settings.BEHIND_PROXY:
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR")


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
