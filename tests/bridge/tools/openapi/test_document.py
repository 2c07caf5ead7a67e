"""Reading the OpenAPI document: a file that is missing or invalid, a fetch and its credential."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bridge.errors import ToolLoadError
from bridge.tools.loader import build_registry
from bridge.tools.openapi.config import OpenApiToolsConfig
from bridge.tools.openapi.source import openapi_source
from bridge.tools.secrets import StaticSecrets
from tests.bridge.backends.inventory import inventory_app
from tests.bridge.configs import load_toml
from tests.bridge.tools.openapi.support import (
    SECRET,
)
from tests.support.live import serve

pytestmark = pytest.mark.anyio


def test_a_missing_document_is_a_load_error_naming_the_key(tmp_path: Path) -> None:
    config = load_toml(
        tmp_path, '[[tools.openapi]]\nname = "x"\nspec = "nope.json"\nbase_url = "http://h"\n'
    )
    with pytest.raises(ToolLoadError) as caught:
        build_registry(config, StaticSecrets())
    assert "tools.openapi[0].spec" in str(caught.value) and "nope.json" in str(caught.value)


@pytest.mark.parametrize(
    "content",
    [pytest.param(None, id="missing"), pytest.param("{not json", id="invalid")],
)
def test_a_spec_file_that_is_missing_or_invalid_stays_a_config_error(
    tmp_path: Path, content: str | None
) -> None:
    if content is not None:
        (tmp_path / "nope.json").write_text(content)
    config = load_toml(
        tmp_path, '[[tools.openapi]]\nname = "x"\nspec = "nope.json"\nbase_url = "http://h"\n'
    )
    with pytest.raises(ToolLoadError) as caught:
        build_registry(config, StaticSecrets())
    assert "tools.openapi[0].spec" in str(caught.value) and "nope.json" in str(caught.value)


@pytest.mark.parametrize(
    ("auth", "header", "value"),
    [
        pytest.param('bearer = "vault:inventory-key"', "authorization", f"Bearer {SECRET}"),
        pytest.param(
            'headers = { X-Api-Key = "vault:inventory-key" }', "x-api-key", SECRET, id="header"
        ),
    ],
)
def test_the_spec_fetch_carries_the_credential_only_to_the_services_origin(
    tmp_path: Path, auth: str, header: str, value: str
) -> None:
    home_seen: list[dict[str, str]] = []
    elsewhere_seen: list[dict[str, str]] = []
    secrets = StaticSecrets({"inventory-key": SECRET})
    with serve(inventory_app(SECRET, elsewhere_seen)) as elsewhere:
        app = inventory_app(
            SECRET,
            home_seen,
            spec_needs_auth=True,
            spec_redirect=f"{elsewhere.url}/openapi.json",
        )
        with serve(app) as home:

            def source(spec: str) -> list[str]:
                cfg = OpenApiToolsConfig.model_validate(
                    {
                        "name": "inventory",
                        "spec": spec,
                        "base_url": f"{home.url}/api",
                        **tomllib.loads(auth),
                    }
                )
                loaded = openapi_source(cfg, secrets)
                assert loaded.healthy() and not loaded.problems(), loaded.problems()
                return [spec.name for spec in loaded.tools()]

            same_origin = source(f"{home.url}/openapi.json")
            other_origin = source(f"{elsewhere.url}/openapi.json")
            redirected = source(f"{home.url}/moved.json")
    assert "getItem" in same_origin and same_origin == other_origin == redirected
    assert [h.get(header) for h in home_seen] == [value, value]  # the document and /moved.json
    assert len(elsewhere_seen) == 2
    assert not any(SECRET in v for h in elsewhere_seen for v in h.values())
