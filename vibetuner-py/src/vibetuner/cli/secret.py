"""`vibetuner secret generate`: a random key strong enough for SECRET_KEY in production."""

from __future__ import annotations

import secrets
import string
from typing import Annotated

import typer

from vibetuner.config import MIN_SECRET_LENGTH, secret_problem
from vibetuner.exceptions import InvalidInput

app = typer.Typer(
    help="""Generate secrets.

Examples:
  vibetuner secret generate
""",
    no_args_is_help=True,
)

ALPHABET = string.ascii_letters + string.digits + "-_"
MAX_LENGTH = 1024


def generate_secret(length: int = 48) -> str:
    """`length` URL-safe characters, 6 random bits each (48 give 288 bits)."""
    if not MIN_SECRET_LENGTH <= length <= MAX_LENGTH:
        raise InvalidInput(
            f"--length {length} is out of range; SECRET_KEY needs {MIN_SECRET_LENGTH} to "
            f"{MAX_LENGTH} characters.",
            fix=f"Use --length {MIN_SECRET_LENGTH} or more (the default, 48, is plenty).",
        )
    while True:
        key = "".join(secrets.choice(ALPHABET) for _ in range(length))
        if secret_problem(key) is None:
            return key  # what the production check asks of a key (nearly always the first)


@app.command()
def generate(
    length: Annotated[int, typer.Option(help="Characters in the key.")] = 48,
    env: Annotated[bool, typer.Option("--env", help="Print it as a SECRET_KEY= line.")] = False,
) -> None:
    """Print a new random key, usable as SECRET_KEY.

    Examples:
      vibetuner secret generate
      vibetuner secret generate --env >> .env
      vibetuner secret generate --length 64
    """
    key = generate_secret(length)
    typer.echo(f"SECRET_KEY={key}" if env else key)
