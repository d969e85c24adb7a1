"""The IR reader: dependency order and KFP trigger conditions."""

from __future__ import annotations

import pytest

from pipelines import ir


def test_topological_order_follows_data_and_explicit_dependencies() -> None:
    tasks = {
        "c": {"componentRef": {"name": "x"}, "dependentTasks": ["b"]},
        "b": {
            "componentRef": {"name": "x"},
            "inputs": {
                "artifacts": {
                    "i": {"taskOutputArtifact": {"producerTask": "a", "outputArtifactKey": "o"}}
                }
            },
        },
        "a": {"componentRef": {"name": "x"}},
    }
    assert [t.name for t in ir.topological(tasks)] == ["a", "b", "c"]
    with pytest.raises(ir.IRError, match="cycle"):
        ir.topological({"a": {"dependentTasks": ["b"]}, "b": {"dependentTasks": ["a"]}})
    with pytest.raises(ir.IRError, match="unknown task"):
        ir.topological({"a": {"dependentTasks": ["zz"]}})


@pytest.mark.parametrize(
    ("condition", "params", "expected"),
    [
        (
            "inputs.parameter_values['pipelinechannel--e-blessed'] == true",
            {"pipelinechannel--e-blessed": True},
            True,
        ),
        (
            "inputs.parameter_values['pipelinechannel--e-blessed'] == true",
            {"pipelinechannel--e-blessed": False},
            False,
        ),
        (
            "!(inputs.parameter_values['a'] == 'x') && int(inputs.parameter_values['n']) >= 3",
            {"a": "y", "n": "3"},
            True,
        ),
        (
            "inputs.parameter_values['a'] != 'x' || inputs.parameter_values['b'] < 0.5",
            {"a": "x", "b": 0.7},
            False,
        ),
        ("inputs.parameter_values['a'] == 'hi! && bye'", {"a": "hi! && bye"}, True),
    ],
)
def test_conditions(condition: str, params: dict, expected: bool) -> None:
    assert ir.evaluate_condition(condition, params) is expected


def test_condition_errors_name_the_problem() -> None:
    with pytest.raises(ir.IRError, match="reads parameter 'missing'"):
        ir.evaluate_condition("inputs.parameter_values['missing'] == 1", {})
    with pytest.raises(ir.IRError, match="does not support"):
        ir.evaluate_condition("inputs.parameter_values['a'].size() > 1", {"a": "x"})
