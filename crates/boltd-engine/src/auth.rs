//! API tokens: scopes, token strings, authentication, token management and the first start's
//! admin token.
//!
//! A token is `boltd_<id>_<secret>`: `id` is 16 lowercase hex characters (8 random bytes) that
//! finds the token's row, `secret` 64 lowercase hex characters (32 random bytes). Only the
//! SHA-256 of the secret is stored; a presented token is found by its id and its secret's hash
//! compared with the stored one in constant time ([`constant_time_eq`]). A malformed token, an
//! unknown id, a wrong secret, a revoked or an expired token all fail the same way
//! ([`AuthError::Invalid`]), so a caller learns nothing about which.
//!
//! Scopes ([`Scope`]) say what a token may do; `node:admin` may do everything. Spending limits
//! (a per-payment maximum and rolling budgets per day, week and month) are kept with the token
//! and enforced by the store in the transaction that records each payment intent (see
//! `boltd_store`'s `tokens` module): the payment's [`PayContext`](crate::PayContext) carries the
//! token id there.
//!
//! On the first start (no token at all) [`Engine::bootstrap_admin_token`] creates a `node:admin`
//! token named `admin`, writes it to `<data_dir>/admin.token` (mode 0600, next to the seed, which
//! is as secret) and returns it, once, for the daemon's `ready` line. It is never logged.

use std::io::Write;
use std::path::{Path, PathBuf};

use bitcoin::hashes::{sha256, Hash};
use boltd_store::{BudgetUse, NewToken, RevokeToken, SpendingLimits, StoreError, TokenRecord};
use serde::Serialize;

use crate::ledger::now_secs;
use crate::Engine;

/// Every token string starts with this.
pub const TOKEN_PREFIX: &str = "boltd_";
/// The file in the data directory that holds the first start's admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
/// The name of the first start's admin token.
pub const ADMIN_TOKEN_NAME: &str = "admin";
/// Longest token name, in bytes.
pub const MAX_TOKEN_NAME_BYTES: usize = 64;

/// The latest a token's `expires_at` may be (unix seconds): 9999-12-31T23:59:59Z, the last
/// instant an RFC 3339 date-time can show. Later is a 400, not a database error.
pub const MAX_TOKEN_EXPIRES_AT: u64 = 253_402_300_799;

const ID_HEX_LEN: usize = 16;
const SECRET_HEX_LEN: usize = 64;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
pub enum Scope {
    /// `payments:send`: pay invoices, offers, Lightning addresses and keysend.
    #[serde(rename = "payments:send")]
    PaymentsSend,
    /// `invoices:create`: create invoices, offers and on-chain receive addresses; settle and
    /// cancel receives.
    #[serde(rename = "invoices:create")]
    InvoicesCreate,
    /// `invoices:read`: read receives.
    #[serde(rename = "invoices:read")]
    InvoicesRead,
    /// `transactions:read`: read payments (history, sends) and on-chain transactions.
    #[serde(rename = "transactions:read")]
    TransactionsRead,
    /// `balance:read`: read balances and unspent outputs.
    #[serde(rename = "balance:read")]
    BalanceRead,
    /// `node:read`: read the node (info, peers, channels, graph, chain tip).
    #[serde(rename = "node:read")]
    NodeRead,
    /// `node:admin`: everything, including on-chain sends, channels, peers and tokens.
    #[serde(rename = "node:admin")]
    NodeAdmin,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 7] = [
        Scope::PaymentsSend,
        Scope::InvoicesCreate,
        Scope::InvoicesRead,
        Scope::TransactionsRead,
        Scope::BalanceRead,
        Scope::NodeRead,
        Scope::NodeAdmin,
    ];

    /// The scope's name, e.g. `payments:send`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::PaymentsSend => "payments:send",
            Scope::InvoicesCreate => "invoices:create",
            Scope::InvoicesRead => "invoices:read",
            Scope::TransactionsRead => "transactions:read",
            Scope::BalanceRead => "balance:read",
            Scope::NodeRead => "node:read",
            Scope::NodeAdmin => "node:admin",
        }
    }

    /// The scope with this name.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }

    fn names() -> String {
        Scope::ALL.map(Scope::as_str).join(", ")
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling: the authenticated token, or the operator when authentication is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's id; `None` when the API runs without authentication.
    pub token_id: Option<String>,
    /// The token's name.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<Scope>,
}

