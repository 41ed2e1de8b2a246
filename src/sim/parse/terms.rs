//! Terminals: literals, names, and the token cursor the grammar is written with.

use super::ast::Literal;
use super::keywords::is_reserved;
use super::lexer::{Kind, Token};
use super::parser::{Parser, Result};
use crate::sim::table::ServerError;

impl<'a> Parser<'a> {
    /// A string, integer, `NULL` or `@param` in a WHERE condition.
    pub(super) fn literal(&mut self) -> Result<Literal> {
        match self.peek().map(|t| &t.kind) {
            Some(Kind::Str(_)) => Ok(self.string()),
            Some(Kind::Word) if self.is_kw("NULL") => {
                self.pos += 1;
                Ok(Literal::Null)
            }
            Some(Kind::Param) => Ok(self.param()),
            _ => self.signed_int(),
        }
    }

    pub(super) fn str_or_param(&mut self) -> Result<Literal> {
        match self.peek().map(|t| &t.kind) {
            Some(Kind::Str(_)) => Ok(self.string()),
            Some(Kind::Param) => Ok(self.param()),
            _ => Err(self.error()),
        }
    }

    /// A string literal only: where T-SQL's grammar takes no variables (the
    /// replica name of MODIFY REPLICA ON), a parameter is a syntax error.
    pub(super) fn str_lit(&mut self) -> Result<Literal> {
        match self.peek().map(|t| &t.kind) {
            Some(Kind::Str(_)) => Ok(self.string()),
            _ => Err(self.error()),
        }
    }

    /// Takes the current token, a string literal.
    fn string(&mut self) -> Literal {
        match self.bump().map(|t| t.kind) {
            Some(Kind::Str(s)) => Literal::Str(s),
            _ => Literal::Null,
        }
    }

    pub(super) fn param(&mut self) -> Literal {
        let text = self.bump().map(|t| t.text).unwrap_or_default();
        Literal::Param(text.to_string())
    }

    /// An integer with an optional leading `-`; beyond i128 is error 1007.
    pub(super) fn signed_int(&mut self) -> Result<Literal> {
        let negative = self.eat_punct('-');
        let Some(Token { kind: Kind::Int, text }) = self.peek() else {
            return Err(self.error());
        };
        let digits = if negative { format!("-{text}") } else { text.to_string() };
        self.pos += 1;
        digits.parse().map(Literal::Int).map_err(|_| {
            ServerError::new(
                1007,
                15,
                format!(
                    "The number '{digits}' is out of the range for numeric representation \
                     (maximum precision 38)."
                ),
            )
        })
    }

    /// A regular (non-reserved) or delimited identifier, unquoted.
    pub(super) fn name(&mut self) -> Result<String> {
        self.try_name().ok_or_else(|| self.error())
    }

    pub(super) fn try_name(&mut self) -> Option<String> {
        let name = match self.peek()? {
            Token { kind: Kind::Word, text } if !is_reserved(text) => text.to_string(),
            Token {
                kind: Kind::Quoted(name),
                ..
            } => name.clone(),
            _ => return None,
        };
        self.pos += 1;
        Some(name)
    }

    pub(super) fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.pos)
    }

    pub(super) fn bump(&mut self) -> Option<Token<'a>> {
        let tok = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        tok
    }

    pub(super) fn is_kw(&self, kw: &str) -> bool {
        self.peek().is_some_and(|t| is_word(t, kw))
    }

    pub(super) fn eat_kw(&mut self, kw: &str) -> bool {
        let hit = self.is_kw(kw);
        if hit {
            self.pos += 1;
        }
        hit
    }

    pub(super) fn expect_kws(&mut self, kws: &[&str]) -> Result<()> {
        for kw in kws {
            if !self.eat_kw(kw) {
                return Err(self.error());
            }
        }
        Ok(())
    }

    pub(super) fn eat_punct(&mut self, c: char) -> bool {
        let hit = self.peek().is_some_and(|t| t.kind == Kind::Punct(c));
        if hit {
            self.pos += 1;
        }
        hit
    }

    pub(super) fn expect_punct(&mut self, c: char) -> Result<()> {
        if self.eat_punct(c) { Ok(()) } else { Err(self.error()) }
    }

    /// Error 102 near the current token (or the last one at end of input).
    pub(super) fn error(&self) -> ServerError {
        let tok = self.tokens.get(self.pos).or(self.tokens.last());
        syntax_error(tok.map_or("", |t| t.text))
    }

    /// Error 102 near the token just consumed by `bump`.
    pub(super) fn error_prev(&self) -> ServerError {
        let tok = self.tokens.get(self.pos.saturating_sub(1)).or(self.tokens.last());
        syntax_error(tok.map_or("", |t| t.text))
    }
}

pub(super) fn is_word(tok: &Token<'_>, kw: &str) -> bool {
    tok.kind == Kind::Word && tok.text.eq_ignore_ascii_case(kw)
}

pub(super) fn syntax_error(near: &str) -> ServerError {
    ServerError::new(102, 15, format!("Incorrect syntax near '{near}'."))
}
