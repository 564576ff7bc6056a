"""Checks of boltd's own, loaded by schemathesis (SCHEMATHESIS_HOOKS) in the OpenAPI fuzz.

Alby's Wallet API answers a failed payment with HTTP 500 and code 10: that is Alby's contract
(the SDK relies on it), not a server error. The fuzz accepts 500 on Alby's payment operations
only (schemathesis.toml), and this check makes sure such a 500 is that payment failure: never
code 6 (internal), never anything but Alby's error shape.
"""

import schemathesis

ALBY_PAYMENT_PATHS = {"/payments/bolt11", "/payments/keysend", "/payments/keysend/multi"}


@schemathesis.check
def alby_500_is_a_payment_failure(ctx, response, case):
    if response.status_code < 500 or case.operation.path not in ALBY_PAYMENT_PATHS:
        return None
    body = response.json()
    if case.operation.path == "/payments/keysend/multi":
        codes = [k.get("error", {}).get("code") for k in body.get("keysends", [])]
        assert codes and codes[0] == 10, f"a 500 whose first error is not code 10: {body}"
    else:
        assert body.get("code") == 10 and body.get("error") is True, (
            f"a 500 that is not Alby's payment failure (code 10): {body}"
        )
    return None


@schemathesis.check
def no_internal_error_code(ctx, response, case):
    """No answer carries an internal error's code, whatever its status."""
    try:
        body = response.json()
    except Exception:
        return None
    if isinstance(body, dict):
        assert body.get("code") != "internal", f"an internal error: {body}"
        if case.operation.path.startswith(("/payments", "/invoices", "/balance", "/decode",
                                           "/webhook_endpoints")):
            assert body.get("code") != 6, f"an internal error (Alby code 6): {body}"
    return None
