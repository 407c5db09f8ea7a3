"""Benchmark: explainers/ against raw SHAP anchors measured in the same run.

Trains a 200-tree depth-6 gradient-boosted classifier on 20 numeric features (xgboost when
installed, and sklearn HistGradientBoosting), then times explaining 1, 100 and 10,000 rows:

* anchors: xgboost native ``pred_contribs`` and ``shap.TreeExplainer(...).shap_values`` on the
  final estimator with a ready numpy matrix (no validation, no grouping, no result objects);
* ours: ``explainers.explain_rows`` from JSON-like dict rows (validation, encoding, TreeSHAP,
  additivity check, grouping, ranking, presentation, flags and result objects included), and
  from a DataFrame.

Prints rows/s and ratios (ours / fastest anchor). Never gates anything on absolute time.
Run: ``.venv/bin/python bench/explainers.py [--quick]``; prefix ``OMP_NUM_THREADS=1`` to pin
every library (and xgboost's ``n_jobs``) to one thread, which gives steadier numbers on a
shared machine.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Run as a script, this file's directory comes first on sys.path and this module would shadow
# the ``explainers`` package: put the repository root there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import skops.io as sio  # noqa: E402

import explainers  # noqa: E402
from explainers import EXPLAINER_CACHE, ModelBundle, explain_rows, get_explainer  # noqa: E402

N_FEATURES = 20
KEYS = [f"f{i:02d}" for i in range(N_FEATURES)]


def make_data(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, N_FEATURES))


def labels(x: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(1)
    z = x[:, 0] - 0.5 * x[:, 1] + x[:, 2] * x[:, 3] + 0.3 * x[:, 4:].sum(axis=1)
    return (rng.random(len(x)) < 1 / (1 + np.exp(-z))).astype(int)


def manifest() -> dict[str, Any]:
    text = {"da": "tekst"}
    considerations = [{"key": f"c{j}", "label": {"da": f"hensyn {j}"}} for j in range(4)]
    features = [
        {
            "key": k,
            "type": "number",
            "label": {"da": k},
            "source": text,
            "consideration": f"c{i % 4}",
            "actionable": i % 3 == 0,
            "sensitive": i == 5,
        }
        for i, k in enumerate(KEYS)
    ]
    return {
        "name": "bench",
        "version": "1",
        "title": text,
        "purpose": text,
        "responsible_unit": "bench",
        "output": {"kind": "probability", "positive_class": 1},
        "considerations": considerations,
        "features": features,
    }


def timeit(fn: Callable[[], Any], repeat: int) -> float:
    """Fastest of ``repeat`` calls after one warm-up call."""
    return interleaved({"fn": fn}, repeat)["fn"]


def interleaved(contenders: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    """Fastest wall time of each contender over ``rounds`` rounds, run in rotating order
    within each round, so that load from other processes on a shared machine hits all
    contenders alike (the minimum is the least noisy estimate of the cost itself)."""
    names = list(contenders)
    for name in names:
        contenders[name]()  # warm-up
    best = dict.fromkeys(names, float("inf"))
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            gc.collect()
            start = time.perf_counter()
            contenders[name]()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def breakdown(bundle: ModelBundle, rows: list[dict[str, Any]], anchor_s: float) -> None:
    """What explain_rows adds to the TreeSHAP call, each part timed on its own (less exposed to
    machine noise than the difference of two long runs)."""
    kernel = get_explainer(bundle)
    columns = bundle.encode(rows)
    model_input = bundle.model_input(columns)
    encode_s = timeit(lambda: bundle.model_input(bundle.encode(rows)), 5)
    transformed = bundle.transform(model_input)
    output_s = timeit(lambda: bundle.raw_output(transformed), 5)
    raw = kernel.explain(model_input)
    real = kernel.explain
    kernel.explain = lambda _model_input: raw  # type: ignore[method-assign]
    try:
        rest_s = timeit(lambda: explain_rows(bundle, rows), 5) - encode_s
    finally:
        kernel.explain = real  # type: ignore[method-assign]
    added = encode_s + output_s + rest_s
    print(
        f"\nadded work at {len(rows):,} rows, timed separately: validation+encoding "
        f"{encode_s * 1e3:.0f} ms, independent model output (additivity check) "
        f"{output_s * 1e3:.0f} ms, grouping/ranking/presentation/flags/result objects "
        f"{rest_s * 1e3:.0f} ms; total {added * 1e3:.0f} ms = {added / anchor_s:.1%} of the "
        f"fastest anchor ({anchor_s * 1e3:.0f} ms)"
    )


def bench_model(label: str, model: Any, x: np.ndarray, sizes: list[int]) -> None:
    import shap

    artifact = sio.dumps(model)
    start = time.perf_counter()
    bundle = ModelBundle.from_bytes(artifact, manifest())
    load_s = time.perf_counter() - start
    EXPLAINER_CACHE.clear()
    start = time.perf_counter()
    get_explainer(bundle)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    tree_explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
    shap_build_s = time.perf_counter() - start
    cost = explainers.estimate_cost(model)
    print(f"\n## {label}\n")
    print(
        f"artifact {len(artifact) / 1e6:.2f} MB; load+check (from_bytes) {load_s * 1e3:.1f} ms; "
        f"explainer construction {build_s * 1e3:.1f} ms (shap.TreeExplainer alone "
        f"{shap_build_s * 1e3:.1f} ms); cost units {cost.units:,.0f} (high={cost.high})\n"
    )
    print(
        "| rows | anchor | anchor rows/s | explain_rows(dicts) rows/s | ratio | "
        "explain_rows(DataFrame) rows/s | ratio |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|")
    for n in sizes:
        xs = x[:n]
        rows = [dict(zip(KEYS, r, strict=True)) for r in xs.tolist()]
        frame = pd.DataFrame(xs, columns=KEYS)
        rounds = 30 if n == 1 else (15 if n <= 100 else 3)
        contenders: dict[str, Callable[[], Any]] = {
            "shap.TreeExplainer.shap_values": lambda xs=xs: tree_explainer.shap_values(
                xs, check_additivity=False
            ),
        }
        if type(model).__module__.startswith("xgboost"):
            import xgboost as xgb

            booster = model.get_booster()
            contenders["xgboost pred_contribs"] = lambda xs=xs, b=booster: b.predict(
                xgb.DMatrix(xs), pred_contribs=True
            )
        contenders["ours/dicts"] = lambda rows=rows: explain_rows(bundle, rows)
        contenders["ours/frame"] = lambda frame=frame: explain_rows(bundle, frame)
        times = interleaved(contenders, rounds)
        ours_dicts, ours_frame = times.pop("ours/dicts"), times.pop("ours/frame")
        anchors = times
        fastest = min(anchors.values())
        for name, t in anchors.items():
            mark = " (fastest)" if t == fastest and len(anchors) > 1 else ""
            print(
                f"| {n:,} | {name}{mark} | {n / t:,.0f} | {n / ours_dicts:,.0f} | "
                f"{ours_dicts / t:.2f} | {n / ours_frame:,.0f} | {ours_frame / t:.2f} |"
            )
    rows = [dict(zip(KEYS, r, strict=True)) for r in x[: sizes[-1]].tolist()]
    breakdown(bundle, rows, fastest)
    tracemalloc.start()
    explain_rows(bundle, rows)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"\npeak Python allocations explaining {len(rows):,} rows (tracemalloc): "
        f"{peak / 1e6:.1f} MB"
    )


def bench_demo(sizes: tuple[int, ...] = (1, 32, 128)) -> None:
    """The two demo models with their registered backgrounds, as the worker explains them:
    milliseconds per decision for a group of ``n`` decisions (what a citizen's explanation
    costs, probability-scale contributions included)."""
    from explainers import counterfactual
    from portal.demo import build_demo_models
    from portal.demo.synthetic import byggesag_population, ledighed_population

    print("\n## demo models (registered background, as the worker explains them)\n")
    print("| model | explainer | group of n decisions | ms per decision | counterfactual ms |")
    print("|---|---|---:|---:|---:|")
    populations = {
        "ledighedsrisiko": ledighed_population,
        "byggesagsscreening": byggesag_population,
    }
    for model in build_demo_models():
        bundle = ModelBundle.from_bytes(model.artifact, model.manifest, model.background_csv)
        rows = populations[model.name](np.random.default_rng(11), max(sizes))[0]
        EXPLAINER_CACHE.clear()
        first = explain_rows(bundle, rows[:1])[0]  # builds the explainer
        method = getattr(first.presentation, "method", "rescaled")
        # a case the model's counterfactual_for covers, so the search really runs
        covered = getattr(bundle.manifest, "counterfactual_wanted", lambda _output: True)
        wanted = [r for r in rows if covered(explainers.predict(bundle, [r])[0])]
        cf_s = timeit(lambda b=bundle, row=(wanted or rows)[0]: counterfactual(b, row), 3)
        for n in sizes:
            t = timeit(
                lambda n=n, b=bundle, rows=rows: explain_rows(b, rows[:n]), 5 if n > 1 else 15
            )
            print(
                f"| {model.name} | {first.explainer}/{method} | {n} | {t / n * 1e3:.2f} | "
                f"{cf_s * 1e3:.1f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1 and 100 rows only")
    parser.add_argument("--demo", action="store_true", help="only the demo models")
    args = parser.parse_args()
    if args.demo:
        bench_demo()
        return
    sizes = [1, 100] if args.quick else [1, 100, 10_000]
    import shap
    import sklearn

    print(
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}, "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )
    print(
        f"python {sys.version.split()[0]}, shap {shap.__version__}, "
        f"scikit-learn {sklearn.__version__}, numpy {np.__version__}"
    )
    x_train = make_data(5000, seed=0)
    y = labels(x_train)
    x = make_data(max(sizes), seed=7)
    try:
        import xgboost as xgb

        print(f"xgboost {xgb.__version__}")
        threads = int(os.environ.get("OMP_NUM_THREADS", "0")) or None
        model = xgb.XGBClassifier(
            n_estimators=200, max_depth=6, random_state=0, tree_method="hist", n_jobs=threads
        ).fit(x_train, y)
        bench_model("xgboost XGBClassifier, 200 trees, depth 6, 20 features", model, x, sizes)
    except ImportError:
        print("xgboost not installed: skipping its anchor")
    from sklearn.ensemble import HistGradientBoostingClassifier

    hgb = HistGradientBoostingClassifier(
        max_iter=200, max_depth=6, max_leaf_nodes=None, early_stopping=False, random_state=0
    ).fit(x_train, y)
    bench_model(
        "sklearn HistGradientBoostingClassifier, 200 trees, depth 6, 20 features", hgb, x, sizes
    )
    bench_demo()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the whole benchmark process: {peak_rss:.0f} MB")


if __name__ == "__main__":
    main()
