// Drives boltd with a client generated from barkd's OpenAPI document (gen/, made by
// generate.mjs): every operation of the document that is not Ark-only, each answer validated by
// the generated zod schemas (the SDK's response validators, and the error schemas here), and
// the WebSocket's messages parsed as barkd's `WalletNotification`s. Node X (X_URL, X_TOKEN) is
// the wallet under test; node Y (Y_URL, Y_TOKEN) pays it and is paid. It prints one JSON line
// of what it saw, which crates/boltd/tests/barkd_client.rs judges; any operation whose answer
// does not parse (or has an unexpected status) is listed in `failures`.
//   node --experimental-websocket --import tsx driver.ts
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { createClient, createConfig } from './gen/client';
import * as sdk from './gen/sdk.gen';
import * as m from './gen/zod.gen';

const env = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`driver.ts: ${k} is not set`);
  return v;
};
const client = (url: string, token: string) =>
  createClient(createConfig({ baseUrl: url, auth: () => token }));
const x = client(env('X_URL'), env('X_TOKEN'));
const y = client(env('Y_URL'), env('Y_TOKEN'));

// Operations of barkd's document boltd does not serve, with why. Everything else is called.
const SKIPPED: Record<string, string> = {};
const ark = (reason: string, ...ops: string[]) => ops.forEach((op) => (SKIPPED[op] = reason));
ark('Ark only: boarding on-chain funds into VTXOs', 'board_all', 'board_amount', 'get_pending_boards', 'board_fee');
ark(
  'Ark only: unilateral exits of VTXOs',
  'exit_cancel', 'exit_claim_all', 'exit_claim_vtxos', 'emergency_exit_fee', 'exit_progress',
  'exit_start_all', 'exit_start_vtxos', 'get_all_exit_status_deprecated', 'get_all_exit_status',
  'get_finished_exits', 'get_live_exit_status', 'get_exit_status_by_vtxo_id',
  'get_exit_status_by_vtxo_id_deprecated',
);
ark('Ark only: offboarding VTXOs to an on-chain address', 'offboard_fee', 'offboard_all_fee', 'offboard_all', 'offboard_vtxos', 'send_onchain', 'send_onchain_fee');
ark('Ark only: the invoice is claimed into an Ark address', 'generate_invoice_for_address');
ark('Ark only: Ark addresses', 'peek_address', 'address');
ark('Ark only: the Ark server and its rounds', 'ark_info', 'next_round', 'pending_rounds', 'sync_mailbox');
ark('Ark only: VTXOs and their refresh', 'import_vtxo', 'vtxos', 'get_vtxo', 'get_vtxo_encoded', 'refresh_all', 'refresh_counterparty', 'refresh_delegated', 'refresh_vtxos');
ark(
  "wallet lifecycle: a node's wallet is made from its seed at its first start and lives as long as the node (no create, delete or exists)",
  'create_wallet', 'wallet_delete', 'wallet_exists',
);
ark('secrets never leave the daemon: the seed stays in its data directory', 'mnemonic');

const failures: { op: string; error: string }[] = [];
const called = new Set<string>();
const out: Record<string, unknown> = {};

type Answer = { data?: unknown; error?: unknown; response?: Response };

function problem(e: unknown): string {
  if (e instanceof z.ZodError) return `answer does not parse: ${z.prettifyError(e)}`;
  return e instanceof Error ? e.message : JSON.stringify(e);
}

/** Calls one operation; a thrown validation error or an unexpected status is a failure. */
async function call<T>(op: string, f: () => Promise<Answer>, want = 200): Promise<T | undefined> {
  called.add(op);
  try {
    const r = await f();
    const status = r.response?.status;
    if (status !== want) {
      failures.push({ op, error: `HTTP ${status} (want ${want}): ${JSON.stringify(r.error ?? r.data)}` });
      return undefined;
    }
    return (r.data ?? r.error) as T;
  } catch (e) {
    failures.push({ op, error: problem(e) });
    return undefined;
  }
}

