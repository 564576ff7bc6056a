// Drives boltd's Nostr Wallet Connect service (NIP-47) with the real @getalby/sdk `NWCClient`
// through a relay, and prints every result as one JSON object on stdout.
// crates/boltd/tests/nwc.rs starts the relay and the regtest nodes, creates the connections,
// runs this script, and checks the results against the nodes' state.
//
// Environment:
//   MODE        `nip44` (the SDK's choice), `nip04` (the SDK forced to NIP-04), `errors` (the
//               refusals: scope missing, budget, revoked, expired request, replayed request) or
//               `restart` (after the relay restarted: the service answers again).
//   NWC_URI     the connection under test (nostr+walletconnect://...).
//   PEER_URL, PEER_TOKEN   another boltd (Alby dialect) that pays and makes invoices.
//   PEER_ID     its node id (for keysend).
//   RESTRICTED_URI, BUDGET_URI, REVOKED_URI   (MODE=errors) connections without
//               payments:send, with a daily budget of 4 sat, and revoked.
import WebSocket from "ws";
import { createHash, randomBytes } from "node:crypto";

// nostr-tools (inside the SDK too) takes the WebSocket implementation when it loads.
globalThis.WebSocket = WebSocket;
const { NWCClient } = await import("@getalby/sdk");
const { finalizeEvent, getPublicKey } = await import("nostr-tools/pure");
const nip44 = await import("nostr-tools/nip44");
const { Relay } = await import("nostr-tools/relay");

