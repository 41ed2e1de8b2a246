//! Session `SET` options (what clients send after login). Unknown options are
//! error 195, as on SQL Server.

use super::ast::{Literal, SetValue, Statement};
use super::lexer::{Kind, Token};
use super::parser::{Parser, Result};
use super::terms::is_word;
use crate::sim::table::ServerError;

/// `SET` options that take `ON` / `OFF` (and may be listed together: `SET A, B ON`).
const ON_OFF_OPTIONS: &[&str] = &[
    "ANSI_DEFAULTS",
    "ANSI_NULLS",
    "ANSI_NULL_DFLT_OFF",
    "ANSI_NULL_DFLT_ON",
    "ANSI_PADDING",
    "ANSI_WARNINGS",
    "ARITHABORT",
    "CONCAT_NULL_YIELDS_NULL",
    "CURSOR_CLOSE_ON_COMMIT",
    "IMPLICIT_TRANSACTIONS",
    "NOCOUNT",
    "NUMERIC_ROUNDABORT",
    "QUOTED_IDENTIFIER",
    "XACT_ABORT",
];

/// `SET` options that take an integer.
const INT_OPTIONS: &[&str] = &["DATEFIRST", "LOCK_TIMEOUT", "TEXTSIZE"];

/// Isolation levels, as keyword sequences.
const ISOLATION_LEVELS: &[&[&str]] = &[
    &["READ", "UNCOMMITTED"],
    &["READ", "COMMITTED"],
    &["REPEATABLE", "READ"],
    &["SNAPSHOT"],
    &["SERIALIZABLE"],
];

impl Parser<'_> {
    /// `SET option value`; `SET a, b ON` yields one statement per option.
    pub(super) fn set(&mut self, out: &mut Vec<Statement>) -> Result<()> {
        let option = match self.peek() {
            Some(Token { kind: Kind::Word, text }) => *text,
            _ => return Err(self.error()),
        };
        let upper = option.to_ascii_uppercase();
        self.pos += 1;
        let value = match upper.as_str() {
            "TRANSACTION" => {
                self.expect_kws(&["ISOLATION", "LEVEL"])?;
                let level = self.isolation_level()?;
                out.push(Statement::SetOption {
                    option: "TRANSACTION ISOLATION LEVEL".into(),
                    value: SetValue::Word(level),
                });
                return Ok(());
            }
            o if ON_OFF_OPTIONS.contains(&o) => return self.set_on_off(upper, out),
            o if INT_OPTIONS.contains(&o) => match self.signed_int()? {
                Literal::Int(n) => SetValue::Int(n),
                _ => return Err(self.error()),
            },
            "DATEFORMAT" => match self.bump() {
                Some(Token { kind: Kind::Word, text }) => SetValue::Word(text.to_string()),
                Some(Token { kind: Kind::Str(s), .. }) => SetValue::Word(s),
                _ => return Err(self.error_prev()),
            },
            "LANGUAGE" => match self.bump() {
                Some(Token { kind: Kind::Word, text }) => SetValue::Word(text.to_string()),
                Some(Token {
                    kind: Kind::Str(s) | Kind::Quoted(s),
                    ..
                }) => SetValue::Word(s),
                _ => return Err(self.error_prev()),
            },
            _ => return Err(unknown_set_option(option)),
        };
        out.push(Statement::SetOption { option: upper, value });
        Ok(())
    }

    pub(super) fn set_on_off(&mut self, first: String, out: &mut Vec<Statement>) -> Result<()> {
        let mut options = vec![first];
        while self.eat_punct(',') {
            match self.peek() {
                Some(Token { kind: Kind::Word, text }) => {
                    let upper = text.to_ascii_uppercase();
                    if !ON_OFF_OPTIONS.contains(&upper.as_str()) {
                        return Err(unknown_set_option(text));
                    }
                    self.pos += 1;
                    options.push(upper);
                }
                _ => return Err(self.error()),
            }
        }
        let value = if self.eat_kw("ON") {
            SetValue::On
        } else {
            self.expect_kws(&["OFF"])?;
            SetValue::Off
        };
        out.extend(options.into_iter().map(|option| Statement::SetOption {
            option,
            value: value.clone(),
        }));
        Ok(())
    }

    pub(super) fn isolation_level(&mut self) -> Result<String> {
        for level in ISOLATION_LEVELS {
            let fits = level
                .iter()
                .enumerate()
                .all(|(i, kw)| self.tokens.get(self.pos + i).is_some_and(|t| is_word(t, kw)));
            if fits {
                self.pos += level.len();
                return Ok(level.join(" "));
            }
        }
        // Report the first token that fits no level.
        if self.is_kw("READ") || self.is_kw("REPEATABLE") {
            self.pos += 1;
        }
        Err(self.error())
    }
}

/// Error 195, naming the option as written.
fn unknown_set_option(option: &str) -> ServerError {
    ServerError::new(195, 15, format!("'{option}' is not a recognized SET option."))
}
