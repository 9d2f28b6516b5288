"""``tastemaker forget USER``, ``tastemaker unforget USER`` and ``tastemaker models prune``: a listener's
right to be forgotten, on the command line (``docs/store.md``, *Forgetting*)."""

from __future__ import annotations

from typing import Annotated

import typer

from tastemaker.cli.invocation import fail, out, print_json, settings


def register(app: typer.Typer, models_app: typer.Typer) -> None:
    """Add ``forget`` and ``unforget`` to ``app`` and ``prune`` to the ``models`` group."""
    app.command("forget")(forget)
    app.command("unforget")(unforget)
    models_app.command("prune")(models_prune)


def forget(
    user: Annotated[str, typer.Argument(help="The listener's id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Forget USER everywhere the workspace keeps them: their events, profile, friendships and quarantined
    records, their playlists, and every model version that learnt from them and is not in use (the one in
    use goes with the next `tastemaker train` of its model). From now on anything naming them is refused
    (counted as "forgotten" by import and the HTTP API) until `tastemaker unforget USER`."""
    from tastemaker.engine.erase import erase
    from tastemaker.store import open_store

    s = settings()
    try:
        erased = erase(open_store(s.store), s.workspace, s.models_dir, user)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(erased.as_dict())
        return
    rows = sum(erased.rows.values())
    out.print(f"forgot {user}: {rows:,} stored rows ({', '.join(f'{n:,} {t}' for t, n in erased.rows.items())}), "
              f"{erased.quarantined:,} quarantined records, {erased.playlist_rows:,} playlist rows, "
              f"{len(erased.models.removed)} model versions deleted")
    if erased.models.live:
        out.print(f"[yellow]still in use and holding them:[/] {', '.join(erased.models.live)}: nothing is "
                  "personalised for them from these, and each is deleted when its model is trained again "
                  "(`tastemaker train ...`)")
    out.print(f"anything naming {user} is refused from now on; `tastemaker unforget {user}` lifts that")


def unforget(user: Annotated[str, typer.Argument(help="The listener's id.")]) -> None:
    """Accept USER's events again after `tastemaker forget` (a listener who came back and asked for it).
    Nothing forgotten comes back."""
    from tastemaker.store import open_store

    lifted = open_store(settings().store).unforget(user)
    out.print(f"{user}'s events are accepted again" if lifted else f"{user} is not forgotten: nothing to lift")


def models_prune(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Delete every model version not in use that holds a forgotten listener; list those in use that do."""
    from tastemaker.candidates.registry import prune
    from tastemaker.store.lake import forgotten_hashes

    s = settings()
    pruned = prune(s.models_dir, hashes=forgotten_hashes(str(s.store)))
    if as_json:
        print_json({"removed": pruned.removed, "in_use": pruned.live})
        return
    out.print(f"deleted {len(pruned.removed)} model versions holding forgotten listeners"
              + (f": {', '.join(pruned.removed)}" if pruned.removed else ""))
    if pruned.live:
        out.print(f"in use and holding one: {', '.join(pruned.live)} (deleted when their model is trained again)")
