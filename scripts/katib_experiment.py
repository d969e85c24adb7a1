"""Run a config's hyperparameter search on a cluster as a Katib Experiment.

    python scripts/katib_experiment.py --config config/adult.yaml \
        --dataset gs://BUCKET/.../dataset [--name adult-search] [--apply] [--dry-run]

Prints the Experiment (YAML); `--apply` pipes it to `kubectl apply -f -` (printing the command).
The trials run the train image of config/platform.json (pinned as the compiled pipelines pin
it) and are scored on the dataset's eval split. Read the best trial with
`kubectl get experiment NAME -o jsonpath='{.status.currentOptimalTrial}'`; locally, the same
space runs with `python -m components.train.search`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.common.config import load_section
from components.common.images import image
from components.train import component as train_component
from components.train.config import TrainConfig
from components.train.katib import experiment
from pipelines import platform


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="pipeline config with train.search")
    parser.add_argument("--dataset", required=True, help="gs:// dataset folder (dataset step)")
    parser.add_argument("--name", default=None, help="Experiment name (default: <config>-search)")
    parser.add_argument("--platform", type=Path, default=platform.DEFAULT_PLATFORM)
    parser.add_argument("--apply", action="store_true", help="kubectl apply it")
    parser.add_argument("--dry-run", action="store_true", help="with --apply: print, run nothing")
    args = parser.parse_args(argv)
    if not args.dataset.startswith("gs://"):
        parser.error(f"--dataset {args.dataset}: trials run in pods; give the gs:// dataset")
    cfg = load_section(args.config, "train", TrainConfig)
    if cfg.search is None:
        parser.error(f"{args.config}: no train.search section to run")
    plat = platform.load(args.platform)
    name = args.name or f"{Path(args.config).stem}-search"
    # The config path as the image sees it: the repository's config/ is copied to /app/config.
    config = f"config/{Path(args.config).name}"
    obj = experiment(
        name,
        plat.namespace,
        image(train_component.FAMILY, plat.image_registry),
        args.dataset,
        config,
        cfg,
        service_account=plat.service_account,
    )
    text = yaml.safe_dump(obj, sort_keys=False)
    if not args.apply:
        print(text, end="")
        return 0
    print("$ kubectl apply -f -", file=sys.stderr)
    if args.dry_run:
        print(text, end="")
        return 0
    return subprocess.run(["kubectl", "apply", "-f", "-"], input=text, text=True).returncode


if __name__ == "__main__":
    sys.exit(main())
