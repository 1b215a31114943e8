//! `dispatch`: decode nothing here; hand the environment, the real hook tools
//! and the real command runner to the library, and turn its verdict into an
//! exit code (non-zero makes Juju retry the hook).

use std::process::ExitCode;

use landscape_server::juju::tools::ProcessHookTools;
use landscape_server::system::ProcessRunner;

fn main() -> ExitCode {
    let env = std::env::vars().collect();
    match landscape_server::run(&env, &ProcessHookTools, &ProcessRunner) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("landscape-server: {:#}", anyhow::Error::from(err));
            ExitCode::FAILURE
        }
    }
}
