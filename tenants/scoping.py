"""Structural tenant isolation for the ORM and for PostgreSQL sessions.

Layer 2: every ORM statement that touches a ``TenantScoped`` model is filtered
to the current clinic, and refused when no clinic is in scope. New rows get the
current clinic's id and may not be written into another clinic.
Layer 3 (PostgreSQL): each transaction carries ``app.tenant_id`` /
``app.platform`` settings that the row-level-security policies check.
"""
from __future__ import annotations

from flask import has_app_context
from sqlalchemy import event, text
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql.util import find_tables

from app.extensions import db
from app.models.base import TenantScoped
from tenants.context import NoTenantError, current_scope

_installed = False


def install() -> None:
    """Attach the scoping hooks to the session class (idempotent)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "do_orm_execute", _scope_orm_statement)
    event.listen(Session, "before_flush", _stamp_new_rows)
    event.listen(Session, "after_begin", _set_rls_settings)
    _installed = True


_tables_cache: tuple[int, frozenset] = (-1, frozenset())


def _tenant_tables() -> frozenset:
    global _tables_cache
    mappers = db.Model.registry.mappers
    if _tables_cache[0] != len(mappers):
        tables = frozenset(m.local_table for m in mappers if issubclass(m.class_, TenantScoped))
        _tables_cache = (len(mappers), tables)
    return _tables_cache[1]


def _touches_tenant_data(state: ORMExecuteState) -> bool:
    if any(issubclass(m.class_, TenantScoped) for m in state.all_mappers):
        return True
    # count(*) over select_from(Model), joins and subqueries name no mapper: look at the tables.
    tables = find_tables(state.statement, include_joins=True, include_aliases=True, include_crud=True)
    return bool(_tenant_tables().intersection(tables))


def _scope_orm_statement(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    scope = current_scope()
    if scope.platform:
        return
    if scope.tenant_id is None:
        if _touches_tenant_data(state):
            raise NoTenantError("tenant-owned data queried with no clinic in scope")
        return
    tenant_id = scope.tenant_id
    mapper = state.bind_mapper
    if state.is_executemany and (state.is_update or state.is_delete) and mapper is not None \
            and issubclass(mapper.class_, TenantScoped):
        # Bulk UPDATE/DELETE by primary key ignores loader criteria: the clinic goes into its WHERE
        # clause itself (which SQLAlchemy accepts only without synchronising loaded objects).
        state.statement = state.statement.where(mapper.class_.tenant_id == tenant_id)
        state.update_execution_options(synchronize_session=None)
        return
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantScoped,
            lambda cls: cls.tenant_id == tenant_id,
            include_aliases=True,
        )
    )


def _stamp_new_rows(session: Session, flush_context, instances) -> None:
    scope = current_scope()
    for obj in session.new:
        if not isinstance(obj, TenantScoped):
            continue
        if obj.tenant_id is None:
            if scope.tenant_id is None:
                raise NoTenantError(f"new {type(obj).__name__} with no clinic in scope")
            obj.tenant_id = scope.tenant_id
        elif not scope.platform and scope.tenant_id is not None and obj.tenant_id != scope.tenant_id:
            raise NoTenantError(f"{type(obj).__name__} written into another clinic")
    if scope.platform:
        return
    for obj in session.dirty:
        if isinstance(obj, TenantScoped) and scope.tenant_id is not None and obj.tenant_id != scope.tenant_id:
            raise NoTenantError(f"{type(obj).__name__} of another clinic modified")


def _is_postgres(connection) -> bool:
    return connection.dialect.name == "postgresql"


def _set_rls_settings(session: Session, transaction, connection) -> None:
    if _is_postgres(connection):
        _write_settings(connection)


def _write_settings(connection) -> None:
    scope = current_scope()
    connection.execute(
        text("SELECT set_config('app.tenant_id', :tenant, true), set_config('app.platform', :platform, true)"),
        {"tenant": "" if scope.tenant_id is None else str(scope.tenant_id), "platform": "on" if scope.platform else "off"},
    )


def apply_scope_to_open_transaction() -> None:
    """Re-write the RLS settings into the session's open transaction, if any."""
    if not has_app_context():
        return
    session = db.session()
    if not session.in_transaction():
        return
    connection = session.connection()
    if _is_postgres(connection):
        _write_settings(connection)
