"""KFP interface of the A/B readout step: the decision, its numbers, the dashboard."""

from typing import Any

from kfp import dsl

# Image family (components/images.yaml) this step runs in: Beam, statsmodels, matplotlib.
FAMILY = "tf"


def component(image: str) -> Any:
    """The KFP container component, running in `image` (a full image reference)."""

    @dsl.container_component
    def readout(
        requests: str,
        outcomes: str,
        config: str,
        registry_root: str,
        beam_options: str,
        tracking_uri: str,
        readout: dsl.Output[dsl.Artifact],
        metrics: dsl.Output[dsl.Metrics],
        dashboard: dsl.Output[dsl.HTML],
        decision: dsl.OutputPath(str),  # type: ignore[valid-type]
    ):
        """Join requests and outcomes, test challenger against champion, check guardrails."""
        return dsl.ContainerSpec(
            image=image,
            command=["python", "-m", "components.readout"],
            args=[
                "--requests",
                requests,
                "--outcomes",
                outcomes,
                "--config",
                config,
                "--registry-root",
                registry_root,
                "--beam-options",
                beam_options,
                "--tracking-uri",
                tracking_uri,
                "--output",
                readout.path,
                "--metrics",
                metrics.path,
                "--dashboard",
                dashboard.path,
                "--decision",
                decision,
                "--executor-input",
                dsl.PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER,
            ],
        )

    return readout