impl Caller {
    /// The caller of an API without authentication (`--insecure-no-auth`): may do everything,
    /// without limits.
    pub fn unrestricted() -> Caller {
        Caller { token_id: None, name: "insecure-no-auth".into(), scopes: vec![Scope::NodeAdmin] }
    }

    /// The token whose own records this caller is limited to (cancelling a receive, patching a
    /// payment's metadata): `None` for `node:admin` (and without authentication), which sees
    /// every record.
    pub fn owner(&self) -> Option<&str> {
        if self.scopes.contains(&Scope::NodeAdmin) {
            None
        } else {
            self.token_id.as_deref()
        }
    }

    /// Whether the caller has `scope` (`node:admin` has every scope).
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::NodeAdmin)
    }

    /// Fails with [`AuthError::MissingScope`] unless the caller has `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), AuthError> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(AuthError::MissingScope(scope))
        }
    }
}

/// Why a request was not authenticated or authorized, or a token operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token was presented.
    #[error("authentication required: send `Authorization: Bearer <token>`")]
    Missing,
    /// The token is malformed, unknown, wrong, revoked or expired (the caller is not told which).
    #[error("invalid token")]
    Invalid,
    /// The token lacks the scope the operation needs.
    #[error("this token lacks the `{0}` scope")]
    MissingScope(Scope),
    /// A token request is malformed.
    #[error("{0}")]
    InvalidInput(String),
    /// No such token.
    #[error("no token {0}")]
    NotFound(String),
    /// Revoking this token would leave no active `node:admin` token.
    #[error(
        "token {0} is the last active node:admin token; create another admin token before \
         revoking it"
    )]
    LastAdmin(String),
    /// The store failed (details in the daemon's log).
    #[error("internal error; see the daemon's log")]
    Internal,
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        tracing::error!("store (tokens): {e}");
        AuthError::Internal
    }
}

/// A token to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenSpec {
    /// A name for people, 1 to [`MAX_TOKEN_NAME_BYTES`] bytes.
    pub name: String,
    /// At least one scope.
    pub scopes: Vec<Scope>,
    /// When it stops working (unix seconds, in the future).
    pub expires_at: Option<u64>,
    /// Its spending limits (none for `node:admin` tokens, which could lift them anyway).
    pub limits: SpendingLimits,
}

/// A token as the API shows it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    /// The lookup id (the `<id>` in `boltd_<id>_<secret>`; not secret).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its scopes.
    #[schema(value_type = Vec<Scope>)]
    pub scopes: Vec<String>,
    /// Neither revoked nor expired.
    pub active: bool,
    /// When it was created (unix seconds).
    pub created_at: u64,
    /// When it stops working.
    pub expires_at: Option<u64>,
    /// When it was revoked.
    pub revoked_at: Option<u64>,
    /// Largest amount of one payment, fees excluded.
    pub max_payment_msat: Option<u64>,
    /// Each budget with what was spent and what is left now.
    pub budgets: Vec<BudgetUse>,
}

impl TokenInfo {
    fn new(r: &TokenRecord, budgets: Vec<BudgetUse>, now: u64) -> TokenInfo {
        TokenInfo {
            id: r.id.clone(),
            name: r.name.clone(),
            scopes: r.scopes.split(' ').map(String::from).collect(),
            active: r.is_active(now),
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            max_payment_msat: r.limits.max_payment_msat,
            budgets,
        }
    }
}

