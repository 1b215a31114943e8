//! HAProxy's master CLI, read for one figure: how many reloads the master
//! has done. `systemctl reload` only sends the master SIGUSR2 and returns;
//! a signal that arrives while the master re-executes itself for an earlier
//! one is lost (HAProxy 2.6), so a reload counts as done only once the
//! master's count moved.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long one reload has to show on the master's count.
pub const CONFIRM_WITHIN: Duration = Duration::from_secs(10);

/// The master's reload count, or None when there is no master CLI to ask
/// (not the Ubuntu unit, HAProxy stopped) or it does not answer in time.
pub fn reloads(socket: &Path) -> Option<u64> {
    let mut stream = UnixStream::connect(socket).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.set_write_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(b"show proc\n").ok()?;
    // The master CLI answers once the client has said all it will say.
    stream.shutdown(std::net::Shutdown::Write).ok()?;
    let mut answer = String::new();
    stream.take(64 * 1024).read_to_string(&mut answer).ok()?;
    parse_reloads(&answer)
}

/// The `<reloads>` column of the master's line of `show proc`:
/// `1234  master  5 [failed: 0]  0d00h01m02s  2.6.12`.
fn parse_reloads(show_proc: &str) -> Option<u64> {
    show_proc.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (_pid, kind, count) = (fields.next()?, fields.next()?, fields.next()?);
        (kind == "master").then(|| count.parse().ok()).flatten()
    })
}

/// Whether the master's count goes past `before` within [`CONFIRM_WITHIN`].
pub fn wait_past(socket: &Path, before: u64) -> bool {
    // A reload takes the master a fraction of a second: asked often, the
    // hook waits for little more than the reload itself.
    let deadline = Instant::now() + CONFIRM_WITHIN;
    loop {
        if reloads(socket).is_some_and(|now| now > before) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_masters_reload_count_is_read_from_show_proc() {
        let answer = "#<PID>          <type>          <reloads>       <uptime>        <version>      \n\
                      22671           master          23 [failed: 0]  0d00h01m27s     2.6.12-1+deb12u4\n\
                      # workers\n\
                      13689           worker          0               0d00h00m00s     2.6.12-1+deb12u4\n";
        assert_eq!(parse_reloads(answer), Some(23));
        assert_eq!(parse_reloads("# workers\n13689 worker 0 0d 2.6\n"), None);
        assert_eq!(parse_reloads(""), None);
    }

    #[test]
    fn no_master_socket_means_no_count() {
        assert_eq!(reloads(Path::new("/nonexistent/haproxy-master.sock")), None);
    }
}