function env(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set`);
  }
  return v;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function attempt(fn) {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    return { ok: false, code: e.code, message: e.message };
  }
}

async function peer(path, body) {
  const res = await fetch(env("PEER_URL") + path, {
    method: "POST",
    headers: { Authorization: `Bearer ${env("PEER_TOKEN")}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function waitFor(what, pred, ms = 60000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = pred();
    if (v) {
      return v;
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function client(uri, nip04) {
  const c = new NWCClient({ nostrWalletConnectUrl: uri });
  if (nip04) {
    c._encryptionType = "nip04";
  }
  return c;
}

// A request signed by hand (what the SDK cannot send: an expiration tag, a replay): published
// on the relay, the response decrypted. `times` publishes the same signed event that often.
async function rawRequest(uri, method, params, extraTags, times = 1) {
  const parsed = NWCClient.parseWalletConnectUrl(uri);
  const sk = Uint8Array.from(Buffer.from(parsed.secret, "hex"));
  const key = nip44.getConversationKey(sk, parsed.walletPubkey);
  const content = nip44.encrypt(JSON.stringify({ method, params }), key);
  const event = finalizeEvent(
    {
      kind: 23194,
      created_at: Math.floor(Date.now() / 1000),
      tags: [["p", parsed.walletPubkey], ["encryption", "nip44_v2"], ...extraTags],
      content,
    },
    sk,
  );
  const relay = await Relay.connect(parsed.relayUrls[0]);
  const answers = [];
  const sub = relay.subscribe([{ kinds: [23195], authors: [parsed.walletPubkey], "#e": [event.id] }], {
    onevent: (e) => answers.push(JSON.parse(nip44.decrypt(e.content, key))),
  });
  for (let i = 0; i < times; i++) {
    await relay.publish(event);
    const want = i + 1;
    await waitFor(`answer ${want} to ${method}`, () => answers.length >= want, 30000).catch(() => {});
  }
  sub.close();
  relay.close();
  return { event_id: event.id, answers, pubkey: getPublicKey(sk) };
}

const mode = env("MODE");
const out = { mode };

if (mode === "nip44" || mode === "nip04") {
  const nwc = client(env("NWC_URI"), mode === "nip04");
  out.service = await nwc.getWalletServiceInfo();
  const notifications = [];
  const unsubscribe = await nwc.subscribeNotifications((n) => notifications.push(n));
  await sleep(1000);
  out.encryption = nwc.encryptionType;
  out.info = await nwc.getInfo();
  out.balanceBefore = await nwc.getBalance();

  // An invoice made over NWC, paid by the peer: payment_received, then settled.
  out.made = await nwc.makeInvoice({ amount: 50000, description: `nwc ${mode}` });
  out.peerPaid = await peer("/payments/bolt11", { invoice: out.made.invoice });
  out.received = await waitFor("payment_received", () =>
    notifications.find(
      (n) => n.notification_type === "payment_received" && n.notification.payment_hash === out.made.payment_hash,
    ),
  );
  out.lookedUp = await nwc.lookupInvoice({ payment_hash: out.made.payment_hash });

  // The peer's invoice paid over NWC: payment_sent.
  const inv = await peer("/invoices", { amount: 30, description: `pay over nwc ${mode}` });
  out.peerInvoice = inv.body;
  out.paid = await nwc.payInvoice({ invoice: inv.body.payment_request });
  out.sent = await waitFor("payment_sent", () =>
    notifications.find(
      (n) => n.notification_type === "payment_sent" && n.notification.payment_hash === inv.body.payment_hash,
    ),
  );
  out.lookedUpSent = await nwc.lookupInvoice({ invoice: inv.body.payment_request });

  // Keysend with a TLV record.
  out.keysend = await nwc.payKeysend({
    amount: 7000,
    pubkey: env("PEER_ID"),
    tlv_records: [{ type: 696969, value: Buffer.from("hello nwc").toString("hex") }],
  });

  // A hold invoice, settled once its HTLCs are held.
  const preimage = randomBytes(32);
  const hash = createHash("sha256").update(preimage).digest("hex");
  out.hold = await nwc.makeHoldInvoice({ amount: 40000, description: "hold", payment_hash: hash });
  const holdPaid = peer("/payments/bolt11", { invoice: out.hold.invoice });
  out.accepted = await waitFor("hold_invoice_accepted", () =>
    notifications.find((n) => n.notification_type === "hold_invoice_accepted" && n.notification.payment_hash === hash),
  );
  out.holdState = (await nwc.lookupInvoice({ payment_hash: hash })).state;
  out.settled = await nwc.settleHoldInvoice({ preimage: preimage.toString("hex") });
  out.holdPaid = await holdPaid;
  out.holdAfter = await nwc.lookupInvoice({ payment_hash: hash });

  // A hold invoice canceled while held: the peer's payment fails.
  const hash2 = createHash("sha256").update(randomBytes(32)).digest("hex");
  out.hold2 = await nwc.makeHoldInvoice({ amount: 20000, description: "hold 2", payment_hash: hash2 });
  const hold2Paid = peer("/payments/bolt11", { invoice: out.hold2.invoice });
  await waitFor("hold_invoice_accepted (2)", () =>
    notifications.find((n) => n.notification_type === "hold_invoice_accepted" && n.notification.payment_hash === hash2),
  );
  out.canceled = await nwc.cancelHoldInvoice({ payment_hash: hash2 });
  out.hold2Paid = await hold2Paid;
  out.hold2After = await nwc.lookupInvoice({ payment_hash: hash2 });

  out.transactions = await nwc.listTransactions({ limit: 50 });
  out.outgoingOnly = await nwc.listTransactions({ type: "outgoing", limit: 2 });
  out.unpaid = await nwc.listTransactions({ unpaid: true, limit: 100 });
  out.balanceAfter = await nwc.getBalance();
  out.budget = await nwc.getBudget();
  out.notifications = notifications.map((n) => [n.notification_type, n.notification.payment_hash]);
  unsubscribe();
  nwc.close();
} else if (mode === "errors") {
  const inv = await peer("/invoices", { amount: 5, description: "must stay unpaid" });
  out.invoice = inv.body;
  const restricted = client(env("RESTRICTED_URI"));
  out.restricted = await attempt(() => restricted.payInvoice({ invoice: inv.body.payment_request }));
  out.restrictedInfo = await restricted.getInfo();
  restricted.close();
  const budget = client(env("BUDGET_URI"));
  out.budget = await attempt(() => budget.payInvoice({ invoice: inv.body.payment_request }));
  budget.close();
  const revoked = client(env("REVOKED_URI"));
  out.revoked = await attempt(() => revoked.payInvoice({ invoice: inv.body.payment_request }));
  revoked.close();
  out.unknownMethod = await attempt(() => client(env("NWC_URI")).signMessage({ message: "x" }));
  const past = Math.floor(Date.now() / 1000) - 10;
  out.expired = await rawRequest(env("NWC_URI"), "pay_invoice", { invoice: inv.body.payment_request }, [
    ["expiration", String(past)],
  ]);
  // The same signed request twice: answered alike, paid once.
  const inv2 = await peer("/invoices", { amount: 6, description: "paid once" });
  out.replayInvoice = inv2.body;
  out.replayed = await rawRequest(env("NWC_URI"), "pay_invoice", { invoice: inv2.body.payment_request }, [], 2);
} else if (mode === "restart") {
  // The relay restarted: retry until the service is back (it republishes its info event).
  const end = Date.now() + 60000;
  let last;
  while (Date.now() < end) {
    const nwc = client(env("NWC_URI"));
    last = await attempt(async () => ({ balance: await nwc.getBalance(), made: await nwc.makeInvoice({ amount: 1000 }) }));
    nwc.close();
    if (last.ok) {
      break;
    }
    await sleep(1000);
  }
  out.after = last;
}

console.log(JSON.stringify(out));
process.exit(0);
