"""Parameter files: strict validation (names, types, notebooks, output paths) and batch expansion.

No kernel runs here: papermill.inspect_notebook reads the declared parameters from the files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from goodpractice.errors import ParameterError
from goodpractice.reviews.params import (
    ReviewSpec,
    expand_spec,
    load_parameter_file,
    safe_output_dir,
)
from goodpractice.reviews.runner import plan, review_id

HERE = Path(__file__).parent
TINY = HERE / "notebooks" / "tiny.ipynb"
REPO = HERE.parent


def write(tmp_path: Path, data, name: str = "review.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def spec(**extra):
    return {"notebook": str(TINY), **extra}


def test_a_single_review_keeps_its_parameters(tmp_path):
    path = write(tmp_path, spec(parameters={"x": 3, "label": "durham"}, title="Tiny {label}"))
    (only,) = load_parameter_file(path, out_dir=tmp_path)
    assert only.parameters == {"x": 3, "label": "durham"}
    assert only.title == "Tiny durham"
    assert only.notebook == "tiny"
    assert only.source == str(path)


def test_a_batch_is_the_product_of_its_lists(tmp_path):
    path = write(tmp_path, spec(parameters={"ratio": 2.0},
                                batch={"label": ["a", "b", "c"], "x": [1, 2]}))
    specs = load_parameter_file(path, out_dir=tmp_path)
    assert len(specs) == 6
    assert {(s.parameters["label"], s.parameters["x"]) for s in specs} == {
        (lab, x) for lab in "abc" for x in (1, 2)
    }
    assert all(s.parameters["ratio"] == 2.0 for s in specs)


def test_a_file_can_list_several_reviews(tmp_path):
    path = write(tmp_path, {"reviews": [spec(parameters={"x": 1}), spec(parameters={"x": 2})]})
    assert [s.parameters["x"] for s in load_parameter_file(path, out_dir=tmp_path)] == [1, 2]


def test_a_misspelt_parameter_names_the_file_and_the_nearest_name(tmp_path):
    path = write(tmp_path, spec(parameters={"lable": "durham"}))
    with pytest.raises(ParameterError) as err:
        load_parameter_file(path, out_dir=tmp_path)
    msg = str(err.value)
    assert str(path) in msg
    assert "'lable'" in msg
    assert "did you mean 'label'?" in msg


def test_a_misspelt_batch_key_is_caught_too(tmp_path):
    path = write(tmp_path, spec(batch={"lable": ["a", "b"]}))
    with pytest.raises(ParameterError, match="did you mean 'label'"):
        load_parameter_file(path, out_dir=tmp_path)


def test_an_unrelated_name_lists_the_declared_parameters(tmp_path):
    path = write(tmp_path, spec(parameters={"zzzzzz": 1}))
    with pytest.raises(ParameterError, match="Declared parameters: x, label, ratio, tags"):
        load_parameter_file(path, out_dir=tmp_path)


def test_a_misspelt_file_key_is_reported(tmp_path):
    path = write(tmp_path, {"notebook": str(TINY), "parameter": {"x": 1}})
    with pytest.raises(ParameterError, match="did you mean 'parameters'"):
        load_parameter_file(path, out_dir=tmp_path)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("x", "three", "must be int, got str 'three'"),
        ("x", 1.5, "must be int, got float"),
        ("x", True, "must be int, got bool"),  # YAML 'yes' is not a number
        ("label", 2017, "put it in quotes"),     # YAML reads 2017 as a number
        ("ratio", "half", "must be float"),
        ("fail", "no", "must be bool"),
        ("tags", ["a", 3], "must be list[str]"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(tmp_path, name, value, expected):
    path = write(tmp_path, spec(parameters={name: value}))
    with pytest.raises(ParameterError) as err:
        load_parameter_file(path, out_dir=tmp_path)
    assert expected in str(err.value)
    assert f"'{name}'" in str(err.value)


def test_an_int_is_a_good_float(tmp_path):
    path = write(tmp_path, spec(parameters={"ratio": 2, "tags": ["a", "b"]}))
    assert load_parameter_file(path, out_dir=tmp_path)[0].parameters["ratio"] == 2


def test_an_unknown_notebook_suggests_the_nearest(tmp_path):
    path = write(tmp_path, {"notebook": "tyni", "parameters": {}})
    with pytest.raises(ParameterError) as err:
        load_parameter_file(path, notebooks_dir=HERE / "notebooks", out_dir=tmp_path)
    assert "unknown notebook 'tyni'" in str(err.value)
    assert "did you mean 'tiny'?" in str(err.value)


def test_a_missing_notebook_file_is_named(tmp_path):
    path = write(tmp_path, {"notebook": "nowhere/else.ipynb"})
    with pytest.raises(ParameterError, match="notebook file 'nowhere/else.ipynb' not found"):
        load_parameter_file(path, out_dir=tmp_path)


def test_bad_yaml_is_a_parameter_error(tmp_path):
    path = write(tmp_path, "notebook: [unclosed\n")
    with pytest.raises(ParameterError, match="not valid YAML"):
        load_parameter_file(path)


@pytest.mark.parametrize("bad", ["/etc", "../outside", "reviews/../../outside", "~/x"])
def test_output_dir_cannot_leave_the_output_folder(tmp_path, bad):
    out = tmp_path / "out"
    out.mkdir()
    path = write(tmp_path, spec(output_dir=bad))
    with pytest.raises(ParameterError, match="output_dir"):
        load_parameter_file(path, out_dir=out)


def test_a_symlink_leading_outside_is_refused(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, out / "reviews")
    path = write(tmp_path, spec())  # the default output_dir 'reviews' is now a way out
    with pytest.raises(ParameterError, match="symbolic link"):
        load_parameter_file(path, out_dir=out)
    # a symlink that stays inside is fine
    (out / "inner").mkdir()
    os.symlink(out / "inner", out / "alias")
    assert safe_output_dir(out, "alias") == (out / "inner").resolve()


def test_spec_dicts_are_validated_like_files(tmp_path):
    with pytest.raises(ParameterError, match="<spec>: unknown parameter 'lable'"):
        expand_spec(spec(parameters={"lable": "x"}))


def test_review_ids_follow_notebook_parameters_and_vintage(tmp_path):
    a = ReviewSpec("tiny", TINY, {"x": 1})
    assert review_id(a, "v1") == review_id(ReviewSpec("tiny", TINY, {"x": 1}), "v1")
    assert review_id(a, "v1") != review_id(a, "v2")
    assert review_id(a, "v1") != review_id(ReviewSpec("tiny", TINY, {"x": 2}), "v1")
    changed = tmp_path / "tiny.ipynb"
    changed.write_text(TINY.read_text().replace("Tiny review", "Tiny review, edited"))
    assert review_id(a, "v1") != review_id(ReviewSpec("tiny", changed, {"x": 1}), "v1")


def test_plan_merges_duplicates_and_places_outputs(tmp_path):
    records = plan([spec(parameters={"x": 1}), spec(parameters={"x": 1}),
                    spec(parameters={"x": 2}, output_dir="reviews/extra")], tmp_path)
    assert len(records) == 2
    assert records[0]["ipynb"] == f"reviews/{records[0]['id']}.ipynb"
    assert records[1]["html"] == f"reviews/extra/{records[1]['id']}.html"


# --- batches over a real dataset -------------------------------------------------------------


def test_all_units_and_period_ranges_come_from_the_dataset(tmp_path):
    pytest.importorskip("goodpractice.panel")
    from goodpractice.panel import load_example

    london = load_example("london")
    nb = HERE / "notebooks" / "dataset.ipynb"
    path = write(tmp_path, {"notebook": str(nb), "parameters": {"dataset": "london"},
                            "batch": {"unit": "all", "period": {"from": "2023-01", "to": "2023-12"}}})
    specs = load_parameter_file(path, out_dir=tmp_path)
    assert len(specs) == len(london.units) * 12
    assert {s.parameters["period"] for s in specs} == {f"2023-{m:02d}" for m in range(1, 13)}
    bad = write(tmp_path, {"notebook": str(nb), "parameters": {"dataset": "london"},
                           "batch": {"period": {"from": "2031-01", "to": "2031-12"}}}, "bad.yaml")
    with pytest.raises(ParameterError, match="no value of the dataset falls in"):
        load_parameter_file(bad, out_dir=tmp_path)


def test_every_shipped_parameter_file_validates(tmp_path):
    files = sorted((REPO / "parameters").glob("*.yaml"))
    if not files:
        pytest.skip("no parameter files yet")
    for f in files:
        assert plan([f], tmp_path), f
