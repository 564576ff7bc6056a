// Drives boltd's Alby dialect with the real @getalby/sdk `Client` (its `base_url` pointed at
// boltd) and prints every result as one JSON object on stdout. crates/boltd/tests/alby_sdk.rs
// starts the regtest nodes, runs this script, and checks the results against the nodes' state.
//
// Environment: PAYER_URL and PAYEE_URL (boltd API base URLs), PAYEE_ID and HOP_ID (node ids:
// the payee, and a direct peer of the payer), PAYER_TOKEN and PAYEE_TOKEN (sent as `Authorization: Bearer`).
import { Client, AlbyResponseError } from "@getalby/sdk";

function env(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set`);
  }
  return v;
}

// The SDK throws AlbyResponseError for non-2xx answers: keep status and body as data.
async function attempt(fn) {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    if (e instanceof AlbyResponseError) {
      return { ok: false, status: e.status, error: e.error };
    }
    throw e;
  }
}

const payer = new Client(env("PAYER_TOKEN"), { base_url: env("PAYER_URL") });
const payee = new Client(env("PAYEE_TOKEN"), { base_url: env("PAYEE_URL") });
const payeeId = env("PAYEE_ID");
const hopId = env("HOP_ID");

const out = {};
out.created = await payee.createInvoice({ amount: 1234, description: "alby sdk e2e" });
out.decoded = await payer.decodeInvoice(out.created.payment_request);
out.paid = await payer.sendPayment({ invoice: out.created.payment_request });
out.fetched = await payee.getInvoice(out.created.payment_hash);

const boost = JSON.stringify({ podcast: "boltd", action: "boost", value_msat_total: 21000 });
out.keysend = await payer.keysend({
  destination: payeeId,
  amount: 21,
  memo: "boost from the sdk",
  customRecords: { "696969": "hello boltd", "7629169": boost },
});
out.multi = await attempt(() =>
  payer.keysend([
    { destination: payeeId, amount: 5, customRecords: { "696969": "split one" } },
    { destination: "not-a-node-id", amount: 5 },
    { destination: hopId, amount: 7, memo: "split to the hop" },
  ]),
);

out.payerBalance = await payer.accountBalance({});
out.payeeBalance = await payee.accountBalance({});
out.incoming = await payee.incomingInvoices({});
out.outgoing = await payer.outgoingInvoices({});
out.incomingPage2 = await payee.incomingInvoices({ page: 2, items: 1 });

out.badInvoice = await attempt(() => payer.sendPayment({ invoice: "lnbcrt1garbage" }));
out.unknownInvoice = await attempt(() => payer.getInvoice("00".repeat(32)));

process.stdout.write(JSON.stringify(out) + "\n");
