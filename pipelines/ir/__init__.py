"""The KFP v2 IR grammar every backend shares: the reader (`reader`), the placeholders
(`placeholders`) and the expression evaluator (`expressions`).

The Argo compiler and both local runners read the IR, its placeholders and its conditions through
this package only, so they agree with each other and with what KFP's compiler wrote. The names
below are the reader's and the evaluator's public ones, for `from pipelines import ir`.
"""

from pipelines.ir.expressions import evaluate_condition, evaluate_expression
from pipelines.ir.reader import (
    IRError,
    Task,
    coerce_parameter,
    executor_tasks,
    load,
    render_parameter,
    topological,
)

__all__ = [
    "IRError",
    "Task",
    "coerce_parameter",
    "evaluate_condition",
    "evaluate_expression",
    "executor_tasks",
    "load",
    "render_parameter",
    "topological",
]
