"""The contract readers on built-in-like and third-party-like results.

Each reader is checked on a small hand-made result whose answer is known, and on
a third-party ``TableResult`` that writes only the documented columns (with
other integer widths and categorical text), which must read the same.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from panelml import contracts
from panelml.pipeline.results import TableResult


def _ranking() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "target": ["b", "a", "c", "d", "e"],
            "rank": [2, 1, 3, None, 4],
            "score": [0.2, 0.3, 0.1, None, 0.05],
            "status": ["selected", "selected", "not_significant", "degenerate", "selected"],
            "reason": ["", "", "q too big", "constant", ""],
        }
    )


class ThirdPartyRanking(TableResult):
    """A plugin's result: the same tables, narrower dtypes, nothing else."""


def test_selected_targets_follow_rank_not_row_order() -> None:
    result = TableResult({"ranking": _ranking()})
    assert contracts.selected_targets(result) == ["a", "b", "e"]
    assert contracts.selected_targets(None) == []


def test_third_party_result_reads_the_same() -> None:
    frame = _ranking().with_columns(
        pl.col("rank").cast(pl.Int32), pl.col("status").cast(pl.Categorical)
    )
    plugin = ThirdPartyRanking({"ranking": frame})
    assert contracts.selected_targets(plugin) == ["a", "b", "e"]
    assert contracts.result_problems(plugin, (contracts.TARGET_CHOICE,)) == []
    scores = contracts.ranking_scores(plugin)
    assert scores.columns == ["target", "score", "rank", "status"]
    assert scores.schema["rank"] == pl.Int64
    assert scores.filter(pl.col("target") == "a")["score"].item() == 0.3


def test_schema_checker_names_table_and_column() -> None:
    broken = TableResult({"ranking": _ranking().drop("status")})
    problems = contracts.result_problems(broken, (contracts.TARGET_CHOICE,))
    assert problems == ["table 'ranking' has no column 'status'"]
    wrong_type = TableResult({"ranking": _ranking().with_columns(pl.col("rank").cast(pl.String))})
    assert contracts.result_problems(wrong_type, (contracts.TARGET_CHOICE,)) == [
        "table 'ranking' column 'rank' is String, not a int column"
    ]
    assert contracts.result_problems(TableResult({}), (contracts.RANKING_SCORES,)) == [
        "RankingScores: no table 'ranking'",
        "RankingScores: no table 'per_symbol'",
        "RankingScores: no table 'ic_series'",
    ]
    with pytest.raises(contracts.ContractReadError, match="column 'status'"):
        contracts.selected_targets(broken)


def _screen() -> TableResult:
    report = pl.DataFrame(
        {
            "feature": ["f1", "f2", "f1", "f3", "f1"],
            "target": ["a", "a", "b", "a", "a"],
            "check": ["name_rule", "too_good", "near_copy", "shifted_copy", "future_info"],
            "grade": ["proof", "suspicion", "proof", "proof", "suspicion"],
            "value": [1.0, 0.9, 0.99, 0.98, 0.4],
            "threshold": [1.0, 0.5, 0.95, 0.95, 0.3],
            "action": ["removed", "warned", "removed", "removed", "warned"],
            "evidence": ["", "", "", "", ""],
        }
    )
    return TableResult({"report": report})


def test_exclusions_are_removed_rows_of_the_target() -> None:
    screen = _screen()
    assert contracts.excluded_features(screen, "a") == {"f1", "f3"}
    assert contracts.excluded_features(screen, "b") == {"f1"}
    assert contracts.excluded_features(screen, "zz") == set()
    assert contracts.excluded_features(None, "a") == set()
    assert contracts.exclusion_checks(screen, "a") == {
        "f1": ["name_rule", "future_info"],
        "f3": ["shifted_copy"],
    }
    assert contracts.result_problems(screen, (contracts.EXCLUSIONS,)) == []


def _selection_table(selected: list[bool], rank: list[int]) -> pl.DataFrame:
    return pl.DataFrame({"feature": ["x", "y", "z"], "rank": rank, "selected": selected})


def test_selected_features_by_rank_and_targets_from_meta() -> None:
    result = TableResult(
        {
            "b": _selection_table([True, True, False], [2, 1, 3]),
            "a": _selection_table([False] * 3, [1, 2, 3]),
        },
        {"targets": ["b", "a"]},
    )
    assert contracts.feature_choice_targets(result) == ["b", "a"]
    assert contracts.selected_features(result, "b") == ["y", "x"]
    assert contracts.selected_features(result, "a") == []
    no_meta = TableResult({"only": _selection_table([True, False, True], [1, 2, 3])})
    assert contracts.feature_choice_targets(no_meta) == ["only"]
    assert contracts.result_problems(result, (contracts.FEATURE_CHOICE,)) == []
    missing = TableResult({"b": _selection_table([True] * 3, [1, 2, 3])}, {"targets": ["b", "a"]})
    assert contracts.result_problems(missing, (contracts.FEATURE_CHOICE,)) == [
        "FeatureChoice: no table for target 'a'"
    ]


def test_oof_reads_meta_names_or_the_prefix() -> None:
    frame = pl.DataFrame(
        {"symbol": ["s"], "timestamp": [1], "target": [0.5], "ridge": [0.1], "ensemble": [0.1]}
    )
    named = TableResult({"oof_t_1": frame}, {"oof_tables": {"t/1": "oof_t_1"}})
    assert contracts.oof(named, "t/1").equals(frame)
    plain = TableResult({"oof_t1": frame})
    assert contracts.oof(plain, "t1").equals(frame)
    assert contracts.result_problems(plain, (contracts.OOF_PREDICTIONS,)) == []
    with pytest.raises(contracts.ContractReadError, match="no OOF table for target 'x'"):
        contracts.oof(plain, "x")


def test_summary_metrics_are_fold_minus_one() -> None:
    metrics = pl.DataFrame(
        {"target": ["a", "a"], "family": ["ridge", "ridge"], "fold": [0, -1], "ic_mean": [0.1, 0.2]}
    )
    summary = contracts.summary_metrics(TableResult({"metrics": metrics}))
    assert summary is not None and summary["ic_mean"].to_list() == [0.2]


def test_load_tables_reads_a_saved_folder(tmp_path: Path) -> None:
    TableResult({"ranking": _ranking()}, {"x": 1}).save(tmp_path)
    loaded = contracts.load_tables(tmp_path)
    assert loaded is not None and contracts.selected_targets(loaded) == ["a", "b", "e"]
    assert contracts.load_tables(tmp_path / "absent") is None


def test_resolve_targets_one_rule_for_globs_and_names() -> None:
    available = ["fwd_ret_1", "fwd_ret_5", "fwd_vol_5", "y_up_5"]
    assert contracts.resolve_targets(["y_up_5", "fwd_ret_*"], available) == [
        "y_up_5",
        "fwd_ret_1",
        "fwd_ret_5",
    ]
    assert contracts.resolve_targets(["*_5", "fwd_ret_5"], available) == [
        "fwd_ret_5",
        "fwd_vol_5",
        "y_up_5",
    ]
    with pytest.raises(contracts.TargetPatternError, match="did you mean 'fwd_ret_5'") as info:
        contracts.resolve_targets(["fwd_ret5"], available, key="training.targets")
    assert "training.targets" in str(info.value) and "y_up_5" in str(info.value)
    with pytest.raises(contracts.TargetPatternError, match="'nope_\\*' matches no target"):
        contracts.resolve_targets(["nope_*"], available)
