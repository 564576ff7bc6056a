//! API tokens (schema version 3): who may call the API, and how much each token may spend.
//!
//! A token is a row in `api_tokens`: a lookup `id` (16 lowercase hex characters, not secret),
//! a name, the SHA-256 of its secret (the secret itself is never stored), its scopes (opaque
//! text here: the engine's `auth` module gives them meaning), an optional expiry, an optional
//! per-payment maximum and optional rolling budgets per day, week and month. Tokens are
//! revoked, never deleted, so payments keep naming the token that made them.
//!
//! # Budgets
//!
//! A budget is checked by [`Store::begin_outgoing`], in the same transaction that records the
//! payment intent, so concurrent payments cannot overspend it. What a token has spent in a
//! window is the sum over its outgoing payments whose current attempt was recorded in the
//! window (`attempted_at`) of:
//!
//! * complete: what left our channels, the amount plus the routing fee paid;
//! * pending: the amount plus its fee limit (the most it can still cost);
//! * failed: nothing.
//!
//! Windows are rolling: the last 24 hours, 7 days and 30 days before the intent, so there is no
//! calendar boundary across which a budget could be spent twice in a row.

use crate::db::{params, Conn as Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::error::{StoreError, TxError};
use crate::Store;

/// A rolling budget window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BudgetWindow {
    /// The last 24 hours.
    Day,
    /// The last 7 days.
    Week,
    /// The last 30 days.
    Month,
}

impl BudgetWindow {
    /// Every window, shortest first.
    pub const ALL: [BudgetWindow; 3] = [BudgetWindow::Day, BudgetWindow::Week, BudgetWindow::Month];

    /// The window's length in seconds.
    pub fn secs(self) -> u64 {
        match self {
            BudgetWindow::Day => 24 * 3600,
            BudgetWindow::Week => 7 * 24 * 3600,
            BudgetWindow::Month => 30 * 24 * 3600,
        }
    }

    /// `day`, `week` or `month`.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetWindow::Day => "day",
            BudgetWindow::Week => "week",
            BudgetWindow::Month => "month",
        }
    }

    /// How people name the budget: `daily`, `weekly` or `monthly`.
    pub fn adjective(self) -> &'static str {
        match self {
            BudgetWindow::Day => "daily",
            BudgetWindow::Week => "weekly",
            BudgetWindow::Month => "monthly",
        }
    }
}

impl std::fmt::Display for BudgetWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token's spending limits. `None` means no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SpendingLimits {
    /// The largest amount (without routing fees) one payment may have.
    pub max_payment_msat: Option<u64>,
    /// Budget of the last 24 hours (amounts plus fees).
    pub budget_day_msat: Option<u64>,
    /// Budget of the last 7 days.
    pub budget_week_msat: Option<u64>,
    /// Budget of the last 30 days.
    pub budget_month_msat: Option<u64>,
}

impl SpendingLimits {
    /// The budget of `window`, if any.
    pub fn budget(&self, window: BudgetWindow) -> Option<u64> {
        match window {
            BudgetWindow::Day => self.budget_day_msat,
            BudgetWindow::Week => self.budget_week_msat,
            BudgetWindow::Month => self.budget_month_msat,
        }
    }

    /// Whether any limit is set.
    pub fn is_limited(&self) -> bool {
        self.max_payment_msat.is_some()
            || BudgetWindow::ALL.iter().any(|w| self.budget(*w).is_some())
    }
}

/// A token to record with [`Store::insert_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// The lookup id: 16 lowercase hex characters, unique.
    pub id: String,
    /// A name for people (1 to 64 bytes).
    pub name: String,
    /// SHA-256 of the secret.
    pub secret_hash: [u8; 32],
    /// The scopes, as the engine writes them (non-empty).
    pub scopes: String,
    /// When the token stops working (unix seconds).
    pub expires_at: Option<u64>,
    /// Its spending limits.
    pub limits: SpendingLimits,
}

/// A token as stored. Serializes without its secret hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    /// The lookup id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// SHA-256 of the secret; never serialized.
    #[serde(skip)]
    pub secret_hash: [u8; 32],
    /// Its scopes, as the engine wrote them.
    pub scopes: String,
    /// When it was created (unix seconds).
    pub created_at: u64,
    /// When it stops working.
    pub expires_at: Option<u64>,
    /// When it was revoked.
    pub revoked_at: Option<u64>,
    /// Its spending limits.
    #[serde(flatten)]
    pub limits: SpendingLimits,
}

