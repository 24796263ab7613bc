"""Evaluates flags through the edge with the real OpenFeature Python SDK and OFREP provider.

Usage: ofrep_client.py BASE_URL API_KEY APPLICATION < cases.jsonl > results.jsonl
Each input line: {"flag", "type" (boolean|string|integer|float|object), "default", "context"}.
Each output line: {"value", "variant", "reason", "error_code"}.
"""
import json
import sys

from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext

base_url, key, application = sys.argv[1:4]
api.set_provider(
    OFREPProvider(
        base_url=base_url,
        headers_factory=lambda: {"Authorization": f"Bearer {key}", "X-Vane-Application": application},
        timeout=10.0,
    )
)
client = api.get_client()
methods = {
    "boolean": client.get_boolean_details,
    "string": client.get_string_details,
    "integer": client.get_integer_details,
    "float": client.get_float_details,
    "object": client.get_object_details,
}


def text(v):
    return None if v is None else str(getattr(v, "value", v))


for line in sys.stdin:
    if not line.strip():
        continue
    case = json.loads(line)
    ctx = dict(case["context"])
    targeting_key = ctx.pop("targetingKey", None)
    d = methods[case["type"]](case["flag"], case["default"], EvaluationContext(targeting_key=targeting_key, attributes=ctx))
    print(json.dumps({"value": d.value, "variant": d.variant, "reason": text(d.reason), "error_code": text(d.error_code)}))
    sys.stdout.flush()
