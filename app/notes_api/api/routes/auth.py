from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from notes_api.api import API_PREFIX
from notes_api.api.deps import PrincipalDep, ServicesDep, client_ip, raise_if_limited
from notes_api.core.errors import error_responses
from notes_api.models import LoginRequest, RefreshRequest, RegisterRequest, TokenPair, UserOut

router = APIRouter(prefix=API_PREFIX, tags=["accounts"])

_BODY_ERRORS = (413, 422, 429, 500, 503)


async def _auth_limit(
    services: ServicesDep, request: Request, response: Response, action: str, account: str
) -> None:
    # One budget per action, so registering does not eat into the first logins.
    scope = f"auth-{action}"
    decision = await services.limiter.hit(
        scope,
        services.limiter.auth_item,
        client_ip(request, services.settings.client_ip_header),
        account,
        detailed=True,
    )
    raise_if_limited(decision, scope)
    response.headers.update(decision.headers())


@router.post(
    "/auth/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=error_responses(409, *_BODY_ERRORS),
    summary="Create an account",
)
async def register(
    body: RegisterRequest, services: ServicesDep, request: Request, response: Response
) -> UserOut:
    await _auth_limit(services, request, response, "register", body.email.lower())
    return await services.accounts.register(body.email, body.password)


@router.post(
    "/auth/login",
    response_model=TokenPair,
    responses=error_responses(401, *_BODY_ERRORS),
    summary="Exchange email and password for an access and a refresh token",
)
async def login(body: LoginRequest, services: ServicesDep, request: Request, response: Response) -> TokenPair:
    await _auth_limit(services, request, response, "login", body.email.lower())
    return await services.accounts.login(body.email, body.password)


@router.post(
    "/auth/refresh",
    response_model=TokenPair,
    responses=error_responses(401, *_BODY_ERRORS),
    summary="Spend a refresh token for a new pair (reuse of a spent token ends the session)",
)
async def refresh(
    body: RefreshRequest, services: ServicesDep, request: Request, response: Response
) -> TokenPair:
    await _auth_limit(services, request, response, "refresh", "-")
    return await services.accounts.refresh(body.refresh_token)


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 429, 500, 503),
    summary="End this session",
)
async def logout(principal: PrincipalDep, services: ServicesDep) -> Response:
    await services.accounts.logout(principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/me",
    response_model=UserOut,
    responses=error_responses(401, 429, 500, 503),
    summary="The authenticated account",
)
async def me(principal: PrincipalDep, services: ServicesDep) -> UserOut:
    return await services.accounts.get_user(principal.user_id)