impl TokenRecord {
    /// Neither revoked nor expired at `now`.
    pub fn is_active(&self, now: u64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| now < t)
    }
}

/// What a token has spent against one of its budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BudgetUse {
    /// The window.
    pub window: BudgetWindow,
    /// The budget.
    pub limit_msat: u64,
    /// Spent in the window (see the module documentation).
    pub spent_msat: u64,
    /// What is left: `limit_msat - spent_msat`, or 0.
    pub remaining_msat: u64,
}

/// Why [`Store::begin_outgoing`] refused to record a payment for a token. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpendRefusal {
    /// The token is unknown, revoked or expired (it was valid when the request was
    /// authenticated, and is no longer).
    TokenInactive,
    /// The amount is above the token's per-payment maximum.
    OverPaymentLimit {
        /// The maximum.
        limit_msat: u64,
        /// The payment's amount.
        amount_msat: u64,
    },
    /// The payment (amount plus fee limit) does not fit what is left of a budget.
    OverBudget {
        /// The budget, with what was spent and what is left.
        budget: BudgetUse,
        /// What the payment needs: its amount plus its fee limit.
        needed_msat: u64,
    },
}

/// What [`Store::revoke_token`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeToken {
    /// Revoked now.
    Revoked(TokenRecord),
    /// It was already revoked; left as is.
    AlreadyRevoked(TokenRecord),
    /// Refused: it is the last active token the guard protects (for example the last admin
    /// token). Nothing changed.
    LastProtected(TokenRecord),
    /// No such token.
    NotFound,
}

const TOKEN_COLUMNS: &str = "id, name, secret_hash, scopes, created_at, expires_at, revoked_at, \
    max_payment_msat, budget_day_msat, budget_week_msat, budget_month_msat";

fn token_from_row(row: &Row<'_>) -> crate::db::Result<TokenRecord> {
    Ok(TokenRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        secret_hash: row.get(2)?,
        scopes: row.get(3)?,
        created_at: row.get(4)?,
        expires_at: row.get(5)?,
        revoked_at: row.get(6)?,
        limits: SpendingLimits {
            max_payment_msat: row.get(7)?,
            budget_day_msat: row.get(8)?,
            budget_week_msat: row.get(9)?,
            budget_month_msat: row.get(10)?,
        },
    })
}

pub(crate) fn find_token(conn: &Connection, id: &str) -> crate::db::Result<Option<TokenRecord>> {
    conn.prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?1"))?
        .query_row([id], token_from_row)
        .optional()
}

/// What `token_id` has spent in the `secs` before `now`.
fn spent_msat(conn: &Connection, token_id: &str, now: u64, secs: u64) -> crate::db::Result<u64> {
    let since = i64::try_from(now.saturating_sub(secs)).unwrap_or(i64::MAX);
    let spent: i64 = conn
        .prepare_cached(
            "SELECT coalesce(sum(CASE status \
               WHEN 'complete' THEN CASE \
                 WHEN coalesce(amount_sent_msat, 0) > amount_msat + coalesce(fee_msat, 0) \
                 THEN coalesce(amount_sent_msat, 0) ELSE amount_msat + coalesce(fee_msat, 0) END \
               WHEN 'pending' THEN amount_msat + coalesce(fee_limit_msat, 0) \
               ELSE 0 END), 0) \
             FROM payments WHERE token_id = ?1 AND direction = 'outgoing' AND attempted_at > ?2",
        )?
        .query_row(params![token_id, since], |r| r.get(0))?;
    Ok(u64::try_from(spent).unwrap_or(0))
}

fn budget_uses(
    conn: &Connection,
    token: &TokenRecord,
    now: u64,
) -> crate::db::Result<Vec<BudgetUse>> {
    let mut out = Vec::new();
    for window in BudgetWindow::ALL {
        let Some(limit_msat) = token.limits.budget(window) else { continue };
        let spent_msat = spent_msat(conn, &token.id, now, window.secs())?;
        out.push(BudgetUse {
            window,
            limit_msat,
            spent_msat,
            remaining_msat: limit_msat.saturating_sub(spent_msat),
        });
    }
    Ok(out)
}

