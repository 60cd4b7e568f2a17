//! Scenario files: schema (`schema`), validated model (`model`), and the checks between them.

pub mod model;
pub mod schema;
mod validate;

use std::path::{Path, PathBuf};

pub use model::*;

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{}: cannot read: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", file.display())]
    Parse { file: PathBuf, message: String },
    #[error("{}: {key} = {value:?}: {reason}", file.display())]
    Invalid {
        file: PathBuf,
        key: String,
        value: String,
        reason: String,
    },
}

/// Parse and validate scenario text (the file name is only used in errors).
pub fn parse_str(file: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let raw: schema::RawScenario = toml::from_str(text).map_err(|e| ScenarioError::Parse {
        file: file.to_path_buf(),
        message: e.to_string().trim_end().replace('\n', "\n    "),
    })?;
    validate::validate(file, raw)
}

/// Read, parse and validate one scenario file.
pub fn load(file: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(file).map_err(|source| ScenarioError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    parse_str(file, &text)
}
