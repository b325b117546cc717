"""The configuration reference, ``docs/configuration.md``, generated from ``config/schema.yaml``.

The schema is the one source of every key's type, default, allowed values and description
(``snakemake.utils.validate`` checks the config against it and fills the defaults); this module
renders it as Markdown, one table per top-level section, every key by its dotted path, nested
objects recursed (also the object forms of a ``oneOf``, e.g. ``neon.tiles.around_plots.path``).
``tests/test_config_reference.py`` fails when the page is out of date.

    python -m aopflow.config_reference                  # rewrite docs/configuration.md (make docs)
    python -m aopflow.config_reference --check          # exit 1 if it is out of date
    python -m aopflow.config_reference SCHEMA OUT [--check]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import yaml

#: The schema and the page, relative to the repository root (the working directory of `make`).
SCHEMA = Path("config/schema.yaml")
PAGE = Path("docs/configuration.md")
#: The command that regenerates the page, named by the page and by the staleness test.
COMMAND = "make docs"

HEADER = """\
# Configuration reference

<!-- Generated from config/schema.yaml by `python -m aopflow.config_reference` ({command}).
     Do not edit by hand: edit the schema's descriptions and regenerate. -->

Every key of `config/config.yaml` (or of a file given with `--configfile`, or of `--config
key=value`), as `config/schema.yaml` defines it. The configuration is validated against the
schema when the workflow starts: a wrong type, a value out of range or an unknown key (a typo)
stops the run with a message naming the key, and every key you leave out takes the default
below. Keys that must agree with each other or with the data are checked next, before any job
runs (`aopflow.startup`; see [stages](stages.md#start-up-checks)).

A key's dotted path is its place in the YAML: `endmembers.n` is `n` under `endmembers:`.
A default of `{{}}` means "an object whose keys take their own defaults"; "required" means the
key must be given whenever its object is; "—" means no default (the key is optional).

"""


@dataclasses.dataclass(frozen=True)
class Key:
    """One configuration key: its dotted ``path`` and the schema's facts, as Markdown text."""

    path: str
    type: str
    default: str
    allowed: str
    description: str


def _value(v) -> str:
    """A YAML-ish rendering of a default or enum value (``null``, ``true``, ``[1, 2]``)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k}: {_value(x)}" for k, x in v.items()) + "}"
    return str(v)


def _code(text: str) -> str:
    """``text`` as an inline code span safe inside a Markdown table cell."""
    return "`" + text.replace("|", "\\|") + "`"


def _type(s: Mapping) -> str:
    """The type of schema ``s`` in words: ``integer``, ``string or null``, ``list of number``."""
    alternatives = s.get("oneOf") or s.get("anyOf")
    if alternatives and "type" not in s:
        names = []
        for alt in alternatives:
            t = _type(alt)
            if t and t not in names:
                names.append(t)
        return " or ".join(names) if names else _type({k: v for k, v in s.items()
                                                        if k not in ("oneOf", "anyOf")})
    t = s.get("type")
    if t is None:
        return ""
    if isinstance(t, list):
        return " or ".join(t)
    if t == "array":
        inner = _type(s.get("items", {}))
        return f"list of {inner}" if inner else "list"
    return t


def _bounds(s: Mapping) -> list[str]:
    lo = (">=", s["minimum"]) if "minimum" in s else (">", s["exclusiveMinimum"]) \
        if "exclusiveMinimum" in s else None
    hi = ("<=", s["maximum"]) if "maximum" in s else ("<", s["exclusiveMaximum"]) \
        if "exclusiveMaximum" in s else None
    if lo and hi:
        return [f"{_value(lo[1])} {lo[0].replace('>', '<')} x {hi[0]} {_value(hi[1])}"]
    if lo:
        return [f"x {lo[0]} {_value(lo[1])}"]
    if hi:
        return [f"x {hi[0]} {_value(hi[1])}"]
    return []


def _allowed(s: Mapping) -> str:
    """The constraints of schema ``s`` in words (enum, bounds, pattern, lengths, items)."""
    alternatives = s.get("oneOf") or s.get("anyOf")
    if alternatives:
        parts = []
        for alt in alternatives:
            text = _allowed(alt)
            kind = _type(alt)
            if kind == "null":
                parts.append("`null`")
            elif kind == "object" or alt.get("type") == "object":
                keys = ", ".join(alt.get("properties", {}))
                parts.append(f"a mapping with {_code(keys)}" if keys else "a mapping")
            elif text:
                parts.append(text)
            elif kind:
                parts.append(f"any {kind}")
        return "; or ".join(parts)
    out = []
    if "enum" in s:
        out.append("one of " + ", ".join(_code(_value(v)) for v in s["enum"]))
    out += _bounds(s)
    if "multipleOf" in s:
        out.append(f"multiple of {_value(s['multipleOf'])}")
    if "pattern" in s:
        out.append(f"matches {_code(s['pattern'])}")
    if "minLength" in s:
        out.append(f"at least {s['minLength']} character{'s' * (s['minLength'] != 1)}")
    if s.get("type") == "array" or "items" in s:
        lo, hi = s.get("minItems"), s.get("maxItems")
        if lo is not None and lo == hi:
            out.append(f"exactly {lo} items")
        else:
            if lo:
                out.append(f"at least {lo} item{'s' * (lo != 1)}")
            if hi is not None:
                out.append(f"at most {hi} items")
        if s.get("uniqueItems"):
            out.append("no duplicates")
        items = s.get("items")
        if items:
            inner = _allowed(items)
            if inner:
                out.append(f"each item: {inner}" if items.get("type") != "array"
                           else f"each item a list: {inner}")
    return ", ".join(out)


def _cell(text: str) -> str:
    """Free text (a description) for a table cell: one line, pipes and asterisks escaped
    (``*reflectance.h5`` and ``pixels * pixel_size`` are not emphasis)."""
    return " ".join(str(text).split()).replace("|", "\\|").replace("*", "\\*")


def keys(schema: Mapping, prefix: str = "") -> Iterator[Key]:
    """Every key of ``schema``'s ``properties`` (depth first, in schema order), nested objects
    and the object alternatives of a ``oneOf``/``anyOf`` recursed under the key's path."""
    required = set(schema.get("required", []))
    for name, s in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        default = (_code(_value(s["default"])) if "default" in s
                   else "required" if name in required else "—")
        yield Key(path, _type(s), default, _allowed(s), _cell(s.get("description", "")))
        if "properties" in s:
            yield from keys(s, path + ".")
        for alt in s.get("oneOf", []) + s.get("anyOf", []):
            if "properties" in alt:
                yield from keys(alt, path + ".")


def render(schema: Mapping, command: str = COMMAND) -> str:
    """The Markdown page for ``schema`` (a parsed JSON Schema with top-level ``properties``):
    the top-level scalars in one table, then one section per top-level object."""
    rows_head = "| key | type | default | allowed values | description |\n| --- | --- | --- | --- | --- |\n"

    def row(k: Key) -> str:
        return (f"| {_code(k.path)} | {k.type} | {k.default} | {k.allowed} | "
                f"{k.description} |\n")

    top = schema.get("properties", {})
    scalars = {n: s for n, s in top.items() if "properties" not in s}
    sections = {n: s for n, s in top.items() if "properties" in s}
    out = [HEADER.format(command=command)]
    out.append("Sections: [top level](#top-level), "
               + ", ".join(f"[`{n}`](#{n})" for n in sections) + ".\n\n")
    out.append("## Top level\n\n" + rows_head)
    out += [row(k) for k in keys({"properties": scalars})]
    for name, s in sections.items():
        out.append(f"\n## {name}\n\n")
        if s.get("description"):
            out.append(_cell(s["description"]) + f" Default: {_code(_value(s.get('default')))}.\n\n")
        out.append(rows_head)
        out += [row(k) for k in keys(s, name + ".")]
    return "".join(out)


def render_file(schema_path: str | Path = SCHEMA) -> str:
    """:func:`render` of the schema file at ``schema_path``."""
    with open(schema_path, encoding="utf-8") as fh:
        return render(yaml.safe_load(fh))


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, compare) the page; the exit status is 1 when stale."""
    ap = argparse.ArgumentParser(prog="python -m aopflow.config_reference",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("schema", nargs="?", type=Path, default=SCHEMA)
    ap.add_argument("page", nargs="?", type=Path, default=PAGE)
    ap.add_argument("--check", action="store_true",
                    help="do not write; exit 1 if the page differs from the schema's rendering")
    args = ap.parse_args(argv)
    text = render_file(args.schema)
    current = args.page.read_text(encoding="utf-8") if args.page.exists() else None
    if args.check:
        if current != text:
            print(f"{args.page} is out of date with {args.schema}: run `{COMMAND}`",
                  file=sys.stderr)
            return 1
        return 0
    if current != text:
        args.page.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.page.with_name(args.page.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(args.page)
        print(f"wrote {args.page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
