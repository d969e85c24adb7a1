"""The A/B readout DAG: readout (Beam join of the request log with outcome events, the test,
the guardrails, the dashboard) -> promote (apply the decision to the registry's pointers and
re-render the InferenceService). Scheduled hourly; a `continue` changes nothing.

Written once with kfp.dsl like the retraining DAG, compiled to KFP IR and to Argo by the same
backends; nothing here reads the environment.
"""

from typing import Any

from components.promote import component as promote_c
from components.readout import component as readout_c
from pipelines.platform import Platform
from pipelines.tasks import sized, step


def build(platform: Platform) -> Any:
    from kfp import dsl

    readout, promote = step(readout_c, platform), step(promote_c, platform)
    logs = f"{platform.bucket('artifacts')}/serving-logs/reviews-sentiment"

    @dsl.pipeline(
        name="ab-readout",
        description="Read out the A/B test of the registry's challenger against its champion "
        "and promote it, keep it running, or roll it back.",
    )
    def ab_readout(
        requests: str = f"{logs}/requests/*/*.jsonl",
        outcomes: str = f"{logs}/outcomes/*/*.jsonl",
        config: str = "config/reviews.yaml",
        registry_root: str = f"{platform.bucket('models')}/registry",
        beam_options: str = "",
        tracking_uri: str = "",
    ):
        result = readout(
            requests=requests,
            outcomes=outcomes,
            config=config,
            registry_root=registry_root,
            beam_options=beam_options,
            tracking_uri=tracking_uri,
        )
        sized(result.set_display_name("readout"), cpu=("1", "2"), memory=("2G", "4G"))
        result.set_caching_options(False)  # the logs grow between runs
        applied = promote(
            readout=result.outputs["readout"], config=config, registry_root=registry_root
        )
        sized(applied.set_display_name("promote"), cpu=("250m", "1"), memory=("1G", "2G"))
        applied.set_caching_options(False)

    return ab_readout
