"""`preprocess.schema: infer`: types, required-ness and kinds from a sample, overrides and
exclusions (and their errors), label mappings with integer keys or none, the CSV options of
ingest, and the dataset step defaulting its features, group key and kinds from the records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.common.config import load_section, validate_all
from components.common.errors import ConfigError, InputDataError
from components.common.records import read_records
from components.ingest.config import CsvSettings, IngestConfig
from components.ingest.ingest import snapshot
from components.preprocess import infer
from components.preprocess.schema import LabelSpec, PreprocessConfig
from tests.conftest import REPO


def preprocess_config(**section: Any) -> PreprocessConfig:
    return PreprocessConfig.model_validate({"schema": "infer", **section})


def column(*values: Any) -> list[Any]:
    return list(values)


# ---- types, required-ness and kinds ---------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "-2", "+30"], "int"),
        (["1", "2.5", "1e3"], "float"),
        (["true", "False", "TRUE"], "bool"),
        ([True, False], "bool"),
        (["0", "1"], "int"),  # 0/1 is a number, not a boolean
        (["02139", "10001"], "string"),  # a leading zero: a code (zip), not a number
        (["1", "n/a"], "string"),
        (["nan", "1.0"], "string"),  # not finite: no float feature can hold it
        ([3, 4.5], "float"),  # JSON numbers
        (["9" * 30], "string"),  # beyond 64 bits
        ([], "string"),
    ],
)
def test_types_are_the_narrowest_every_value_reads_as(values: list[Any], expected: str) -> None:
    assert infer.infer_type(values) == expected


def test_required_when_no_value_is_missing_in_the_sample() -> None:
    assert infer.infer_field("a", ["1", "2"]).required is True
    assert infer.infer_field("a", ["1", None]).required is False
    assert infer.infer_field("a", ["x", " "]).required is False  # a blank cell is missing
    spec = infer.infer_field("a", [None, "2", ""])
    assert (spec.type, spec.required) == ("int", False)  # the type from the present values


def test_kinds_by_type_cardinality_and_length() -> None:
    many = 100
    assert infer.infer_kind("age", "int", list(range(many))) == "numeric"
    assert infer.infer_kind("x", "float", [0.5] * many) == "numeric"
    assert infer.infer_kind("flag", "bool", [True, False] * 50) == "numeric"
    assert infer.infer_kind("user_id", "int", list(range(many))) == "id"  # named id, unique
    colours = ["red", "green", "blue"] * 40
    assert infer.infer_kind("colour", "string", colours) == "categorical"
    codes = [f"c{i:05d}" for i in range(many)]
    assert infer.infer_kind("code", "string", codes) == "id"  # nearly unique, one token
    reviews = [f"review number {i} says the film was fine" for i in range(many)]
    assert infer.infer_kind("text", "string", reviews) == "text"  # unique, many words
    # Few values: too few to call unique, so categorical.
    assert infer.infer_kind("code", "string", codes[:5]) == "categorical"
    # Long phrases that repeat (charge descriptions): categorical, not text.
    phrases = ["Aggravated Assault with a Firearm", "Petit Theft of a Bicycle"] * 50
    assert infer.infer_kind("desc", "string", phrases) == "categorical"


# ---- resolving the config: overrides, exclusions and their errors ---------------------------

COLUMNS = ["zip", "age", "city", "r_date", "r_charge", "outcome"]
ROWS = [
    {
        "zip": f"{10000 + i % 7}",
        "age": str(20 + i % 50),
        "city": ["Paris", "Oslo", None][i % 3],
        "r_date": f"2020-01-{i % 28 + 1:02d}",
        "r_charge": "x",
        "outcome": str(i % 2),
    }
    for i in range(60)
]


def test_resolve_infers_every_column_and_marks_overrides() -> None:
    config = preprocess_config(
        label={"field": "outcome"},
        overrides=[{"name": "zip", "type": "string"}, {"name": "age", "kind": "categorical"}],
        exclude=["r_*"],
    )
    resolved, doc = infer.resolve(config, COLUMNS, ROWS, "test")
    types = {f.name: (f.type, f.required, f.kind) for f in resolved.fields}
    assert types == {
        "zip": ("string", True, "categorical"),  # a new type: its kind inferred again
        "age": ("int", True, "categorical"),
        "city": ("string", False, "categorical"),
        "outcome": ("int", True, "numeric"),
    }
    assert doc["excluded"] == ["r_date", "r_charge"]
    assert {n: f["source"] for n, f in doc["fields"].items()} == {
        "zip": "overridden",
        "age": "overridden",
        "city": "inferred",
        "outcome": "inferred",
    }
    # Kept: every schema field but the label field, then the content-hash id and the label.
    assert list(doc["record_fields"]) == ["zip", "age", "city", "record_id", "label"]
    assert resolved.record_id == "record_id" and doc["record_id"] == "record_id"
    assert doc["inferred"] is True and doc["sample_rows"] == 60


def test_overrides_and_exclusions_that_match_nothing_are_errors_naming_them() -> None:
    config = preprocess_config(
        label={"field": "outcome"},
        overrides=[{"name": "zipcode", "type": "string"}, {"name": "age", "kind": "id"}],
        exclude=["q_*", "city"],
    )
    with pytest.raises(InputDataError) as err:
        infer.resolve(config, COLUMNS, ROWS, "data.csv")
    message = str(err.value)
    assert "data.csv" in message
    assert "preprocess.overrides name column(s) ['zipcode'] that do not exist" in message
    assert "preprocess.exclude ['q_*'] match(es) no column" in message
    assert "the columns are ['zip', 'age'" in message


def test_a_used_column_cannot_be_excluded_or_missing() -> None:
    config = preprocess_config(label={"field": "outcome"}, exclude=["outcome"])
    with pytest.raises(InputDataError, match=r"\['outcome'\] are excluded but used"):
        infer.resolve(config, COLUMNS, ROWS, "data.csv")
    config = preprocess_config(label={"field": "result"})
    with pytest.raises(InputDataError, match=r"uses column\(s\) \['result'\] that do not exist"):
        infer.resolve(config, COLUMNS, ROWS, "data.csv")


def test_overrides_need_an_inferred_schema() -> None:
    with pytest.raises(ValueError, match=r"overrides and exclude apply to an inferred schema"):
        PreprocessConfig.model_validate(
            {
                "schema": [{"name": "a"}],
                "label": {"field": "a"},
                "overrides": [{"name": "a", "kind": "id"}],
            }
        )
    with pytest.raises(ValueError, match=r"overrides name a column more than once"):
        preprocess_config(label={"field": "a"}, overrides=[{"name": "a"}, {"name": "a"}])


def test_a_declared_schema_resolves_to_itself_with_kinds_declared() -> None:
    config = PreprocessConfig.model_validate(
        {
            "schema": [{"name": "a", "kind": "text"}, {"name": "b", "type": "int"}],
            "label": {"field": "b"},
        }
    )
    resolved, doc = infer.resolve(config, [], [], "x")
    assert resolved is config
    assert doc["inferred"] is False and doc["record_id"] is None
    assert doc["fields"]["a"] == {
        "type": "string",
        "required": True,
        "kind": "text",
        "source": "declared",
    }
    assert list(doc["record_fields"]) == ["a", "label"]  # keep_fields: all but the label field


# ---- labels ---------------------------------------------------------------------------------


def test_label_mapping_keys_may_be_strings_or_integers() -> None:
    ints = LabelSpec.model_validate(yaml.safe_load("{field: y, mapping: {0: 0, 1: 1, 2: 1}}"))
    assert [ints.label_of(v) for v in (0, 1, 2, "1", "3", None)] == [0, 1, 1, 1, None, None]
    text = LabelSpec.model_validate({"field": "y", "mapping": {"yes": 1, "1": 1, "no": 0}})
    assert [text.label_of(v) for v in ("yes", 1, "no", "maybe")] == [1, 1, 0, None]
    none = LabelSpec.model_validate({"field": "y"})
    assert [none.label_of(v) for v in (0, 1, "1", True, "x", 1.5)] == [0, 1, 1, 1, None, None]
    with pytest.raises(ValueError, match=r"mapping keys must be strings or integers"):
        LabelSpec.model_validate({"field": "y", "mapping": {1.5: 1}})


# ---- CSV options ----------------------------------------------------------------------------


def read(path: Path, **settings: Any) -> list[dict[str, Any] | None]:
    options = CsvSettings.model_validate(settings).options()
    return [r.fields for r in read_records(str(path), "csv", options)]


def test_delimiter_quote_and_encoding(tmp_path: Path) -> None:
    semi = tmp_path / "semi.csv"
    semi.write_text("a;b\n1;'x;y'\n")
    assert read(semi, delimiter=";", quote="'") == [{"a": "1", "b": "x;y"}]
    tabs = tmp_path / "tabs.csv"
    tabs.write_text("a\tb\n1\t2\n")
    assert read(tabs, delimiter="\t") == [{"a": "1", "b": "2"}]
    spaced = tmp_path / "spaced.csv"
    spaced.write_text("  a   b\tc\n1  2 \t 3  \n 4 5 6\n")
    assert read(spaced, delimiter="whitespace") == [
        {"a": "1", "b": "2", "c": "3"},
        {"a": "4", "b": "5", "c": "6"},
    ]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name,city\nJosé,Zürich\n".encode("latin-1"))
    assert read(latin, encoding="latin-1") == [{"name": "José", "city": "Zürich"}]
    # Read as UTF-8 (the default), the same bytes are a row with undecodable bytes.
    assert read(latin) == [None]


def test_csv_settings_reject_bad_values() -> None:
    for bad, message in (
        ({"delimiter": ";;"}, "expected one character"),
        ({"quote": ""}, "expected one character"),
        ({"encoding": "utf-99"}, "not a known codec"),
        ({"duplicate_columns": "keep"}, "'error' or 'rename'"),
    ):
        with pytest.raises(ValueError, match=message):
            CsvSettings.model_validate(bad)


def test_duplicate_columns_are_an_error_unless_renamed(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("a,b,a,b,a,a_2\n1,2,3,4,5,6\n")
    with pytest.raises(InputDataError, match=r"repeated column name\(s\) 'a' \(columns 1, 3, 5\)"):
        read(path)
    with pytest.raises(InputDataError, match=r"duplicate_columns: rename"):
        read(path)  # the message names the option
    assert read(path, duplicate_columns="rename") == [
        {"a": "1", "b": "2", "a_3": "3", "b_2": "4", "a_4": "5", "a_2": "6"}
    ]


# ---- through ingest, preprocess and dataset (real Beam, in process) -------------------------

TABLE = "\n".join(
    ["id|city|score|score|note|flag|y"]
    + [
        f"{i}|{['Oslo', 'Lima', ''][i % 3]}|{i % 9}|{i % 5}|'a note | number {i} of many'|"
        f"{'true' if i % 4 else 'false'}|{int(i % 3 == 0)}"
        for i in range(90)
    ]
)


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    validate_all(str(path))
    return path


@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pipe-delimited table with a repeated header name, quoted cells and no id column, run
    through ingest, preprocess and dataset from a config with no schema and no features."""
    from components.dataset.executor import report
    from components.dataset.executor import run as dataset
    from components.preprocess.executor import run as preprocess

    tmp = tmp_path_factory.mktemp("table")
    (tmp / "src").mkdir()
    (tmp / "src" / "table.csv").write_text(TABLE + "\n")
    config = write_config(
        tmp,
        "model: {name: t}\n"
        "ingest: {csv: {delimiter: '|', quote: \"'\", duplicate_columns: rename}}\n"
        "preprocess:\n"
        "  schema: infer\n"
        "  label: {field: y}\n"
        "  exclude: [id]\n"
        "  overrides: [{name: score_2, kind: categorical}]\n",
    )
    options = load_section(str(config), "ingest", IngestConfig).csv.options()
    snapshot(str(tmp / "src" / "table.csv"), tmp / "raw", csv_options=options)
    preprocess(str(tmp / "raw"), str(config), tmp / "pre", [])
    stats = dataset(str(tmp / "pre"), str(config), tmp / "ds", [])
    report(stats, str(config), tmp / "report.html", tmp / "ds")
    return tmp