/// A token just created: the token string (shown this once) and its description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// `boltd_<id>_<secret>`: the caller's only chance to see it.
    pub token: String,
    /// The token.
    #[serde(flatten)]
    pub info: TokenInfo,
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    // Keeps the compiler from turning the fold into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

fn sha256_of(secret: &[u8]) -> [u8; 32] {
    sha256::Hash::hash(secret).to_byte_array()
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Splits `boltd_<id>_<secret>` into the id and the secret's bytes.
fn parse_token(token: &str) -> Option<(&str, Vec<u8>)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    if !is_lower_hex(id, ID_HEX_LEN) || !is_lower_hex(secret, SECRET_HEX_LEN) {
        return None;
    }
    Some((id, hex::decode(secret).ok()?))
}

/// A new token: its string and what the store keeps.
fn mint(
    name: &str,
    scopes: &[Scope],
    expires_at: Option<u64>,
    limits: SpendingLimits,
) -> (String, NewToken) {
    let id = hex::encode(rand::random::<[u8; ID_HEX_LEN / 2]>());
    let secret: [u8; SECRET_HEX_LEN / 2] = rand::random();
    let token = format!("{TOKEN_PREFIX}{id}_{}", hex::encode(secret));
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    let new = NewToken {
        id,
        name: name.to_string(),
        secret_hash: sha256_of(&secret),
        scopes: scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
        expires_at,
        limits,
    };
    (token, new)
}

fn scopes_of(r: &TokenRecord) -> Vec<Scope> {
    // A scope this version does not know (written by a newer one) grants nothing.
    r.scopes.split(' ').filter_map(Scope::parse).collect()
}

fn is_admin(r: &TokenRecord) -> bool {
    scopes_of(r).contains(&Scope::NodeAdmin)
}

/// Checks a token request.
fn check_spec(spec: &TokenSpec, now: u64) -> Result<(), AuthError> {
    let bad = |m: String| Err(AuthError::InvalidInput(m));
    let name = spec.name.trim();
    if name.is_empty() || spec.name.len() > MAX_TOKEN_NAME_BYTES {
        return bad(format!("name must be 1 to {MAX_TOKEN_NAME_BYTES} bytes"));
    }
    if spec.name.chars().any(char::is_control) {
        return bad("name must not contain control characters".into());
    }
    if spec.scopes.is_empty() {
        return bad(format!("scopes must name at least one of {}", Scope::names()));
    }
    if spec.expires_at.is_some_and(|t| t <= now) {
        return bad(format!("expires_at must be in the future (now is {now})"));
    }
    if spec.expires_at.is_some_and(|t| t > MAX_TOKEN_EXPIRES_AT) {
        return bad(format!(
            "expires_at must be at most {MAX_TOKEN_EXPIRES_AT} (9999-12-31T23:59:59Z)"
        ));
    }
    let l = &spec.limits;
    let limits = [
        ("max_payment_msat", l.max_payment_msat),
        ("budget_day_msat", l.budget_day_msat),
        ("budget_week_msat", l.budget_week_msat),
        ("budget_month_msat", l.budget_month_msat),
    ];
    for (field, v) in limits {
        match v {
            Some(0) => return bad(format!("{field} must be positive (revoke a token to stop it)")),
            Some(v) if i64::try_from(v).is_err() => return bad(format!("{field} is too large")),
            _ => {}
        }
    }
    if spec.scopes.contains(&Scope::NodeAdmin) && l.is_limited() {
        return bad(
            "node:admin tokens cannot have spending limits: an admin can create tokens without \
             them; give the limited token payments:send instead"
                .into(),
        );
    }
    Ok(())
}

