"""Who the current clinic is: the one place that decides.

A request enters a clinic's scope when the workspace URL prefix or a public
collection point is resolved; a job enters it explicitly with
``tenant_scope(tenant_id)``. Platform code that must see every clinic (the
operators' console, fan-out dispatchers) says so with ``platform_scope()``.
"""
from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator


class NoTenantError(RuntimeError):
    """Tenant-owned data was queried with no clinic in scope."""


@dataclass(frozen=True)
class Scope:
    tenant_id: int | None = None
    platform: bool = False


_scope: ContextVar[Scope] = ContextVar("vernost_scope", default=Scope())


def current_scope() -> Scope:
    """The scope in force for this request or job."""
    return _scope.get()


def current_tenant_id() -> int | None:
    """The current clinic's id, or None outside any clinic."""
    return _scope.get().tenant_id


def require_tenant_id() -> int:
    """The current clinic's id; raises NoTenantError when there is none."""
    tenant_id = _scope.get().tenant_id
    if tenant_id is None:
        raise NoTenantError("no clinic is in scope")
    return tenant_id


def set_scope(scope: Scope):
    """Enter a scope without a with-block (request hooks); returns a reset token."""
    token = _scope.set(scope)
    _apply_to_open_transaction()
    return token


def reset_scope(token) -> None:
    """Leave a scope entered with set_scope."""
    _scope.reset(token)


@contextlib.contextmanager
def tenant_scope(tenant_id: int) -> Iterator[None]:
    """Run a block as the given clinic: ORM scoping and row-level security follow."""
    token = set_scope(Scope(tenant_id=int(tenant_id)))
    try:
        yield
    finally:
        _scope.reset(token)
        _apply_to_open_transaction()


@contextlib.contextmanager
def platform_scope() -> Iterator[None]:
    """Run a block across all clinics (operators' console, dispatchers)."""
    token = set_scope(Scope(platform=True))
    try:
        yield
    finally:
        _scope.reset(token)
        _apply_to_open_transaction()


def _apply_to_open_transaction() -> None:
    # A transaction already open keeps its old row-level-security settings unless
    # told; new transactions pick the scope up in the session's after_begin hook.
    from tenants.scoping import apply_scope_to_open_transaction

    apply_scope_to_open_transaction()