@pytest.mark.integration
def test_inferred_schema_flows_into_records_and_dataset(table_run: Path) -> None:
    manifest = json.loads((table_run / "raw" / "manifest.json").read_text())
    assert manifest["csv"]["delimiter"] == "|" and manifest["csv"]["quote"] == "'"
    pre = json.loads((table_run / "pre" / "stats.json").read_text())
    assert pre["rows_in"] == 90 and pre["rows_out"] == 90 and pre["dead_letter"] == 0
    schema = json.loads((table_run / "pre" / "schema.json").read_text())
    assert {n: (f["type"], f["required"], f["kind"]) for n, f in schema["fields"].items()} == {
        "city": ("string", False, "categorical"),
        "score": ("int", True, "numeric"),
        "score_2": ("int", True, "categorical"),
        "note": ("string", True, "text"),
        "flag": ("bool", True, "numeric"),
        "y": ("int", True, "numeric"),
    }
    assert schema["fields"]["score_2"]["source"] == "overridden" and schema["excluded"] == ["id"]
    lines = [
        json.loads(line)
        for f in (table_run / "pre" / "records").glob("*.jsonl")
        for line in f.read_text().splitlines()
    ]
    assert sorted({r["label"] for r in lines}) == [0, 1]  # the 0/1 field, no mapping
    assert set(lines[0]) == {"city", "score", "score_2", "note", "flag", "record_id", "label"}
    assert all(isinstance(r["flag"], bool) and "|" in r["note"] for r in lines)

    ds = json.loads((table_run / "ds" / "schema.json").read_text())
    assert ds["features"] == {
        "city": "string",
        "score": "int",
        "score_2": "int",
        "note": "string",
        "flag": "int",  # a bool is an int 0/1 in the TFRecords
        "record_id": "string",
        "label": "int",
    }
    assert ds["kinds"] == {
        "city": "categorical",
        "flag": "numeric",
        "note": "text",
        "record_id": "id",
        "score": "numeric",
        "score_2": "categorical",
    }
    assert ds["sources"]["score_2"] == "overridden" and ds["sources"]["city"] == "inferred"
    stats = json.loads((table_run / "ds" / "stats.json").read_text())
    assert stats["group_key"] == "record_id" and stats["leaked_groups"] == 0
    assert set(stats["splits"]) == {"train", "eval", "test"}  # the default splits
    page = (table_run / "report.html").read_text()
    assert "<h2>Schema</h2>" in page
    assert '<code>score_2</code></td><td class="l">int</td><td class="l">categorical' in page
    assert "inferred, overridden in preprocess.overrides" in page
    assert ds["excluded"] == ["id"] and "<code>preprocess.exclude</code>: <code>id</code>" in page


