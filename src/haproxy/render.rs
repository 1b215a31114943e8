//! Renders `templates/haproxy.cfg.j2` (embedded in the binary, so rendering
//! never depends on the working directory) with strict undefined handling.

use minijinja::{Environment, UndefinedBehavior, context};

use super::model::{HaproxyConfig, SERVER_OPTIONS};

const TEMPLATE_NAME: &str = "haproxy.cfg.j2";
const TEMPLATE: &str = include_str!("../../templates/haproxy.cfg.j2");

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot render the HAProxy template: {0}")]
    Template(#[from] minijinja::Error),
    /// Defence in depth: the model only produces single tokens, but a value
    /// with a space, a `#` or a line break would change the config's meaning.
    #[error("refusing to render {what} {value:?}: it is not a single HAProxy token")]
    NotAToken { what: &'static str, value: String },
}

/// A render failure is a bug or a hostile value: retrying won't fix it.
impl crate::status::Explain for RenderError {
    fn status(&self) -> Option<crate::status::Status> {
        Some(crate::status::Status::blocked(format!("Cannot render the HAProxy config: {self}")))
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.add_template(TEMPLATE_NAME, TEMPLATE).expect("the embedded template parses (checked by tests)");
    env
}

fn check_token(what: &'static str, value: &str) -> Result<(), RenderError> {
    let bad = value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control() || c == '#' || c == '"');
    if bad { Err(RenderError::NotAToken { what, value: value.to_string() }) } else { Ok(()) }
}

fn check_tokens(config: &HaproxyConfig) -> Result<(), RenderError> {
    for error_file in &config.error_files {
        check_token("error file path", &error_file.path)?;
    }
    for service in &config.services {
        if let Some(tls) = &service.frontend.tls {
            check_token("certificate path", &tls.cert)?;
        }
        for backend in &service.backends {
            check_token("backend name", &backend.name)?;
            for server in &backend.servers {
                check_token("server name", &server.name)?;
                check_token("server address", &server.address)?;
            }
        }
    }
    Ok(())
}

/// The configuration text for `config`.
pub fn render(config: &HaproxyConfig) -> Result<String, RenderError> {
    check_tokens(config)?;
    let env = environment();
    let template = env.get_template(TEMPLATE_NAME)?;
    Ok(template.render(context! {
        global_maxconn => config.global_maxconn,
        limits => &config.limits,
        metrics => &config.metrics,
        error_files => &config.error_files,
        retry_after_secs => config.retry_after_secs,
        services => &config.services,
        server_options => SERVER_OPTIONS,
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::haproxy::model::ErrorFile;

    #[test]
    fn a_path_with_a_space_is_refused() {
        let config = HaproxyConfig {
            global_maxconn: 10,
            limits: Default::default(),
            metrics: None,
            error_files: vec![ErrorFile { status: 503, path: "/tmp/a b/x.html".into() }],
            retry_after_secs: None,
            services: vec![],
        };
        let err = render(&config).unwrap_err();
        assert!(err.to_string().contains("error file path"), "{err}");
    }
}
