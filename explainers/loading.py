"""Safe loading of ``.skops`` artifacts with a fixed allowlist of trusted types.

skops' own default trust list is broad (every scikit-learn estimator, including
``FunctionTransformer``, and numpy ufuncs), so we never rely on it: before anything is
deserialised we read ``schema.json`` from the zip and check *every* node's type and loader
against the allowlist below. Only then is ``skops.io.loads`` called, with ``trusted`` set to our
own list (never the file's ``get_untrusted_types``). skops then re-checks, as a second line.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

from explainers.errors import InvalidArtifactError, UnsafeArtifactError

#: Upper bound on the uncompressed size of an artifact (zip-bomb guard).
MAX_UNCOMPRESSED_BYTES = 1 << 30

_SK = "sklearn."
#: Estimators and transformers a registered model may consist of.
_SKLEARN_ESTIMATORS = (
    "pipeline.Pipeline",
    "compose._column_transformer.ColumnTransformer",
    "preprocessing._encoders.OneHotEncoder",
    "preprocessing._encoders.OrdinalEncoder",
    "preprocessing._data.StandardScaler",
    "preprocessing._data.MinMaxScaler",
    "preprocessing._data.MaxAbsScaler",
    "preprocessing._data.RobustScaler",
    "preprocessing._label.LabelEncoder",
    "impute._base.SimpleImputer",
    # only as the identity ColumnTransformer stores for "passthrough": see _identity_only
    "preprocessing._function_transformer.FunctionTransformer",
    "ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "ensemble._forest.RandomForestClassifier",
    "ensemble._forest.RandomForestRegressor",
    "ensemble._forest.ExtraTreesClassifier",
    "ensemble._forest.ExtraTreesRegressor",
    "ensemble._gb.GradientBoostingClassifier",
    "ensemble._gb.GradientBoostingRegressor",
    "tree._classes.DecisionTreeClassifier",
    "tree._classes.DecisionTreeRegressor",
    "tree._classes.ExtraTreeClassifier",
    "tree._classes.ExtraTreeRegressor",
    "linear_model._logistic.LogisticRegression",
    "linear_model._base.LinearRegression",
    "linear_model._ridge.Ridge",
    "linear_model._coordinate_descent.Lasso",
    "linear_model._coordinate_descent.ElasticNet",
    "neighbors._classification.KNeighborsClassifier",
    "neighbors._regression.KNeighborsRegressor",
    "svm._classes.SVC",
    "svm._classes.SVR",
    "dummy.DummyClassifier",
    "dummy.DummyRegressor",
)
#: scikit-learn internals the estimators above are made of (found with
#: ``skops.io.get_untrusted_types`` and by walking schema.json of artifacts built in tests).
_SKLEARN_INTERNALS = (
    "tree._tree.Tree",
    "ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "ensemble._hist_gradient_boosting.binning._BinMapper",
    "_loss.loss.HalfBinomialLoss",
    "_loss.loss.HalfSquaredError",
    "_loss._loss.CyHalfBinomialLoss",
    "_loss._loss.CyHalfSquaredError",
    "_loss.link.IdentityLink",
    "_loss.link.LogitLink",
    "_loss.link.Interval",
    "neighbors._kd_tree.KDTree",
    "neighbors._ball_tree.BallTree",
    "metrics._dist_metrics.EuclideanDistance64",
)
_NUMPY = (
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.random._generator.Generator",
    "numpy.random.mtrand.RandomState",
    *(
        f"numpy.{name}"
        for name in (
            "float16",
            "float32",
            "float64",
            "int8",
            "int16",
            "int32",
            "int64",
            "uint8",
            "uint16",
            "uint32",
            "uint64",
            "bool_",
            "str_",
            "bytes_",
            "object_",
        )
    ),
)
_BUILTINS = (
    *(
        f"builtins.{name}"
        for name in (
            "dict",
            "list",
            "tuple",
            "str",
            "int",
            "float",
            "bool",
            "NoneType",
            "bytes",
            "bytearray",
            "slice",
            "complex",
        )
    ),
    "collections.OrderedDict",
    "collections.defaultdict",
)
_XGBOOST = (
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
    "xgboost.sklearn.XGBRegressor",
)
_LIGHTGBM = (
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
)

#: The fixed allowlist. Functions, methods and everything else are refused;
#: ``FunctionTransformer`` only passes without a function (identity, see ``_identity_only``).
TRUSTED_TYPES: frozenset[str] = frozenset(
    tuple(_SK + name for name in _SKLEARN_ESTIMATORS + _SKLEARN_INTERNALS)
    + _NUMPY
    + _BUILTINS
    + _XGBOOST
    + _LIGHTGBM
)

#: skops node loaders that only rebuild data; FunctionNode, MethodNode, OperatorFuncNode,
#: ReduceNode and unknown loaders are refused whatever type they name.
ALLOWED_LOADERS: frozenset[str] = frozenset(
    {
        "ObjectNode",
        "DictNode",
        "ListNode",
        "TupleNode",
        "JsonNode",
        "TypeNode",
        "NdArrayNode",
        "DTypeNode",
        "TreeNode",
        "LossNode",
        "SliceNode",
        "BytesNode",
        "BytearrayNode",
        "DefaultDictNode",
        "RandomStateNode",
        "RandomGeneratorNode",
        "SparseMatrixNode",
    }
)


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of bytes (artifact and background fingerprints)."""
    return hashlib.sha256(data).hexdigest()