@pytest.mark.integration
def test_dataset_kinds_of_declared_strings_come_from_the_statistics(tmp_path: Path) -> None:
    """A declared schema with no kinds: strings are categorical unless nearly unique (text when
    long, an id when short); the group key is an id; declared kinds stand."""
    from components.dataset.executor import run as dataset
    from components.preprocess.executor import run as preprocess

    (tmp_path / "src").mkdir()
    rows = ["sku,colour,blurb,tag,y"] + [
        f"s{i:04d},{['red', 'blue'][i % 2]},this blurb {i} is long enough to be free text "
        f"about the item,t{i},{i % 2}"
        for i in range(80)
    ]
    (tmp_path / "src" / "items.csv").write_text("\n".join(rows) + "\n")
    config = write_config(
        tmp_path,
        "model: {name: t}\n"
        "preprocess:\n"
        "  schema: [{name: sku}, {name: colour}, {name: blurb}, {name: tag, kind: categorical},"
        " {name: y, type: int}]\n"
        "  label: {field: y, mapping: {0: 0, 1: 1}}\n"
        "  record_id: rid\n"
        "dataset: {splits: {train: 50, test: 50}}\n",
    )
    snapshot(str(tmp_path / "src" / "items.csv"), tmp_path / "raw")
    preprocess(str(tmp_path / "raw"), str(config), tmp_path / "pre", [])
    dataset(str(tmp_path / "pre"), str(config), tmp_path / "ds", [])
    ds = json.loads((tmp_path / "ds" / "schema.json").read_text())
    assert ds["kinds"] == {
        "blurb": "text",
        "colour": "categorical",
        "rid": "id",
        "sku": "id",
        "tag": "categorical",  # declared
    }
    assert ds["sources"]["sku"] == "declared"


