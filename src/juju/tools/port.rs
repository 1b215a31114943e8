//! `open-port`, `close-port`, `opened-ports`.

use super::{HookToolError, HookTools, owned};

impl HookTools<'_> {
    pub fn open_port(&self, port: u16) -> Result<(), HookToolError> {
        self.call("open-port", vec![format!("{port}/tcp")], None).map(drop)
    }

    pub fn close_port(&self, port: u16) -> Result<(), HookToolError> {
        self.call("close-port", vec![format!("{port}/tcp")], None).map(drop)
    }

    /// The TCP ports opened so far (pending opens of this hook are not listed).
    pub fn opened_tcp_ports(&self) -> Result<Vec<u16>, HookToolError> {
        let entries: Option<Vec<String>> = self.call_json("opened-ports", owned(&["--format=json"]))?;
        Ok(entries.unwrap_or_default().iter().filter_map(|entry| entry.strip_suffix("/tcp")?.parse().ok()).collect())
    }
}
