"""The notebook loop with pandas only: config dict -> run -> tables -> predict -> open_run.

Also: polars and pyarrow tables are accepted by the same entries, ``load_config``
takes a dict, and the notebook views (``_repr_html_``) render.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import panelml
from panelml.data.synthetic import SyntheticPanel, TargetSpec, make_panel
from panelml.pipeline.errors import ConfigError, UserError

SPECS = (
    TargetSpec("fwd_ret_5", 5, 0.25, "linear", (2, 3, 4)),
    TargetSpec("y_up_5", 5, 0.20, "linear", (3, 0), kind="binary"),
)


@pytest.fixture(scope="module")
def synthetic() -> SyntheticPanel:
    return make_panel(n_symbols=16, n_timestamps=160, targets=SPECS, leaks=False, seed=11)


def _config(folder: Path) -> dict[str, Any]:
    return {
        "experiment": {"name": "notebook"},
        "data": {"targets": ["fwd_*", "y_*"]},
        "pipeline": {"stages": ["target_ranking", "training"]},
        "runtime": {"output_dir": str(folder / "runs"), "cache_dir": str(folder / "cache")},
        "target_ranking": {"families": ["ridge"], "top_n": 2},
        "training": {
            "families": ["ridge", "lightgbm"],
            "family_params": {"lightgbm": {"n_estimators": 20}},
        },
    }


@pytest.fixture(scope="module")
def loop(
    synthetic: SyntheticPanel, tmp_path_factory: pytest.TempPathFactory
) -> tuple[panelml.RunResult, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("notebook")
    frame = synthetic.frame.to_pandas()
    assert isinstance(frame, pd.DataFrame)
    return panelml.run(_config(folder), data=frame, quiet=True), frame


def test_the_whole_loop_runs_on_pandas_frames_only(
    loop: tuple[panelml.RunResult, pd.DataFrame],
) -> None:
    result, frame = loop
    assert result.manifest["status"] == "finished"
    assert result.manifest["config_hash"]
    tables = result.to_pandas()
    ranking = tables["target_ranking"]["ranking"]
    assert isinstance(ranking, pd.DataFrame)
    assert set(ranking["target"]) == {"fwd_ret_5", "y_up_5"}
    metrics = tables["training"]["metrics"]
    assert isinstance(metrics, pd.DataFrame) and len(metrics) > 0

    scored = panelml.load_run(result.run_dir).predict(
        frame.drop(columns=["fwd_ret_5", "y_up_5"]).sample(frac=1.0, random_state=0)
    )
    assert scored.height == len(frame)
    assert {"fwd_ret_5__ensemble", "y_up_5__ensemble", "y_up_5__ensemble_proba"} <= set(
        scored.columns
    )
    assert "fwd_ret_5__ensemble_proba" not in scored.columns  # a regression target
    as_pandas = scored.to_pandas()
    assert isinstance(as_pandas, pd.DataFrame)

    opened = panelml.open_run(result.run_dir)
    assert opened.status == "finished"
    assert set(opened) >= {"target_ranking", "training"}
    on_disk = opened.to_pandas()
    pd.testing.assert_frame_equal(
        on_disk["target_ranking"]["ranking"], ranking, check_dtype=False, check_exact=False
    )
    assert "oof_fwd_ret_5" in on_disk["training"]


def test_pyarrow_and_polars_tables_score_identically_to_pandas(
    loop: tuple[panelml.RunResult, pd.DataFrame],
) -> None:
    result, frame = loop
    models = panelml.load_run(result.run_dir)
    features = frame.drop(columns=["fwd_ret_5", "y_up_5"])
    from_pandas = models.predict(features)
    from_polars = models.predict(pl.from_pandas(features))
    from_arrow = models.predict(pa.Table.from_pandas(features, preserve_index=False))
    assert from_pandas.equals(from_polars) and from_pandas.equals(from_arrow)


def test_ensemble_proba_is_the_mean_of_the_families_probabilities(
    loop: tuple[panelml.RunResult, pd.DataFrame],
) -> None:
    """The probability column is the row mean of the families' P(y=1), bounded in
    [0, 1], and differs from the rank ensemble (a wrong column, e.g. the rank, fails
    the equality on every row)."""
    result, frame = loop
    scored = panelml.load_run(result.run_dir).predict(frame)
    families = [c for c in scored.columns if c.startswith("y_up_5__") and "ensemble" not in c]
    assert len(families) == 2
    expected = scored.select(families).to_numpy().mean(axis=1)
    proba = scored["y_up_5__ensemble_proba"].to_numpy()
    np.testing.assert_allclose(proba, expected, rtol=1e-12)
    assert np.all((proba >= 0) & (proba <= 1))
    assert not np.allclose(proba, scored["y_up_5__ensemble"].to_numpy())


def test_a_single_row_per_timestamp_warns_once(
    loop: tuple[panelml.RunResult, pd.DataFrame],
) -> None:
    result, frame = loop
    models = panelml.load_run(result.run_dir)
    one_symbol = frame[frame["symbol"] == frame["symbol"].iloc[0]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scored = models.predict(one_symbol)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 1 and "single row" in messages[0]
    assert set(scored["fwd_ret_5__ensemble"].to_list()) == {0.5}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        models.predict(frame)  # every timestamp has many rows: no warning


def test_panel_from_frame_is_exported_and_reads_every_table_kind(
    synthetic: SyntheticPanel,
) -> None:
    frame = synthetic.frame
    panels = [
        panelml.panel_from_frame(table, {"targets": ["fwd_*", "y_*"]})
        for table in (frame, frame.to_pandas(), frame.to_arrow())
    ]
    assert len({p.fingerprint for p in panels}) == 1
    indexed = frame.to_pandas().set_index(["timestamp", "symbol"])
    assert panelml.panel_from_frame(indexed).fingerprint == panels[0].fingerprint
    with pytest.raises(UserError, match="not a table"):
        panelml.panel_from_frame([1, 2, 3])


def test_load_config_takes_a_dict_and_names_what_is_wrong(tmp_path: Path) -> None:
    cfg = panelml.load_config({"experiment": {"name": "x"}, "data": {"path": "p.parquet"}})
    assert cfg.experiment.name == "x" and cfg.base_dir == Path.cwd().resolve()
    with pytest.raises(ConfigError, match=r"data\.path"):
        panelml.load_config({"experiment": {"name": "x"}, "data": {}})
    with pytest.raises(ConfigError, match="YAML file path, a dict"):
        panelml.load_config(42)  # type: ignore[arg-type]


def test_the_notebook_views_render(loop: tuple[panelml.RunResult, pd.DataFrame]) -> None:
    result, _ = loop
    page = result._repr_html_()
    assert "<table" in page and "fwd_ret_5" in page and result.run_id in page
    ranking = result.results["target_ranking"]
    assert "<table" in ranking._repr_html_()  # type: ignore[attr-defined]
    assert "<table" in panelml.open_run(result.run_dir)._repr_html_()
