"""From operations to tools: input schemas, descriptions, annotations."""

from __future__ import annotations

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
