//! Child processes of the lab (bitcoind, boltd daemons): spawned so that they die with the test
//! process, even when it is killed without running destructors.

use std::io;
use std::process::{Child, Command};
use std::sync::{mpsc, OnceLock};

/// Makes the kernel `SIGKILL` the child when its parent thread dies (Linux only), so bitcoind
/// never outlives a test process that is killed without running destructors.
#[cfg(target_os = "linux")]
pub(crate) fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe syscalls
    // (prctl, getppid); it does not allocate.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn die_with_parent(_cmd: &mut Command) {}

/// Spawns `cmd` from a thread that lives as long as the process (bitcoind, and boltd child
/// processes: [`crate::TestNode::spawn`]).
///
/// `PR_SET_PDEATHSIG` fires when the spawning *thread* exits, not the process; test threads come
/// and go, so children are spawned from this keeper thread instead.
pub(crate) fn spawn_from_keeper(cmd: Command) -> io::Result<Child> {
    type Request = (Command, mpsc::Sender<io::Result<Child>>);
    static KEEPER: OnceLock<mpsc::Sender<Request>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("lab-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("could not start the lab spawner thread");
        tx
    });
    let gone = || io::Error::other("the lab spawner thread is gone");
    let (reply_tx, reply_rx) = mpsc::channel();
    keeper.send((cmd, reply_tx)).map_err(|_| gone())?;
    reply_rx.recv().map_err(|_| gone())?
}