/** An error answer parsed with barkd's error schema. */
function parseError(op: string, schema: z.ZodType, body: unknown) {
  const r = schema.safeParse(body);
  if (!r.success) failures.push({ op, error: `error body does not parse: ${z.prettifyError(r.error)}: ${JSON.stringify(body)}` });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const UNKNOWN_HASH = 'ab'.repeat(32);

// ---- the node and its on-chain wallet ----
called.add('ping');
const ping = await fetch(`${env('X_URL')}/ping`);
if (ping.status !== 200) failures.push({ op: 'ping', error: `HTTP ${ping.status}` });
out.tip = await call('tip', () => sdk.tip({ client: x }));
out.connected = await call('connected', () => sdk.connected({ client: x }));
out.balance = await call('balance', () => sdk.balance({ client: x }));
out.onchain_balance = await call('onchain_balance', () => sdk.onchainBalance({ client: x }));
const yAddr = await call<{ address: string }>('onchain_address', () => sdk.onchainAddress({ client: y }));
out.utxos = await call<unknown[]>('onchain_utxos', () => sdk.onchainUtxos({ client: x }));
out.fee_rates = await call('onchain_fee_rates', () => sdk.onchainFeeRates({ client: x }));
await call('onchain_sync', () => sdk.onchainSync({ client: x }));
await call('sync', () => sdk.sync({ client: x }));
if (yAddr) {
  out.onchain_send = await call('onchain_send', () =>
    sdk.onchainSend({ client: x, body: { destination: yAddr.address, amount_sat: 20_000 } }));
  out.onchain_send_many = await call('onchain_send_many', () =>
    sdk.onchainSendMany({ client: x, body: { destinations: [`${yAddr.address}:15000`, `${yAddr.address}:16000`] } }));
}
out.transactions = await call<unknown[]>('onchain_transactions', () => sdk.onchainTransactions({ client: x }));

// ---- fees ----
out.send_fee = await call('lightning_send_fee', () => sdk.lightningSendFee({ client: x, query: { amount_sat: 10_000 } }));
out.receive_fee = await call('lightning_receive_fee', () => sdk.lightningReceiveFee({ client: x, query: { amount_sat: 10_000 } }));

const AMOUNT_IN = Number(env('AMOUNT_IN_SAT'));
const AMOUNT_OUT = Number(env('AMOUNT_OUT_SAT'));
// X pays Y first: B's side of the X - B channel is empty until X has paid through it.
// ---- X pays Y (barkd's pay, then its generic send) ----
const outgoing = await call<{ invoice: string }>('generate_invoice', () =>
  sdk.generateInvoice({ client: y, body: { amount_sat: AMOUNT_OUT, description: 'barkd client: out' } }));
out.outgoing_invoice = outgoing?.invoice;
if (outgoing) {
  const paid = await call<{ payment_hash?: string }>('pay', () => sdk.pay({ client: x, body: { destination: outgoing.invoice } }));
  out.outgoing_pay = paid;
  if (paid?.payment_hash) {
    out.outgoing_send = await call('get_send_status', () =>
      sdk.getSendStatus({ client: x, path: { identifier: paid.payment_hash! } }));
  }
}
// ---- X receives, Y pays ----
const incoming = await call<{ invoice: string }>('generate_invoice', () =>
  sdk.generateInvoice({ client: x, body: { amount_sat: AMOUNT_IN, description: 'barkd client: in' } }));
out.incoming_invoice = incoming?.invoice;
if (incoming) {
  const paid = await call<{ payment_hash?: string }>('pay', () => sdk.pay({ client: y, body: { destination: incoming.invoice } }));
  out.incoming_hash = paid?.payment_hash;
  // The receive settles shortly after the payer's answer.
  for (let i = 0; i < 60 && paid?.payment_hash; i++) {
    const r = await call<{ state: string }>('get_receive_status', () =>
      sdk.getReceiveStatus({ client: x, path: { identifier: paid.payment_hash! } }));
    out.incoming_receive = r;
    if (!r || r.state === 'settled') break;
    await sleep(500);
  }
}

const viaSend = await call<{ invoice: string }>('generate_invoice', () =>
  sdk.generateInvoice({ client: y, body: { amount_sat: 3_000, description: 'barkd client: send' } }));
if (viaSend) {
  out.wallet_send = await call('send', () => sdk.send({ client: x, body: { destination: viaSend.invoice } }));
}

// ---- receives: pending, listed, canceled; unknown ones ----
const pending = await call<{ invoice: string }>('generate_invoice', () =>
  sdk.generateInvoice({ client: x, body: { amount_sat: 1_000, description: 'barkd client: pending' } }));
const receives = await call<{ invoice: string; payment_hash: string }[]>('list_receive_statuses', () =>
  sdk.listReceiveStatuses({ client: x }));
const listed = receives?.find((r) => r.invoice === pending?.invoice);
out.pending_listed = Boolean(listed);
if (listed) {
  await call('cancel_receive', () => sdk.cancelReceive({ client: x, path: { identifier: listed.payment_hash } }));
  out.canceled = await call('get_receive_status', () => sdk.getReceiveStatus({ client: x, path: { identifier: listed.payment_hash } }));
}
const noReceive = await call('get_receive_status', () => sdk.getReceiveStatus({ client: x, path: { identifier: UNKNOWN_HASH } }), 404);
parseError('get_receive_status (404)', m.zNotFoundError, noReceive);
out.receive_404 = noReceive;
const noSend = await call('get_send_status', () => sdk.getSendStatus({ client: x, path: { identifier: UNKNOWN_HASH } }), 404);
parseError('get_send_status (404)', m.zNotFoundError, noSend);
out.send_404 = noSend;
const noCancel = await call('cancel_receive', () => sdk.cancelReceive({ client: x, path: { identifier: UNKNOWN_HASH } }), 404);
parseError('cancel_receive (404)', m.zNotFoundError, noCancel);
const badFee = await call('lightning_send_fee', () =>
  x.get({ url: '/api/v1/fees/lightning/pay', query: { amount_sat: 'lots' }, security: [{ scheme: 'bearer', type: 'http' }] }) as Promise<Answer>, 400);
parseError('lightning_send_fee (400)', m.zBadRequestError, badFee);

// ---- history ----
type Movement = z.infer<typeof m.zMovement>;
const history = await call<Movement[]>('list', () => sdk.list({ client: x }));
out.history = history;
if (outgoing) {
  out.history_filtered = await call<Movement[]>('list', () =>
    sdk.list({ client: x, query: { type: 'invoice', value: outgoing.invoice } }));
}
out.wallet_history = (await call<Movement[]>('history', () => sdk.history_({ client: x })))?.length;
out.movements = (await call<Movement[]>('movements', () => sdk.movements({ client: x })))?.length;
const sentMovement = history?.find((mv) => mv.sent_to.some((d) => d.destination.value === outgoing?.invoice));
if (sentMovement) {
  await call('update_metadata', () =>
    sdk.updateMetadata({ client: x, path: { id: sentMovement.id }, body: { order: 'barkd-client-42' } }));
  const again = await call<Movement[]>('list', () => sdk.list({ client: x, query: { type: 'invoice', value: outgoing!.invoice } }));
  out.metadata = again?.[0]?.metadata;
}

// ---- BIP 321 ----
out.bip321 = await call('bip321_uri', () =>
  sdk.bip321Uri({ client: x, body: { amount_sat: 2_500, label: 'boltd', message: 'barkd client', onchain: true } }));
out.bip321_lightning_only = await call('bip321_uri', () =>
  sdk.bip321Uri({ client: x, body: { amount_sat: 2_000 }, query: { uppercase: true } }));

// ---- messages (barkd's `address` is required; boltd signs with its node key: empty) ----
const signed = await call<{ signature: string }>('sign_message', () =>
  sdk.signMessage({ client: x, body: { message: 'barkd client', address: '' } }));
const info = await fetch(`${env('X_URL')}/api/v1/node/info`, { headers: { authorization: `Bearer ${env('X_TOKEN')}` } });
const nodeId = ((await info.json()) as { node_id: string }).node_id;
if (signed) {
  out.verified = await call('verify_message', () =>
    sdk.verifyMessage({ client: y, body: { message: 'barkd client', signature: signed.signature, pubkey: nodeId } }));
  out.verified_other = await call('verify_message', () =>
    sdk.verifyMessage({ client: y, body: { message: 'something else', signature: signed.signature, pubkey: nodeId } }));
}

// ---- notifications: the long-poll and the WebSocket ----
type Note = z.infer<typeof m.zWalletNotification>;
const summary = (ns: Note[]) => ns.map((n) => ({ type: n.type, status: 'movement' in n ? n.movement.status : undefined, kinds: 'movement' in n ? n.movement.subsystem.kind : undefined }));
const waited = await call<{ notifications: Note[] }>('wait_notification', () => sdk.waitNotification({ client: x }));
out.notifications = waited ? summary(waited.notifications) : undefined;
const ticket = await call<string>('websocket_ticket', () => sdk.websocketTicket({ client: x }));
if (ticket && waited) {
  const wsUrl = `${env('X_URL').replace(/^http/, 'ws')}/api/v1/notifications/ws?ticket=${encodeURIComponent(ticket)}&since=0`;
  const got: Note[] = [];
  called.add('(websocket)');
  await new Promise<void>((resolve) => {
    const ws = new WebSocket(wsUrl);
    const done = () => { ws.close(); resolve(); };
    const timer = setTimeout(() => { failures.push({ op: '(websocket)', error: `${got.length} of ${waited.notifications.length} notifications in 20 s` }); done(); }, 20_000);
    ws.onmessage = (e) => {
      const r = m.zWalletNotification.safeParse(JSON.parse(String(e.data)));
      if (!r.success) failures.push({ op: '(websocket)', error: `message does not parse: ${z.prettifyError(r.error)}: ${e.data}` });
      else got.push(r.data);
      if (got.length >= waited.notifications.length) { clearTimeout(timer); done(); }
    };
    ws.onerror = () => { failures.push({ op: '(websocket)', error: 'connection error' }); clearTimeout(timer); done(); };
  });
  out.ws_notifications = summary(got);
}

// ---- X drains its on-chain wallet to Y (last: it empties X's wallet) ----
if (yAddr) out.onchain_drain = await call('onchain_drain', () => sdk.onchainDrain({ client: x, body: { destination: yAddr.address } }));

// Every operation of the document is either called or skipped with its reason.
const doc = JSON.parse(readFileSync(process.env.BARKD_OPENAPI ?? fileURLToPath(new URL('../reference/barkd-openapi-0.8.0.json', import.meta.url)), 'utf8'));
const operations: string[] = Object.values(doc.paths).flatMap((ops: any) => Object.values(ops).map((o: any) => o.operationId));
const uncovered = operations.filter((op) => !called.has(op) && !(op in SKIPPED));
out.operations = operations.length;
out.called = [...called].filter((op) => operations.includes(op)).sort();
out.skipped = SKIPPED;
out.uncovered = uncovered;
out.failures = failures;
console.log(JSON.stringify(out));
