"""A tuning run's checkpoints: its own folder (``models/checkpoints/tune-<key>/``) holding the
mined pairs and validation set (``data.json``) and one folder per finished epoch
(``epoch-<n>/``: a sentence-transformers model, ``state.pt`` with the optimizer and schedule,
``history.json``). Each is written under a temporary name and renamed when complete, so a run
killed at any moment resumes from its last complete epoch; a rerun with other settings has
another key, hence another folder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

__all__ = ["Checkpoints"]


class Checkpoints:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def read_json(self, name: str) -> Any:
        path = self.folder / name
        return json.loads(path.read_text()) if path.exists() else None

    def write_json(self, name: str, data: Any) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{name}.tmp"
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.folder / name)

    def epoch_dir(self, epoch: int) -> Path:
        return self.folder / f"epoch-{epoch}"

    def latest(self) -> int:
        """The last complete epoch (0: none)."""
        done = [
            int(p.name.split("-", 1)[1])
            for p in self.folder.glob("epoch-*")
            if p.name.split("-", 1)[1].isdigit() and (p / "history.json").exists()
        ]
        return max(done, default=0)

    def save_epoch(self, epoch: int, model: Any, state: dict[str, Any], history: list[Any]) -> None:
        import torch

        final = self.epoch_dir(epoch)
        tmp = self.folder / f".epoch-{epoch}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save(str(tmp))
        torch.save(state, tmp / "state.pt")
        (tmp / "history.json").write_text(json.dumps(history))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)

    def state(self, epoch: int) -> tuple[dict[str, Any], list[Any]]:
        import torch

        folder = self.epoch_dir(epoch)
        state = torch.load(folder / "state.pt", weights_only=True)  # tensors and numbers only
        return state, json.loads((folder / "history.json").read_text())

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        parent = self.folder.parent
        if parent.exists() and not any(parent.iterdir()):
            parent.rmdir()
