//! API tokens in memory, so that authenticating a request needs no database access (see
//! [`Store::token_by_id`](crate::Store::token_by_id)).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::tokens::TokenRecord;

/// API tokens by id as last read from the store, so that authenticating a request needs no
/// database access. A token changes only through its store, which invalidates the whole cache
/// after every change; a read that began before a change never fills the cache after it (the
/// generation it started in is gone). Bounded: at [`TOKEN_CACHE_MAX`] it starts over.
#[derive(Default)]
pub(crate) struct TokenCache {
    inner: Mutex<CachedTokens>,
}

#[derive(Default)]
struct CachedTokens {
    generation: u64,
    by_id: HashMap<String, TokenRecord>,
}

/// How many tokens the cache holds at most.
pub(crate) const TOKEN_CACHE_MAX: usize = 1024;

impl TokenCache {
    fn lock(&self) -> MutexGuard<'_, CachedTokens> {
        // Every critical section leaves the map whole.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn get(&self, id: &str) -> Option<TokenRecord> {
        self.lock().by_id.get(id).cloned()
    }

    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Keeps `token`, read in `generation`, unless a change came since.
    pub(crate) fn put(&self, generation: u64, token: &TokenRecord) {
        let mut c = self.lock();
        if c.generation != generation {
            return;
        }
        if c.by_id.len() >= TOKEN_CACHE_MAX {
            c.by_id.clear();
        }
        c.by_id.insert(token.id.clone(), token.clone());
    }

    /// Forgets every token (after a change).
    pub(crate) fn invalidate(&self) {
        let mut c = self.lock();
        c.generation += 1;
        c.by_id.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::tests::{store, token};
    use crate::tokens::{RevokeToken, SpendingLimits};

    const T1: &str = "00112233445566aa";

    #[test]
    fn a_token_is_kept_in_memory_until_it_changes() {
        let (_dir, s) = store();
        assert_eq!(s.token_by_id(T1).unwrap(), None);
        assert_eq!(s.cached_token(T1), None, "unknown ids are not kept");
        s.insert_token(token(T1, SpendingLimits::default()), 100).unwrap();
        assert_eq!(s.cached_token(T1), None, "not read yet");
        let read = s.token_by_id(T1).unwrap().unwrap();
        assert_eq!(s.cached_token(T1), Some(read.clone()));
        // A revocation is seen at once, through the cache too.
        assert!(matches!(s.revoke_token(T1, 200, |_| false).unwrap(), RevokeToken::Revoked(_)));
        assert_eq!(s.cached_token(T1), None);
        let revoked = s.token_by_id(T1).unwrap().unwrap();
        assert_eq!(revoked.revoked_at, Some(200));
        assert!(!revoked.is_active(300));
        assert_eq!(s.cached_token(T1).unwrap().revoked_at, Some(200));
    }

    #[test]
    fn a_read_from_before_a_change_never_fills_the_cache_after_it() {
        let (_dir, s) = store();
        s.insert_token(token(T1, SpendingLimits::default()), 100).unwrap();
        let stale = s.token_by_id(T1).unwrap().unwrap();
        s.tokens.invalidate();
        // A reader that began before the change (its generation) comes back after it.
        let generation = s.tokens.generation() - 1;
        s.tokens.put(generation, &stale);
        assert_eq!(s.cached_token(T1), None);
        // Bounded.
        let g = s.tokens.generation();
        for i in 0..TOKEN_CACHE_MAX + 5 {
            s.tokens.put(g, &TokenRecord { id: format!("x{i}"), ..stale.clone() });
        }
        assert!(s.tokens.lock().by_id.len() <= TOKEN_CACHE_MAX);
    }
}
