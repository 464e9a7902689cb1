"""Request-wide middleware: the request id on every answer and log line, and API errors that Django itself would
answer otherwise (under /api/, every answer is a problem+json)."""

from django.conf import settings
from django.core.signals import request_finished
from django.http import JsonResponse

from apps.common.problems import Problem
from apps.common.request_id import HEADER, accepted_or_new, set_request_id

API_PREFIX = "/api/"


class RequestId:
    """First in MIDDLEWARE, so every answer carries `X-Request-ID` (the caller's if acceptable, else a new one),
    errors and redirects made by later middleware included, and so does every log line written for the request.

    The id stays bound until the response is closed (`request_finished`), not just until this returns: Django logs
    a 4xx/5xx answer after the middleware chain has run."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = accepted_or_new(request.headers.get(HEADER))
        set_request_id(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


def _forget_request_id(**kwargs) -> None:
    set_request_id(None)  # a thread serving requests one after another logs nothing in between under an old id


request_finished.connect(_forget_request_id, dispatch_uid="ticketflow.forget_request_id")


def problem_response(problem: Problem) -> JsonResponse:
    return JsonResponse(problem.body(), status=problem.status, content_type="application/problem+json")


class HttpsRequiredProblem:
    """With TLS required (SECURE_SSL_REDIRECT), an API call over plain HTTP is a 403 `https_required`, never a
    redirect: a client that follows a 301 resends a POST without its body, or as a GET, and its token has already
    crossed the wire in clear. Pages are left to SecurityMiddleware's redirect (settings exempt /api/ from it).
    `request.is_secure()` honours SECURE_PROXY_SSL_HEADER, the X-Forwarded-Proto of a TLS-terminating proxy."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.SECURE_SSL_REDIRECT and request.path.startswith(API_PREFIX) and not request.is_secure():
            detail = "the API is served over https only: send the request again with https:// (nothing was done)"
            return problem_response(Problem(403, "https_required", detail))
        return self.get_response(request)


class MethodNotAllowedProblem:
    """Under /api/, a method a path does not have is a 405 problem, like every other API error (ninja answers
    text)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code != 405 or not request.path.startswith(API_PREFIX):
            return response
        if response.get("Content-Type", "").startswith("application/problem+json"):
            return response
        allowed = response.get("Allow", "")
        problem = Problem(405, "method_not_allowed", f"{request.method} is not allowed here; allowed: {allowed}")
        replacement = problem_response(problem)
        replacement["Allow"] = allowed
        return replacement
