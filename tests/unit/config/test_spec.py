from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from config.errors import SpecError
from config.spec import DatasetSpec, Task, check_inside, load_spec
from factories import spec_for_frames

VALID = """
name: demo
task: binary
target: label
timestamp: event_time
id: row_id
features:
  numeric: [age, amount]
  categorical: [country]
  text: [review]
reference: data/reference/demo.parquet
incoming: data/incoming/demo/
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_valid_spec_loads_with_paths_anchored_at_base(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, VALID), base=tmp_path)
    assert spec.task is Task.BINARY
    assert spec.feature_columns == ("age", "amount", "country", "review")
    assert spec.model_columns == ("age", "amount", "country")
    assert spec.required_columns[:2] == ("row_id", "event_time")
    assert spec.reference == tmp_path / "data/reference/demo.parquet"


def test_unknown_task_names_the_field_and_the_choices(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"task: must be one of: binary, multiclass, regression"):
        load_spec(write(tmp_path, VALID.replace("task: binary", "task: ranking")))


def test_column_with_two_roles_is_rejected(tmp_path: Path) -> None:
    text = VALID.replace("categorical: [country]", "categorical: [label]")
    with pytest.raises(
        SpecError, match=r"'label' is listed as both target and features\.categorical"
    ):
        load_spec(write(tmp_path, text))


def test_misspelt_field_is_reported_as_unknown(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="targt: unknown field"):
        load_spec(write(tmp_path, VALID + "targt: x\n"))


def test_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="DRIFTLOOP_PATHS__SPEC"):
        load_spec(tmp_path / "nope.yaml")


def test_spec_without_features_is_rejected(tmp_path: Path) -> None:
    text = VALID.replace("numeric: [age, amount]", "numeric: []").replace(
        "categorical: [country]", "categorical: []"
    )
    with pytest.raises(SpecError, match="at least one numeric, categorical or text column"):
        load_spec(write(tmp_path, text.replace("text: [review]", "text: []")))
    assert load_spec(write(tmp_path, text)).served_columns == ("review",)  # text alone will do


def test_slices_default_to_none_with_four_bins(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, VALID))
    assert spec.slices == () and spec.slice_bins == 4


def test_numeric_and_categorical_features_can_be_slices(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, VALID + "slices: [country, age]\nslice_bins: 3\n"))
    assert spec.slices == ("country", "age") and spec.slice_bins == 3


@pytest.mark.parametrize(
    ("slices", "message"),
    [
        ("[label]", r"slices: 'label' is not a feature column: list a column from features\."),
        ("[weather]", r"slices: 'weather' is not a feature column"),
        ("[review]", r"slices: 'review' is a text column: slice by a numeric or categorical"),
        ("[age, country, age]", r"slices: 'age' is listed twice: list each column once"),
    ],
)
def test_slice_must_be_a_model_feature_named_once(
    tmp_path: Path, slices: str, message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        load_spec(write(tmp_path, VALID + f"slices: {slices}\n"))


def test_fewer_than_two_slice_bins_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="slice_bins: Input should be greater than or equal to 2"):
        load_spec(write(tmp_path, VALID + "slices: [age]\nslice_bins: 1\n"))


def test_demo_spec_is_valid() -> None:
    root = Path(__file__).resolve().parents[3]
    spec = load_spec(root / "data" / "rainfall.yaml", base=root)
    assert spec.name == "rainfall" and len(spec.features.numeric) == 8
    assert spec.slices == ("temperature",)


def test_spec_paths_may_not_climb_out_of_the_project(tmp_path: Path) -> None:
    escaping = VALID.replace("incoming: data/incoming/demo/", "incoming: ../../etc/")
    with pytest.raises(SpecError, match=r"incoming: .*may not contain '\.\.'"):
        load_spec(write(tmp_path, escaping), base=tmp_path)
    absolute = VALID.replace("incoming: data/incoming/demo/", "incoming: /srv/batches/")
    assert load_spec(write(tmp_path, absolute), base=tmp_path).incoming == Path("/srv/batches")


def test_columns_the_spec_does_not_name_are_listed_in_file_order() -> None:
    spec = DatasetSpec.model_validate(spec_for_frames("toy", "r.parquet", "in"))
    assert spec.unnamed_columns(["t", "note", "x1", "y", "colour", "x2", "id"]) == ["note", "id"]


def test_an_unknown_time_zone_is_refused_with_examples(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    fields = spec_for_frames("toy", "r.parquet", "in") | {"timezone": "Mars/Olympus"}
    path.write_text(yaml.safe_dump(fields))
    with pytest.raises(SpecError, match="unknown time zone 'Mars/Olympus'"):
        load_spec(path)


def test_a_flows_spec_and_its_data_stay_inside_the_project(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    inside = spec_for_frames("toy", "data/ref.parquet", "data/incoming")
    spec = DatasetSpec.model_validate(inside)
    check_inside(project / "toy.yaml", spec, project)

    (tmp_path / "elsewhere").mkdir()
    (project / "data" / "link").symlink_to(tmp_path / "elsewhere")
    hostile = DatasetSpec.model_validate(
        inside | {"reference": "/etc/passwd", "incoming": "data/link/incoming"}
    )
    with pytest.raises(SpecError) as caught:
        check_inside(tmp_path / "sent.yaml", hostile, project)
    message = str(caught.value)
    assert "the spec file" in message and "reference /etc/passwd" in message
    assert "incoming data/link/incoming" in message
    assert "DRIFTLOOP_PATHS__ALLOW_OUTSIDE_PROJECT=true" in message
