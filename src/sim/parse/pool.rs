//! The statements of runbook B: RESTORE, KILL and EXEC of a procedure.

use super::ast::{ExecArg, Literal, RestoreKind, RestoreOption, Statement};
use super::keywords::is_reserved;
use super::lexer::{Kind, Token};
use super::parser::{Parser, Result};

impl Parser<'_> {
    /// `RESTORE DATABASE|LOG name [FROM DISK = 'path'] [WITH option, …]`; LOG needs FROM.
    pub(super) fn restore(&mut self) -> Result<Statement> {
        let kind = if self.eat_kw("DATABASE") {
            RestoreKind::Database
        } else {
            self.expect_kws(&["LOG"])?;
            RestoreKind::Log
        };
        let database = self.name()?;
        let disk = if kind == RestoreKind::Log || self.is_kw("FROM") {
            self.expect_kws(&["FROM", "DISK"])?;
            self.expect_punct('=')?;
            Some(self.str_or_param()?)
        } else {
            None
        };
        let mut options = Vec::new();
        if self.eat_kw("WITH") {
            const OPTIONS: &[(&str, RestoreOption)] = &[
                ("RECOVERY", RestoreOption::Recovery),
                ("NORECOVERY", RestoreOption::NoRecovery),
                ("REPLACE", RestoreOption::Replace),
                ("CHECKSUM", RestoreOption::Checksum),
            ];
            loop {
                let option = OPTIONS.iter().find(|(kw, _)| self.is_kw(kw)).map(|(_, o)| *o);
                let Some(option) = option else { return Err(self.error()) };
                self.pos += 1;
                options.push(option);
                if !self.eat_punct(',') {
                    break;
                }
            }
        }
        Ok(Statement::Restore {
            kind,
            database,
            disk,
            options,
        })
    }

    /// `KILL session_id` (a constant; no variables, no WITH STATUSONLY).
    pub(super) fn kill(&mut self) -> Result<Statement> {
        match self.signed_int()? {
            Literal::Int(session) => Ok(Statement::Kill { session }),
            _ => Err(self.error_prev()),
        }
    }

    /// `EXEC[UTE] proc [arg [, arg …]]`, each `@name = value` or a value.
    pub(super) fn exec(&mut self) -> Result<Statement> {
        let procedure = self.object_name()?;
        let mut args = Vec::new();
        if self.starts_arg() {
            loop {
                args.push(self.exec_arg()?);
                if !self.eat_punct(',') {
                    break;
                }
            }
        }
        Ok(Statement::Exec { procedure, args })
    }

    fn starts_arg(&self) -> bool {
        match self.peek() {
            Some(Token { kind, text }) => match kind {
                Kind::Str(_) | Kind::Int | Kind::Param | Kind::Quoted(_) | Kind::Punct('-') => true,
                Kind::Word => !is_reserved(text) || text.eq_ignore_ascii_case("NULL"),
                _ => false,
            },
            None => false,
        }
    }

    fn exec_arg(&mut self) -> Result<ExecArg> {
        let named = matches!(self.peek(), Some(Token { kind: Kind::Param, .. }))
            && self
                .tokens
                .get(self.pos + 1)
                .is_some_and(|t| t.kind == Kind::Punct('='));
        let name = if named {
            let name = self.bump().map(|t| t.text.to_string());
            self.pos += 1;
            name
        } else {
            None
        };
        let value = match self.peek().map(|t| t.kind.clone()) {
            Some(Kind::Str(_) | Kind::Param | Kind::Int | Kind::Punct('-')) => self.literal()?,
            Some(Kind::Word) if self.is_kw("NULL") => self.literal()?,
            // EXEC takes a bare or quoted identifier as a string.
            Some(Kind::Word | Kind::Quoted(_)) => Literal::Str(self.name()?),
            _ => return Err(self.error()),
        };
        Ok(ExecArg { name, value })
    }
}
