"""KFP interface of the trigger step: start a retrain when the monitor's verdict asks for one."""

from typing import Any

from kfp import dsl

from components.common.kfp_step import step

# Image family (components/images.yaml) this step runs in (it needs only the standard library).
FAMILY = "tf"


def component(image: str) -> Any:
    """The KFP container component, running in `image` (a full image reference)."""

    @step(
        image,
        "components.trigger",
        flags={"trigger": "target", "decision": "output"},
        extra={"job-name": dsl.PIPELINE_JOB_NAME_PLACEHOLDER},
        executor_input=True,
        cli_defaults={
            "config": "",
            "registry_root": "",
            "trigger": "local",
            "trigger_url": "",
            "kfp_host": "",
            "retrain_parameters": "{}",
        },
    )
    def trigger(
        monitor: dsl.Input[dsl.Artifact],
        config: str,
        registry_root: str,
        trigger: str,
        trigger_url: str,
        kfp_host: str,
        retrain_parameters: str,
        decision: dsl.Output[dsl.Artifact],
    ):
        """Start a retrain for the monitor's drift or decay verdict, unless a retrain is in
        flight or one started for a verdict within the monitor's cooldown_hours.

        Args:
            monitor: monitor folder written by the monitor step (its verdict.json)
            config: pipeline config YAML the retrain runs with
            registry_root: registry root the retrain publishes to
            trigger: where the retrain starts: local (the local runner), kfp (a run of the
                newest `retrain` pipeline version), argo-events (a POST to the
                retrain-triggers EventSource, whose Sensor submits the retrain Workflow) or
                none (decide and record only)
            trigger_url: argo-events: the EventSource webhook
            kfp_host: kfp: the KFP API (empty: the in-cluster ml-pipeline service)
            retrain_parameters: JSON object of further retrain parameters (e.g. data_uri)
            decision: folder to write trigger.json into (fired, reason, why, the run started)
        """

    return trigger
