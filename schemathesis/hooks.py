"""Schemathesis hooks for the platform's API tests, loaded by `./dev test`
(devstack) through SCHEMATHESIS_HOOKS. Each adapts generated requests to a rule
of the API that its OpenAPI document cannot express; nothing else is changed.
"""

import uuid

import schemathesis


def _fresh_idempotency_key(case):
    """An Idempotency-Key names one request: reusing one with another body is
    a 422 by design (tested in Rust). Generated keys repeat, so each request
    gets a fresh key of the documented shape; the header stays exercised."""
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key":
            headers[name] = f"st-{uuid.uuid4()}"


def _four_decimal_prices(case):
    """A price may be a JSON number with at most 4 decimal places. JSON Schema
    cannot say that of floating-point numbers (multipleOf 0.0001 is inexact),
    so generated number prices are rounded to 4 places. Strings, integers and
    out-of-range numbers are left as generated."""
    if case.method.upper() != "POST" or not case.path.startswith("/orders/order/"):
        return
    body = case.body
    items = body.get("orderItems") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return
    for item in items:
        product = item.get("product") if isinstance(item, dict) else None
        if isinstance(product, dict) and isinstance(product.get("price"), float):
            product["price"] = round(product["price"], 4)


@schemathesis.hook
def before_call(context, case, kwargs):
    _fresh_idempotency_key(case)
    _four_decimal_prices(case)
