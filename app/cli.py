"""Maintenance commands: the demo clinic and the database's application role."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import create_engine, select

from app.demo import seed_demo_content
from app.extensions import db
from app.models import Operator, Tenant, User
from app.security import hash_password
from tenants.context import platform_scope, tenant_scope

demo_cli = AppGroup("demo", help="The demo clinic for trying Vernost locally.")
db_roles_cli = AppGroup("db-roles", help="PostgreSQL roles (run as the schema owner).")

DEMO_SLUG = "demo"
DEMO_OPERATOR = ("operator@vernost.local", "operator-demo-pass")
DEMO_MANAGER = ("manager@demo-clinic.local", "manager-demo-pass")

def seed_demo() -> dict:
    """Create the demo clinic, an operator and a manager (idempotent); returns their logins."""
    from app.accounts import accept_invitation
    from tenants.onboarding import onboard_clinic

    with platform_scope():
        if db.session.scalar(select(Operator).where(Operator.email == DEMO_OPERATOR[0])) is None:
            db.session.add(Operator(email=DEMO_OPERATOR[0], full_name="Demo operator",
                                    password_hash=hash_password(DEMO_OPERATOR[1])))
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == DEMO_SLUG))
        created = tenant is None
        if created:
            result = onboard_clinic(slug=DEMO_SLUG, name="Клиника «Демо»", legal_name="ООО «Демо-Клиника»",
                                    owner_email=DEMO_MANAGER[0], plan="network", timezone="Europe/Moscow",
                                    language="ru", actor="demo")
            tenant = db.session.get(Tenant, result.tenant_id)
            with tenant_scope(tenant.id):
                owner = accept_invitation(result.invitation_token, full_name="Анна Петрова",
                                          password=DEMO_MANAGER[1])
                seed_demo_content(tenant, owner.user_id)
        db.session.commit()
    base = current_app.config["BASE_URL"]
    return {
        "created": created,
        "workspace": f"{base}/c/{DEMO_SLUG}/",
        "platform": f"{base}/platform/",
        "operator": DEMO_OPERATOR,
        "manager": DEMO_MANAGER,
    }


@demo_cli.command("seed")
def seed_command():
    """Create the demo clinic and print the logins."""
    info = seed_demo()
    click.echo(f"Workspace: {info['workspace']}  manager {info['manager'][0]} / {info['manager'][1]}")
    click.echo(f"Platform:  {info['platform']}  operator {info['operator'][0]} / {info['operator'][1]}")


@db_roles_cli.command("grant")
@click.argument("role")
@click.option("--password", envvar="APP_DB_PASSWORD", default=None, help="Set the role's password.")
def grant_command(role, password):
    """Create the app's login role if needed and grant it data access (no ownership)."""
    from tenants.rls import grant_app_role

    engine = create_engine(current_app.config["MIGRATION_DATABASE_URL"])
    if engine.dialect.name != "postgresql":
        raise click.ClickException("roles exist only on PostgreSQL")
    with engine.begin() as connection:
        grant_app_role(connection, role, password)
    engine.dispose()
    click.echo(f"role {role}: data access granted")


def user_by_email(email: str) -> User | None:
    """A staff account by e-mail (used by scripts and tests)."""
    return db.session.scalar(select(User).where(User.email == email.lower()))
