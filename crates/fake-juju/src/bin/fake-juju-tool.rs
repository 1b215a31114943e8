//! `fake-juju-tool`: see the crate's documentation.

fn main() -> std::process::ExitCode {
    fake_juju::run(std::env::args())
}