def test_dataset_without_features_or_group_key_needs_the_records_schema(tmp_path: Path) -> None:
    from components.dataset.executor import resolve
    from components.dataset.split import DatasetSection

    with pytest.raises(InputDataError, match=r"dataset.features is not set"):
        resolve(DatasetSection(), None, "c.yaml")
    schema: Any = {"record_id": None, "record_fields": {"a": {"type": "bool", "source": "x"}}}
    with pytest.raises(InputDataError, match=r"dataset.group_key is not set"):
        resolve(DatasetSection(), schema, "c.yaml")
    config, sources = resolve(DatasetSection(group_key="a"), schema, "c.yaml")
    assert config.features == {"a": "int"} and sources == {"a": "x"}


@pytest.mark.parametrize("name", ["compas.yaml", "adult-inferred.yaml"])
def test_table_configs_are_short_and_valid(name: str) -> None:
    path = REPO / "config" / name
    assert len(path.read_text().splitlines()) <= 15
    sections = validate_all(str(path))
    pre = sections["preprocess"]
    assert isinstance(pre, PreprocessConfig) and pre.inferred


def test_a_bad_inference_setting_fails_validation(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("preprocess: {schema: guess, label: {field: y}}\n")
    with pytest.raises(ConfigError, match=r"preprocess.schema"):
        validate_all(str(path))
