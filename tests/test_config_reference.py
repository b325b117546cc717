"""The configuration reference: rendered from a hand-made schema, and docs/configuration.md
up to date with config/schema.yaml."""

from __future__ import annotations

from pathlib import Path

from aopflow.config_reference import COMMAND, keys, main, render, render_file

ROOT = Path(__file__).resolve().parents[1]

SCHEMA = {
    "type": "object",
    "properties": {
        "site": {"type": "string", "pattern": "^[A-Z]{4}$", "default": "DEMO",
                 "description": "Site code."},
        "method": {"type": "string", "enum": ["a", "b"], "default": "a", "description": "Method."},
        "limit": {"description": "Angle | none, *.h5.", "default": None,
                  "oneOf": [{"type": "null"}, {"type": "number", "minimum": 0, "maximum": 3},
                            {"type": "array", "minItems": 1,
                             "items": {"type": "number", "exclusiveMinimum": 0}}]},
        "zone": {"type": "object", "default": {}, "description": "A section.",
                 "properties": {
                     "size": {"type": "array", "items": {"type": "integer", "multipleOf": 1000},
                              "minItems": 2, "maxItems": 2, "default": [0, 1000],
                              "description": "Two\n  lines."},
                     "inner": {"type": "object", "required": ["path"], "description": "Nested.",
                               "properties": {"path": {"type": "string", "description": "P."},
                                              "flag": {"type": "boolean"}}},
                     "pick": {"default": "all", "oneOf": [
                         {"type": "string", "enum": ["all"]},
                         {"type": "object", "required": ["bbox"],
                          "properties": {"bbox": {"type": "array", "items": {"type": "number"}}}}]},
                 }},
    },
}


def test_every_key_with_type_default_allowed_values_and_description():
    rows = {k.path: k for k in keys(SCHEMA)}
    assert list(rows) == ["site", "method", "limit", "zone", "zone.size", "zone.inner",
                          "zone.inner.path", "zone.inner.flag", "zone.pick", "zone.pick.bbox"]
    site = rows["site"]
    assert (site.type, site.default, site.allowed, site.description) == (
        "string", "`DEMO`", "matches `^[A-Z]{4}$`", "Site code.")
    assert rows["method"].allowed == "one of `a`, `b`"
    assert rows["limit"].type == "null or number or list of number"
    assert rows["limit"].default == "`null`"
    assert rows["limit"].allowed == "`null`; or 0 <= x <= 3; or at least 1 item, each item: x > 0"
    # A pipe would split the table cell, an asterisk start emphasis.
    assert rows["limit"].description == "Angle \\| none, \\*.h5."
    assert rows["zone"].default == "`{}`" and rows["zone"].type == "object"
    assert rows["zone.size"].type == "list of integer"
    assert rows["zone.size"].allowed == "exactly 2 items, each item: multiple of 1000"
    assert rows["zone.size"].default == "`[0, 1000]`"
    assert rows["zone.size"].description == "Two lines."
    assert rows["zone.inner.path"].default == "required"
    assert rows["zone.inner.flag"].default == "—" and rows["zone.inner.flag"].allowed == ""
    assert rows["zone.pick"].allowed == "one of `all`; or a mapping with `bbox`"
    assert rows["zone.pick.bbox"].default == "required"


def test_page_has_a_table_per_section_and_escapes_pipes():
    page = render({"properties": {**SCHEMA["properties"],
                                  "p": {"type": "string", "pattern": "^(a|b)$"}}})
    assert "## Top level" in page and "\n## zone\n\nA section. Default: `{}`." in page
    assert "| `p` | string | — | matches `^(a\\|b)$` |  |" in page
    assert "| `zone.inner.path` | string | required |  | P. |" in page
    assert COMMAND in page


def test_configuration_page_is_up_to_date():
    page = ROOT / "docs" / "configuration.md"
    expected = render_file(ROOT / "config" / "schema.yaml")
    assert page.exists() and page.read_text(encoding="utf-8") == expected, (
        "docs/configuration.md is out of date with config/schema.yaml: run `make docs` "
        "(python -m aopflow.config_reference) and commit the result"
    )


def test_check_mode_reports_a_stale_page_and_write_mode_fixes_it(tmp_path, capsys):
    schema = tmp_path / "schema.yaml"
    schema.write_text("properties:\n  a: {type: integer, default: 1, description: A.}\n")
    page = tmp_path / "docs" / "configuration.md"
    assert main([str(schema), str(page), "--check"]) == 1
    assert "run `make docs`" in capsys.readouterr().err
    assert main([str(schema), str(page)]) == 0
    assert "| `a` | integer | `1` |  | A. |" in page.read_text()
    assert main([str(schema), str(page), "--check"]) == 0
    schema.write_text("properties:\n  a: {type: integer, default: 2, description: A.}\n")
    assert main([str(schema), str(page), "--check"]) == 1
