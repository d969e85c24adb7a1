"""KFP interface of the monitoring step: the verdict, its figures, the report."""

from typing import Any

from kfp import dsl

from components.common.kfp_step import step

# Image family (components/images.yaml) this step runs in: Beam, scipy, matplotlib.
FAMILY = "tf"


def component(image: str) -> Any:
    """The KFP container component, running in `image` (a full image reference)."""

    @step(
        image,
        "components.monitor",
        flags={"monitor": "output"},
        executor_input=True,
        cli_defaults={
            "outcomes": "",
            "window_hours": 1.0,
            "beam_options": "",
            "tracking_uri": "",
            "metrics": None,
            "report": None,
            "verdict": None,
        },
    )
    def monitor(
        requests: str,
        outcomes: str,
        config: str,
        registry_root: str,
        window_end: str,
        window_hours: float,
        beam_options: str,
        tracking_uri: str,
        monitor: dsl.Output[dsl.Artifact],
        metrics: dsl.Output[dsl.Metrics],
        report: dsl.Output[dsl.HTML],
        verdict: dsl.OutputPath(str),  # type: ignore[valid-type]
    ):
        """Input drift, prediction drift and live quality of the served versions in a window.

        Args:
            requests: glob of the request log (JSONL; each line's instances and predictions)
            outcomes: glob of the outcome events (JSONL); empty: no live quality
            config: pipeline config YAML (sections: model, monitor, dataset)
            registry_root: registry root: a local folder or gs://bucket/prefix
            window_end: end of the window, RFC 3339 with a zone (e.g. 2026-11-22T03:00:00Z)
            window_hours: length of the window in hours
            beam_options: Beam pipeline options as one string (other unknown flags are Beam
                options too); empty: the in-process runner
            tracking_uri: MLflow tracking URI for the monitor's run record (empty: a local
                store beside a local registry, none beside a gs:// one)
            monitor: monitor folder to write (metrics.json, verdict.json, report.html)
            metrics: KFP metrics JSON to write
            report: also copy the HTML report here
            verdict: file to write the verdict word into (ok, drift or decay; a KFP output
                parameter)
        """

    return monitor
