//! A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` in a temporary directory,
//! `postgres` on a free loopback port, stopped when dropped (or when this process dies: the
//! server runs under a shell that stops it when its stdin, a pipe from this process, closes).
//!
//! The binaries are Debian's (`/usr/lib/postgresql/<version>/bin`, the newest), or those in
//! `BOLTD_PG_BIN`. PostgreSQL refuses to run as root; as root, the cluster runs as the
//! `postgres` user that Debian's package creates.

use std::io;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::db::{PgConfig, PgConn};

/// A running cluster; stopped on drop.
pub struct PgCluster {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
    bin: PathBuf,
    owner: Option<(u32, u32)>,
    settings: Vec<String>,
}

impl std::fmt::Debug for PgCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCluster").field("port", &self.port).finish_non_exhaustive()
    }
}

/// The directory of PostgreSQL's server binaries.
pub fn pg_bin() -> io::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("BOLTD_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                "PostgreSQL is not installed (/usr/lib/postgresql is missing): \
                 `apt-get install postgresql`, or set BOLTD_PG_BIN",
            )
        })?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, "no PostgreSQL server under /usr/lib/postgresql")
    })
}

/// The uid and gid of the `postgres` user, when this process runs as root.
fn owner() -> io::Result<Option<(u32, u32)>> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = std::ffi::CString::new("postgres").map_err(io::Error::other)?;
    // SAFETY: `name` is a valid C string; the returned pointer is read before any other call.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "running as root and there is no `postgres` user to run PostgreSQL as",
        ));
    }
    // SAFETY: `pw` is non-null and points to a passwd entry.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    Ok(Some((uid, gid)))
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn command(bin: &Path, name: &str, owner: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(bin.join(name));
    if let Some((uid, gid)) = owner {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

/// The file that tells the server's shell a stop is a restart (keep the directory).
const RESTARTING: &str = "restarting";

/// Starts `postgres` on the cluster in `dir` under a shell that stops it (fast shutdown) when its
/// stdin closes: when the cluster is dropped or restarted, or when this process dies however it
/// dies.
fn spawn_server(
    bin: &Path,
    owner: Option<(u32, u32)>,
    dir: &Path,
    port: u16,
    settings: &[String],
) -> io::Result<Child> {
    let data = dir.join("data");
    let mut server = format!(
        "exec {} -D '{}' -p {port} -c listen_addresses=127.0.0.1 \
         -c unix_socket_directories='{}' -c max_connections=200 -c max_wal_size=256MB \
         -c min_wal_size=64MB",
        bin.join("postgres").display(),
        data.display(),
        dir.display(),
    );
    for s in settings {
        server.push_str(&format!(" -c '{s}'"));
    }
    let log_path = dir.join("postgres.log");
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path)?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&log_path, Some(uid), Some(gid))?;
    }
    // Once the server has stopped for good (not for a restart, which leaves a marker), the shell
    // removes the cluster's directory: a cluster kept in a `static` for a whole test process is
    // never dropped.
    let marker = dir.join(RESTARTING);
    let script = format!(
        "{server} </dev/null & pid=$!; cat >/dev/null; kill -INT $pid; wait $pid; \
         [ -e '{}' ] || rm -rf '{}'",
        marker.display(),
        dir.display()
    );
    let mut sh = Command::new("sh");
    if let Some((uid, gid)) = owner {
        sh.uid(uid).gid(gid);
    }
    sh.args(["-c", &script]).stdin(Stdio::piped()).stdout(log.try_clone()?).stderr(log).spawn()
}

impl PgCluster {
    /// Stops the server (fast shutdown: open connections are closed, as in a database restart)
    /// and starts it again on the same port; returns once it accepts connections.
    pub fn restart(&mut self) -> io::Result<()> {
        let marker = self.dir.path().join(RESTARTING);
        std::fs::write(&marker, b"")?;
        self.stop_server();
        std::fs::remove_file(&marker)?;
        self.child =
            spawn_server(&self.bin, self.owner, self.dir.path(), self.port, &self.settings)?;
        self.wait_ready(Duration::from_secs(60))
    }

    fn stop_server(&mut self) {
        // Closing the shell's stdin stops the server.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }

    /// Starts a cluster with the server's defaults (`fsync` and `synchronous_commit` on) plus
    /// `settings` (`name=value`, given to `postgres -c`).
    pub fn start(settings: &[&str]) -> io::Result<PgCluster> {
        let bin = pg_bin()?;
        let owner = owner()?;
        let dir = tempfile::Builder::new().prefix("boltd-pg-").tempdir()?;
        let data = dir.path().join("data");
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
        }
        let out = command(&bin, "initdb", owner)
            .args(["-D"])
            .arg(&data)
            .args(["-U", "boltd", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"])
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let port = free_port()?;
        let settings: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
        let child = spawn_server(&bin, owner, dir.path(), port, &settings)?;
        let cluster = PgCluster { dir, port, child, bin, owner, settings };
        cluster.wait_ready(Duration::from_secs(60))?;
        Ok(cluster)
    }

    fn wait_ready(&self, timeout: Duration) -> io::Result<()> {
        let start = Instant::now();
        loop {
            match PgConn::connect(&self.config("postgres")) {
                Ok(conn) => match conn.batch("SELECT 1") {
                    Ok(()) => return Ok(()),
                    Err(e) if start.elapsed() > timeout => {
                        return Err(io::Error::other(e.to_string()))
                    }
                    Err(_) => {}
                },
                Err(e) if start.elapsed() > timeout => {
                    return Err(io::Error::other(format!(
                        "PostgreSQL did not start in {timeout:?}: {e}; log: {}",
                        std::fs::read_to_string(self.log_path()).unwrap_or_default()
                    )))
                }
                Err(_) => {}
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// The connection URL of database `dbname`.
    pub fn url(&self, dbname: &str) -> String {
        format!("postgres://boltd@127.0.0.1:{}/{dbname}", self.port)
    }

    /// The connection settings of database `dbname`.
    pub fn config(&self, dbname: &str) -> PgConfig {
        PgConfig::parse(&self.url(dbname)).expect("a valid URL")
    }

    /// Creates database `dbname`.
    pub fn create_database(&self, dbname: &str) -> io::Result<()> {
        let conn = PgConn::connect(&self.config("postgres"))
            .map_err(|e| io::Error::other(e.to_string()))?;
        conn.batch(&format!("CREATE DATABASE \"{dbname}\""))
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop_server();
    }
}
