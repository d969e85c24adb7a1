"""The monitor section of the pipeline config: drift and decay thresholds of the serving monitor,
and the cooldown the retraining trigger (not this step) applies to its verdict."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from components.common.config import Strict

FeatureKind = Literal["categorical", "numeric", "text", "id"]


class MonitorConfig(Strict):
    """Input drift per feature against the champion's training statistics (PSI with a distance
    beside it), prediction drift against the window's first hours, and live quality from the
    joined outcomes against each version's published test metric."""

    psi_warn: float = Field(
        default=0.1,
        gt=0,
        description="a population stability index above this is a warning (0.1: a small shift)",
    )
    psi_drift: float = Field(
        default=0.25,
        gt=0,
        description="a PSI above this is drift (0.25: the conventional 'significant shift')",
    )
    psi_epsilon: float = Field(
        default=1e-4,
        gt=0,
        lt=0.01,
        description="share given to an empty bin on either side before the PSI's logarithm",
    )
    oov_rate_increase: float = Field(
        default=0.1,
        gt=0,
        lt=1,
        description="text: drift when the share of words unseen in training rises by more "
        "than this over the baseline's share (the training texts', or the reference period's)",
    )
    min_requests: int = Field(
        default=100,
        ge=1,
        description="predictions a version needs in the window before its figures can "
        "make a verdict (fewer: reported, never acted on)",
    )
    bucket_minutes: int = Field(
        default=60, ge=1, description="time step of the drift-over-time figures and plots"
    )
    reference_hours: float = Field(
        default=1.0,
        gt=0,
        description="prediction drift (and text OOV when the training statistics hold no "
        "word list) compares the rest of the window with its first this many hours",
    )
    quality_metric: Literal["accuracy", "roc_auc"] = Field(
        default="accuracy",
        description="the live quality metric compared with the version's test metric of the "
        "same name (its registry metadata)",
    )
    outcome: Literal["correct", "label"] = Field(
        default="correct",
        description="what an outcome event's value means: 'correct' (1: the prediction was "
        "right, no event: it was not, as the replay and the A/B readout log them) or 'label' "
        "(the true label; requests without an event are unlabelled and left out)",
    )
    max_quality_drop: float = Field(
        default=0.05,
        ge=0,
        lt=1,
        description="decay when the live metric is below the version's test metric by more "
        "than this, with confidence (the upper end of its interval below test - this)",
    )
    confidence: float = Field(
        default=0.95,
        gt=0.5,
        lt=1,
        description="two-sided level of the live metric's interval (Wilson for accuracy, "
        "seeded bootstrap for ROC AUC)",
    )
    min_outcomes: int = Field(
        default=100,
        ge=1,
        description="joined predictions a version needs before its live quality can decay",
    )
    cooldown_hours: float = Field(
        default=24.0,
        ge=0,
        description="the retraining trigger starts no new run within this many hours of the "
        "last one it started (held here; the trigger applies it)",
    )
    features: dict[str, FeatureKind] = Field(
        default_factory=dict,
        description="kind per feature where the default is wrong; default: from the "
        "config's dataset.features types and the training statistics (numbers are numeric; "
        "a string averaging 40+ characters is text, another mostly unique one an id, not "
        "monitored; the other strings categorical)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> MonitorConfig:
        if self.psi_warn >= self.psi_drift:
            raise ValueError(f"psi_warn {self.psi_warn} must be below psi_drift {self.psi_drift}")
        if self.quality_metric == "roc_auc" and self.outcome != "label":
            raise ValueError(
                "quality_metric roc_auc needs the true labels: set outcome: label (outcome "
                "events whose value is the label), or use quality_metric: accuracy"
            )
        return self
