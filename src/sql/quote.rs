//! Quoting of names that come from specs. AG DDL cannot take parameters for
//! names, so every identifier and string literal is escaped here and nowhere else.

use std::fmt;

/// Why a name cannot be used as a SQL Server identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    #[error("identifier is empty")]
    Empty,
    #[error("identifier {name:?} is {len} characters long; SQL Server allows at most 128")]
    TooLong { name: String, len: usize },
    #[error("identifier {name:?} contains the control character U+{code:04X}")]
    ControlCharacter { name: String, code: u32 },
    #[error("string literal contains a NUL character")]
    NulInLiteral,
    #[error("session id {0} is not a valid process id; SQL Server session ids are 1 to 32767")]
    InvalidSessionId(i16),
}

/// A validated SQL Server identifier (`sysname`: 1–128 characters, no control characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ident(String);

impl Ident {
    pub fn new(name: &str) -> Result<Self, QuoteError> {
        if name.is_empty() {
            return Err(QuoteError::Empty);
        }
        // sysname counts UTF-16 code units (nvarchar(128)).
        let len = name.encode_utf16().count();
        if len > 128 {
            return Err(QuoteError::TooLong {
                name: name.to_string(),
                len,
            });
        }
        if let Some(c) = name.chars().find(|c| c.is_control()) {
            return Err(QuoteError::ControlCharacter {
                name: name.to_string(),
                code: c as u32,
            });
        }
        Ok(Self(name.to_string()))
    }

    /// The raw (unquoted) name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The bracket-quoted form: `[` + name with every `]` doubled + `]`.
    pub fn quoted(&self) -> String {
        format!("[{}]", self.0.replace(']', "]]"))
    }
}

impl fmt::Display for Ident {
    /// Displays the *quoted* form, so formatting an `Ident` into T-SQL is always safe.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.quoted())
    }
}

/// Quotes a name as an identifier, validating it first.
pub fn quote_ident(name: &str) -> Result<String, QuoteError> {
    Ident::new(name).map(|i| i.quoted())
}

/// A Unicode string literal: `N'…'` with every `'` doubled. No length cap
/// (replica names are `host\instance`, up to 256 characters), but NUL is refused.
pub fn quote_literal(value: &str) -> Result<String, QuoteError> {
    if value.contains('\0') {
        return Err(QuoteError::NulInLiteral);
    }
    Ok(format!("N'{}'", value.replace('\'', "''")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_are_doubled() {
        assert_eq!(quote_ident("abc[]def").unwrap(), "[abc[]]def]");
        assert_eq!(
            quote_ident("x] FAILOVER; DROP DATABASE [y").unwrap(),
            "[x]] FAILOVER; DROP DATABASE [y]"
        );
    }

    #[test]
    fn quotes_are_doubled_in_literals() {
        assert_eq!(quote_literal("O'Brien\\SQL").unwrap(), "N'O''Brien\\SQL'");
        assert_eq!(quote_literal("").unwrap(), "N''");
        assert_eq!(quote_literal("a\0b"), Err(QuoteError::NulInLiteral));
    }

    #[test]
    fn identifier_bounds() {
        assert_eq!(Ident::new(""), Err(QuoteError::Empty));
        assert!(Ident::new(&"a".repeat(128)).is_ok());
        assert!(matches!(
            Ident::new(&"a".repeat(129)),
            Err(QuoteError::TooLong { len: 129, .. })
        ));
        // 128 UTF-16 units, not bytes: 128 'é' (2 bytes each in UTF-8) is fine.
        assert!(Ident::new(&"é".repeat(128)).is_ok());
        // A character outside the BMP counts as two units.
        assert!(matches!(
            Ident::new(&"😀".repeat(65)),
            Err(QuoteError::TooLong { len: 130, .. })
        ));
        assert!(matches!(
            Ident::new("a\nb"),
            Err(QuoteError::ControlCharacter { code: 0x0A, .. })
        ));
    }
}
