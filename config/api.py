"""The NinjaAPI instance: routers, bearer auth, and problem+json for every error."""

import logging
from datetime import datetime

from django.db import DatabaseError, DataError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder

from apps.commands.api import router as commands_router
from apps.common.api import BearerToken
from apps.common.errors import DomainError
from apps.common.problems import Problem
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


api = NinjaAPI(
    title="ticketflow",
    version="1",
    description="Repair-shop workflow: submit commands, read tickets, sessions, XP, inventory and rules.",
    auth=BearerToken(),
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
    renderer=JsonRenderer(),
)
api.add_router("/commands", commands_router)
api.add_router("/tickets", tickets_router)
api.add_router("/technicians", technicians_router)
api.add_router("/technicians", xp_router)
api.add_router("/inventory-items", inventory_router)
api.add_router("/rules", rules_router)


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
    code = {400: "malformed_json", 413: "payload_too_large", 415: "unsupported_media_type"}.get(
        exc.status_code, "error"
    )
    return problem_response(Problem(exc.status_code, code, str(exc)))


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
