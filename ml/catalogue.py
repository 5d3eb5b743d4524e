"""Feature catalogue: which features the model may use and how each one is explained.

The catalogue lives in ``ml/features.yml`` (see the comments there for the fields). ``load_catalogue``
reads and validates it; ``FeatureSpec.sentence`` turns one customer's value into a plain sentence.
A feature is numeric unless it declares ``unit: category`` (a text attribute such as the segment):
its value is then the category text, ``risk_when`` must be ``either`` and an optional
``sentences`` map gives one sentence per category. A trained model stores the specs of the
features it uses, so its explanations do not change when the catalogue file is edited later.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from ml.errors import CatalogueError

DIMENSIONS: tuple[str, ...] = ("engagement", "experience", "voice", "value")
RISK_SIDES: tuple[str, ...] = ("high", "low", "either")
CATEGORY = "category"  # the unit of a categorical (text) feature
DEFAULT_CATALOGUE_PATH = Path(__file__).with_name("features.yml")


_ZERO = re.compile(r"[-+]?[0,]*\.?0*%?")


def _is_missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


@dataclass(frozen=True)
class FeatureSpec:
    """One catalogue entry: a feature's dimension, label, format and sentence templates."""

    name: str
    dimension: str
    label: str
    unit: str
    fmt: str
    risk_when: str
    template: str
    missing: str
    zero: str | None = None
    sentences: dict[str, str] | None = field(default=None, hash=False)  # categories only
    # what the feature measures, shared by the features that measure one thing over different
    # windows (logins_30d, logins_90d): a customer's drivers name the strongest of them only
    measure: str | None = None

    @property
    def measure_key(self) -> str:
        return self.measure or self.name

    @property
    def is_categorical(self) -> bool:
        return self.unit == CATEGORY

    def format_value(self, x: float | str) -> str:
        """Format a number with this feature's format spec (``"n/a"`` for NaN); categories as text."""
        if _is_missing(x):
            return "n/a"
        if self.is_categorical:
            return str(x)
        text = format(float(x), self.fmt)
        # a value that rounds to zero reads "0.00", never "-0.00"
        return format(0.0, self.fmt) if _ZERO.fullmatch(text) else text

    def _on_risky_side(self, value: float, typical: float) -> bool:
        if self.risk_when == "either" or _is_missing(typical):
            return True
        return value > typical if self.risk_when == "high" else value < typical

    def sentence(self, value: float | str | None, typical: float | str | None) -> str:
        """Plain-language sentence for a value that pushes churn risk up.

        NaN/None gives the ``missing`` sentence; 0 gives ``zero`` when defined; a value on the
        expected risky side of ``typical`` gives ``template``; otherwise a neutral
        "<label>: <value>" sentence. " (typical <typical>)" is appended when typical is known.
        A category gives its ``sentences`` entry, else ``template`` with {value} = the category
        text, and no typical suffix (the sentence is about the category itself).
        """
        if _is_missing(value):
            return self.missing
        if self.is_categorical:
            text = str(value)
            return (self.sentences or {}).get(text, self.template).format(value=text)
        v = float(value)
        t = None if _is_missing(typical) else float(typical)
        if v == 0 and self.zero:
            text = self.zero
        elif self._on_risky_side(v, float("nan") if t is None else t):
            text = self.template.format(
                value=self.format_value(v),
                typical=self.format_value(float("nan") if t is None else t),
                abs_value=format(abs(v), self.fmt.replace("+", "")),
                s="" if abs(v) == 1 else "s",
            )
        else:
            text = f"{self.label}: {self.format_value(v)}"
        if t is not None and self.unit != "flag":
            text += f" (typical {self.format_value(t)})"
        return text

    def sentence_each(self, values: list[float | str | None], typical: float | str | None) -> list[str]:
        """``[self.sentence(v, typical) for v in values]``, with what depends only on ``typical``
        worked out once: scoring 100k customers asks for tens of thousands of sentences."""
        if self.is_categorical:
            return [self.sentence(v, typical) for v in values]
        t = None if _is_missing(typical) else float(typical)
        suffix = f" (typical {self.format_value(t)})" if t is not None and self.unit != "flag" else ""
        typical_text = self.format_value(float("nan") if t is None else t)
        fmt, abs_fmt, zero_fmt = self.fmt, self.fmt.replace("+", ""), format(0.0, self.fmt)
        side = "either" if t is None else self.risk_when
        out = []
        for v in values:
            if v is None or v != v:
                out.append(self.missing)
                continue
            v = float(v)
            if v == 0 and self.zero:
                out.append(self.zero + suffix)
                continue
            shown = format(v, fmt)
            if shown[0] == "-" and _ZERO.fullmatch(shown):  # rounds to zero: never "-0.00"
                shown = zero_fmt
            if side == "either" or (v > t if side == "high" else v < t):
                text = self.template.format(value=shown, typical=typical_text,
                                            abs_value=format(abs(v), abs_fmt),
                                            s="" if abs(v) == 1 else "s")
            else:
                text = f"{self.label}: {shown}"
            out.append(text + suffix)
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FeatureSpec":
        return cls(**{k: d.get(k) for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Catalogue:
    """The validated catalogue: feature specs by name (in file order) and dimension labels."""

    features: dict[str, FeatureSpec]
    dimension_labels: dict[str, str]

    def names(self) -> list[str]:
        return list(self.features)

    def __contains__(self, name: object) -> bool:
        return name in self.features

    def __getitem__(self, name: str) -> FeatureSpec:
        return self.features[name]


def _validate_spec(name: str, raw: Any, source: str) -> FeatureSpec:
    where = f"{source}: feature {name!r}"
    if not isinstance(raw, Mapping):
        raise CatalogueError(f"{where}: expected a mapping of fields, got {type(raw).__name__}")
    categorical = raw.get("unit") == CATEGORY
    required = ("dimension", "label", "risk_when", "template", "missing") + (() if categorical else ("fmt",))
    absent = [k for k in required if not raw.get(k)]
    if absent:
        raise CatalogueError(f"{where}: missing field(s) {', '.join(absent)}")
    if raw["dimension"] not in DIMENSIONS:
        raise CatalogueError(f"{where}: dimension {raw['dimension']!r} is not one of {', '.join(DIMENSIONS)}")
    if raw["risk_when"] not in RISK_SIDES:
        raise CatalogueError(f"{where}: risk_when {raw['risk_when']!r} is not one of {', '.join(RISK_SIDES)}")
    sentences = raw.get("sentences")
    if categorical:
        if raw["risk_when"] != "either":
            raise CatalogueError(f"{where}: a 'unit: category' feature has no high or low side; "
                                 f"risk_when must be 'either', not {raw['risk_when']!r}")
        if raw.get("zero"):
            raise CatalogueError(f"{where}: 'zero' applies to numbers only, not to a 'unit: category' feature")
        if sentences is not None and (not isinstance(sentences, Mapping) or not all(
                isinstance(v, str) and v.strip() for v in sentences.values())):
            raise CatalogueError(f"{where}: 'sentences' must map each category to a non-empty sentence, "
                                 "e.g. {lapsing: \"No payment ...\"}")
    elif sentences is not None:
        raise CatalogueError(f"{where}: 'sentences' is only for 'unit: category' features")
    spec = FeatureSpec(
        name=name,
        dimension=str(raw["dimension"]),
        label=str(raw["label"]),
        unit=str(raw.get("unit") or ""),
        fmt=str(raw.get("fmt") or "s"),
        risk_when=str(raw["risk_when"]),
        template=str(raw["template"]),
        missing=str(raw["missing"]),
        zero=str(raw["zero"]) if raw.get("zero") else None,
        sentences={str(k): str(v) for k, v in sentences.items()} if sentences else None,
        measure=str(raw["measure"]) if raw.get("measure") else None,
    )
    try:  # every template must format with the documented placeholders
        if categorical:
            for probe in ["some category", None, *(spec.sentences or {})]:
                spec.sentence(probe, "some category")
        else:
            for probe in (0.0, 1.0, 2.5, float("nan")):
                spec.sentence(probe, 2.0)
                spec.sentence(probe, float("nan"))
    except (KeyError, IndexError, ValueError) as exc:
        raise CatalogueError(f"{where}: template, sentences or fmt does not format ({exc!r})") from exc
    return spec


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Read and validate a feature catalogue YAML file (default: the packaged ``ml/features.yml``)."""
    source = Path(path) if path is not None else DEFAULT_CATALOGUE_PATH
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        doc = yaml.load(source.read_text(encoding="utf-8"), Loader=loader)
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(f"cannot read feature catalogue {source}: {exc}") from exc
    if not isinstance(doc, Mapping) or not isinstance(doc.get("features"), Mapping) or not doc["features"]:
        raise CatalogueError(f"{source}: expected a top-level 'features' mapping with at least one feature")
    features = {str(n): _validate_spec(str(n), raw, str(source)) for n, raw in doc["features"].items()}
    dims = doc.get("dimensions") or {}
    labels = {d: str((dims.get(d) or {}).get("label") or d.capitalize()) for d in DIMENSIONS}
    return Catalogue(features=features, dimension_labels=labels)
