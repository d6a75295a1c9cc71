"""Liveness: no authentication, and nothing about the vault's contents or configuration."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness probe (reveals nothing)")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
