"""drf-spectacular hooks: /api/schema/ describes the REST API only, errors included."""

from typing import Any

API_PATH_PREFIX = "/api/"
# Every operation may refuse with these; all answer Intercom's error envelope.
ERROR_STATUSES = {
    "400": "Invalid input: the error names the field (parameter_invalid, parameter_not_found).",
    "401": "Missing or invalid access token.",
    "403": "The token's teammate lacks the permission for this operation.",
    "404": "The resource, or one it refers to, does not exist.",
    "409": "Conflict with an existing resource (a unique email or external_id).",
    "415": "The body is not JSON.",
    "429": "Rate limit exceeded; see X-RateLimit-Reset.",
}
# Fields an answer leaves out in some shapes (a conversation in a list has no parts).
OPTIONAL_OUTPUT_FIELDS = {"ConversationOutput": ["conversation_parts"]}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["type", "errors"],
    "properties": {
        "type": {"type": "string", "enum": ["error.list"]},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                },
            },
        },
    },
}


def only_api_paths(endpoints: list[tuple[str, str, str, Any]], **kwargs: Any) -> list[tuple[str, str, str, Any]]:
    """The widget endpoints are DRF views too, but their protocol is docs/widget-protocol.md, not this API."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith(API_PATH_PREFIX)]


def error_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Document the error envelope on every operation (so that clients and schema checks expect it)."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for name, fields in OPTIONAL_OUTPUT_FIELDS.items():
        if name in schemas:
            schemas[name]["required"] = [field for field in schemas[name].get("required", []) if field not in fields]
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_STATUSES.items():
                responses.setdefault(status, {"description": description, "content": reference})
    return result
