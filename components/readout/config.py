"""The abtest section of the pipeline config: the readout's metric, test design and guardrails."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from components.common.config import Strict


class Guardrails(Strict):
    """Checked at every readout, from the first requests on (latency: once each arm has
    `min_requests`): a breach rolls the challenger back without waiting for the sample size."""

    max_error_rate: float = Field(
        default=0.02,
        gt=0,
        lt=1,
        description="roll back when the challenger's error rate is above this with confidence "
        "(the lower end of its Wilson interval at `confidence`)",
    )
    confidence: float = Field(
        default=0.99,
        gt=0.5,
        lt=1,
        description="confidence of the error-rate guardrail's Wilson interval",
    )
    max_p99_latency_ms: float = Field(
        default=100.0,
        gt=0,
        description="roll back when the challenger's p99 is above this with confidence: more "
        "than 1% of its requests slower, by a one-sided binomial test at `latency_alpha`",
    )
    latency_alpha: float = Field(
        default=0.001,
        gt=0,
        lt=0.5,
        description="false-alarm rate of each of the two latency tests per readout: the "
        "chance that it rolls back a challenger as fast as the champion (and within the p99 "
        "limit) at one readout; both tests together at most 2 x this, k readouts at most 2k x",
    )
    latency_threshold_ms: float | None = Field(
        default=None,
        gt=0,
        description="a request slower than this is slow; default: the champion's "
        "`latency_quantile` plus `latency_slack_ms`, from this readout's champion requests",
    )
    latency_quantile: float = Field(
        default=0.95,
        gt=0.5,
        lt=1,
        description="the champion's latency quantile a slow request is measured against",
    )
    latency_slack_ms: float = Field(
        default=10.0,
        ge=0,
        description="added to the champion's quantile: small absolute differences never count",
    )
    max_slow_share_increase: float = Field(
        default=0.02,
        ge=0,
        lt=1,
        description="roll back when the challenger's share of slow requests exceeds the "
        "champion's by more than this (one-sided score test at `latency_alpha`); a pause that "
        "slows up to this share of one arm's requests does not count",
    )
    min_requests: int = Field(
        default=200,
        ge=1,
        description="requests per arm before the latency guardrail applies",
    )
    srm_p_value: float = Field(
        default=0.001,
        gt=0,
        lt=1,
        description="sample ratio mismatch: roll back when the arms' unit counts are this "
        "unlikely under the configured split (the assignment or the logging is broken)",
    )

    @model_validator(mode="before")
    @classmethod
    def _retired_keys(cls, data: Any) -> Any:
        retired = {"max_p99_ratio", "p99_slack_ms"} & set(data if isinstance(data, dict) else ())
        if retired:
            raise ValueError(
                f"{sorted(retired)} are retired: the p99 of a small sample is nearly its "
                "maximum, so one pause decided it; set max_slow_share_increase, "
                "latency_quantile, latency_slack_ms (or latency_threshold_ms) and latency_alpha"
            )
        return data


class ABTestConfig(Strict):
    """A fixed-horizon test: the sample size per arm comes from the design below, decided
    before the experiment starts; readouts before the horizon only check guardrails, so looking
    often does not inflate the false-positive rate. At the horizon a one-sided Welch t-test on
    the first `min_units` units of each arm promotes (p < alpha) or rolls back."""

    metric: str = Field(default="outcome rate", description="what an outcome means, for reports")
    join_on: Literal["request_id", "unit_id"] = Field(
        default="request_id",
        description="the key that joins outcome events to served requests",
    )
    alpha: float = Field(
        default=0.05, gt=0, lt=0.5, description="false-positive rate of the final one-sided test"
    )
    power: float = Field(
        default=0.8,
        gt=0.5,
        lt=1,
        description="chance to detect a lift of min_detectable_effect; sets the sample size",
    )
    baseline_rate: float = Field(
        gt=0, lt=1, description="the champion's expected outcome rate (from earlier readouts)"
    )
    min_detectable_effect: float = Field(
        gt=0, lt=1, description="the smallest absolute lift worth detecting"
    )
    bucket_minutes: int = Field(default=60, ge=1, description="time step of the dashboard plots")
    guardrails: Guardrails = Field(default=Guardrails(), description=Guardrails.__doc__)

    @model_validator(mode="after")
    def _effect_fits(self) -> ABTestConfig:
        if self.baseline_rate + self.min_detectable_effect >= 1:
            raise ValueError(
                f"baseline_rate {self.baseline_rate} + min_detectable_effect "
                f"{self.min_detectable_effect} must stay below 1"
            )
        return self