/// The spending check of [`Store::begin_outgoing`], inside its transaction: the token must be
/// active, the amount within its per-payment maximum, and amount plus fee limit within what is
/// left of each budget.
pub(crate) fn check_spending(
    conn: &Connection,
    token_id: &str,
    amount_msat: u64,
    fee_limit_msat: u64,
    now: u64,
) -> Result<Option<SpendRefusal>, TxError> {
    let Some(token) = find_token(conn, token_id)? else {
        return Ok(Some(SpendRefusal::TokenInactive));
    };
    if !token.is_active(now) {
        return Ok(Some(SpendRefusal::TokenInactive));
    }
    if let Some(limit_msat) = token.limits.max_payment_msat {
        if amount_msat > limit_msat {
            return Ok(Some(SpendRefusal::OverPaymentLimit { limit_msat, amount_msat }));
        }
    }
    let needed_msat = amount_msat.saturating_add(fee_limit_msat);
    for budget in budget_uses(conn, &token, now)? {
        if needed_msat > budget.remaining_msat {
            return Ok(Some(SpendRefusal::OverBudget { budget, needed_msat }));
        }
    }
    Ok(None)
}

fn check_new_token(t: &NewToken) -> Result<(), StoreError> {
    if t.id.len() != 16 || !t.id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(StoreError::invalid("a token id is 16 lowercase hex characters"));
    }
    if t.name.is_empty() || t.name.len() > 64 {
        return Err(StoreError::invalid("a token name is 1 to 64 bytes"));
    }
    if t.scopes.is_empty() {
        return Err(StoreError::invalid("a token needs at least one scope"));
    }
    let too_big = |v: Option<u64>| v.is_some_and(|v| i64::try_from(v).is_err());
    let l = &t.limits;
    if [
        t.expires_at,
        l.max_payment_msat,
        l.budget_day_msat,
        l.budget_week_msat,
        l.budget_month_msat,
    ]
    .into_iter()
    .any(too_big)
    {
        return Err(StoreError::invalid("a token limit or expiry is out of range"));
    }
    Ok(())
}

impl Store {
    /// Records a new token. Fails with [`StoreError::Invalid`] (writing nothing) on a malformed
    /// id, name or scopes, or an id already in use.
    pub fn insert_token(&self, token: NewToken, now: u64) -> Result<TokenRecord, StoreError> {
        check_new_token(&token)?;
        self.transaction(|tx| insert(tx, &token, now))
    }

    /// Records `token` only if there is no token at all yet (the first start's admin token),
    /// in one transaction. Returns `None`, writing nothing, if there is one.
    pub fn insert_first_token(
        &self,
        token: NewToken,
        now: u64,
    ) -> Result<Option<TokenRecord>, StoreError> {
        check_new_token(&token)?;
        self.transaction(|tx| {
            let n: i64 = tx.query_row("SELECT count(*) FROM api_tokens", [], |r| r.get(0))?;
            if n > 0 {
                return Ok(None);
            }
            insert(tx, &token, now).map(Some)
        })
    }

    /// The token with this id, whatever its state. Known tokens are kept in memory as last
    /// read ([`crate::token_cache::TokenCache`]): every request's authentication looks its token up, and a token
    /// only changes through this store (created, revoked), which forgets them all as it does.
    pub fn token_by_id(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        if let Some(t) = self.tokens.get(id) {
            return Ok(Some(t));
        }
        let generation = self.tokens.generation();
        let found = self.read(|c| find_token(c, id))?;
        if let Some(t) = &found {
            self.tokens.put(generation, t);
        }
        Ok(found)
    }

    /// The token with this id if it is in memory (see [`Store::token_by_id`]): no database
    /// access, so it can be asked from any thread without blocking.
    pub fn cached_token(&self, id: &str) -> Option<TokenRecord> {
        self.tokens.get(id)
    }

