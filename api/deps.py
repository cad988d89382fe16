"""Request dependencies: the application's services and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.services import Services
from engine.users import UserRecord, authenticate


async def services(request: Request) -> Services:
    """`async` on purpose: a sync dependency costs a thread-pool hop per request, and this one does no I/O."""
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]


#: Declares the Bearer scheme in the OpenAPI schema; the key is checked below (401 problems, not FastAPI's 403).
_bearer = HTTPBearer(auto_error=False, description="An API key from `posc users add` or `posc serve --demo`.")


def current_user(
    svc: ServicesDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> UserRecord:
    if credentials is None or not credentials.credentials.strip():
        raise HTTPException(401, "send an API key as `Authorization: Bearer <key>`")
    user = authenticate(svc.db, credentials.credentials.strip())
    if user is None:
        raise HTTPException(401, "the API key is unknown or revoked")
    return user


CurrentUser = Annotated[UserRecord, Depends(current_user)]
