"""Drives LNbits' Nostr Wallet Connect funding source (the real `NWCWallet` of the pinned
`lnbits` package) against boltd's NWC service through a relay, and prints what each step
returned, as one JSON object.

    python nwc_driver.py

Environment (set by crates/boltd/tests/nwc.rs):
    NWC_URI             the connection LNbits is funded by (nostr+walletconnect://...)
    PEER_URL, PEER_TOKEN   another boltd (Alby dialect): it pays X's invoice and issues the
                        invoice X pays
    AMOUNT_OUT_SAT      what X pays the peer
    AMOUNT_IN_SAT       what the peer pays X

Steps: status (the balance), X makes an invoice and the peer pays it (seen on X's paid-invoice
stream, then by its invoice status), the peer makes an invoice and X pays it (the payment's
final status, fee and preimage). Nothing here judges the results: the Rust test does.
"""

import asyncio
import json
import os
import time
import urllib.request


def peer(path: str, body: dict) -> dict:
    req = urllib.request.Request(
        os.environ["PEER_URL"] + path,
        data=json.dumps(body).encode(),
        headers={
            "Authorization": "Bearer " + os.environ["PEER_TOKEN"],
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


async def run() -> dict:
    from lnbits.settings import settings

    settings.nwc_pairing_url = os.environ["NWC_URI"]
    settings.lnbits_running = True
    from lnbits.wallets.nwc import NWCWallet

    out_sat = int(os.environ["AMOUNT_OUT_SAT"])
    in_sat = int(os.environ["AMOUNT_IN_SAT"])
    x = NWCWallet()
    res: dict = {"funding_source": type(x).__name__}
    st = await x.status()
    res["status"] = {"error_message": st.error_message, "balance_msat": st.balance_msat}

    # The peer pays an invoice of X's: X's paid-invoice stream yields it.
    inv = await x.create_invoice(in_sat, memo="lnbits nwc: peer pays x")
    res["x_invoice"] = {
        "ok": inv.ok,
        "checking_id": inv.checking_id,
        "payment_request": inv.payment_request,
        "error_message": inv.error_message,
    }

    async def watch() -> str:
        async for checking_id in x.paid_invoices_stream():
            if checking_id == inv.checking_id:
                return checking_id
        raise RuntimeError("the paid-invoice stream ended")

    stream = asyncio.create_task(watch())
    res["peer_paid"] = await asyncio.to_thread(
        peer, "/payments/bolt11", {"invoice": inv.payment_request}
    )
    try:
        res["streamed"] = await asyncio.wait_for(stream, 60)
    except Exception as e:  # reported, judged by the Rust test
        res["streamed"] = None
        res["stream_error"] = f"{type(e).__name__}: {e}"
    s = await x.get_invoice_status(inv.checking_id)
    res["invoice_status"] = {"success": s.success, "failed": s.failed, "preimage": s.preimage}

    # X pays an invoice of the peer's.
    theirs = await asyncio.to_thread(
        peer, "/invoices", {"amount": out_sat, "description": "lnbits nwc: x pays peer"}
    )
    res["peer_invoice"] = theirs
    paid = await x.pay_invoice(theirs["payment_request"], max(2000, out_sat * 10))
    res["pay"] = {
        "ok": paid.ok,
        "checking_id": paid.checking_id,
        "fee_msat": paid.fee_msat,
        "preimage": paid.preimage,
        "error_message": paid.error_message,
    }
    deadline = time.monotonic() + 30
    while True:
        s = await x.get_payment_status(theirs["payment_hash"])
        if s.paid is not None or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    res["pay_status"] = {"success": s.success, "fee_msat": s.fee_msat, "preimage": s.preimage}
    await x.cleanup()
    return res


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run())))
