"""KFP interface of the A/B readout step: the decision, its numbers, the dashboard."""

from typing import Any

from kfp import dsl

from components.common.kfp_step import step

# Image family (components/images.yaml) this step runs in: Beam, statsmodels, matplotlib.
FAMILY = "tf"


def component(image: str) -> Any:
    """The KFP container component, running in `image` (a full image reference)."""

    @step(
        image,
        "components.readout",
        flags={"readout": "output"},
        executor_input=True,
        cli_defaults={
            "beam_options": "",
            "tracking_uri": "",
            "metrics": None,
            "dashboard": None,
            "decision": None,
        },
    )
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
        """Join requests and outcomes, test challenger against champion, check guardrails.

        Args:
            requests: glob of the request log (JSONL)
            outcomes: glob of the outcome events (JSONL)
            config: pipeline config YAML (sections: model, abtest)
            registry_root: registry root: a local folder or gs://bucket/prefix
            beam_options: Beam pipeline options as one string (other unknown flags are Beam
                options too); empty: the in-process runner
            tracking_uri: MLflow tracking URI for the readout's run record (empty: a local
                store beside a local registry, none beside a gs:// one)
            readout: readout folder to write
            metrics: KFP metrics JSON to write
            dashboard: also copy the HTML dashboard here
            decision: file to write the decision word into (a KFP output parameter)
        """

    return readout
