"""What a loaded model is: preprocessing, final estimator, explainer family, column mapping.

Heavy libraries (scikit-learn, scipy) are imported lazily inside functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from explainers.errors import UnsupportedModelError

Family = Literal["tree", "linear", "permutation"]
Scale = Literal["log-odds", "probability", "raw"]
FloatArray = npt.NDArray[np.float64]

_TREE_SKLEARN = {
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "ExtraTreeClassifier",
    "ExtraTreeRegressor",
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor",
}
# Tree models whose classifier output SHAP explains in log-odds (margin) space.
_MARGIN_TREES = {"GradientBoostingClassifier", "HistGradientBoostingClassifier"}
_LINEAR = {"LogisticRegression", "LinearRegression", "Ridge", "Lasso", "ElasticNet"}
# Transformers whose outputs map one-to-one onto their inputs.
_ONE_TO_ONE = {
    "StandardScaler",
    "MinMaxScaler",
    "MaxAbsScaler",
    "RobustScaler",
    "OrdinalEncoder",
    "SimpleImputer",
}


@dataclass(frozen=True)
class ModelInfo:
    """Structural facts about a model, computed once per model version."""

    model: Any
    preprocessor: Any | None
    estimator: Any
    backend: str  # "sklearn", "xgboost", "lightgbm"
    family: Family
    scale: Scale
    is_classifier: bool
    classes: tuple[Any, ...]
    input_names: tuple[str, ...] | None
    n_inputs: int
    #: For each column the final estimator sees, the index of the model input it comes from.
    column_map: tuple[int, ...] | None
    #: Model input index -> categories of the fitted encoder reading that column.
    encoder_categories: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    unsupported: tuple[str, ...] = ()


def _name(obj: Any) -> str:
    return type(obj).__name__


def _module(obj: Any) -> str:
    return type(obj).__module__


def _resolve_columns(columns: Any, names: list[str] | None, n_in: int) -> list[int]:
    """Indices of the ColumnTransformer inputs a fitted sub-transformer reads."""
    if isinstance(columns, slice):
        return list(range(n_in))[columns]
    if isinstance(columns, str | int | np.integer):
        columns = [columns]
    cols = list(columns)
    if cols and all(isinstance(c, bool | np.bool_) for c in cols):
        return [i for i, flag in enumerate(cols) if flag]
    out: list[int] = []
    for col in cols:
        if isinstance(col, str):
            if names is None or col not in names:
                raise UnsupportedModelError(f"column {col!r} not among the model inputs")
            out.append(names.index(col))
        else:
            out.append(int(col))
    return out


def _map_transformer(trans: Any, n_in: int, cats: dict[int, tuple[Any, ...]]) -> list[int]:
    """For each output column of a fitted transformer, the input column it derives from.

    Structural (from fitted attributes), never by parsing output feature names. Records the
    categories of encoders in ``cats`` keyed by input index. Raises UnsupportedModelError for
    a transformer whose outputs mix several inputs.
    """
    if isinstance(trans, str):
        if trans == "drop":
            return []
        if trans == "passthrough":
            return list(range(n_in))
        raise UnsupportedModelError(f"unknown transformer {trans!r}")
    name = _name(trans)
    if name == "Pipeline":
        mapping = list(range(n_in))
        for _, step in trans.steps:
            if step is None or step == "passthrough":
                continue
            step_cats: dict[int, tuple[Any, ...]] = {}
            step_map = _map_transformer(step, len(mapping), step_cats)
            for pos, learned in step_cats.items():
                cats[mapping[pos]] = learned
            mapping = [mapping[k] for k in step_map]
        return mapping
    if name == "ColumnTransformer":
        names = list(getattr(trans, "feature_names_in_", [])) or None
        out: dict[int, int] = {}
        for tname, sub, columns in trans.transformers_:
            idx = _resolve_columns(columns, names, n_in)
            sl = trans.output_indices_[tname]
            inner: dict[int, tuple[Any, ...]] = {}
            sub_map = _map_transformer(sub, len(idx), inner) if idx else []
            if len(sub_map) != sl.stop - sl.start:
                raise UnsupportedModelError(f"cannot map the outputs of {tname!r}")
            for k, src in enumerate(sub_map):
                out[sl.start + k] = idx[src]
            for i, values in inner.items():
                cats[idx[i]] = values
        if sorted(out) != list(range(len(out))):
            raise UnsupportedModelError("ColumnTransformer outputs are not contiguous")
        return [out[k] for k in range(len(out))]
    if name == "OneHotEncoder":
        onehot: list[int] = []
        drop_idx = getattr(trans, "drop_idx_", None)
        infrequent = getattr(trans, "infrequent_categories_", None)
        for i, values in enumerate(trans.categories_):
            n = len(values)
            if infrequent is not None and infrequent[i] is not None:
                n -= len(infrequent[i]) - 1
            if drop_idx is not None and drop_idx[i] is not None:
                n -= 1
            onehot.extend([i] * n)
            cats[i] = tuple(values)
        if len(onehot) != len(trans.get_feature_names_out()):
            raise UnsupportedModelError("cannot map the outputs of OneHotEncoder")
        return onehot
    if name == "FunctionTransformer" and trans.func is None:
        return list(range(n_in))  # identity ("passthrough" inside a ColumnTransformer)
    if name in _ONE_TO_ONE:
        if name == "SimpleImputer" and getattr(trans, "add_indicator", False):
            raise UnsupportedModelError("SimpleImputer(add_indicator=True) is not supported")
        if name == "OrdinalEncoder":
            for i, values in enumerate(trans.categories_):
                cats[i] = tuple(values)
        n_out = len(trans.get_feature_names_out())
        if n_out != n_in:
            raise UnsupportedModelError(f"{name} does not map one-to-one")
        return list(range(n_in))
    raise UnsupportedModelError(f"transformer {name} is not supported")


def _family(estimator: Any) -> tuple[str, Family]:
    module, name = _module(estimator), _name(estimator)
    if module.startswith("xgboost"):
        return "xgboost", "tree"
    if module.startswith("lightgbm"):
        return "lightgbm", "tree"
    if name in _TREE_SKLEARN:
        return "sklearn", "tree"
    if name in _LINEAR:
        return "sklearn", "linear"
    return "sklearn", "permutation"


def inspect_model(model: Any) -> ModelInfo:
    """Split a fitted model into preprocessing and final estimator and classify it."""
    from sklearn.base import is_classifier

    steps = getattr(model, "steps", None)
    if _name(model) == "Pipeline" and steps:
        estimator = steps[-1][1]
        pre_steps = [(n, s) for n, s in steps[:-1] if s is not None and s != "passthrough"]
        preprocessor = model[:-1] if pre_steps else None
    else:
        estimator, preprocessor = model, None
    if not hasattr(estimator, "predict"):
        raise UnsupportedModelError(f"{_name(estimator)} has no predict method")
    names = getattr(model, "feature_names_in_", None)
    input_names = tuple(str(n) for n in names) if names is not None else None
    n_inputs = int(getattr(model, "n_features_in_", 0) or (len(input_names or ())))
    backend, family = _family(estimator)
    classifier = bool(is_classifier(estimator))
    classes = tuple(getattr(estimator, "classes_", ()))
    unsupported: list[str] = []
    if classifier and len(classes) != 2:
        unsupported.append("multiclass-not-supported")
    cats: dict[int, tuple[Any, ...]] = {}
    column_map: tuple[int, ...] | None
    try:
        if preprocessor is None:
            column_map = tuple(range(n_inputs))
        else:
            column_map = tuple(_map_transformer(preprocessor, n_inputs, cats))
    except UnsupportedModelError as exc:
        column_map = None
        unsupported.append(f"unsupported-preprocessing: {exc}")
    if family != "permutation" and column_map is None:
        # Exact explainers need the column mapping; anything else still works on raw inputs.
        family = "permutation"
    scale: Scale
    if not classifier:
        scale = "raw"
    elif family == "permutation":
        scale = "probability"  # model-agnostic: explains predict_proba directly
    elif (
        family == "linear"
        or backend in ("xgboost", "lightgbm")
        or _name(estimator) in _MARGIN_TREES
    ):
        scale = "log-odds"
    else:
        scale = "probability"  # sklearn forests and single trees average leaf probabilities
    return ModelInfo(
        model=model,
        preprocessor=preprocessor,
        estimator=estimator,
        backend=backend,
        family=family,
        scale=scale,
        is_classifier=classifier,
        classes=classes,
        input_names=input_names,
        n_inputs=n_inputs,
        column_map=column_map,
        encoder_categories=cats,
        unsupported=tuple(unsupported),
    )


@dataclass(frozen=True)
class CostEstimate:
    """Expected per-row explanation cost, in tree-SHAP work units.

    ``units = trees x leaves x depth^2`` (the cost of path-dependent TreeSHAP per row); ``high``
    is set above ``HIGH_COST_UNITS``: deep random forests land there and cost ~50x a typical
    boosted model. Linear models cost ~features; permutation explainers cost
    ``evaluations`` model calls per row.
    """

    family: Family
    trees: int
    max_leaves: int
    max_depth: int
    units: float
    evaluations: int
    high: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "trees": self.trees,
            "max_leaves": self.max_leaves,
            "max_depth": self.max_depth,
            "units": float(self.units),
            "evaluations": self.evaluations,
            "high": self.high,
        }


#: About 5x a 200-tree depth-6 boosted model (200 x 64 x 36 = 460,800 units).
HIGH_COST_UNITS = 2_500_000.0


def _tree_shapes(estimator: Any) -> list[tuple[int, int]]:
    """(leaves, depth) per tree."""
    module, name = _module(estimator), _name(estimator)
    shapes: list[tuple[int, int]] = []
    if module.startswith("xgboost"):
        import json

        for dump in estimator.get_booster().get_dump(dump_format="json"):
            node = json.loads(dump)
            shapes.append(_json_tree_shape(node, "children"))
        return shapes
    if module.startswith("lightgbm"):
        info = estimator.booster_.dump_model()["tree_info"]
        for tree in info:
            shapes.append((int(tree["num_leaves"]), _lgb_depth(tree["tree_structure"])))
        return shapes
    if name.startswith("HistGradientBoosting"):
        for iteration in estimator._predictors:
            for predictor in iteration:
                nodes = predictor.nodes
                shapes.append((int(nodes["is_leaf"].sum()), int(nodes["depth"].max())))
        return shapes
    trees: list[Any]
    if hasattr(estimator, "estimators_"):
        trees = list(np.ravel(np.asarray(estimator.estimators_, dtype=object)))
    else:
        trees = [estimator]
    for tree in trees:
        shapes.append((int(tree.get_n_leaves()), int(tree.get_depth())))
    return shapes


def _json_tree_shape(node: dict[str, Any], key: str, depth: int = 0) -> tuple[int, int]:
    children = node.get(key)
    if not children:
        return 1, depth
    leaves, deepest = 0, depth
    for child in children:
        n, d = _json_tree_shape(child, key, depth + 1)
        leaves += n
        deepest = max(deepest, d)
    return leaves, deepest


def _lgb_depth(node: dict[str, Any], depth: int = 0) -> int:
    if "leaf_index" in node or ("leaf_value" in node and "left_child" not in node):
        return depth
    return max(
        _lgb_depth(node["left_child"], depth + 1), _lgb_depth(node["right_child"], depth + 1)
    )


def estimate_cost(model: Any, *, evaluations: int = 0) -> CostEstimate:
    """Expected cost of explaining one row (see ``CostEstimate``); call at registration."""
    info = inspect_model(model)
    if info.family == "tree":
        shapes = _tree_shapes(info.estimator)
        units = float(sum(leaves * max(depth, 1) ** 2 for leaves, depth in shapes))
        return CostEstimate(
            family="tree",
            trees=len(shapes),
            max_leaves=max(s[0] for s in shapes),
            max_depth=max(s[1] for s in shapes),
            units=units,
            evaluations=0,
            high=units > HIGH_COST_UNITS,
        )
    if info.family == "linear":
        return CostEstimate("linear", 0, 0, 0, float(len(info.column_map or ())), 0, False)
    return CostEstimate("permutation", 0, 0, 0, float(evaluations), evaluations, False)
