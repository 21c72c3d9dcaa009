"""Rubric files: export → import gives the same tree; hostile or malformed files are refused with a Chinese
message naming the place, and nothing is written; the preview writes nothing; an import never overwrites."""

import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import load_workbook

from assessments import demo, rubrics, services
from assessments.models import Indicator, Rubric, RubricState
from tests.assessments.test_rubrics import small_file


def upload(content, name="rubric.json"):
    return SimpleUploadedFile(name, content if isinstance(content, bytes) else content.encode())


def test_export_then_import_gives_an_identical_tree(people):
    demo.build_rubrics(year=2026)
    for source in Rubric.objects.filter(year=2026):
        exported = rubrics.rubric_export(source)
        text = rubrics.dumps(exported)
        result = services.rubric_import(file=upload(text), by=people.admin, preview=False)
        copy = result.rubric
        assert copy.pk != source.pk and copy.state == RubricState.DRAFT
        assert copy.version == source.version + 1  # a new version of its code and year, never an overwrite
        assert not rubrics.diff(rubrics.snapshot(source), rubrics.snapshot(copy))
        assert rubrics.rubric_export(copy) | {"version": 0} == exported | {"version": 0}
        source.refresh_from_db()
        assert source.state == RubricState.PUBLISHED


def test_yaml_reads_like_json(people):
    import yaml

    text = yaml.safe_dump(json.loads(json.dumps(small_file())), allow_unicode=True)
    result = services.rubric_import(file=upload(text, "细则.yaml"), by=people.admin, preview=False)
    assert result.rubric.indicators.count() == 7


def test_the_preview_writes_nothing_and_shows_what_it_would_create(people):
    preview = services.rubric_import(file=upload(json.dumps(small_file())), by=people.admin)
    assert (preview.tree["code"], preview.version, preview.indicator_count, preview.warnings) == ("small", 1, 7, [])
    assert preview.rubric is None
    assert not Rubric.objects.exists() and not Indicator.objects.exists()


def test_the_excel_export_is_an_indented_tree_with_points(db):
    demo.build_rubrics(year=2026)
    five = Rubric.objects.get(code="five-goods", year=2026)
    sheet = load_workbook(io.BytesIO(rubrics.workbook(rubrics.snapshot(five)))).active
    rows = {row[1].value: row for row in sheet.iter_rows(min_row=5) if row[1].value}
    assert rows["business"][0].value == "业务工作好" and rows["business"][3].value == 50
    assert rows["bus_tasks"][0].alignment.indent == 2 and rows["business"][0].alignment.indent == 0
    assert any(row[0].value == "五好党支部" and row[1].value == 90 for row in sheet.iter_rows())


def deep(levels):
    node = {"code": "leaf", "title": "x", "kind": "manual", "max_points": 1}
    for level in range(levels):
        node = {"code": f"g{level}", "title": "x", "kind": "group", "max_points": 1, "children": [node]}
    return {**small_file(), "indicators": [node]}


HOSTILE = [
    ("not json", b"{not json", "不是有效的 JSON"),
    ("not utf-8", "{}".encode("utf-16"), "UTF-8"),
    ("too large", b"{" + b" " * (rubrics.MAX_FILE_BYTES + 1) + b"}", "文件超过"),
    ("nested brackets", b"[" * 100000 + b"]" * 100000, "嵌套"),
    ("another format", json.dumps({**small_file(), "format": "x"}).encode(), "这不是考核细则文件"),
    ("unknown key", json.dumps({**small_file(), "owner": "x"}).encode(), "未知的键“owner”"),
    ("duplicate key", b'{"format": "branch-portal-rubric", "format": "x"}', "出现了两次"),
    ("huge string", json.dumps({**small_file(), "title": "长" * 1000}).encode(), "title：超过 120 个字符"),
    ("wrong type", json.dumps({**small_file(), "total_points": "100"}).encode(), "total_points：必须是数字"),
    (
        "huge number",
        json.dumps(small_file()).replace('"total_points": 100', '"total_points": 1e999').encode(),
        "total_points",
    ),
    ("too deep a tree", json.dumps(deep(10)).encode(), "嵌套超过 6 级"),
    ("markup", json.dumps({**small_file(), "title": "<script>x</script>"}).encode(), "HTML"),
    ("a list, not a rubric", b"[1, 2]", "必须是由名称和值组成的对象"),
    ("yaml alias", b"a: &x [1]\nb: *x\n", "锚点或别名"),
    ("yaml object tag", b"!!python/object:os.system x\n", "YAML"),
]


@pytest.mark.parametrize("content, message", [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_a_hostile_or_malformed_file_is_refused_and_nothing_is_written(people, content, message):
    with pytest.raises(ValidationError) as refused:
        services.rubric_import(file=upload(content), by=people.admin, preview=False)
    assert message in " ".join(refused.value.messages)
    assert not Rubric.objects.exists() and not Indicator.objects.exists()


def test_a_file_path_names_the_place_of_a_wrong_value(people):
    data = small_file()
    data["indicators"][0]["children"][1]["max_points"] = "十五"
    data["indicators"][0]["children"][0]["colour"] = "red"
    with pytest.raises(ValidationError) as refused:
        services.rubric_import(data=data, by=people.admin)
    assert "indicators[0].children[1].max_points：必须是数字。" in refused.value.messages
    assert "indicators[0].children[0]：未知的键“colour”。" in refused.value.messages


def test_the_example_in_the_readme_is_a_rubric_file(people):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = readme.split("### Rubric files", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    preview = services.rubric_import(file=upload(example), by=people.admin)
    assert preview.tree["code"] == "five-goods" and preview.indicator_count == 5
