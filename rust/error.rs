//! The single error type of the core. It carries a kind and a message a user
//! can act on; the bindings map each kind to one Python exception class in
//! `pyactors.errors`, and nowhere else.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed or impossible resources (`pyactors.ResourceError`).
    Resource,
    /// No such agent (`pyactors.UnknownAgentError`).
    UnknownAgent,
    /// No such framework (`pyactors.UnknownFrameworkError`).
    UnknownFramework,
    /// An id that is already registered (`pyactors.DuplicateError`).
    Duplicate,
    /// An argument out of range or inconsistent with the state
    /// (`pyactors.InvalidArgumentError`).
    InvalidArgument,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub fn resource(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Resource, message)
    }

    pub fn unknown_agent(agent_id: &str) -> Self {
        Error::new(
            ErrorKind::UnknownAgent,
            format!("unknown agent '{agent_id}'"),
        )
    }

    pub fn unknown_framework(framework_id: &str) -> Self {
        Error::new(
            ErrorKind::UnknownFramework,
            format!("unknown framework '{framework_id}'"),
        )
    }

    pub fn duplicate(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Duplicate, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
