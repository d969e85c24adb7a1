"""The config's hyperparameter search as a Katib Experiment (kubeflow.org/v1beta1).

Each trial is a Kubernetes Job running the train command in the train image with the trial's
values passed as `--set path=value`; Katib's StdOut collector reads the `name=value` lines the
train step prints at the end. The same space runs locally with Optuna
(`python -m components.train.search`).
"""

from __future__ import annotations

import re
from typing import Any

from components.train.config import TrainConfig

KATIB_ALGORITHMS = {"maximize": "tpe", "minimize": "tpe"}


def parameter_name(path: str) -> str:
    """A Katib parameter name for a dotted config path: optimizer.learning_rate ->
    optimizer-learning-rate."""
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")


def experiment(
    name: str,
    namespace: str,
    image: str,
    dataset: str,
    config: str,
    cfg: TrainConfig,
    service_account: str = "pipeline-runner",
    cpu: str = "2",
    memory: str = "8G",
) -> dict[str, Any]:
    search = cfg.search
    if search is None:
        raise ValueError("the train section has no search: add train.search.space")
    parameters = []
    trial_parameters = []
    args = ["--dataset", dataset, "--config", config, "--output", "/tmp/model"]
    if search.epochs:
        args += ["--epochs", str(search.epochs)]
    for path, dim in sorted(search.space.items()):
        pname = parameter_name(path)
        if dim.type == "categorical":
            space: dict[str, Any] = {"list": [str(c) for c in dim.choices or []]}
            kind = "categorical"
        else:
            kind = "double" if dim.type == "float" else "int"
            low, high = float(dim.low or 0.0), float(dim.high or 0.0)  # set: validated
            if dim.type == "int":
                space = {"min": str(int(low)), "max": str(int(high))}
            else:
                space = {"min": str(low), "max": str(high)}
            space["distribution"] = "logUniform" if dim.log else "uniform"
        parameters.append({"name": pname, "parameterType": kind, "feasibleSpace": space})
        trial_parameters.append({"name": pname, "description": path, "reference": pname})
        args += ["--set", f"{path}=${{trialParameters.{pname}}}"]
    others = sorted({"val_loss", "val_accuracy", "val_auc"} - {search.metric})
    container = {
        "name": "training-container",
        "image": image,
        "command": ["python", "-m", "components.train"],
        "args": args,
        "resources": {
            "requests": {"cpu": cpu, "memory": memory},
            "limits": {"cpu": cpu, "memory": memory},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "objective": {
                "type": search.direction,
                "objectiveMetricName": search.metric,
                "additionalMetricNames": others,
            },
            "algorithm": {
                "algorithmName": KATIB_ALGORITHMS[search.direction],
                "algorithmSettings": [{"name": "random_state", "value": str(cfg.seed)}],
            },
            "parallelTrialCount": search.parallel_trials,
            "maxTrialCount": search.trials,
            "maxFailedTrialCount": max(1, search.trials // 4),
            "metricsCollectorSpec": {"collector": {"kind": "StdOut"}},
            "parameters": parameters,
            "trialTemplate": {
                "primaryContainerName": "training-container",
                "trialParameters": trial_parameters,
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {
                        "backoffLimit": 0,
                        "template": {
                            "spec": {
                                "serviceAccountName": service_account,
                                "restartPolicy": "Never",
                                "containers": [container],
                                "volumes": [{"name": "tmp", "emptyDir": {}}],
                            }
                        },
                    },
                },
            },
        },
    }
