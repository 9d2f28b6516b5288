"""The model registry: every trained model kept as a numbered version with what made it.

``<models>/<name>/<version>/`` holds the model's own ``params.json`` + ``arrays.npz`` and a
``meta.json`` (name, version, time, parameters, the store snapshot it was trained on, metrics).
``<models>/<name>/LATEST`` names the version in use; it is replaced atomically, so a reader
(the server, a playlist job) sees the old or the new model, never half of one. Rolling back is
pointing ``LATEST`` at an older version.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol


class Saveable(Protocol):
    """Anything with ``save(folder)``."""

    def save(self, path: Path) -> None: ...


def _versions(root: Path, name: str) -> list[str]:
    folder = root / name
    return sorted(p.name for p in folder.glob("v*") if (p / "meta.json").exists()) if folder.is_dir() else []


def _point(root: Path, name: str, version: str) -> None:
    tmp = root / name / f".LATEST.{uuid.uuid4().hex}"
    tmp.write_text(version)
    os.replace(tmp, root / name / "LATEST")


def register(root: Path, name: str, model: Saveable, data: dict[str, Any],
             metrics: dict[str, Any] | None = None) -> str:
    """Save ``model`` as the next version of ``name``, make it the latest, and return the version."""
    existing = _versions(root, name)
    version = f"v{int(existing[-1][1:]) + 1 if existing else 1:04d}"
    folder = root / name / version
    model.save(folder)
    params = json.loads((folder / "params.json").read_text())
    meta = {"name": name, "version": version, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "params": params, "data": data, "metrics": metrics or {}}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))
    _point(root, name, version)
    return version


def resolve(root: Path, name: str, version: str | None = None) -> Path:
    """The folder of ``version`` of ``name`` (default: the latest); ValueError says what exists."""
    versions = _versions(root, name)
    if not versions:
        raise ValueError(f"no trained {name!r} model: run `tastemaker train {name}` first")
    chosen = version or (root / name / "LATEST").read_text().strip()
    if chosen not in versions:
        raise ValueError(f"{name!r} has no version {chosen!r}; versions: {', '.join(versions)}")
    return root / name / chosen


def rollback(root: Path, name: str, version: str) -> None:
    """Make an older ``version`` of ``name`` the latest again."""
    _point(root, name, resolve(root, name, version).name)


def describe(root: Path, name: str, version: str | None = None) -> dict[str, Any]:
    """The ``meta.json`` of a version, plus whether it is the latest."""
    folder = resolve(root, name, version)
    meta: dict[str, Any] = json.loads((folder / "meta.json").read_text())
    meta["latest"] = (root / name / "LATEST").read_text().strip() == folder.name
    return meta


def catalogue(root: Path) -> list[dict[str, Any]]:
    """Every version of every model, oldest first."""
    if not root.is_dir():
        return []
    return [describe(root, p.name, v) for p in sorted(root.iterdir()) if p.is_dir() for v in _versions(root, p.name)]


#: the model a surface uses when none is named: the pipeline once trained, else these in order
DEFAULT_ORDER = ("pipeline", "als", "popularity")


def default_model(root: Path, order: tuple[str, ...] = DEFAULT_ORDER) -> str:
    """The first of ``order`` trained in the registry ``root`` (the last when none is)."""
    return next((n for n in order if (root / n / "LATEST").exists()), order[-1])
