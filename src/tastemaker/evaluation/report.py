"""The evaluation reports ``tastemaker evaluate``, ``evaluate-split`` and the Python API print or return.

:func:`temporal_report` scores catalogue models on a workspace store's last days; :func:`split_report`
fits one model on a split folder and scores it under either protocol: ``fixed`` (the folder's own
valid/test parts, weak generalisation) or ``strong`` (users held out of the train part entirely, scored
after folding in part of their history; :mod:`tastemaker.evaluation.strong`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from tastemaker.evaluation.fixed_split import FixedSplit
    from tastemaker.evaluation.metrics import ItemInfo
    from tastemaker.evaluation.strong import StrongSplit

#: what :func:`temporal_report` compares by default (EASE is left out: it refuses catalogs over ~20k tracks)
EVALUATED = ("popularity", "trending", "itemknn", "als")
PROTOCOLS = ("fixed", "strong")


#: ``tastemaker evaluate`` prints no table over fewer listeners than this (``--min-listeners``)
MIN_LISTENERS = 10


@dataclass(frozen=True)
class TemporalReport:
    """What :func:`temporal_report` measured: under which ``protocol`` (``global`` or ``per-listener``; see
    :mod:`tastemaker.evaluation.split`) and ``cut``, on how many ``listeners``, the metrics of each model in
    ``models`` (``ndcg@k_low`` / ``_high``: a bootstrap 95 % interval over listeners), and ``notes``: what
    the caller should be told (why the protocol was chosen)."""

    protocol: str
    test_days: float
    cut: str
    listeners: int
    models: dict[str, dict[str, float]]
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"notes": list(self.notes)}


def temporal_report(store: Any, test_days: float = 7.0, k: int = 10, names: tuple[str, ...] = EVALUATED, *,
                    protocol: str = "auto", min_listeners: int = MIN_LISTENERS) -> TemporalReport:
    """Metrics@k of each model in ``names``, trained on the music listened to before the cut and scored on the
    listens of music tracks each listener had not heard before it, among those the training data holds
    (nothing can recommend a track no one had played yet).

    ``protocol``: ``global`` (one cut, ``test_days`` before the store's last listen), ``per-listener``
    (each listener's own last ``test_days``), or ``auto`` (:func:`~tastemaker.evaluation.split.choose_cut`:
    per listener when most listeners have nothing in the store's last days, as with exports of people
    from different years). Raises ``ValueError`` when fewer than ``min_listeners`` listeners can be
    scored: a mean over a handful says nothing about a model.
    """
    from tastemaker.candidates.catalogue import create
    from tastemaker.candidates.data import TrainingData
    from tastemaker.evaluation.metrics import evaluate as score
    from tastemaker.evaluation.metrics import per_user
    from tastemaker.evaluation.significance import mean_interval
    from tastemaker.evaluation.split import choose_cut, temporal_split
    from tastemaker.features.kinds import music_events

    events = music_events(store)
    choice = choose_cut(events, test_days, protocol)
    split = temporal_split(events, test_days=test_days, discovery=True, per_listener=choice.protocol == "per-listener")
    test = split.test.join(split.train.select("item_id").unique(), on="item_id", how="semi")
    listeners = test["user_id"].n_unique()
    per_listener = split.protocol == "per-listener"
    cut = f"each listener's last {test_days:g} days" if per_listener else f"from {split.cutoff:%Y-%m-%d %H:%M}"
    if listeners < max(min_listeners, 1):
        raise ValueError(
            f"only {listeners} listener(s) played, {cut}, a track new to them that someone had played before "
            f"(protocol {choice.protocol}); "
            f"a table over fewer than {min_listeners} listeners says nothing about a model: import more "
            f"listeners, use more --test-days, or lower --min-listeners to see it anyway")
    users = test["user_id"].unique().to_list()
    n_items = split.train["item_id"].n_unique()
    data = TrainingData.from_store(store, until=None if per_listener else split.cutoff, cuts=split.cuts)
    results = {}
    for name in names:
        model = create(name)
        model.fit(data)
        recs = model.recommend(users, k=k, exclude=split.train.select("user_id", "item_id"))
        metrics = score(recs, test, k=k, n_items=n_items)
        each = per_user(recs, test, k)[f"ndcg@{k}"].to_numpy()
        low, high = mean_interval(each) if len(each) > 1 else (metrics[f"ndcg@{k}"],) * 2
        results[name] = {**metrics, f"ndcg@{k}_low": low, f"ndcg@{k}_high": high}
    return TemporalReport(choice.protocol, test_days, cut, listeners, results, (choice.why,) if choice.why else ())


@dataclass(frozen=True)
class HeldOut:
    """The strong protocol's options: the share of users held out of training, the share of a held-out
    user's history shown to the model, in ``random`` or ``time`` order, and the seed of both draws."""

    holdout_users: float = 0.1
    fold_in: float = 0.8
    fold_order: str = "random"
    seed: int = 0

    def cut(self, split: FixedSplit) -> StrongSplit:
        """The strong split of ``split``'s train part."""
        from tastemaker.evaluation.strong import StrongSplit

        return StrongSplit.from_pool(split.frames["train"], self.holdout_users, self.fold_in, self.fold_order,
                                     self.seed, split.name)


@dataclass(frozen=True)
class SideFiles:
    """Optional files of a split report: ``artists`` / ``tags`` (TSV ``item_id, artist`` / ``item_id, tag``)
    and ``vectors`` (.npz ``item_ids, vectors``) for diversity; ``ratings`` (TSV ``user_id, item_id, value``)
    and ``friends`` (TSV ``user_id, friend_id``) as side data the models may learn from."""

    artists: Path | None = None
    tags: Path | None = None
    vectors: Path | None = None
    ratings: Path | None = None
    friends: Path | None = None


def split_report(split_dir: Path, model: str = "pipeline", params: dict[str, Any] | None = None, *,
                 part: str = "test", familiar: bool = False, segments: bool = False, cold_items: int = 10,
                 protocol: str = "fixed", held: HeldOut | None = None, side: SideFiles | None = None
                 ) -> dict[str, Any]:
    """Fit ``model`` (a catalogue name, with ``params``) on ``split_dir``'s train part and score it with full
    ranking: ``{"split", "model", "params", "protocol", "metrics", ...}``.

    ``fixed``: on the folder's ``part`` (valid or test); ``strong``: on users held out of training
    (``held``), each scored from a share of their own history. ``familiar``: heard items are not
    excluded; ``segments``: also metrics per history length and per cold/warm item (``cold_items``).
    """
    from tastemaker.evaluation.fixed_split import FixedSplit

    params = dict(params or {})
    side = side or SideFiles()
    estimator = make_model(model, params, familiar)
    split = FixedSplit.load(split_dir)
    info = _item_info(split.items, side)
    if check_protocol(protocol) == "strong":
        if part != "test":
            raise ValueError("part belongs to the fixed protocol: the strong one draws its users from train")
        held = held or HeldOut()
        report = _strong_report(held.cut(split), model, estimator, familiar, segments, cold_items, info)
        report |= asdict(held)
    else:
        report = _fixed_report(split, estimator, part, familiar, segments, cold_items, info, _side(split, side))
    return {"split": split.name, "model": model, "params": params, **report}


def _side(split: FixedSplit, files: SideFiles) -> dict[str, pl.DataFrame]:
    """Side data for the training bundle: ratings of the split's train pairs, friendships."""
    side = {}
    if files.ratings is not None:
        given = _item_table(files.ratings, "value", ("user_id",)).with_columns(pl.col("value").cast(pl.Float64))
        train = split.frames["train"].select("user_id", "item_id")
        side["ratings"] = train.join(given, on=["user_id", "item_id"])
    if files.friends is not None:
        side["friends"] = _item_table(files.friends, "friend_id", ("user_id",), key="user_id")
    return side


def _fixed_report(split: FixedSplit, estimator: Any, part: str, familiar: bool, segments: bool,
                  cold: int, info: ItemInfo | None, side: dict[str, pl.DataFrame] | None = None) -> dict[str, Any]:
    from tastemaker.evaluation.fixed_split import (SplitModel, evaluate_item_segments, evaluate_model,
                                                   evaluate_segments, fit_recommender)
    from tastemaker.ranking.pipeline import Pipeline

    fitted = fit_recommender(estimator, split, **(side or {}))
    scored = SplitModel(fitted, split, part, familiar)
    report: dict[str, Any] = {"protocol": "fixed", "part": part,
                              "metrics": evaluate_model(split, scored, part, (10, 20), familiar, True, info)}
    if isinstance(fitted, Pipeline):  # what it chose on valid: members, blend, ranker
        report["choices"] = fitted.report_
    if segments:
        report["segments"] = evaluate_segments(split, scored, part, 10, familiar)
        report["item_segments"] = evaluate_item_segments(split, scored, part, 10, familiar, cold)
    return report


def _strong_report(strong: StrongSplit, name: str, estimator: Any, familiar: bool, segments: bool, cold: int,
                   info: ItemInfo | None) -> dict[str, Any]:
    from tastemaker.evaluation.strong import evaluate_strong, strong_item_segments, strong_segments

    estimator = strong_estimator(name, estimator)
    weighted = name == "history"  # history ranks by play counts, in training and at fold-in alike
    estimator.fit(strong.train_weights if weighted else strong.train)
    report: dict[str, Any] = {
        "protocol": "strong", "train_users": len(strong.train_users), "heldout": len(strong.heldout_users),
        "dropped_pairs": strong.dropped,
        "metrics": evaluate_strong(strong, estimator, (10, 20), familiar, True, info, weighted)}
    if segments:
        report["segments"] = strong_segments(strong, estimator, 10, familiar, weighted)
        report["item_segments"] = strong_item_segments(strong, estimator, 10, familiar, weighted, cold)
    return report


def make_model(name: str, params: dict[str, Any], familiar: bool) -> Any:
    """The catalogue model ``name`` with ``params``; a pipeline evaluated on familiar items targets them."""
    from tastemaker.candidates.catalogue import create

    if name == "pipeline" and familiar:
        params = {"target": "familiar", **params}
    return create(name, **params)


def strong_estimator(name: str, model: Any) -> Any:
    """The matrix estimator under a catalogue model: what the strong protocol folds held-out histories into."""
    from tastemaker.candidates.recommender import MatrixRecommender
    from tastemaker.evaluation.fixed_split import ItemPopularity

    if name == "popularity":
        return ItemPopularity()
    if isinstance(model, MatrixRecommender):
        return model.model
    raise ValueError(f"the strong protocol folds held-out histories into matrix models; {name} is not one")


def check_protocol(name: str) -> str:
    """``name`` if it is one of :data:`PROTOCOLS`, else ``ValueError``."""
    if name not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {name!r}")
    return name


def _item_info(items: pl.Series, files: SideFiles) -> ItemInfo | None:
    """Side information for the diversity metrics: the files given, else artists read off the ids."""
    import numpy as np

    from tastemaker.evaluation.metrics import ItemInfo

    info = ItemInfo(artists=_item_table(files.artists, "artist") if files.artists else
                    ItemInfo.from_track_ids(items).artists,
                    tags=_item_table(files.tags, "tag") if files.tags else None)
    if files.vectors:
        with np.load(files.vectors, allow_pickle=False) as npz:
            if not {"item_ids", "vectors"} <= set(npz.files):
                raise ValueError(f"{files.vectors} needs arrays item_ids and vectors; it has {', '.join(npz.files)}")
            info = ItemInfo(info.artists, info.tags, (npz["item_ids"].astype(str), npz["vectors"]))
    return None if info.artists is None and info.tags is None and info.vectors is None else info


def _item_table(path: Path, column: str, extra: tuple[str, ...] = (), key: str = "item_id") -> pl.DataFrame:
    frame = pl.read_csv(path, separator="\t", quote_char=None, infer_schema=False)
    wanted = [*extra, key, column] if key not in extra else [*extra, column]
    if not set(wanted) <= set(frame.columns):
        raise ValueError(f"{path} needs tab-separated columns {', '.join(wanted)}; it has {frame.columns}")
    return frame.select(wanted)
