//! Policy errors: every bad field, with its path and (from TOML) its line.

use std::fmt;

/// One segment of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// The path of a field, e.g. `routes[1].rules[0].when.ip`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<Seg>);

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// One problem with a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where: the field's path (empty for the whole document).
    pub path: FieldPath,
    /// What is wrong, e.g. `invalid CIDR "10.0.0/8"`.
    pub message: String,
    /// The 1-based line in the TOML source, when the policy came from TOML.
    pub line: Option<usize>,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if self.path.0.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a policy; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// The problems: in document order when read from TOML, else in the
    /// order checked (groups, lists, user_id, routes).
    pub errors: Vec<FieldError>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl PolicyError {
    /// A single error at `path`.
    pub fn one(path: FieldPath, message: impl Into<String>) -> Self {
        PolicyError {
            errors: vec![FieldError {
                path,
                message: message.into(),
                line: None,
            }],
        }
    }
}

/// Collects errors while walking a policy; keeps the current path.
#[derive(Debug, Default)]
pub(crate) struct Errors {
    path: Vec<Seg>,
    pub(crate) found: Vec<FieldError>,
}

impl Errors {
    /// Runs `f` with `key` appended to the path.
    pub(crate) fn at<T>(&mut self, key: &str, f: impl FnOnce(&mut Self) -> T) -> T {
        self.path.push(Seg::Key(key.to_owned()));
        let r = f(self);
        self.path.pop();
        r
    }

    /// Runs `f` with `[i]` appended to the path.
    pub(crate) fn index<T>(&mut self, i: usize, f: impl FnOnce(&mut Self) -> T) -> T {
        self.path.push(Seg::Index(i));
        let r = f(self);
        self.path.pop();
        r
    }

    /// Records an error at the current path.
    pub(crate) fn here(&mut self, message: impl Into<String>) {
        let path = FieldPath(self.path.clone());
        self.found.push(FieldError {
            path,
            message: message.into(),
            line: None,
        });
    }

    /// Records an error at the current path plus `key`.
    pub(crate) fn field(&mut self, key: &str, message: impl Into<String>) {
        self.at(key, |e| e.here(message));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.found.is_empty()
    }
}