    /// Every token, revoked and expired ones included, in the order they were created.
    pub fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, rowid"
            ))?;
            let rows = stmt.query_map([], token_from_row)?;
            rows.collect()
        })
    }

    /// What the token has spent against each of its budgets, at `now`. Empty for a token
    /// without budgets (or an unknown one).
    pub fn token_budgets(&self, id: &str, now: u64) -> Result<Vec<BudgetUse>, StoreError> {
        self.read(|c| match find_token(c, id)? {
            Some(t) => budget_uses(c, &t, now),
            None => Ok(Vec::new()),
        })
    }

    /// Revokes a token, in one transaction. `protected` marks the tokens of which at least one
    /// active one must remain (the admin tokens): revoking the last of them is refused
    /// ([`RevokeToken::LastProtected`]).
    pub fn revoke_token(
        &self,
        id: &str,
        now: u64,
        protected: impl Fn(&TokenRecord) -> bool,
    ) -> Result<RevokeToken, StoreError> {
        let revoked = self.transaction(|tx| {
            let Some(token) = find_token(tx, id)? else { return Ok(RevokeToken::NotFound) };
            if token.revoked_at.is_some() {
                return Ok(RevokeToken::AlreadyRevoked(token));
            }
            if protected(&token) && token.is_active(now) {
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id <> ?1 AND revoked_at IS NULL"
                ))?;
                let others =
                    stmt.query_map([id], token_from_row)?.collect::<Result<Vec<_>, _>>()?;
                if !others.iter().any(|t| t.is_active(now) && protected(t)) {
                    return Ok(RevokeToken::LastProtected(token));
                }
            }
            tx.prepare_cached("UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1")?
                .execute(params![id, now])?;
            Ok(RevokeToken::Revoked(find_token(tx, id)?.expect("the token was just read")))
        });
        // Before anyone hears of the revocation, no request finds the token as it was.
        self.tokens.invalidate();
        revoked
    }
}

