"""The NinjaAPI instance: routers, bearer auth, and problem+json for every error."""

import logging
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, RequestDataTooBig, TooManyFieldsSent
from django.db import DatabaseError, DataError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder

from apps.accounts.api import BearerToken
from apps.commands.api import command_schemas
from apps.commands.api import router as commands_router
from apps.common.api import JsonBodyParser
from apps.common.errors import DomainError
from apps.common.problems import Problem, validation_problem
from apps.common.time import isoformat_utc
from apps.inventory.api import router as inventory_router
from apps.rules.api import router as rules_router
from apps.ticket.api import router as tickets_router
from apps.ticket.api import technicians as technicians_router
from apps.xp.api import router as xp_router

logger = logging.getLogger("ticketflow.api")


class JsonEncoder(NinjaJSONEncoder):
    """Timestamps keep their microseconds (Django's encoder cuts them to milliseconds) and end in Z."""

    def default(self, o):
        if isinstance(o, datetime):
            return isoformat_utc(o)
        return super().default(o)


class JsonRenderer(JSONRenderer):
    encoder_class = JsonEncoder


PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details; `errors` only on validation errors.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "example": "/problems/validation_error"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "code": {"type": "string", "example": "validation_error"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                },
            },
        },
    },
}
PROBLEM_CONTENT = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
RETRY_AFTER = {"description": "seconds to wait", "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"}}
PROBLEMS = {
    400: ("The body is not JSON: `malformed_json`.", {}),
    401: ("No or bad token: `unauthenticated`.", {"WWW-Authenticate": {"schema": {"type": "string"}}}),
    403: ("The caller's (or actor's) roles do not allow this: `forbidden`.", {}),
    404: ("No such resource: `not_found`.", {}),
    409: ("Conflicts with an existing resource: `conflict`.", {}),
    413: ("The body is over 64 KiB: `payload_too_large`.", {}),
    415: ("The body is not declared `application/json`: `unsupported_media_type`.", {}),
    422: ("Invalid input: `validation_error` (with `errors`), or `idempotency_key_reused`.", {}),
    429: (
        "Too many commands from this token this minute, or too many of its requests waiting at once (`Prefer: wait`): "
        "`rate_limited`; nothing was stored.",
        {"Retry-After": RETRY_AFTER},
    ),
    503: ("The database is unavailable: `service_unavailable`.", {"Retry-After": RETRY_AFTER}),
}
# Every operation can meet these; the rest follow from the operation (see `problem_statuses`).
ALWAYS = (401, 503)
EXTRA_PROBLEMS = {
    ("post", "/api/v1/commands"): (403, 429),
    ("post", "/api/v1/inventory-items"): (403, 409),
    ("post", "/api/v1/inventory-items/{item_id}/parts"): (403, 409),
    ("put", "/api/v1/rules"): (403,),
    ("post", "/api/v1/rules/rollback"): (403, 404),
    ("patch", "/api/v1/inventory-items/{item_id}"): (403,),
    ("get", "/api/v1/events"): (403, 429),
    ("post", "/api/v1/webhooks"): (403,),
    ("get", "/api/v1/webhooks"): (403,),
    ("get", "/api/v1/webhooks/{webhook_id}"): (403,),
    ("patch", "/api/v1/webhooks/{webhook_id}"): (403,),
    ("delete", "/api/v1/webhooks/{webhook_id}"): (403,),
    ("post", "/api/v1/webhooks/{webhook_id}/rotate-secret"): (403,),
    ("get", "/api/v1/webhooks/{webhook_id}/deliveries"): (403,),
    ("post", "/api/v1/webhooks/{webhook_id}/redeliver"): (403,),
    ("get", "/api/v1/analytics/technicians"): (403,),
    ("get", "/api/v1/analytics/technicians/{technician_id}/days"): (403,),
    ("get", "/api/v1/analytics/tickets"): (403,),
    ("get", "/api/v1/analytics/leaderboard"): (403,),
}


def problem_statuses(method: str, path: str, operation: dict) -> list[int]:
    """The problem statuses an operation can answer: 404 with path parameters, 422 with any input, 400/413/415
    with a body, plus the operation's own (EXTRA_PROBLEMS)."""
    statuses = set(ALWAYS) | set(EXTRA_PROBLEMS.get((method, path), ()))
    locations = {parameter["in"] for parameter in operation.get("parameters", [])}
    if "path" in locations:
        statuses.add(404)
    if locations or "requestBody" in operation:
        statuses.add(422)
    if "requestBody" in operation:
        statuses |= {400, 413, 415}
    return sorted(statuses)


COMPONENTS = "#/components/schemas/"


def published_under_titles(schema: dict) -> dict:
    """The schema with each component named by its title, and without the components no operation uses.

    A schema class states the name clients see (`model_config = ConfigDict(title="Ticket")`) while the code keeps
    its own (`TicketOut`, beside the `Ticket` model); generated clients name their classes after these names.
    """
    titles = {key: component.get("title", key) for key, component in schema["components"]["schemas"].items()}
    shared = sorted({title for title in titles.values() if list(titles.values()).count(title) > 1})
    if shared:
        raise ImproperlyConfigured(f"OpenAPI components would share the names {shared}: give them distinct titles")
    renamed = _with_refs_renamed(schema, {COMPONENTS + key: COMPONENTS + title for key, title in titles.items()})
    components = {titles[key]: component for key, component in renamed["components"]["schemas"].items()}
    used = _referenced_names(renamed["paths"])
    pending = list(used)
    while pending:
        for name in _referenced_names(components[pending.pop()]) - used:
            used.add(name)
            pending.append(name)
    renamed["components"]["schemas"] = {name: component for name, component in components.items() if name in used}
    return renamed


