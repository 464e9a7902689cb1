"""Under /api/, a method a path does not have is a 405 problem, like every other API error (ninja answers text)."""

from django.http import JsonResponse

from apps.common.problems import Problem


class MethodNotAllowedProblem:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code != 405 or not request.path.startswith("/api/"):
            return response
        if response.get("Content-Type", "").startswith("application/problem+json"):
            return response
        allowed = response.get("Allow", "")
        problem = Problem(405, "method_not_allowed", f"{request.method} is not allowed here; allowed: {allowed}")
        replacement = JsonResponse(problem.body(), status=405, content_type="application/problem+json")
        replacement["Allow"] = allowed
        return replacement
