"""The monitoring DAG: one step over the last hour of the serving request log (and outcome
events) that measures input drift against the champion's training statistics, prediction
drift and live quality per model version, and says `ok`, `drift` or `decay` with its reasons.
Scheduled hourly; its window ends at the run's scheduled time.

Written once with kfp.dsl like the other DAGs, compiled to KFP IR and to Argo by the same
backends; nothing here reads the environment.
"""

from typing import Any

from components.monitor import component as monitor_c
from components.trigger import component as trigger_c
from pipelines.platform import Platform
from pipelines.tasks import sized, step

# The webhook of the retrain-triggers EventSource (manifests/argo/retrain-triggers.yaml), in the
# namespace the monitor runs in.
TRIGGER_URL = "http://retrain-triggers-eventsource-svc:12000/retrain"


def build(platform: Platform) -> Any:
    from kfp import dsl

    monitor, start_retrain = step(monitor_c, platform), step(trigger_c, platform)
    logs = f"{platform.bucket('artifacts')}/serving-logs/reviews-sentiment"

    @dsl.pipeline(
        name="monitor",
        description="Measure the serving model's input drift, prediction drift and live "
        "quality over the last window of the request log, and give a verdict (ok, drift, decay).",
    )
    def monitor_pipeline(
        requests: str = f"{logs}/requests/*/*.jsonl",
        outcomes: str = f"{logs}/outcomes/*/*.jsonl",
        config: str = "config/reviews.yaml",
        registry_root: str = f"{platform.bucket('models')}/registry",
        window_hours: float = 1.0,
        beam_options: str = "",
        tracking_uri: str = "",
        trigger: str = "kfp",
        trigger_url: str = TRIGGER_URL,
        kfp_host: str = "",
        retrain_parameters: str = "{}",
    ):
        result = monitor(
            requests=requests,
            outcomes=outcomes,
            config=config,
            registry_root=registry_root,
            window_end=dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER,
            window_hours=window_hours,
            beam_options=beam_options,
            tracking_uri=tracking_uri,
        )
        sized(result.set_display_name("monitor"), cpu=("1", "2"), memory=("2G", "4G"))
        result.set_caching_options(False)  # the logs grow between runs

        # Drift or decay: a retrain, unless one is in flight or one started for a verdict in
        # the cooldown (components/trigger/rule.py). Where it starts is the engine's: a KFP run,
        # the Argo Events Sensor (the Argo compile sets trigger=argo-events), the local runner
        # (which sets trigger=local).
        with dsl.If(result.outputs["verdict"] != "ok", name="not-ok"):
            started = start_retrain(
                monitor=result.outputs["monitor"],
                config=config,
                registry_root=registry_root,
                trigger=trigger,
                trigger_url=trigger_url,
                kfp_host=kfp_host,
                retrain_parameters=retrain_parameters,
            )
            sized(started.set_display_name("trigger"), cpu=("100m", "500m"), memory=("256M", "1G"))
            started.set_caching_options(False)

    return monitor_pipeline
