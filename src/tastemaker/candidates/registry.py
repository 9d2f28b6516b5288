"""The model registry: every trained model kept as a numbered version with what made it.

``<models>/<name>/<version>/`` holds the model's own ``params.json`` + ``arrays.npz`` and a
``meta.json`` (name, version, time, parameters, the store snapshot it was trained on, metrics).
``<models>/<name>/LATEST`` names the version in use; it is replaced atomically, so a reader
(the server, a playlist job) sees the old or the new model, never half of one. Rolling back is
pointing ``LATEST`` at an older version.

Forgetting a listener reaches the registry too. A version trained while they were stored holds
their id and what was learnt of them (a row of user factors, of the interaction matrix). Such a
version is deleted (:func:`prune`) as soon as it is not the one in use: at once by ``tastemaker
forget`` and ``DELETE /v1/users/{id}``, and, for the version in use, when the next version of its
model is registered (the retrain no longer sees them). Until then the server does not personalise
from it for them (the store's tombstone is newer than the version). Rolling back can therefore only
reach versions that never held a forgotten listener.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl


class Saveable(Protocol):
    """Anything with ``save(folder)``."""

    def save(self, path: Path) -> None: ...


def _versions(root: Path, name: str) -> list[str]:
    folder = root / name
    return sorted(p.name for p in folder.glob("v*") if (p / "meta.json").exists()) if folder.is_dir() else []


def _code() -> str:
    """The code that trained a version, kept in its ``meta.json``: the package version and, in a git checkout, its
    commit (a tree with local changes in ``src/`` marked ``+dirty``)."""
    import subprocess

    import tastemaker

    package = Path(tastemaker.__file__).resolve().parent
    here = package.parents[1]
    if here / "src" / "tastemaker" != package:  # installed, not run from a checkout: the version says it
        return tastemaker.__version__
    try:
        git = ["git", "-C", str(here)]
        head = subprocess.run([*git, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                              timeout=5, check=True).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no", "--", "src"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return tastemaker.__version__
    return f"{tastemaker.__version__}+{head}" + ("+dirty" if dirty else "")


def _point(root: Path, name: str, version: str) -> None:
    tmp = root / name / f".LATEST.{uuid.uuid4().hex}"
    tmp.write_text(version)
    os.replace(tmp, root / name / "LATEST")


def register(root: Path, name: str, model: Saveable, data: dict[str, Any],
             metrics: dict[str, Any] | None = None, *, promote: bool = True) -> str:
    """Save ``model`` as the next version of ``name``, make it the latest (unless not ``promote``: a candidate
    a gate judges first, :func:`promote` makes it live), and return the version."""
    existing = _versions(root, name)
    version = f"v{int(existing[-1][1:]) + 1 if existing else 1:04d}"
    folder = root / name / version
    model.save(folder)
    params = json.loads((folder / "params.json").read_text())
    meta = {"name": name, "version": version, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "code": _code(), "params": params, "data": data, "metrics": metrics or {}}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))
    _private(folder)
    if not promote:
        return version
    _point(root, name, version)
    store = data.get("store")
    if isinstance(store, str):  # the version it replaces may hold listeners forgotten since: delete it
        from tastemaker.store.lake import forgotten_hashes

        prune(root, hashes=forgotten_hashes(store))
    return version


@dataclass(frozen=True, slots=True)
class Pruned:
    """What :func:`prune` did: the versions deleted, and the versions in use that still hold a forgotten
    listener (deleted when their model's next version is registered), each as ``name/version``."""

    removed: list[str]
    live: list[str]


def prune(root: Path, ids: Iterable[str] = (), hashes: Iterable[str] = ()) -> Pruned:
    """Delete every version not in use that holds one of ``ids`` (listener ids) or of ``hashes`` (their
    tombstone hashes, :func:`tastemaker.store.lake.user_hash`); list the versions in use that do."""
    ids, hashes = frozenset(ids), frozenset(hashes)
    removed: list[str] = []
    live: list[str] = []
    if not (ids or hashes) or not root.is_dir():
        return Pruned(removed, live)
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        latest = folder / "LATEST"
        in_use = latest.read_text().strip() if latest.exists() else None
        for version in _versions(root, folder.name):
            if not holds(folder / version, ids, hashes):
                continue
            if version == in_use:
                live.append(f"{folder.name}/{version}")
            else:
                shutil.rmtree(folder / version)
                removed.append(f"{folder.name}/{version}")
    return Pruned(removed, live)


def holds(folder: Path, ids: frozenset[str] = frozenset(), hashes: frozenset[str] = frozenset()) -> bool:
    """Whether any file of a version ``folder`` names one of ``ids`` or an id whose hash is in ``hashes``:
    the string arrays of ``.npz``/``.npy`` files, the strings of JSON and text files, the text columns of
    Parquet files, and raw bytes otherwise (ids only)."""
    from tastemaker.store.lake import user_hash

    def named(values: Iterable[object]) -> bool:
        strings = {v for v in values if isinstance(v, str)}
        return bool(strings & ids) or (bool(hashes) and any(user_hash(v) in hashes for v in strings))

    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        suffix = path.suffix.lower()
        if suffix in (".npz", ".npy"):
            if any(named(np.unique(a).astype(str).tolist()) for a in _string_arrays(path)):
                return True
        elif suffix == ".parquet":
            frame = pl.read_parquet(path)
            if any(named(frame[c].drop_nulls().unique().to_list()) for c in frame.columns
                   if frame[c].dtype == pl.String):
                return True
        elif suffix in (".json", ".jsonl", ".txt", ".csv", ".tsv"):
            text = path.read_text(errors="replace")
            if any(i in text or json.dumps(i)[1:-1] in text for i in ids):
                return True
            if hashes and named(_strings(text)):
                return True
        elif ids:
            data = path.read_bytes()
            if any(i.encode() in data for i in ids):
                return True
    return False


def _string_arrays(path: Path) -> Iterable[np.ndarray]:
    """The text arrays of a ``.npy`` or ``.npz`` file, read one at a time (number arrays are not read)."""
    if path.suffix.lower() == ".npy":
        array = np.load(path, allow_pickle=False, mmap_mode="r")
        if array.dtype.kind in "US":
            yield np.asarray(array)
        return
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            with archive.open(member) as fh:
                version = np.lib.format.read_magic(fh)
                header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                          else np.lib.format.read_array_header_2_0)(fh)
                if np.dtype(header[2]).kind in "US":
                    with archive.open(member) as again:
                        yield np.lib.format.read_array(again, allow_pickle=False)