def _with_refs_renamed(node, new_refs: dict[str, str]):
    if isinstance(node, dict):
        return {
            key: new_refs.get(value, value) if key == "$ref" else _with_refs_renamed(value, new_refs)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_with_refs_renamed(item, new_refs) for item in node]
    return node


def _referenced_names(node) -> set[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        names = {ref.removeprefix(COMPONENTS)} if isinstance(ref, str) else set()
        return names.union(*(_referenced_names(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_referenced_names(item) for item in node))
    return set()


class TicketflowApi(NinjaAPI):
    def get_openapi_schema(self, **kwargs):
        """Ninja's schema, plus the command bodies and the problem+json error responses of every operation, each
        component published under its title."""
        schema = super().get_openapi_schema(**kwargs)
        components = schema["components"].setdefault("schemas", {})
        components.update(command_schemas())
        components["Problem"] = PROBLEM_SCHEMA
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                for status in problem_statuses(method, path, operation):
                    description, headers = PROBLEMS[status]
                    operation["responses"].setdefault(
                        status,
                        {
                            "description": description,
                            "content": PROBLEM_CONTENT,
                            **({"headers": headers} if headers else {}),
                        },
                    )
        return published_under_titles(schema)


api = TicketflowApi(
    title="ticketflow",
    version="1",
    description="Repair-shop workflow: submit commands, read tickets, sessions, XP, inventory and rules.",
    auth=BearerToken(),
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
    renderer=JsonRenderer(),
    parser=JsonBodyParser(),
)
api.add_router("/commands", commands_router)
api.add_router("/tickets", tickets_router)
api.add_router("/technicians", technicians_router)
api.add_router("/technicians", xp_router)
api.add_router("/inventory-items", inventory_router)
api.add_router("/rules", rules_router)
api.add_router("/events", "apps.events.api.router")
api.add_router("/webhooks", "apps.webhooks.api.router")
api.add_router("/analytics", "apps.analytics.api.router")


def problem_response(problem: Problem) -> JsonResponse:
    response = JsonResponse(problem.body(), status=problem.status, content_type="application/problem+json")
    for header, value in problem.headers.items():
        response[header] = value
    return response


@api.exception_handler(Problem)
def on_problem(request, exc: Problem):
    return problem_response(exc)


@api.exception_handler(DomainError)
def on_domain_error(request, exc: DomainError):
    return problem_response(Problem.from_domain(exc))


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request, exc):
    problem = Problem(401, "unauthenticated", "send a valid token: Authorization: Bearer <token>")
    problem.headers["WWW-Authenticate"] = "Bearer"
    return problem_response(problem)


@api.exception_handler(NinjaValidationError)
def on_validation_error(request, exc: NinjaValidationError):
    errors = [{"loc": _contract_loc(err.get("loc", [])), "msg": err.get("msg", "invalid")} for err in exc.errors]
    return problem_response(Problem(422, "validation_error", "the request is not valid", errors=errors))


def _contract_loc(loc) -> list:
    # Ninja nests a body schema under its parameter's name, ["body", "body", "name"]; API.md's loc is ["body", "name"].
    parts = list(loc)
    if parts[:2] == ["body", "body"]:
        del parts[1]
    return parts


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return problem_response(Problem(404, "not_found", "no such resource"))


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    if isinstance(exc.__cause__, Problem):
        return problem_response(exc.__cause__)  # raised by JsonBodyParser; ninja wraps it in a 400
    code = {400: "malformed_json", 413: "payload_too_large", 415: "unsupported_media_type"}.get(
        exc.status_code, "error"
    )
    return problem_response(Problem(exc.status_code, code, str(exc)))


@api.exception_handler(RequestDataTooBig)
def on_body_too_big(request, exc):
    # Over Django's DATA_UPLOAD_MAX_MEMORY_SIZE: ninja reads the body before its parser can refuse it.
    limit = settings.COMMAND_MAX_BODY_BYTES
    return problem_response(Problem(413, "payload_too_large", f"the body is over {limit // 1024} KiB"))


@api.exception_handler(TooManyFieldsSent)
def on_too_many_fields(request, exc):
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    return problem_response(validation_problem([{"loc": ["query"], "msg": f"more than {limit} parameters"}]))


@api.exception_handler(DataError)
def on_data_error(request, exc):
    return problem_response(Problem(422, "validation_error", "a value is out of range for this service"))


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def on_database_unavailable(request, exc):
    logger.error("database unavailable", extra={"path": request.path, "error": exc.__class__.__name__})
    problem = Problem(503, "service_unavailable", "the database is unavailable; try again shortly")
    problem.headers["Retry-After"] = "5"
    return problem_response(problem)


@api.exception_handler(DatabaseError)
@api.exception_handler(Exception)
def on_unexpected(request, exc):
    logger.exception("unhandled error", extra={"path": request.path})
    return problem_response(Problem(500, "internal_error", "an unexpected error occurred; it has been logged"))
