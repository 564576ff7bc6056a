//! Opening the node's store: SQLite in the data directory, or PostgreSQL with the node's lease
//! (waiting as a standby while another node holds it).

use std::sync::Mutex;
use std::time::Duration;

use boltd_store::db::PgConfig;
use boltd_store::{LeaseOptions, LeaseState, Store, StoreError};
use serde::Serialize;

use crate::{Config, NodeError, NodeResult};

/// What this process is, for load balancers (`/readyz`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Role {
    /// Opening the store or starting the node.
    Starting,
    /// Waiting for the lease another node holds.
    Standby {
        /// The lease's holder.
        holder: String,
        /// Its epoch.
        epoch: u64,
    },
    /// Acting as the node (on SQLite, always once started).
    Leader {
        /// The lease's epoch (PostgreSQL only).
        epoch: Option<u64>,
    },
}

static ROLE: Mutex<Role> = Mutex::new(Role::Starting);

/// This process's role now.
pub fn role() -> Role {
    ROLE.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
}

pub(crate) fn set_role(role: Role) {
    *ROLE.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = role;
}

/// A holder id: host, process and start time, so a restarted process never reuses its old
/// (possibly still live) lease.
fn holder_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{host}:{}:{nanos:x}", std::process::id())
}

/// Opens the PostgreSQL store and takes the lease as `holder`, waiting while another node
/// holds it and `config.standby` allows (`announced`: the holder last logged).
fn take_lease(
    pg: &PgConfig,
    config: &Config,
    holder: &str,
    announced: &mut Option<(String, u64)>,
) -> Result<Store, StoreError> {
    let mut store = Store::open_postgres(pg)?;
    let options = LeaseOptions {
        holder: holder.to_string(),
        ttl: Duration::from_secs(config.lease_ttl_secs),
        renew_every: Duration::from_secs(config.lease_renew_secs),
    };
    store.acquire_lease(options, |state: &LeaseState| {
        if !config.standby {
            *announced = Some((state.holder.clone(), state.epoch));
            return false;
        }
        if announced.as_ref() != Some(&(state.holder.clone(), state.epoch)) {
            tracing::info!(
                holder = %state.holder,
                epoch = state.epoch,
                "standby: another node holds the lease; waiting to take over"
            );
            *announced = Some((state.holder.clone(), state.epoch));
        }
        set_role(Role::Standby { holder: state.holder.clone(), epoch: state.epoch });
        true
    })?;
    Ok(store)
}

/// Opens the store `config` names (blocking: on PostgreSQL it waits for the lease while
/// `standby` allows). Returns it with whether it held a node before (SQLite: the file existed;
/// PostgreSQL: LDK's state is there).
pub(crate) fn open_store(config: &Config) -> NodeResult<(Store, bool)> {
    let Some(url) = &config.store_url else {
        let existed = Store::exists(&config.data_dir);
        let store = Store::open(&config.data_dir)?;
        set_role(Role::Leader { epoch: None });
        return Ok((store, existed));
    };
    let pg = PgConfig::parse(url).map_err(NodeError::Config)?;
    let holder = holder_id();
    let mut announced = None;
    let store = loop {
        match take_lease(&pg, config, &holder, &mut announced) {
            Ok(store) => break store,
            Err(StoreError::Locked { .. }) => {
                let (holder, epoch) = announced.unwrap_or_default();
                return Err(NodeError::Config(format!(
                    "another node holds the lease on {} ({holder}, epoch {epoch}) and `standby` \
                     is false: not starting",
                    pg.describe()
                )));
            }
            // A standby outlives the database's restarts and outages: it waits for it too.
            Err(StoreError::Database { source, .. })
                if config.standby && boltd_store::is_db_persistence_failure(&source) =>
            {
                tracing::warn!(
                    database = %pg.describe(),
                    "standby: the database is unreachable ({source}); retrying"
                );
                std::thread::sleep(Duration::from_secs(config.lease_renew_secs));
            }
            Err(e) => return Err(e.into()),
        }
    };
    set_role(Role::Leader { epoch: store.lease_epoch() });
    let existed = store.has_node_state()?;
    Ok((store, existed))
}
