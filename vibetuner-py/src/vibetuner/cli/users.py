"""`vibetuner users create|list|deactivate|activate|roles`: manage accounts from a terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from vibetuner.cli._database import run_with_app_database
from vibetuner.cli._progress import printable

if TYPE_CHECKING:
    from vibetuner.data.models.user import User

app = typer.Typer(
    help="""Manage user accounts in the app's database.

Examples:
  vibetuner users create ada@example.com --role admin
  vibetuner users list
""",
    no_args_is_help=True,
)

Email = Annotated[str, typer.Argument(help="The user's email address.", show_default=False)]


def _line(user: User) -> str:
    state = "active" if user.is_active else "inactive"
    roles = ",".join(user.roles) or "-"
    return printable(f"{user.email}  {state}  roles={roles}  {user.name}".rstrip())


def _ended(count: int) -> str:
    return f"; ended {count} session{'s' if count != 1 else ''}"


@app.command()
def create(
    email: Email,
    role: Annotated[
        list[str] | None, typer.Option("--role", help="A role to grant; repeatable.")
    ] = None,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
) -> None:
    """Create an active user; they sign in with a magic link or OAuth.

    Examples:
      vibetuner users create ada@example.com
      vibetuner users create ada@example.com --role admin --name 'Ada Lovelace'
    """
    from vibetuner.services.users import (  # beanie: kept off the CLI's startup
        create_user,
        valid_email,
        valid_role,
    )

    valid_email(email)  # bad input fails before any database is opened
    for each in role or []:
        valid_role(each)

    async def work() -> User:
        return await create_user(email, name=name, roles=role or [])

    typer.echo(f"Created {_line(run_with_app_database(work))}")


@app.command("list")
def list_command(
    role: Annotated[str | None, typer.Option(help="Only users with this role.")] = None,
    active: Annotated[bool, typer.Option("--active", help="Only active users.")] = False,
) -> None:
    """List users by email, with their state and roles.

    Examples:
      vibetuner users list
      vibetuner users list --role admin --active
    """
    from vibetuner.services.users import (  # beanie: kept off the CLI's startup
        list_users,
        valid_role,
    )

    if role is not None:
        valid_role(role)

    async def work() -> list[User]:
        return await list_users(role=role, active_only=active)

    users = run_with_app_database(work)
    for user in users:
        typer.echo(_line(user))
    typer.echo(f"{len(users)} user{'s' if len(users) != 1 else ''}.")


def _set_active(email: str, active: bool) -> None:
    from vibetuner.services.users import (  # beanie: kept off the CLI's startup
        set_active,
        valid_email,
    )

    valid_email(email)

    async def work() -> tuple[User, int]:
        return await set_active(email, active)

    user, ended = run_with_app_database(work)
    typer.echo(
        f"Activated {user.email}." if active else f"Deactivated {user.email}{_ended(ended)}."
    )


@app.command()
def deactivate(email: Email) -> None:
    """Block sign-in for a user and end all their sessions.

    Examples:
      vibetuner users deactivate ada@example.com
    """
    _set_active(email, False)


@app.command()
def activate(email: Email) -> None:
    """Let a deactivated user sign in again.

    Examples:
      vibetuner users activate ada@example.com
    """
    _set_active(email, True)


@app.command()
def roles(
    email: Email,
    add: Annotated[
        list[str] | None, typer.Option("--add", help="Grant a role; repeatable.")
    ] = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", help="Revoke a role; repeatable.")
    ] = None,
) -> None:
    """Show or change a user's roles; a change ends their sessions so new ones take effect.

    Examples:
      vibetuner users roles ada@example.com
      vibetuner users roles ada@example.com --add admin --remove editor
    """
    from vibetuner.services.users import (  # beanie: kept off the CLI's startup
        change_roles,
        valid_email,
        valid_role,
    )

    valid_email(email)
    for each in [*(add or []), *(remove or [])]:
        valid_role(each)

    async def work() -> tuple[User, int]:
        return await change_roles(email, add=add or [], remove=remove or [])

    user, ended = run_with_app_database(work)
    changed = _ended(ended) if (add or remove) else ""
    typer.echo(f"{user.email}: roles={','.join(user.roles) or '-'}{changed}")
