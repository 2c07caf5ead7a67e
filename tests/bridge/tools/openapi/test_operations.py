"""From operations to tools: input schemas, descriptions, annotations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.tools.openapi.config import OpenApiToolsConfig
from bridge.tools.openapi.source import openapi_source
from bridge.tools.secrets import StaticSecrets

pytestmark = pytest.mark.anyio


def test_parameters_and_body_form_the_input_schema(spec_file: Path) -> None:
    cfg = OpenApiToolsConfig(name="inventory", spec=str(spec_file), base_url="http://inv/api")
    specs = {spec.name: spec for spec in openapi_source(cfg, StaticSecrets()).tools()}
    get_item = specs["getItem"].input_schema
    create = specs["createItem"].input_schema
    category = specs["createCategory"].input_schema["properties"]["body"]
    listing = specs["listItems"].input_schema["properties"]
    assert get_item["properties"]["item_id"] == {
        "type": "integer",
        "description": "The item's number",
    }
    assert get_item["required"] == ["item_id"] and get_item["additionalProperties"] is False
    assert create["required"] == ["body"]
    assert create["properties"]["body"]["properties"]["price"] == {"type": "number"}
    assert category["properties"]["children"]["items"] == {"description": "(recursive: Category)"}
    assert listing["tag"] == {"type": ["string", "null"]}
    assert specs["addNote"].input_schema["properties"]["body"] == {"type": "string"}
    read_only = {
        name: spec.annotations.read_only_hint for name, spec in specs.items() if spec.annotations
    }
    assert read_only["getItem"] and read_only["headItem"] and read_only["listItems"]
    assert not read_only["createItem"] and not read_only["deleteItem"]
    assert specs["getItem"].description == "Get one item\n\nGET /items/{item_id}"


def _document(tmp_path: Path, paths: dict[str, object], components: dict[str, object]) -> Path:
    path = tmp_path / "api.json"
    document = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths}
    path.write_text(json.dumps({**document, "components": components}))
    return path


def _get(op_id: str, ref: str) -> dict[str, object]:
    parameter = {"name": "q", "in": "query", "schema": {"$ref": ref}}
    return {"get": {"operationId": op_id, "parameters": [parameter]}}


def test_references_resolve_as_json_pointers(tmp_path: Path) -> None:
    components = {"schemas": {"a/b": {"type": "string"}, "x~y": {"type": "integer"}}}
    components["schemas"]["per cent"] = {"type": "number"}
    components["schemas"]["pair"] = {"type": "array", "prefixItems": [{"type": "boolean"}]}
    spec = _document(
        tmp_path,
        {
            "/slash": _get("slash", "#/components/schemas/a~1b"),
            "/tilde": _get("tilde", "#/components/schemas/x~0y"),
            "/index": _get("index", "#/components/schemas/pair/prefixItems/0"),
            "/encoded": _get("encoded", "#/components/schemas/per%20cent"),
        },
        components,
    )
    cfg = OpenApiToolsConfig(name="t", spec=str(spec), base_url="http://t")

    specs = {spec.name: spec for spec in openapi_source(cfg, StaticSecrets()).tools()}

    assert {name: spec.input_schema["properties"]["q"] for name, spec in specs.items()} == {
        "slash": {"type": "string"},
        "tilde": {"type": "integer"},
        "index": {"type": "boolean"},
        "encoded": {"type": "number"},
    }


def test_an_operation_whose_reference_cannot_be_followed_is_left_out_saying_why(
    tmp_path: Path,
) -> None:
    spec = _document(
        tmp_path,
        {
            "/fine": _get("fine", "#/components/schemas/word"),
            "/elsewhere": _get("elsewhere", "common.json#/components/schemas/word"),
            "/nowhere": _get("nowhere", "#/components/schemas/missing"),
            "/into-a-string": _get("intoString", "#/components/schemas/word/type/0/x"),
        },
        {"schemas": {"word": {"type": "string"}}},
    )
    cfg = OpenApiToolsConfig(name="t", spec=str(spec), base_url="http://t")

    source = openapi_source(cfg, StaticSecrets())

    assert [spec.name for spec in source.tools()] == ["fine"]
    assert sorted(message for _, message in source.problems()) == [
        "operation 'elsewhere' is left out: it refers to another document "
        "(common.json#/components/schemas/word); exclude it",
        "operation 'intoString' is left out: its reference "
        "#/components/schemas/word/type/0/x points nowhere; exclude it",
        "operation 'nowhere' is left out: its reference #/components/schemas/missing points "
        "nowhere; exclude it",
    ]
