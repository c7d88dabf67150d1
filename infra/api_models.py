"""API Gateway request models generated from the pydantic models of the contract.

API Gateway validates bodies with JSON Schema draft 4 and cannot follow local
``$ref``s, so definitions are inlined and keywords draft 4 lacks are rewritten.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["apigw_schema"]

_DROP = {"title", "default", "examples", "description", "$defs", "discriminator"}


def apigw_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    definitions = schema.get("$defs", {})

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(n) for n in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            return convert(definitions[name])
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROP:
                continue
            if key == "const":
                out["enum"] = [value]
            elif key == "propertyNames":
                continue  # draft 6+; the function validates dictionary keys itself
            elif key in {"exclusiveMinimum", "exclusiveMaximum"} and not isinstance(value, bool):
                bound = "minimum" if key == "exclusiveMinimum" else "maximum"
                out[bound] = value
                out[key] = True
            else:
                out[key] = convert(value)
        return out

    converted = convert(schema)
    converted["$schema"] = "http://json-schema.org/draft-04/schema#"
    converted["title"] = model.__name__
    return converted
