"""Drives one of LNbits' funding sources (the real classes of the pinned `lnbits` package)
against two boltd nodes and prints what each step returned, as one JSON object.

    python driver.py bark|alby|clnrest

Environment (set by crates/boltd/tests/lnbits.rs):
    X_URL, X_TOKEN      the node LNbits is funded by (the wallet under test)
    Y_URL, Y_TOKEN      another node, through the same funding source class: it pays X's
                        invoice and issues the invoice X pays
    FAILING_INVOICE     an invoice whose payment fails (its payee canceled it)
    X_LIMITED_TOKEN     optional: a token of X whose per-payment maximum is below the amounts
    AMOUNT_OUT_SAT      what X pays Y
    AMOUNT_IN_SAT       what Y pays X
    STREAM_TIMEOUT_SECS how long to wait for X's paid-invoice stream

Steps: status (the balance), Y makes an invoice and X pays it (the payment's final status,
fee and preimage), X makes an invoice and Y pays it (seen on X's paid-invoice stream where the
class has one, and by its invoice status), X pays FAILING_INVOICE (and, with X_LIMITED_TOKEN, a
payment over the token's limit). Nothing here judges the results: the Rust test does.
"""

import asyncio
import json
import os
import sys
import time


def configure(settings, kind: str, url: str, token: str) -> None:
    """Points LNbits' settings for `kind` at a boltd node (what an operator sets in .env:
    BARK_API_ENDPOINT/BARK_API_TOKEN, ALBY_API_ENDPOINT/ALBY_ACCESS_TOKEN, CLNREST_URL and
    the CLNREST_*_RUNE settings)."""
    if kind == "bark":
        settings.bark_api_endpoint = url
        settings.bark_api_token = token
    elif kind == "alby":
        settings.alby_api_endpoint = url
        settings.alby_access_token = token
    elif kind == "clnrest":
        settings.clnrest_url = url
        settings.clnrest_readonly_rune = token
        settings.clnrest_invoice_rune = token
        settings.clnrest_pay_rune = token
        settings.clnrest_renepay_rune = None
        settings.clnrest_nodeid = None
        settings.clnrest_last_pay_index = None
    else:
        raise SystemExit(f"unknown funding source {kind}")


def wallet(kind: str, url: str, token: str):
    from lnbits.settings import settings

    configure(settings, kind, url, token)
    if kind == "bark":
        from lnbits.wallets.bark import BarkWallet

        return BarkWallet()
    if kind == "alby":
        from lnbits.wallets.alby import AlbyWallet

        return AlbyWallet()
    from lnbits.wallets.clnrest import CLNRestWallet

    return CLNRestWallet()


def status_json(s) -> dict:
    return {
        "success": s.success,
        "failed": s.failed,
        "pending": s.pending,
        "fee_msat": s.fee_msat,
        "preimage": s.preimage,
    }


def payment_json(r) -> dict:
    return {
        "ok": r.ok,
        "checking_id": r.checking_id,
        "fee_msat": r.fee_msat,
        "preimage": r.preimage,
        "error_message": r.error_message,
    }


def invoice_json(r) -> dict:
    return {
        "ok": r.ok,
        "checking_id": r.checking_id,
        "payment_request": r.payment_request,
        "error_message": r.error_message,
    }


async def final_payment_status(w, checking_id: str, secs: float = 30.0):
    """The payment's status, polled (as LNbits' own checks do) until it is final."""
    deadline = time.monotonic() + secs
    while True:
        s = await w.get_payment_status(checking_id)
        if s.paid is not None or time.monotonic() > deadline:
            return s
        await asyncio.sleep(0.5)


async def watch_paid(w, want: list, seen: list) -> str:
    """Reads the paid-invoice stream until it yields `want[0]` (set once the invoice exists),
    noting everything it yielded (a stream may first replay invoices paid before, as
    Core Lightning's `waitanyinvoice` does for a client without a `lastpay_index`)."""
    async for checking_id in w.paid_invoices_stream():
        seen.append(checking_id)
        if want and checking_id == want[0]:
            return checking_id
    raise RuntimeError("the paid-invoice stream ended")


def fee_limit_msat(amount_sat: int) -> int:
    # LNbits' default fee reserve: 1 % of the amount, at least 2 sat.
    return max(2000, amount_sat * 1000 // 100)


async def run(kind: str) -> dict:
    env = os.environ
    out_sat = int(env["AMOUNT_OUT_SAT"])
    in_sat = int(env["AMOUNT_IN_SAT"])
    stream_timeout = float(env.get("STREAM_TIMEOUT_SECS", "60"))
    x = wallet(kind, env["X_URL"], env["X_TOKEN"])
    y = wallet(kind, env["Y_URL"], env["Y_TOKEN"])
    res: dict = {"funding_source": type(x).__name__}

    st = await x.status()
    res["status"] = {"error_message": st.error_message, "balance_msat": st.balance_msat}

    # X pays an invoice of Y's.
    inv_y = await y.create_invoice(out_sat, memo="lnbits e2e: x pays y")
    res["y_invoice"] = invoice_json(inv_y)
    if inv_y.ok:
        paid = await x.pay_invoice(inv_y.payment_request, fee_limit_msat(out_sat))
        res["pay"] = payment_json(paid)
        s = await final_payment_status(x, inv_y.checking_id)
        res["pay_status"] = status_json(s)

    # Y pays an invoice of X's; X sees it paid on its stream, then by its status.
    stream = None
    want: list = []
    seen: list = []
    if kind != "alby":  # AlbyWallet's stream is fed by LNbits' Alby webhook route only
        stream = asyncio.create_task(watch_paid(x, want, seen))
        await asyncio.sleep(1.0)  # let it connect before the payment
    inv_x = await x.create_invoice(in_sat, memo="lnbits e2e: y pays x")
    res["x_invoice"] = invoice_json(inv_x)
    want.append(inv_x.checking_id)
    res["stream_seen"] = seen
    if inv_x.ok:
        res["incoming_pay"] = payment_json(
            await y.pay_invoice(inv_x.payment_request, fee_limit_msat(in_sat))
        )
        if stream is not None:
            try:
                res["streamed"] = await asyncio.wait_for(stream, stream_timeout)
            except Exception as e:  # reported, judged by the Rust test
                res["streamed"] = None
                res["stream_error"] = f"{type(e).__name__}: {e}"
        deadline = time.monotonic() + 30
        while True:
            s = await x.get_invoice_status(inv_x.checking_id)
            if s.paid is not None or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        res["invoice_status"] = status_json(s)
    if stream is not None and not stream.done():
        stream.cancel()

    # A payment that fails.
    failing = env["FAILING_INVOICE"]
    r = await x.pay_invoice(failing, fee_limit_msat(out_sat))
    res["failing_pay"] = payment_json(r)
    from bolt11 import decode

    failing_hash = decode(failing).payment_hash
    res["failing_status"] = status_json(await final_payment_status(x, failing_hash, 20.0))

    # A payment over the token's per-payment maximum: refused before anything is sent.
    if env.get("X_LIMITED_TOKEN"):
        limited = wallet(kind, env["X_URL"], env["X_LIMITED_TOKEN"])
        inv = await y.create_invoice(out_sat, memo="lnbits e2e: over the limit")
        r = await limited.pay_invoice(inv.payment_request, fee_limit_msat(out_sat))
        res["limited_pay"] = payment_json(r)
        await limited.cleanup()

    await x.cleanup()
    await y.cleanup()
    return res


def main() -> None:
    kind = sys.argv[1]
    res = asyncio.run(run(kind))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
