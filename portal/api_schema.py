"""The API's OpenAPI document: each operation lists the errors it can answer, with the bodies they carry.

Wired in as `REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]`; the bodies are the ones `portal.api.exception_handler`
and DRF give: `{detail}` for 401, 403, 404, 409, 415 and 429, `{field: [messages]}` for a refused input (400).
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent, force_instance

ERROR = {
    "type": "object",
    "description": _("What went wrong, in the caller's language."),
    "properties": {"detail": {"type": "string", "example": "身份认证信息未提供。"}},
    "required": ["detail"],
}
MESSAGES = {"type": "array", "items": {"type": "string"}}
VALIDATION_ERROR = {
    "type": "object",
    "description": _(
        "The refused fields, each with its messages (`non_field_errors` for the rest). A list of records "
        "(e.g. `attendance`) gives its messages by record: by position, each with its field messages."
    ),
    "additionalProperties": {
        "anyOf": [
            {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "object"}]}},
            {"type": "object", "additionalProperties": {"anyOf": [MESSAGES, {"type": "object"}]}},
        ]
    },
    "example": {"held_at": ["会议时间不能晚于现在。"], "non_field_errors": ["…"]},
}

RETRY_AFTER = _("Seconds to wait before calling again.")

ERRORS = {
    "400": ("ValidationError", _("The input is refused: the messages by field; nothing was written.")),
    "401": ("Error", _("No token, or a token that is wrong, expired or revoked.")),
    "403": ("Error", _("Your role may not do this.")),
    "404": ("Error", _("No such record within your subtree (or an invalid page cursor).")),
    "409": ("Error", _("The record changed since you read it (stale `version`): read it again; nothing was written.")),
    "415": ("Error", _("The body is not JSON or multipart form data.")),
    "429": ("Error", _("Too many calls with this token: wait the seconds given in `Retry-After`.")),
}


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema, plus the error responses each operation can produce."""

    def _component(self, name):
        schema = VALIDATION_ERROR if name == "ValidationError" else ERROR
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema)
        self.registry.register_on_missing(component)
        return component.ref

    def error_codes(self, operation):
        """The error statuses of this operation: what a caller must be ready for."""
        writes = self.method in ("POST", "PUT", "PATCH")
        codes = ["401", "403", "404", "429"]  # a token, a role, a scope (or a page cursor), a budget
        if writes or any(parameter["in"] == "query" for parameter in operation.get("parameters", ())):
            codes.append("400")  # a body, a filter or a period refused by field
        if writes:
            codes.append("415")
            request = force_instance(self.get_request_serializer())
            if "version" in getattr(request, "fields", {}):
                codes.append("409")  # the services refuse a write from a stale version
        return sorted(codes)

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        for parameter in operation.get("parameters", ()):
            if parameter["in"] == "path" and parameter["schema"].get("pattern") == r"^\d+$":
                parameter["schema"] = {"type": "integer"}  # an id (the routes take digits only)
        responses = operation.setdefault("responses", {})
        for code in self.error_codes(operation):
            if code not in responses:
                name, description = ERRORS[code]
                responses[code] = {
                    "content": {"application/json": {"schema": self._component(name)}},
                    "description": str(description),
                }
                if code == "429":
                    responses[code]["headers"] = {
                        "Retry-After": {"schema": {"type": "integer"}, "description": str(RETRY_AFTER)}
                    }
        return operation
