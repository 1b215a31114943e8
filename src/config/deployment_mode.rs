//! `deployment_mode`: which kind of Landscape deployment this is.
//! `standalone` is the package's own mode and the default; any other mode
//! names a directory under `/opt/canonical/landscape/configs` (linked to
//! the standalone one) and gets the systemd drop-ins Landscape 26.04 needs.

/// A deployment mode: a word of letters, digits, `-` and `_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentMode(String);

impl DeploymentMode {
    pub const STANDALONE: &'static str = "standalone";

    pub fn standalone() -> Self {
        Self(Self::STANDALONE.to_string())
    }

    /// The option's value, or why it is not one (it names a directory).
    pub fn parse(text: &str) -> Result<Self, String> {
        if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            Ok(Self(text.to_string()))
        } else {
            Err(format!("must be a word of letters, digits, - and _ (got {})", crate::text::quoted(text)))
        }
    }

    pub fn is_standalone(&self) -> bool {
        self.0 == Self::STANDALONE
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DeploymentMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mode_is_one_word() {
        assert!(DeploymentMode::parse("standalone").unwrap().is_standalone());
        assert!(!DeploymentMode::parse("saas").unwrap().is_standalone());
        for bad in ["", "a b", "../x", "a/b"] {
            assert!(DeploymentMode::parse(bad).is_err(), "{bad:?}");
        }
    }
}
