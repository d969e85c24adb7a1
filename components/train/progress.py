"""One short progress line per epoch for the runner's status line: the epoch, the loss, the
monitored metric and an ETA from the mean epoch time; early stopping said when it happens.

Imported inside `trainer.train` (it imports Keras); the line protocol is components/common/progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import keras

from components.common import progress


class EpochProgress(keras.callbacks.Callback):
    """Prints `epoch 3/20  loss 0.4100  val_auc 0.8700  ETA 2m10s` at the end of every epoch
    (nothing per batch), and `early stop after epoch 9/20: ...` when `early_stopping` stopped
    the fit. The ETA is the mean time of the epochs this process ran times the epochs left (a
    resumed fit starts from its restored epoch)."""

    def __init__(
        self,
        epochs: int,
        monitor: str | None = None,
        early_stopping: keras.callbacks.EarlyStopping | None = None,
        emit: Callable[[str], None] = progress.report,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.epochs = epochs
        self.monitor = monitor
        self.early_stopping = early_stopping
        self.emit = emit
        self.clock = clock
        self.times: list[float] = []
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._started = self.clock()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.times.append(self.clock() - self._started)
        logs = logs or {}
        shown = ["loss", self.monitor or "val_loss"]
        if "val_loss" not in shown:
            shown.append("val_loss")
        parts = [f"epoch {epoch + 1}/{self.epochs}"]
        parts += [f"{name} {float(logs[name]):.4f}" for name in shown if name in logs]
        left = self.epochs - (epoch + 1)
        if self.model is not None and self.model.stop_training:
            parts.append("stopping early")
        elif left > 0:
            mean = sum(self.times) / len(self.times)
            parts.append(f"ETA {progress.duration(mean * left)}")
        self.emit("  ".join(parts))

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        stopper = self.early_stopping
        if stopper is None or not stopper.stopped_epoch:
            return
        best_epoch = getattr(stopper, "best_epoch", None)
        at = f" at epoch {best_epoch + 1}" if best_epoch is not None else ""
        restored = " (its weights restored)" if stopper.restore_best_weights else ""
        self.emit(
            f"early stop after epoch {stopper.stopped_epoch + 1}/{self.epochs}: "
            f"{stopper.monitor} best {float(stopper.best):.4f}{at}{restored}, no gain for "
            f"{stopper.patience} epoch{'' if stopper.patience == 1 else 's'}"
        )
