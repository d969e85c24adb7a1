"""Issue 19, point 4: every name that becomes a path goes through one check (safe_name), and
traversal is refused at every entry point: the registry's model, versions and pointers, deploy's
--version, the model name in the config, the local runners' run and task folders."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.common.checks import safe_name
from components.common.errors import EXIT_USER_ERROR, ConfigError
from components.common.registry import Registry
from pipelines.local.results import allocate_run_dir, task_folder
from tests.components.test_deploy import BLESSED, deploy_args, fake_model
from tests.conftest import REPO, run_cli

BAD = ["../x", "../../../X", "/abs", "a/b", "", ".", "..", "a\0b", "x" * 300, "-rf", "a b"]
GOOD = ["v1", "v20261122T030000Z-abcdef12", "reviews-sentiment", "retrain-20261122-030000-3f9a1c"]


@pytest.mark.parametrize("name", GOOD)
def test_good_names_pass(name: str) -> None:
    assert safe_name(name, "x") == name


@pytest.mark.parametrize("name", BAD)
def test_registry_refuses_unsafe_names(tmp_path: Path, name: str) -> None:
    root = tmp_path / "registry"
    with pytest.raises(ConfigError, match="model name"):
        Registry(str(root), name)
    registry = Registry(str(root), "m")
    model = fake_model(tmp_path / "model") / "saved_model"
    with pytest.raises(ConfigError, match="version"):
        registry.publish(model, name, {})
    with pytest.raises(ConfigError, match="version"):
        registry.version_uri(name)
    registry.publish(model, "v1", {})
    registry.move("champion", "v1", "first", expect=None)
    with pytest.raises(ConfigError, match="version"):
        registry.move("champion", name, "traversal", expect=registry.read("champion"))
    with pytest.raises(ConfigError, match="pointer"):
        registry.move(name, "v1", "traversal", expect=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="pointer"):
        registry.read(name)  # type: ignore[arg-type]
    assert registry.versions() == ["v1"] and len(registry.history()) == 1
    assert not [p for p in tmp_path.rglob("*") if root not in p.parents and p.name == "X"]


@pytest.mark.parametrize("name", ["../../../X", "/tmp/abs-X", "a/b", "..", "x" * 300, "a b"])
def test_deploy_version_flag_refuses_traversal(tmp_path: Path, name: str) -> None:
    root = tmp_path / "work" / "registry"
    args = [str(a) for a in deploy_args(tmp_path, fake_model(tmp_path / "m"), BLESSED)]
    args[args.index("--registry-root") + 1] = str(root)
    result = run_cli("components.deploy", *args, "--version", name)
    assert result.returncode == EXIT_USER_ERROR, result.stderr
    assert "--version" in result.stderr and "not a safe name" in result.stderr
    assert "Traceback" not in result.stderr
    assert not root.exists()  # nothing written, inside or out
    assert not Path("/tmp/abs-X").exists() and not (tmp_path / "X").exists()


def test_deploy_version_with_nul_is_refused(tmp_path: Path) -> None:
    """A NUL cannot pass through argv; the function entry point refuses it."""
    from components.common.model import ModelConfig
    from components.deploy.config import DeployConfig
    from components.deploy.deploy import deploy

    with pytest.raises(ConfigError, match="--version"):
        deploy(
            fake_model(tmp_path / "m"),
            BLESSED,
            ModelConfig(name="m"),
            DeployConfig(),
            str(tmp_path / "registry"),
            10,
            tmp_path / "isvc.yaml",
            "v\0../x",
        )
    assert not (tmp_path / "registry").exists()


@pytest.mark.parametrize("name", ["../x", "a/b", "", "A_b", "x" * 70])
def test_config_model_name_is_checked(tmp_path: Path, name: str) -> None:
    cfg = yaml.safe_load((REPO / "config" / "reviews.yaml").read_text())
    cfg["model"]["name"] = name
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(cfg))
    args = [str(a) for a in deploy_args(tmp_path, fake_model(tmp_path / "m"), BLESSED)]
    args[args.index("--config") + 1] = str(config)
    result = run_cli("components.deploy", *args, "--version", "v1")
    assert result.returncode == EXIT_USER_ERROR and "model.name" in result.stderr
    assert not (tmp_path / "registry").exists()


@pytest.mark.parametrize("name", BAD)
def test_run_folders_refuse_unsafe_pipeline_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="pipeline name"):
        allocate_run_dir(tmp_path / "runs", name)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("name", ["..", ".", "", "_", "-x", "../../etc", "/abs"])
def test_task_folders_stay_in_the_run_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="task"):
        task_folder(tmp_path / "run", name)


@pytest.mark.parametrize(
    ("key", "folder"),
    [
        ("train", "train"),
        ("condition-1__deploy", "condition-1__deploy"),
        ("a/b", "a_b"),
        ("consume(0:x y)", "consume_0_x_y_"),
    ],
)
def test_task_folder_names(tmp_path: Path, key: str, folder: str) -> None:
    path = task_folder(tmp_path / "run", key)
    assert path == tmp_path / "run" / folder and path.parent == tmp_path / "run"


def test_long_task_names_are_cut_with_a_hash(tmp_path: Path) -> None:
    first = task_folder(tmp_path, "t(0:" + "a" * 300 + ")")
    second = task_folder(tmp_path, "t(0:" + "a" * 299 + "b)")
    assert first != second and len(first.name) <= 100 and first.parent == tmp_path
