"""Generate ``sandbox/telegram_spec.json``, the compact Bot API table the Telegram emulator validates with.

    python -m sandbox.gen_telegram_spec /path/to/telegram-bot-api.json [--out sandbox/telegram_spec.json]

The input is the full machine-readable Bot API specification (``methods`` and ``types``, each field with
``name``, ``types``, ``required`` and a description). The output keeps only what validation needs:

* ``methods``: method name -> {parameter name -> {"types": [...], "required": bool}}
* ``returns``: method name -> the return types (the emulator answers unimplemented Boolean methods with True)
* ``types``: every type reachable from a method parameter (the input side of the API), as
  {"fields": {name: {"types", "required"}}} and, for unions, {"subtypes": [...]}; a subtype that is
  told apart by its ``type`` field carries ``"discriminator": "<value>"``.

No descriptions: the project never reads the shared spec at run time, and the table stays small.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

PRIMITIVES = {"Integer", "String", "Boolean", "Float", "True", "InputFile"}
DEFAULT_OUT = Path(__file__).with_name("telegram_spec.json")
_DISCRIMINATOR = re.compile(r'(?:must be|always)\s+"?\*?([a-z_]+)\*?"?')


def base_type(type_name: str) -> str:
    """``Array of Array of KeyboardButton`` -> ``KeyboardButton``."""
    while type_name.startswith("Array of "):
        type_name = type_name[len("Array of ") :]
    return type_name


def _fields(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        field["name"]: {"types": list(field["types"]), "required": bool(field["required"])}
        for field in entry.get("fields", [])
    }


def _discriminator(entry: dict[str, Any]) -> str | None:
    for field in entry.get("fields", []):
        if field["name"] == "type":
            description = field.get("description", "")
            if isinstance(description, list):
                description = " ".join(description)
            match = _DISCRIMINATOR.search(description)
            return match.group(1) if match else None
    return None


def build_table(spec: dict[str, Any]) -> dict[str, Any]:
    methods_in: dict[str, Any] = spec["methods"]
    types_in: dict[str, Any] = spec["types"]
    methods = {name: _fields(entry) for name, entry in sorted(methods_in.items())}
    returns = {name: list(entry.get("returns", [])) for name, entry in sorted(methods_in.items())}

    # The closure of the types reachable from method parameters (and through unions, their subtypes).
    wanted: set[str] = set()
    queue = [base_type(t) for params in methods.values() for p in params.values() for t in p["types"]]
    while queue:
        name = queue.pop()
        if name in PRIMITIVES or name in wanted or name not in types_in:
            continue
        wanted.add(name)
        entry = types_in[name]
        queue.extend(entry.get("subtypes", []))
        queue.extend(base_type(t) for field in entry.get("fields", []) for t in field["types"])

    types: dict[str, Any] = {}
    for name in sorted(wanted):
        entry = types_in[name]
        compact: dict[str, Any] = {"fields": _fields(entry)}
        if entry.get("subtypes"):
            compact["subtypes"] = list(entry["subtypes"])
        discriminator = _discriminator(entry)
        if discriminator and entry.get("subtype_of"):
            compact["discriminator"] = discriminator
        types[name] = compact
    return {
        "version": spec.get("version"),
        "release_date": spec.get("release_date"),
        "methods": methods,
        "returns": returns,
        "types": types,
    }


def dump(table: dict[str, Any]) -> str:
    """One line per method and per type: small, and a spec update gives a readable diff."""
    lines = ["{"]
    lines.append(f'"version": {json.dumps(table["version"])},')
    lines.append(f'"release_date": {json.dumps(table["release_date"])},')
    for section in ("methods", "returns", "types"):
        items = list(table[section].items())
        lines.append(f'"{section}": {{')
        for index, (name, value) in enumerate(items):
            comma = "," if index < len(items) - 1 else ""
            lines.append(f"{json.dumps(name)}: {json.dumps(value, separators=(',', ':'), sort_keys=True)}{comma}")
        lines.append("}," if section != "types" else "}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path, help="the full Bot API specification (telegram-bot-api.json)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    args = parser.parse_args(argv)
    table = build_table(json.loads(args.spec.read_text(encoding="utf-8")))
    args.out.write_text(dump(table), encoding="utf-8")
    print(f"{args.out}: {len(table['methods'])} methods, {len(table['types'])} types ({table['version']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
