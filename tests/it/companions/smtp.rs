//! The `smtp` relation (smtp-integrator's provider bag, as the spec gives
//! the smtp_integrator library's fields): postfix relays through it with
//! SASL and TLS in effect, it wins over `smtp_relay_host`, and it leaves
//! nothing of its own behind when it goes.

use std::os::unix::fs::MetadataExt;

use serde_json::json;

use crate::harness::{Dispatch, Unit, ready_leader};

pub const REL: u32 = 60;
const PASSWORD: &str = "smtp-pa55word-3f9";
const SECRET: &str = "secret:5mtp0pa55v0rd0000000";

pub fn postfix_unit() -> Unit {
    let unit = ready_leader(0);
    let cf = unit.path("/etc/postfix/main.cf");
    std::fs::create_dir_all(cf.parent().unwrap()).unwrap();
    std::fs::write(&cf, "# postfix\nmyhostname = landscape\nrelayhost =\nsmtp_tls_CApath = /etc/ssl/certs\n").unwrap();
    unit
}

pub fn relate(unit: &mut Unit, bag: &[(&str, &str)]) -> crate::harness::RunResult {
    unit.remote_app_answers("smtp", REL, "smtp-integrator", bag)
}

pub fn add_password_secret(unit: &mut Unit) {
    unit.put_secret(SECRET, "smtp-integrator", [("password".to_string(), PASSWORD.to_string())].into());
}

fn main_cf(unit: &Unit) -> String {
    unit.read("/etc/postfix/main.cf").unwrap()
}

pub const STARTTLS_SASL: &[(&str, &str)] = &[
    ("host", "smtp.example.com"),
    ("port", "587"),
    ("auth_type", "plain"),
    ("transport_security", "starttls"),
    ("skip_ssl_verify", "False"),
    ("user", "landscape"),
    ("password_id", SECRET),
    ("domain", "example.com"),
];

#[test]
fn the_relation_sets_relayhost_sasl_and_tls_and_the_password_map() {
    let mut unit = postfix_unit();
    add_password_secret(&mut unit);
    let run = relate(&mut unit, STARTTLS_SASL);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let cf = main_cf(&unit);
    for line in [
        "relayhost = [smtp.example.com]:587",
        "smtp_sasl_auth_enable = yes",
        "smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd",
        "smtp_sasl_security_options = noanonymous",
        "smtp_sasl_tls_security_options = noanonymous",
        "smtp_tls_security_level = secure",
        "smtp_tls_wrappermode = no",
        "smtp_tls_mandatory_protocols = >=TLSv1.2",
        "smtp_tls_mandatory_ciphers = high",
        // The operator's lines stay.
        "myhostname = landscape",
        "smtp_tls_CApath = /etc/ssl/certs",
    ] {
        assert!(cf.lines().any(|l| l == line), "{line} missing:\n{cf}");
    }
    assert_eq!(cf.matches("relayhost =").count(), 1);
    let sasl = unit.path("/etc/postfix/sasl_passwd");
    assert_eq!(std::fs::read_to_string(&sasl).unwrap(), format!("[smtp.example.com]:587 landscape:{PASSWORD}\n"));
    assert_eq!(std::fs::metadata(&sasl).unwrap().mode() & 0o777, 0o600);
    let lines = run.command_lines();
    let postmap = lines.iter().position(|l| l.starts_with("postmap ") && l.ends_with("/etc/postfix/sasl_passwd"));
    let reload = lines.iter().position(|l| l == "systemctl reload postfix");
    assert!(postmap.is_some() && postmap < reload, "postmap, then the reload: {lines:?}");
    // The password is in no log line, error or command line.
    assert!(!unit.log_text().contains(PASSWORD) && !run.stderr.contains(PASSWORD));
    assert!(!lines.iter().any(|l| l.contains(PASSWORD)));
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
    // Nothing changed: nothing rewritten, no reload.
    let again = unit.relation_changed("smtp", REL, None);
    assert!(!again.ran("systemctl reload postfix"));
}

