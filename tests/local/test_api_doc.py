"""docs/api.md's route reference is generated from the OpenAPI document (`make docs`): it must be
the document of the code as it is, so a route or a field changed without `make docs` fails here."""

from __future__ import annotations

from taskq_local import apidoc


def test_the_route_reference_in_docs_api_md_is_up_to_date():
    assert apidoc.main(["--check"]) == 0, "docs/api.md is stale: run `make docs`"


def test_the_reference_lists_every_operation_and_the_fields_of_its_request_model():
    doc = apidoc.current_document()
    text = apidoc.reference(doc)

    for path, operations in doc["paths"].items():
        for method in operations:
            assert f"**`{method.upper()} {path}`**" in text
    assert "| `process_max_retries` | integer" in text  # TakeRequest's fields, with their types
    assert "- answers: 201, 4XX" in text  # POST /v1/keys


def test_a_stale_reference_is_found_and_rewritten(tmp_path):
    page = tmp_path / "api.md"
    page.write_text(f"# API\n\nprose\n\n{apidoc.BEGIN}\nold routes\n{apidoc.END}\n\nafter\n")

    assert apidoc.main(["--check", str(page)]) == 1
    assert apidoc.main([str(page)]) == 0
    text = page.read_text()
    assert text.startswith("# API\n\nprose\n\n") and text.endswith(f"{apidoc.END}\n\nafter\n")
    assert "old routes" not in text and "**`POST /v1/queue/take`**" in text
    assert apidoc.main(["--check", str(page)]) == 0
