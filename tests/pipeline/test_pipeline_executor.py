"""Executors: results in input order, whatever runs them."""

from __future__ import annotations

import importlib.util

import pytest

from panelml.pipeline.errors import ConfigError
from panelml.pipeline.executor import ProcessExecutor, SerialExecutor, make_executor


def square(x: int) -> int:
    return x * x


def test_serial_and_process_executors_return_results_in_input_order() -> None:
    items = list(range(12))
    expected = [x * x for x in items]
    assert SerialExecutor().map(square, items, description="squares") == expected
    assert ProcessExecutor(n_jobs=2).map(square, items, description="squares") == expected


def test_make_executor_by_name() -> None:
    assert isinstance(make_executor("serial"), SerialExecutor)
    executor = make_executor("process", n_jobs=3)
    assert isinstance(executor, ProcessExecutor) and executor.n_jobs == 3
    with pytest.raises(ConfigError, match="unknown executor 'threads'"):
        make_executor("threads")


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="ray is installed")
def test_ray_executor_without_ray_says_how_to_install_it() -> None:
    with pytest.raises(ConfigError, match=r"pip install 'panelml\[ray\]'"):
        make_executor("ray")
