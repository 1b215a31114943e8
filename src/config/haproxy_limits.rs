//! How long HAProxy waits for clients, old workers and servers, and how fast
//! it gives up on a server: the `haproxy_timeout_*`, `haproxy_hard_stop_after`
//! `haproxy_health_check_*` and `haproxy_drain_timeout` options.

use super::Reader;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct HaproxyLimits {
    pub http_request_secs: u32,
    pub http_keep_alive_secs: u32,
    pub hard_stop_after_secs: u32,
    /// Milliseconds between two health checks of a server (`inter`).
    pub check_interval_ms: u32,
    /// Failed checks in a row that mark a server down (`fall`).
    pub check_fall: u32,
    /// Passed checks in a row that bring it back (`rise`).
    pub check_rise: u32,
    /// The longest `pause` waits for the peers' HAProxy to drain this unit
    /// before it stops the services anyway.
    pub drain_timeout_secs: u32,
}

/// Defaults: a unit that stops answering is out of every backend within
/// `fall x inter` = 6 s by the checks alone (the 5 s x 5 of old left it 25 s),
/// and at once by the failed requests themselves (`observe layer7`); two
/// passed checks (4 s) bring a server back, so that a flapping one does not
/// take traffic on its first good answer. A check every 2 s of every server
/// of every unit is a `HEAD` or a TCP connect: noise beside Landscape's own
/// traffic.
impl Default for HaproxyLimits {
    fn default() -> Self {
        Self {
            http_request_secs: 10,
            http_keep_alive_secs: 10,
            hard_stop_after_secs: 1800,
            check_interval_ms: 2000,
            check_fall: 3,
            check_rise: 2,
            drain_timeout_secs: 60,
        }
    }
}

pub(super) fn parse(r: &mut Reader<'_>) -> HaproxyLimits {
    let d = HaproxyLimits::default();
    let secs = |n: u32| i64::from(n / 1000);
    HaproxyLimits {
        http_request_secs: r.int("haproxy_timeout_http_request", d.http_request_secs.into(), 1..=3600) as u32,
        http_keep_alive_secs: r.int("haproxy_timeout_http_keep_alive", d.http_keep_alive_secs.into(), 1..=3600) as u32,
        hard_stop_after_secs: r.int("haproxy_hard_stop_after", d.hard_stop_after_secs.into(), 1..=86400) as u32,
        check_interval_ms: r.int("haproxy_health_check_interval", secs(d.check_interval_ms), 1..=60) as u32 * 1000,
        check_fall: r.int("haproxy_health_check_fall", d.check_fall.into(), 1..=10) as u32,
        check_rise: r.int("haproxy_health_check_rise", d.check_rise.into(), 1..=10) as u32,
        drain_timeout_secs: r.int("haproxy_drain_timeout", d.drain_timeout_secs.into(), 0..=3600) as u32,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::config::CharmConfig;

    #[test]
    fn check_timings_are_options_in_seconds_with_bounds() {
        let parse = |v: serde_json::Value| CharmConfig::parse(v.as_object().cloned().unwrap_or_default());
        let limits = parse(json!({})).unwrap().haproxy_limits;
        assert_eq!((limits.check_interval_ms, limits.check_fall, limits.check_rise), (2000, 3, 2));
        let set =
            json!({"haproxy_health_check_interval": 5, "haproxy_health_check_fall": 5, "haproxy_health_check_rise": 1});
        let limits = parse(set).unwrap().haproxy_limits;
        assert_eq!((limits.check_interval_ms, limits.check_fall, limits.check_rise), (5000, 5, 1));
        let err = parse(json!({"haproxy_health_check_interval": 0, "haproxy_health_check_fall": 11})).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("haproxy_health_check_interval") && text.contains("haproxy_health_check_fall"), "{text}");
    }
}
