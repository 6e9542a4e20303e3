"""In-process timers around the model libraries' own work (for bench/pipeline.py).

:class:`FitTimer` monkeypatches, for the life of the process, the calls where
LightGBM and scikit-learn do their binning, fitting and predicting:

============  ===========================================================
category      wrapped calls
============  ===========================================================
``binning``   ``lightgbm.Dataset.construct`` (also when ``lightgbm.train``
              constructs a fresh Dataset, and a ``Dataset.subset``)
``fit``       ``lightgbm.train``; ``fit`` of sklearn's ``Ridge``,
              ``LogisticRegression``, ``Lasso``, ``ElasticNet``,
              ``StandardScaler``
``predict``   ``lightgbm.Booster.predict`` (incl. ``pred_contrib``);
              ``predict`` / ``predict_proba`` / ``decision_function`` of the
              sklearn linear models above
``own_model`` ``fit``, ``fit_prepared``, ``fit_many``, ``_fit_many_rows``
              (what ``fit_many_prepared`` calls), ``predict`` and
              ``decision_function`` of panelml's linear
              families (``panelml.models.linear``), less the sklearn calls
              inside them: the same ridge / lasso / logistic
              models the loop fits with sklearn, which panelml standardises
              and (ridge) solves in numpy. Model work, whoever does the
              arithmetic, so it is part of the floor; the report also gives
              the overhead ratio over the library calls alone
============  ===========================================================

Both wall-clock (``perf_counter``) and process CPU (``process_time``, all
threads) seconds are kept: on a shared machine the CPU seconds of a
single-threaded run measure the work done, the wall seconds also the waiting.
Time is *exclusive*: a wrapped call nested in another (``Dataset.construct``
inside ``lightgbm.train``) is charged to its own category and subtracted from
the outer one, so the categories add up to the time spent inside any wrapped
call, never more. ``StandardScaler.fit`` is counted as ``fit`` because a plain
scikit-learn loop needs it before a penalised linear model; panelml's own
standardising inside its linear families counts as ``own_model`` likewise.
"""

from __future__ import annotations

import functools
import os
import resource
import time
from collections.abc import Callable
from typing import Any

CATEGORIES = ("binning", "fit", "predict", "own_model")
LIBRARY_CATEGORIES = ("binning", "fit", "predict")


class FitTimer:
    """Exclusive wall-clock seconds spent inside the wrapped library calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(CATEGORIES, 0.0)
        self.cpu_seconds: dict[str, float] = dict.fromkeys(CATEGORIES, 0.0)
        self.calls: dict[str, int] = dict.fromkeys(CATEGORIES, 0)
        # per active call: [wall, cpu] seconds spent in nested wrapped calls
        self._stack: list[list[float]] = []
        self._patched: list[tuple[Any, str, Any]] = []

    # -- reading ------------------------------------------------------------------
    @property
    def total(self) -> float:
        """Wall seconds inside wrapped calls."""
        return sum(self.seconds.values())

    @property
    def library_total(self) -> float:
        """Wall seconds inside the model libraries' own calls (no ``own_model``)."""
        return sum(self.seconds[k] for k in LIBRARY_CATEGORIES)

    @property
    def cpu_total(self) -> float:
        """Process CPU seconds (all threads) inside wrapped calls."""
        return sum(self.cpu_seconds.values())

    def snapshot(self) -> dict[str, Any]:
        return {
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
            "cpu_seconds": {k: round(v, 4) for k, v in self.cpu_seconds.items()},
            "calls": dict(self.calls),
            "total_s": round(self.total, 4),
            "library_total_s": round(self.library_total, 4),
            "cpu_total_s": round(self.cpu_total, 4),
        }

    # -- patching -----------------------------------------------------------------
    def _wrap(self, category: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        stack = self._stack

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start, cpu_start = time.perf_counter(), time.process_time()
            stack.append([0.0, 0.0])
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                cpu = time.process_time() - cpu_start
                nested_wall, nested_cpu = stack.pop()
                self.seconds[category] += elapsed - nested_wall
                self.cpu_seconds[category] += cpu - nested_cpu
                self.calls[category] += 1
                if stack:
                    stack[-1][0] += elapsed
                    stack[-1][1] += cpu

        timed.__wrapped_by_fit_timer__ = True  # type: ignore[attr-defined]
        return timed

    def _patch(self, owner: Any, attr: str, category: str) -> None:
        original = getattr(owner, attr, None)
        if original is None or getattr(original, "__wrapped_by_fit_timer__", False):
            return
        setattr(owner, attr, self._wrap(category, original))
        self._patched.append((owner, attr, original))

    def install(self) -> FitTimer:
        """Patch lightgbm and sklearn (imported here); returns ``self``."""
        import lightgbm
        from sklearn import linear_model, preprocessing

        self._patch(lightgbm.Dataset, "construct", "binning")
        self._patch(lightgbm, "train", "fit")
        self._patch(lightgbm.Booster, "predict", "predict")
        for name in ("Ridge", "LogisticRegression", "Lasso", "ElasticNet"):
            cls = getattr(linear_model, name)
            self._patch(cls, "fit", "fit")
            for method in ("predict", "predict_proba", "decision_function"):
                # wrap the method where it is defined (a base class may define it
                # for several estimators); a wrapped one is never wrapped again
                owner = next((c for c in cls.__mro__ if method in vars(c)), None)
                if owner is not None:
                    self._patch(owner, method, "predict")
        self._patch(preprocessing.StandardScaler, "fit", "fit")
        from panelml.models.linear import LinearFamily

        for method in ("fit", "fit_prepared", "predict", "decision_function"):
            self._patch(LinearFamily, method, "own_model")
        # fit_many_prepared is the base class's: it checks its input and calls the
        # linear families' _fit_many_rows, which does their work
        for name in ("fit_many", "_fit_many_rows"):
            own = vars(LinearFamily)[name]  # a classmethod: wrap its function
            if not getattr(own.__func__, "__wrapped_by_fit_timer__", False):
                wrapped = classmethod(self._wrap("own_model", own.__func__))
                setattr(LinearFamily, name, wrapped)
                self._patched.append((LinearFamily, name, own))
        return self

    def uninstall(self) -> None:
        for owner, attr, original in reversed(self._patched):
            setattr(owner, attr, original)
        self._patched.clear()


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (``ru_maxrss``; KiB on Linux)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def current_rss_bytes() -> int:
    """Current resident set size from /proc (0 where /proc is missing)."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as handle:  # noqa: PTH123
            pages = int(handle.read().split()[1])
    except OSError:
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")