/// Writes `token` to `path`, readable by the owner only, replacing the file atomically.
fn write_secret_file(path: &Path, token: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp)?;
    f.write_all(token.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// The path of the admin token file in `data_dir`.
pub fn admin_token_path(data_dir: &Path) -> PathBuf {
    data_dir.join(ADMIN_TOKEN_FILE)
}

/// The admin token written on the first start into `data_dir`, if the file is there.
pub fn read_admin_token_file(data_dir: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(admin_token_path(data_dir)) {
        Ok(s) => Ok(Some(s.trim().to_string()).filter(|t| !t.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl Engine {
    /// Authenticates a bearer token: the token's caller, or [`AuthError::Invalid`] for a
    /// malformed, unknown, wrong, revoked or expired token alike.
    pub async fn authenticate(&self, token: &str) -> Result<Caller, AuthError> {
        let Some((id, secret)) = parse_token(token) else { return Err(AuthError::Invalid) };
        // A known token is in memory (the store forgets them all on any change): no read.
        let found = match self.store().cached_token(id) {
            Some(t) => Some(t),
            None => {
                let id = id.to_string();
                self.blocking_auth(move |s| s.token_by_id(&id)).await?
            }
        };
        let presented = sha256_of(&secret);
        // Compared even for an unknown id, so both cases cost the same.
        let stored = found.as_ref().map_or([0u8; 32], |t| t.secret_hash);
        let matches = constant_time_eq(&presented, &stored);
        match found {
            Some(t) if matches && t.is_active(now_secs()) => {
                Ok(Caller { scopes: scopes_of(&t), token_id: Some(t.id), name: t.name })
            }
            _ => Err(AuthError::Invalid),
        }
    }

    /// The caller of the token with this id, if it is active: how a dialect that does not
    /// carry the token's secret (Nostr Wallet Connect: the client's key stands for it) acts
    /// as the token. A revoked, expired or unknown token is [`AuthError::Invalid`].
    pub async fn caller_of_token(&self, id: &str) -> Result<Caller, AuthError> {
        let key = id.to_string();
        let found = match self.store().cached_token(id) {
            Some(t) => Some(t),
            None => self.blocking_auth(move |s| s.token_by_id(&key)).await?,
        };
        match found {
            Some(t) if t.is_active(now_secs()) => {
                Ok(Caller { scopes: scopes_of(&t), token_id: Some(t.id), name: t.name })
            }
            _ => Err(AuthError::Invalid),
        }
    }

    /// Creates a token; its string is in the answer, and nowhere else ever again.
    pub async fn create_token(&self, spec: TokenSpec) -> Result<CreatedToken, AuthError> {
        let now = now_secs();
        check_spec(&spec, now)?;
        let (token, new) = mint(spec.name.trim(), &spec.scopes, spec.expires_at, spec.limits);
        // The answer shows the new token's budgets (all unspent) as listings do.
        let (rec, budgets) = self
            .blocking_auth(move |s| {
                let rec = s.insert_token(new, now)?;
                let budgets = s.token_budgets(&rec.id, now)?;
                Ok((rec, budgets))
            })
            .await?;
        tracing::info!(id = %rec.id, name = %rec.name, scopes = %rec.scopes, "API token created");
        Ok(CreatedToken { token, info: TokenInfo::new(&rec, budgets, now) })
    }

    /// Every token, revoked and expired ones included, oldest first, with budget use.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, AuthError> {
        let now = now_secs();
        self.blocking_auth(move |s| {
            let mut out = Vec::new();
            for t in s.list_tokens()? {
                let budgets = s.token_budgets(&t.id, now)?;
                out.push(TokenInfo::new(&t, budgets, now));
            }
            Ok(out)
        })
        .await
    }

    /// One token, with its budget use.
    pub async fn token(&self, id: &str) -> Result<TokenInfo, AuthError> {
        let now = now_secs();
        let key = id.to_string();
        let found = self
            .blocking_auth(move |s| {
                let Some(t) = s.token_by_id(&key)? else { return Ok(None) };
                let budgets = s.token_budgets(&t.id, now)?;
                Ok(Some(TokenInfo::new(&t, budgets, now)))
            })
            .await?;
        found.ok_or_else(|| AuthError::NotFound(id.to_string()))
    }

    /// Revokes a token (at once: the next request with it fails). Revoking a revoked token
    /// changes nothing; the last active `node:admin` token cannot be revoked.
    pub async fn revoke_token(&self, id: &str) -> Result<TokenInfo, AuthError> {
        let now = now_secs();
        let key = id.to_string();
        match self.blocking_auth(move |s| s.revoke_token(&key, now, is_admin)).await? {
            RevokeToken::Revoked(t) => {
                tracing::info!(id = %t.id, name = %t.name, "API token revoked");
                Ok(TokenInfo::new(&t, Vec::new(), now))
            }
            RevokeToken::AlreadyRevoked(t) => Ok(TokenInfo::new(&t, Vec::new(), now)),
            RevokeToken::LastProtected(t) => Err(AuthError::LastAdmin(t.id)),
            RevokeToken::NotFound => Err(AuthError::NotFound(id.to_string())),
        }
    }

    /// On the first start (no token at all): creates the `admin` token (`node:admin`), writes it
    /// to `<data_dir>/admin.token` (mode 0600) and returns it, once. Later starts get `None`.
    ///
    /// The file is written before the token is recorded: a crash in between leaves no token,
    /// so the next start makes a new one and replaces the file.
    pub async fn bootstrap_admin_token(&self) -> Result<Option<String>, AuthError> {
        if !self.blocking_auth(|s| s.list_tokens()).await?.is_empty() {
            return Ok(None);
        }
        let (token, new) = mint(ADMIN_TOKEN_NAME, &[Scope::NodeAdmin], None, Default::default());
        let path = admin_token_path(&self.node.config().data_dir);
        write_secret_file(&path, &token).map_err(|e| {
            tracing::error!("cannot write the admin token file {}: {e}", path.display());
            AuthError::Internal
        })?;
        let now = now_secs();
        match self.blocking_auth(move |s| s.insert_first_token(new, now)).await? {
            Some(rec) => {
                tracing::info!(
                    id = %rec.id,
                    file = %path.display(),
                    "created the admin API token (first start)"
                );
                Ok(Some(token))
            }
            None => Ok(None),
        }
    }

    async fn blocking_auth<T: Send + 'static>(
        &self,
        f: impl FnOnce(&boltd_store::Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, AuthError> {
        let store = std::sync::Arc::clone(self.store());
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| {
                tracing::error!("token storage task failed: {e}");
                AuthError::Internal
            })?
            .map_err(AuthError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_bytes() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(&[1, 2, 3], &[1, 2, 3]));
        assert!(!constant_time_eq(&[1, 2, 3], &[1, 2, 4]));
        assert!(!constant_time_eq(&[0, 2, 3], &[1, 2, 3]));
        assert!(!constant_time_eq(&[1, 2, 3], &[1, 2]));
        assert!(!constant_time_eq(&[1, 2], &[1, 2, 3]));
        let a = [0xa5u8; 32];
        for i in 0..32 {
            for bit in 0..8 {
                let mut b = a;
                b[i] ^= 1 << bit;
                assert!(!constant_time_eq(&a, &b), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn minted_tokens_parse_and_hash_their_secret() {
        let limits = SpendingLimits { budget_day_msat: Some(5), ..Default::default() };
        let (token, new) = mint(
            "shop",
            &[Scope::InvoicesRead, Scope::PaymentsSend, Scope::InvoicesRead],
            Some(9),
            limits.clone(),
        );
        assert!(token.starts_with("boltd_"));
        assert_eq!(token.len(), TOKEN_PREFIX.len() + ID_HEX_LEN + 1 + SECRET_HEX_LEN);
        let (id, secret) = parse_token(&token).unwrap();
        assert_eq!(id, new.id);
        assert_eq!(sha256_of(&secret), new.secret_hash);
        assert!(!token.contains(&hex::encode(new.secret_hash)), "the hash is not the secret");
        assert_eq!(new.scopes, "payments:send invoices:read");
        assert_eq!((new.expires_at, new.limits), (Some(9), limits));
        // Two tokens never share id or secret.
        let (other, _) = mint("x", &[Scope::NodeAdmin], None, Default::default());
        assert_ne!(parse_token(&other).unwrap().0, id);
        assert_ne!(other, token);
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        let good = format!("boltd_{}_{}", "0".repeat(16), "a".repeat(64));
        assert!(parse_token(&good).is_some());
        for bad in [
            String::new(),
            "boltd_".into(),
            good.to_uppercase(),
            good.replace("boltd_", "bolt_"),
            format!("boltd_{}_{}", "0".repeat(15), "a".repeat(64)),
            format!("boltd_{}_{}", "0".repeat(16), "a".repeat(63)),
            format!("boltd_{}_{}", "0".repeat(16), "g".repeat(64)),
            format!("boltd_{}-{}", "0".repeat(16), "a".repeat(64)),
            format!("{good} "),
            format!("{good}_x"),
        ] {
            assert!(parse_token(&bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn scopes_and_admin() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(Scope::parse("payments:receive"), None);
        let shop = Caller {
            token_id: Some("x".into()),
            name: "shop".into(),
            scopes: vec![Scope::InvoicesCreate],
        };
        assert!(shop.has(Scope::InvoicesCreate));
        assert_eq!(
            shop.require(Scope::PaymentsSend),
            Err(AuthError::MissingScope(Scope::PaymentsSend))
        );
        assert_eq!(
            AuthError::MissingScope(Scope::PaymentsSend).to_string(),
            "this token lacks the `payments:send` scope"
        );
        let admin = Caller::unrestricted();
        assert!(Scope::ALL.iter().all(|s| admin.has(*s)));
    }

    #[test]
    fn token_requests_are_checked() {
        let ok = TokenSpec {
            name: "shop".into(),
            scopes: vec![Scope::PaymentsSend],
            expires_at: Some(200),
            limits: SpendingLimits { max_payment_msat: Some(1), ..Default::default() },
        };
        assert_eq!(check_spec(&ok, 100), Ok(()));
        let err = |f: &dyn Fn(&mut TokenSpec)| {
            let mut s = ok.clone();
            f(&mut s);
            match check_spec(&s, 100) {
                Err(AuthError::InvalidInput(m)) => m,
                other => panic!("{other:?}"),
            }
        };
        assert!(err(&|s| s.name = " ".into()).contains("name"));
        assert!(err(&|s| s.name = "x".repeat(65)).contains("name"));
        assert!(err(&|s| s.name = "a\nb".into()).contains("control"));
        assert!(err(&|s| s.scopes.clear()).contains("payments:send, invoices:create"));
        assert!(err(&|s| s.expires_at = Some(100)).contains("future"));
        assert!(err(&|s| s.expires_at = Some(u64::MAX)).contains("expires_at must be at most"));
        let latest = TokenSpec { expires_at: Some(MAX_TOKEN_EXPIRES_AT), ..ok.clone() };
        assert_eq!(check_spec(&latest, 100), Ok(()));
        assert!(err(&|s| s.limits.budget_week_msat = Some(0)).contains("budget_week_msat"));
        assert!(err(&|s| s.limits.budget_day_msat = Some(u64::MAX)).contains("too large"));
        assert!(err(&|s| s.scopes.push(Scope::NodeAdmin)).contains("node:admin"));
    }

    #[test]
    fn admin_token_file_is_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_admin_token_file(dir.path()).unwrap(), None);
        let path = admin_token_path(dir.path());
        write_secret_file(&path, "boltd_x").unwrap();
        assert_eq!(read_admin_token_file(dir.path()).unwrap().as_deref(), Some("boltd_x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        write_secret_file(&path, "boltd_y").unwrap();
        assert_eq!(read_admin_token_file(dir.path()).unwrap().as_deref(), Some("boltd_y"));
    }
}
