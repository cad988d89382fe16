"""Request dependencies: the application's services and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from api.services import Services
from engine.users import UserRecord, authenticate


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]


def current_user(request: Request, svc: ServicesDep) -> UserRecord:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise HTTPException(401, "send an API key as `Authorization: Bearer <key>`")
    user = authenticate(svc.db, key.strip())
    if user is None:
        raise HTTPException(401, "the API key is unknown or revoked")
    return user


CurrentUser = Annotated[UserRecord, Depends(current_user)]