def _strings(text: str) -> list[str]:
    """Every string of a JSON or JSON-lines text (its words when it is neither)."""
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                found.append(str(k))
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for chunk in ([text] if not text.lstrip().startswith("{") or "\n{" not in text else text.splitlines()):
        try:
            walk(json.loads(chunk))
        except ValueError:
            found.extend(chunk.split())
    return found


def _private(folder: Path) -> None:
    """A version learnt from listeners' data: readable by its owner only (folders 0700, files 0600)."""
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
    os.chmod(folder.parent, 0o700)


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


def promote(root: Path, name: str, version: str) -> None:
    """Make ``version`` of ``name`` the one in use (a candidate registered with ``promote=False``)."""
    _point(root, name, resolve(root, name, version).name)


def live(root: Path, name: str) -> str | None:
    """The version of ``name`` in use, None when it has none."""
    path = root / name / "LATEST"
    return path.read_text().strip() if path.exists() else None


def annotate(root: Path, name: str, version: str, **fields: Any) -> None:
    """Add ``fields`` to a version's ``meta.json`` (a gate's verdict, a rollback's reason), replaced atomically."""
    folder = resolve(root, name, version)
    meta = json.loads((folder / "meta.json").read_text())
    meta.update(fields)
    tmp = folder / f".meta.{uuid.uuid4().hex}"
    tmp.write_text(json.dumps(meta, indent=1, default=str))
    os.replace(tmp, folder / "meta.json")


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
