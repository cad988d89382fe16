"""Request dependencies: the application's services and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.services import Services
from engine import UserRecord, authenticate


async def services(request: Request) -> Services:
    """`async` on purpose: a sync dependency costs a thread-pool hop per request, and this one does no I/O."""
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]


#: Declares the Bearer scheme in the OpenAPI schema; the key is checked below (401 problems, not FastAPI's 403).
_bearer = HTTPBearer(auto_error=False, description="An API key from `posc users add` or `posc serve --demo`.")


async def api_key(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """The key as sent (checked by `user_of`). `async` and free of I/O, so that a sync endpoint can check it in
    its own worker thread instead of costing the request a second thread hop."""
    if credentials is None or not credentials.credentials.strip():
        raise HTTPException(401, "send an API key as `Authorization: Bearer <key>`")
    return credentials.credentials.strip()


ApiKey = Annotated[str, Depends(api_key)]


def user_of(svc: Services, key: str) -> UserRecord:
    user = authenticate(svc.db, key)
    if user is None:
        raise HTTPException(401, "the API key is unknown or revoked")
    return user


def current_user(svc: ServicesDep, key: ApiKey) -> UserRecord:
    return user_of(svc, key)


CurrentUser = Annotated[UserRecord, Depends(current_user)]