#[test]
fn implicit_tls_without_auth_and_a_relation_that_wins_over_the_option() {
    let mut unit = postfix_unit();
    unit.set_config("smtp_relay_host", json!("relay.internal"));
    unit.hook("config-changed");
    assert!(main_cf(&unit).contains("relayhost = relay.internal"));
    relate(
        &mut unit,
        &[
            ("host", "10.20.0.5"),
            ("port", "465"),
            ("auth_type", "none"),
            ("transport_security", "tls"),
            ("skip_ssl_verify", "True"),
        ],
    );
    let cf = main_cf(&unit);
    for line in [
        "relayhost = [10.20.0.5]:465",
        "smtp_tls_wrappermode = yes",
        "smtp_tls_security_level = encrypt",
        "smtp_sasl_auth_enable = no",
    ] {
        assert!(cf.lines().any(|l| l == line), "{line} missing:\n{cf}");
    }
    assert!(!cf.contains("smtp_sasl_password_maps") && unit.read("/etc/postfix/sasl_passwd").is_none());
    assert_eq!(
        unit.status(),
        (
            "active".into(),
            "the smtp relation's relay [10.20.0.5]:465 is used, not smtp_relay_host (relay.internal)".into()
        )
    );
    // The relation goes: its keys go, the option's relay comes back.
    let run = unit.run(Dispatch::relation("smtp", "broken", REL, None));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        main_cf(&unit),
        "# postfix\nmyhostname = landscape\nrelayhost = relay.internal\nsmtp_tls_CApath = /etc/ssl/certs\n"
    );
    assert!(run.ran("systemctl reload postfix"));
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
}

#[test]
fn broken_removes_the_password_map_and_unset_relay() {
    let mut unit = postfix_unit();
    add_password_secret(&mut unit);
    relate(&mut unit, STARTTLS_SASL);
    std::fs::write(unit.path("/etc/postfix/sasl_passwd.db"), "db").unwrap();
    unit.run(Dispatch::relation("smtp", "broken", REL, None));
    assert!(unit.read("/etc/postfix/sasl_passwd").is_none() && unit.read("/etc/postfix/sasl_passwd.db").is_none());
    let cf = main_cf(&unit);
    assert!(!cf.contains("relayhost") && !cf.contains("smtp_sasl") && !cf.contains("smtp_tls_security_level"), "{cf}");
    assert!(cf.contains("smtp_tls_CApath"), "the operator's own key stays");
}

#[test]
fn hostile_provider_data_blocks_naming_the_field_and_changes_nothing() {
    let mut unit = postfix_unit();
    add_password_secret(&mut unit);
    relate(&mut unit, STARTTLS_SASL);
    let before = (main_cf(&unit), unit.read("/etc/postfix/sasl_passwd"));
    for (bag, field) in [
        (vec![("host", "smtp.example.com\nrelayhost = evil"), ("port", "587")], "host"),
        (vec![("host", "smtp.example.com"), ("port", "58 7")], "port"),
        (vec![("host", "smtp.example.com"), ("port", "587"), ("transport_security", "ssl3")], "transport_security"),
        (vec![("host", "smtp.example.com"), ("port", "587"), ("auth_type", "plain"), ("user", "a b")], "user"),
        (
            vec![("host", "smtp.example.com"), ("port", "587"), ("password_id", "secret:doesnotexist0000000")],
            "password_id",
        ),
        (vec![("host", "smtp.example.com"), ("port", "587"), ("password_id", "../etc/shadow")], "password_id"),
        // Was written as `relayhost = [[smtp.example.com]]:587`.
        (vec![("host", "[[smtp.example.com]]"), ("port", "587")], "host"),
    ] {
        let run = relate(&mut unit, &bag);
        assert_eq!(run.code, 0, "{field}: {}", run.stderr);
        let (status, message) = unit.status();
        assert_eq!(status, "blocked", "{field}");
        assert!(message.starts_with(&format!("smtp: {field}")), "{field}: {message}");
        assert!(!message.contains('\n') && !message.contains(PASSWORD), "{message}");
        assert_eq!((main_cf(&unit), unit.read("/etc/postfix/sasl_passwd")), before, "{field}: nothing written");
    }
}
