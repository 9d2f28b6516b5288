"""``tastemaker keys create|list|revoke``: the API keys ``tastemaker serve`` accepts (docs/serving.md)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tastemaker.cli.invocation import err, fail, out, print_json, settings

keys_app = typer.Typer(help="API keys of the HTTP server: scopes ingest, read, admin; stored hashed.",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``keys`` group (create, list, revoke) to ``app``."""
    app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    scope: Annotated[list[str], typer.Option("--scope", help="ingest, read or admin (repeatable).")],
    name: Annotated[str | None, typer.Option(help="A name to list and revoke it by (default key-<id>).")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object, the key included.")] = False,
) -> None:
    """Make a key with SCOPEs and print it: this is the only time it is shown.

    A running server accepts it from its next request on.
    """
    from tastemaker.serving.keys import create_key, keys_path

    try:
        stored, key = create_key(keys_path(settings().workspace), scope, name)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json({**stored.public(), "key": key})
        return
    print(key)  # alone on stdout, so `KEY=$(tastemaker keys create --scope read)` works
    err.print(f"key {stored.name!r} with scopes {', '.join(sorted(stored.scopes))}: copy it now, only its "
              "hash is stored; send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")


@keys_app.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False
              ) -> None:
    """The keys of this workspace: names, ids, scopes, when made (never the keys)."""
    from tastemaker.serving.keys import keys_path, read_keys

    path = keys_path(settings().workspace)
    try:
        keys = read_keys(path)
    except ValueError as exc:
        raise fail(str(exc)) from None
    rows = [k.public() for k in keys or []]
    if as_json:
        print_json({"file": str(path), "open": keys is None, "keys": rows})
        return
    if keys is None:
        err.print(f"no keys file ({path}): `tastemaker serve` answers every request without a key")
        return
    grid = Table(title=f"API keys of {settings().workspace}")
    for column in ("name", "id", "scopes", "created"):
        grid.add_column(column)
    for key in keys:
        grid.add_row(key.name, key.id, ", ".join(sorted(key.scopes)), key.created)
    out.print(grid)


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="The key's name (see `keys list`).")]) -> None:
    """Remove the key NAME; a running server refuses it from its next request on."""
    from tastemaker.serving.keys import keys_path, revoke_key

    try:
        gone = revoke_key(keys_path(settings().workspace), name)
    except ValueError as exc:
        raise fail(str(exc)) from None
    err.print(f"revoked {gone.name!r} ({gone.id})")
