"""One typed settings tree. Only ``cli/`` and ``serving/`` read it; the rest takes arguments."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

ENV_PREFIX = "TASTEMAKER_"


class Settings(BaseModel):
    """Where a workspace lives and which store backs it.

    ``store_url`` defaults to ``<workspace>/store`` (the embedded Parquet store).
    Environment: ``TASTEMAKER_WORKSPACE``, ``TASTEMAKER_STORE_URL``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    workspace: Path = Path("tastemaker-workspace")
    store_url: str | None = None

    @property
    def store(self) -> str:
        """The store URL in force."""
        return self.store_url or str(self.workspace / "store")

    @property
    def models_dir(self) -> Path:
        """Where trained models are kept."""
        return self.workspace / "models"

    @classmethod
    def from_env(cls, workspace: Path | None = None) -> Settings:
        """Settings from ``TASTEMAKER_*`` variables, with an explicit workspace taking precedence."""
        env_ws = os.environ.get(ENV_PREFIX + "WORKSPACE")
        ws = workspace or (Path(env_ws) if env_ws else cls.model_fields["workspace"].default)
        return cls(workspace=ws, store_url=os.environ.get(ENV_PREFIX + "STORE_URL"))
