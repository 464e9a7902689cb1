"""API errors that Django itself would answer otherwise: under /api/, every answer is a problem+json."""

from django.conf import settings
from django.http import JsonResponse

from apps.common.problems import Problem

API_PREFIX = "/api/"


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