def _walk_nodes(node: Any) -> Iterator[tuple[str, str]]:
    """Yield (loader, "module.class") for every typed node of a skops schema."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__class__" in item or "__module__" in item or "__loader__" in item:
                yield (
                    str(item.get("__loader__")),
                    f"{item.get('__module__')}.{item.get('__class__')}",
                )
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _read_schema(data: bytes) -> dict[str, Any]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidArtifactError("not-bytes", "artifact must be bytes")
    data = bytes(data)
    if data[:1] == b"\x80" or data[:2] in (b"(d", b"(l", b"cc"):
        raise InvalidArtifactError("raw-pickle", "pickle files are never loaded; use skops")
    if not data.startswith(b"PK"):
        raise InvalidArtifactError("not-a-zip", "a .skops artifact is a zip file")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(info.file_size for info in archive.infolist())
            if total > MAX_UNCOMPRESSED_BYTES:
                raise InvalidArtifactError("too-large", "uncompressed artifact is too large")
            raw = archive.read("schema.json")
            if archive.testzip() is not None:
                raise InvalidArtifactError("corrupt-zip", "a member of the zip is corrupt")
    except InvalidArtifactError:
        raise
    except KeyError as exc:
        raise InvalidArtifactError("missing-schema", "schema.json not found in zip") from exc
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise InvalidArtifactError("corrupt-zip", f"cannot read zip: {exc}") from exc
    try:
        schema = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArtifactError("bad-schema", "schema.json is not valid JSON") from exc
    if not isinstance(schema, dict) or "protocol" not in schema:
        raise InvalidArtifactError("bad-schema", "schema.json is not a skops schema")
    return schema


def artifact_types(data: bytes) -> set[str]:
    """Every "module.class" named in the artifact's schema, without loading anything."""
    return {name for _, name in _walk_nodes(_read_schema(data))}


_FUNCTION_TRANSFORMER = "sklearn.preprocessing._function_transformer.FunctionTransformer"


def _identity_only(schema: Any) -> bool:
    """Every FunctionTransformer in the schema has no func/inverse_func (is the identity
    scikit-learn's ColumnTransformer stores for "passthrough")."""
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if f"{item.get('__module__')}.{item.get('__class__')}" == _FUNCTION_TRANSFORMER:
                state = item.get("content", {}).get("content", {})
                for attr in ("func", "inverse_func"):
                    node = state.get(attr)
                    if not (
                        isinstance(node, dict)
                        and node.get("__loader__") == "JsonNode"
                        and node.get("content") == "null"
                    ):
                        return False
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def refused_types(data: bytes) -> list[str]:
    """Types (and forbidden loaders) in the artifact that the allowlist refuses."""
    schema = _read_schema(data)
    refused: set[str] = set()
    for loader, name in _walk_nodes(schema):
        if name not in TRUSTED_TYPES:
            refused.add(name)
        elif loader not in ALLOWED_LOADERS:
            refused.add(f"{name} (loader {loader})")
    if not _identity_only(schema):
        refused.add(f"{_FUNCTION_TRANSFORMER} (with a function)")
    return sorted(refused)


def load_artifact(data: bytes) -> Any:
    """Load a ``.skops`` artifact, refusing anything outside the fixed allowlist.

    Raises ``InvalidArtifactError`` for bytes that are not a readable skops file and
    ``UnsafeArtifactError`` (listing the refused types) when the schema names any type or
    loader outside the allowlist. In both cases nothing from the artifact is executed.
    """
    refused = refused_types(data)
    if refused:
        raise UnsafeArtifactError(refused)
    import skops.io as sio  # imported lazily: it pulls in scikit-learn

    try:
        return sio.loads(bytes(data), trusted=sorted(TRUSTED_TYPES))
    except sio.exceptions.UntrustedTypesFoundException as exc:  # second line of defence
        raise UnsafeArtifactError([str(exc)]) from exc
    except (
        KeyError,
        ValueError,
        TypeError,
        AttributeError,
        ImportError,
        zipfile.BadZipFile,
        EOFError,
        OSError,
    ) as exc:
        raise InvalidArtifactError("load-failed", f"{type(exc).__name__}: {exc}") from exc