fn insert(conn: &Connection, t: &NewToken, now: u64) -> Result<TokenRecord, TxError> {
    if find_token(conn, &t.id)?.is_some() {
        return Err(StoreError::invalid("the token id is already in use").into());
    }
    conn.prepare_cached(
        "INSERT INTO api_tokens (id, name, secret_hash, scopes, created_at, expires_at, \
         max_payment_msat, budget_day_msat, budget_week_msat, budget_month_msat) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        t.id,
        t.name,
        t.secret_hash,
        t.scopes,
        now,
        t.expires_at,
        t.limits.max_payment_msat,
        t.limits.budget_day_msat,
        t.limits.budget_week_msat,
        t.limits.budget_month_msat,
    ])?;
    Ok(find_token(conn, &t.id)?.expect("the token was just written"))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, Barrier};

    use super::*;
    use crate::payments::payment_hash_of;
    use crate::{BeginOutgoing, FailureCode, NewOutgoing, PaymentKind};

    const DEST: &str = "02abababababababababababababababababababababababababababababababab";
    const DAY: u64 = 24 * 3600;

    pub(crate) fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    pub(crate) fn token(id: &str, limits: SpendingLimits) -> NewToken {
        NewToken {
            id: id.to_string(),
            name: format!("token {id}"),
            secret_hash: [7; 32],
            scopes: "payments:send".into(),
            expires_at: None,
            limits,
        }
    }

    /// A keysend intent of `token` for `amount_msat` with `fee_limit_msat`; `n` makes it unique.
    fn intent(token: &str, n: u32, amount_msat: u64, fee_limit_msat: u64) -> NewOutgoing {
        let mut preimage = [0u8; 32];
        preimage[..4].copy_from_slice(&n.to_be_bytes());
        let mut i = NewOutgoing::new(
            PaymentKind::Keysend,
            Some(payment_hash_of(&preimage)),
            payment_hash_of(&payment_hash_of(&preimage)),
            amount_msat,
        );
        i.destination = Some(DEST.into());
        i.token_id = Some(token.to_string());
        i.fee_limit_msat = Some(fee_limit_msat);
        i
    }

    const ID: &str = "00112233445566aa";

    #[test]
    fn tokens_insert_list_revoke() {
        let (_d, store) = store();
        let a = store.insert_token(token(ID, SpendingLimits::default()), 100).unwrap();
        assert_eq!((a.created_at, a.revoked_at, a.expires_at), (100, None, None));
        assert!(a.is_active(100));
        // The id is unique; malformed ids, names and scopes are refused.
        assert!(matches!(
            store.insert_token(token(ID, SpendingLimits::default()), 101),
            Err(StoreError::Invalid { .. })
        ));
        for bad in ["short", "00112233445566AA", "00112233445566ag"] {
            assert!(store.insert_token(token(bad, SpendingLimits::default()), 1).is_err(), "{bad}");
        }
        let mut t = token("ffffffffffffffff", SpendingLimits::default());
        t.name = String::new();
        assert!(store.insert_token(t.clone(), 1).is_err());
        t.name = "x".repeat(65);
        assert!(store.insert_token(t.clone(), 1).is_err());
        t.name = "b".into();
        t.scopes = String::new();
        assert!(store.insert_token(t.clone(), 1).is_err());
        t.scopes = "node:admin".into();
        t.expires_at = Some(150);
        let b = store.insert_token(t, 110).unwrap();
        assert!(b.is_active(149) && !b.is_active(150));
        assert_eq!(store.list_tokens().unwrap(), vec![a.clone(), b.clone()]);
        // The first-token insert only writes into an empty table.
        let first =
            store.insert_first_token(token("0000000000000001", SpendingLimits::default()), 1);
        assert_eq!(first.unwrap(), None);
        assert_eq!(store.list_tokens().unwrap().len(), 2);

        // Serialized without the secret hash.
        let json = serde_json::to_value(&a).unwrap();
        assert!(json.get("secret_hash").is_none(), "{json}");
        assert_eq!(json["id"], ID);

        // Revoking: the last protected (admin) token may not go; b is expired at 200, so a is
        // the only active admin-like token if the guard says so.
        let admin = |t: &TokenRecord| t.scopes.contains("payments:send");
        assert!(matches!(
            store.revoke_token(ID, 200, admin).unwrap(),
            RevokeToken::LastProtected(_)
        ));
        assert!(store.token_by_id(ID).unwrap().unwrap().revoked_at.is_none());
        let RevokeToken::Revoked(r) = store.revoke_token(ID, 200, |_| false).unwrap() else {
            panic!()
        };
        assert_eq!(r.revoked_at, Some(200));
        assert!(!r.is_active(200));
        assert!(matches!(
            store.revoke_token(ID, 300, |_| false).unwrap(),
            RevokeToken::AlreadyRevoked(t) if t.revoked_at == Some(200)
        ));
        assert_eq!(
            store.revoke_token("0123456789abcdef", 1, |_| false).unwrap(),
            RevokeToken::NotFound
        );
    }

    #[test]
    fn first_token_only_into_an_empty_table() {
        let (_d, store) = store();
        let first = store.insert_first_token(token(ID, SpendingLimits::default()), 1).unwrap();
        assert_eq!(first.unwrap().id, ID);
        let second =
            store.insert_first_token(token("0000000000000001", SpendingLimits::default()), 2);
        assert_eq!(second.unwrap(), None);
        assert_eq!(store.list_tokens().unwrap().len(), 1);
    }

    #[test]
    fn per_payment_maximum_and_inactive_tokens_write_nothing() {
        let (_d, store) = store();
        let limits = SpendingLimits { max_payment_msat: Some(10_000), ..Default::default() };
        store.insert_token(token(ID, limits), 100).unwrap();
        let r = store.begin_outgoing(intent(ID, 1, 10_001, 0), 110).unwrap();
        assert_eq!(
            r,
            BeginOutgoing::Refused(SpendRefusal::OverPaymentLimit {
                limit_msat: 10_000,
                amount_msat: 10_001
            })
        );
        assert!(r.record().is_none() && !r.should_send());
        // The fee limit does not count against the per-payment maximum.
        let ok = store.begin_outgoing(intent(ID, 2, 10_000, 5_000), 110).unwrap();
        let BeginOutgoing::Started(rec) = ok else { panic!("{ok:?}") };
        assert_eq!(rec.token_id.as_deref(), Some(ID));
        assert_eq!(rec.fee_limit_msat, Some(5_000));

        // Unknown and revoked tokens: refused, nothing written.
        let r = store.begin_outgoing(intent("0123456789abcdef", 3, 1, 0), 120).unwrap();
        assert_eq!(r, BeginOutgoing::Refused(SpendRefusal::TokenInactive));
        store.revoke_token(ID, 130, |_| false).unwrap();
        let r = store.begin_outgoing(intent(ID, 4, 1, 0), 140).unwrap();
        assert_eq!(r, BeginOutgoing::Refused(SpendRefusal::TokenInactive));
        let n: i64 =
            store.read(|c| c.query_row("SELECT count(*) FROM payments", [], |r| r.get(0))).unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn budgets_count_pending_with_fee_reserve_complete_with_fee_and_not_failed() {
        let (_d, store) = store();
        let limits = SpendingLimits {
            budget_day_msat: Some(100_000),
            budget_week_msat: Some(150_000),
            ..Default::default()
        };
        store.insert_token(token(ID, limits), 0).unwrap();
        let t0 = 10 * DAY;
        let begin = |n: u32, amount: u64, fee: u64, now: u64| {
            store.begin_outgoing(intent(ID, n, amount, fee), now).unwrap()
        };

        // Pending: amount + fee limit = 50,000 counts.
        let BeginOutgoing::Started(p1) = begin(1, 40_000, 10_000, t0) else { panic!() };
        // 50,001 does not fit in the 50,000 left today.
        let r = begin(2, 40_001, 10_000, t0);
        let BeginOutgoing::Refused(SpendRefusal::OverBudget { budget, needed_msat }) = r else {
            panic!("{r:?}")
        };
        assert_eq!(budget.window, BudgetWindow::Day);
        assert_eq!(
            (budget.limit_msat, budget.spent_msat, budget.remaining_msat),
            (100_000, 50_000, 50_000)
        );
        assert_eq!(needed_msat, 50_001);
        // Completed with a fee of 1,000 msat: 41,000 counts, so 59,000 are left.
        let (preimage1, _) = {
            let mut p = [0u8; 32];
            p[..4].copy_from_slice(&1u32.to_be_bytes());
            (p, ())
        };
        store
            .complete_outgoing(
                &p1.payment_id.unwrap(),
                &preimage1,
                Some(1_000),
                Some(41_000),
                Some(1),
                t0 + 1,
            )
            .unwrap()
            .unwrap();
        let uses = store.token_budgets(ID, t0 + 1).unwrap();
        assert_eq!(uses[0].spent_msat, 41_000);
        assert_eq!(uses[0].remaining_msat, 59_000);
        assert_eq!(uses[1].window, BudgetWindow::Week);
        let BeginOutgoing::Started(p3) = begin(3, 50_000, 9_000, t0 + 2) else { panic!() };
        // Now 100,000 are spent today: nothing more fits, not even 1 msat.
        assert!(matches!(begin(4, 1, 0, t0 + 3), BeginOutgoing::Refused(_)));
        // Failed payments count nothing.
        store
            .fail_outgoing(&p3.payment_id.unwrap(), FailureCode::RouteNotFound, None, true, t0 + 4)
            .unwrap();
        assert_eq!(store.token_budgets(ID, t0 + 4).unwrap()[0].spent_msat, 41_000);

        // A day later the daily budget is free again, but the weekly one still counts 41,000.
        let t1 = t0 + DAY + 1;
        assert_eq!(store.token_budgets(ID, t1).unwrap()[0].spent_msat, 0);
        let r = begin(5, 100_000, 10_000, t1);
        let BeginOutgoing::Refused(SpendRefusal::OverBudget { budget, .. }) = r else { panic!() };
        assert_eq!(budget.window, BudgetWindow::Day, "the day budget is checked first");
        let BeginOutgoing::Started(_) = begin(6, 90_000, 10_000, t1) else { panic!() };
        let r = begin(7, 10_000, 0, t1 + DAY + 1);
        let BeginOutgoing::Refused(SpendRefusal::OverBudget { budget, .. }) = r else { panic!() };
        assert_eq!(budget.window, BudgetWindow::Week);
        assert_eq!((budget.spent_msat, budget.remaining_msat), (141_000, 9_000));

        // Another token's payments and payments without a token do not count.
        let other = "ffffffffffffffff";
        store.insert_token(token(other, SpendingLimits::default()), 0).unwrap();
        let BeginOutgoing::Started(_) =
            store.begin_outgoing(intent(other, 8, 1_000_000, 0), t1).unwrap()
        else {
            panic!()
        };
        let mut anonymous = intent(other, 9, 1_000_000, 0);
        anonymous.token_id = None;
        assert!(store.begin_outgoing(anonymous, t1).unwrap().should_send());
        assert_eq!(store.token_budgets(ID, t1 + DAY + 1).unwrap()[1].spent_msat, 141_000);
    }

    #[test]
    fn a_retry_of_a_failed_payment_is_checked_and_counted_again() {
        let (_d, store) = store();
        let limits = SpendingLimits { budget_day_msat: Some(15_000), ..Default::default() };
        store.insert_token(token(ID, limits), 0).unwrap();
        let other = "ffffffffffffffff";
        store.insert_token(token(other, SpendingLimits::default()), 0).unwrap();
        let hash = [9u8; 32];
        let bolt11 = |pid: u8, token: &str| {
            let mut i = NewOutgoing::new(PaymentKind::Bolt11, Some(hash), [pid; 32], 10_000);
            i.destination = Some(DEST.into());
            i.token_id = Some(token.into());
            i.fee_limit_msat = Some(1_000);
            i
        };
        // Paid by the unlimited token long ago, failed.
        store.begin_outgoing(bolt11(1, other), 100).unwrap();
        store.fail_outgoing(&[1; 32], FailureCode::RouteNotFound, None, true, 101).unwrap();
        // The limited token retries it a month later: it counts now, in today's window.
        let now = 40 * DAY;
        let BeginOutgoing::Retrying(r) = store.begin_outgoing(bolt11(2, ID), now).unwrap() else {
            panic!()
        };
        assert_eq!(r.token_id.as_deref(), Some(ID));
        assert_eq!(store.token_budgets(ID, now).unwrap()[0].spent_msat, 11_000);
        store.fail_outgoing(&[2; 32], FailureCode::RouteNotFound, None, true, now).unwrap();
        // Another retry with budget exhausted elsewhere is refused, and the row stays failed.
        store.begin_outgoing(intent(ID, 50, 5_000, 0), now).unwrap();
        let r = store.begin_outgoing(bolt11(3, ID), now).unwrap();
        assert!(matches!(r, BeginOutgoing::Refused(SpendRefusal::OverBudget { .. })), "{r:?}");
        let row = store.payment_by_hash(crate::Direction::Outgoing, &hash).unwrap().unwrap();
        assert_eq!(row.status, crate::PaymentStatus::Failed);
        assert_eq!(row.payment_id, Some([2; 32]));
    }

    #[test]
    fn replays_spend_nothing_and_are_not_refused() {
        let (_d, store) = store();
        let limits = SpendingLimits { budget_day_msat: Some(1_000), ..Default::default() };
        store.insert_token(token(ID, limits), 0).unwrap();
        let mut i = intent(ID, 1, 1_000, 0);
        i.idempotency_key = Some("k".into());
        assert!(store.begin_outgoing(i.clone(), 10).unwrap().should_send());
        // The budget is used up, but the same request again is answered with its record.
        i.payment_id = [42; 32];
        assert!(matches!(store.begin_outgoing(i, 11).unwrap(), BeginOutgoing::Existing(_)));
    }

    #[test]
    fn concurrent_payments_never_overspend_a_budget() {
        // 20 threads on 4 connections race for a budget that fits exactly 5 payments of
        // 10,000 + 2,000 fee reserve (and 6 of them without the reserve).
        const THREADS: usize = 20;
        let dir = tempfile::tempdir().unwrap();
        let stores: Vec<Arc<Store>> =
            (0..4).map(|_| Arc::new(Store::open(dir.path()).unwrap())).collect();
        let limits = SpendingLimits { budget_day_msat: Some(60_000), ..Default::default() };
        stores[0].insert_token(token(ID, limits), 0).unwrap();
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let store = Arc::clone(&stores[i % stores.len()]);
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    let intent = intent(ID, i as u32 + 1, 10_000, 2_000);
                    barrier.wait();
                    store.begin_outgoing(intent, 1000).unwrap()
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let started = results.iter().filter(|r| r.should_send()).count();
        let refused = results
            .iter()
            .filter(|r| matches!(r, BeginOutgoing::Refused(SpendRefusal::OverBudget { .. })))
            .count();
        assert_eq!((started, refused), (5, 15), "{results:?}");
        let n: i64 = stores[0]
            .read(|c| c.query_row("SELECT count(*) FROM payments", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(n, 5);
        assert_eq!(stores[0].token_budgets(ID, 1000).unwrap()[0].spent_msat, 60_000);
    }
}
