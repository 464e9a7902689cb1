"""Who is calling the HTTP API: bearer-token authentication, and users addressed by id in a path."""

from ninja.security import HttpBearer

from apps.accounts.models import User, hash_token
from apps.accounts.token_cache import authenticated_user
from apps.common.problems import Problem


class BearerToken(HttpBearer):
    def authenticate(self, request, token: str):
        user = authenticated_user(token)  # remembered for API_TOKEN_CACHE_SECONDS
        if user is not None:
            request.user = user
            request.token_key = hash_token(token)[:24]  # identifies the token (rate limits) without exposing it
        return user


def user_or_404(user_id: int):
    user = User.objects.filter(pk=user_id).first() if 0 < user_id < 2**63 else None
    if user is None:
        raise Problem(404, "not_found", f"user {user_id} does not exist")
    return user
