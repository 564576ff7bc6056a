"""Checks of boltd's own, loaded by schemathesis (SCHEMATHESIS_HOOKS) in the OpenAPI fuzz.

Core Lightning's REST interface (clnrest) answers an RPC error with HTTP 500 and the error
object `{code, message, data}`: the fuzz accepts 500 on the Core Lightning methods that can
fail that way (schemathesis.toml), and `cln_500_is_an_rpc_error` makes sure it is one of the
method's codes, never the catch-all -1 (an internal error).

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
def cln_500_is_an_rpc_error(ctx, response, case):
    if response.status_code < 500 or not case.operation.path.startswith("/v1/"):
        return None
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("code"), int), (
        f"a 500 without Core Lightning's error object: {body}"
    )
    # `waitinvoice` of a label no invoice has: Core Lightning's own code for it is -1.
    unknown_label = case.operation.path == "/v1/waitinvoice" and str(
        body.get("message", "")).startswith("Unknown invoice")
    assert body["code"] != -1 or unknown_label, f"an internal error (Core Lightning code -1): {body}"
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


# Paying a BOLT12 offer waits for the issuer's invoice and then the payment, up to `retry_for`
# (default 60 s) plus 10 s. The fuzz reuses the offers this node makes (schemathesis feeds
# values from responses back into requests), and an invoice request to oneself runs until that
# deadline: cap a valid `retry_for` (or its absence) at a few seconds so the run stays short.
# An invalid `retry_for` (negative, too large, not a number) is left as generated: it must be
# refused, and fast.
OFFER_PAY_PATH = "/api/v1/lightning/offers/pay"
OFFER_PAY_RETRY_FOR_SECS = 3


# Core Lightning's `xpay` retries as long (`retry_for`, default 60 s): the same cap.
XPAY_PATH = "/v1/xpay"


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.operation.path not in (OFFER_PAY_PATH, XPAY_PATH) or not isinstance(case.body, dict):
        return
    retry_for = case.body.get("retry_for")
    valid = isinstance(retry_for, int) and not isinstance(retry_for, bool) and 0 <= retry_for < 2**64
    if retry_for is None or (valid and retry_for > OFFER_PAY_RETRY_FOR_SECS):
        case.body["retry_for"] = OFFER_PAY_RETRY_FOR_SECS
