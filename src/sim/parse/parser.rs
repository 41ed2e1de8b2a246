//! Recursive-descent parser over the token list. It accepts exactly the grammar
//! in `ast`; the first token that does not fit is reported as error 102.

use super::ast::*;
use super::lexer::{Kind, Token};
use crate::sim::table::ServerError;

pub(super) type Result<T> = std::result::Result<T, ServerError>;

pub(super) struct Parser<'a> {
    pub(super) tokens: Vec<Token<'a>>,
    pub(super) pos: usize,
}

impl<'a> Parser<'a> {
    pub(super) fn new(tokens: Vec<Token<'a>>) -> Self {
        Self { tokens, pos: 0 }
    }

    /// Statements, each optionally followed by one `;` (an empty statement is an error).
    pub(super) fn batch(mut self) -> Result<Vec<Statement>> {
        let mut out = Vec::new();
        while self.peek().is_some() {
            self.statement(&mut out)?;
            self.eat_punct(';');
        }
        Ok(out)
    }

    fn statement(&mut self, out: &mut Vec<Statement>) -> Result<()> {
        if self.eat_kw("SELECT") {
            out.push(Statement::Select(self.select()?));
        } else if self.eat_kw("ALTER") {
            out.push(self.alter()?);
        } else if self.eat_kw("BACKUP") {
            out.push(self.backup()?);
        } else if self.eat_kw("RESTORE") {
            out.push(self.restore()?);
        } else if self.eat_kw("KILL") {
            out.push(self.kill()?);
        } else if self.eat_kw("EXEC") || self.eat_kw("EXECUTE") {
            out.push(self.exec()?);
        } else if self.eat_kw("SET") {
            self.set(out)?;
        } else if self.eat_kw("USE") {
            let database = self.name()?;
            out.push(Statement::Use { database });
        } else {
            return Err(self.error());
        }
        Ok(())
    }

    fn select(&mut self) -> Result<Select> {
        let mut items = vec![self.select_item()?];
        while self.eat_punct(',') {
            items.push(self.select_item()?);
        }
        let mut from = None;
        if self.is_kw("FROM") {
            // `@@` globals are only supported in a FROM-less select.
            if items.iter().any(|i| matches!(i, SelectItem::Global { .. })) {
                return Err(self.error());
            }
            self.pos += 1;
            from = Some(self.object_name()?);
        }
        let mut filter = Vec::new();
        if self.eat_kw("WHERE") {
            loop {
                let column = self.name()?;
                self.expect_punct('=')?;
                let value = self.literal()?;
                filter.push(Condition { column, value });
                if !self.eat_kw("AND") {
                    break;
                }
            }
        }
        Ok(Select { items, from, filter })
    }

    fn select_item(&mut self) -> Result<SelectItem> {
        if self.eat_punct('*') {
            return Ok(SelectItem::Star);
        }
        if let Some(Token {
            kind: Kind::Global,
            text,
        }) = self.peek()
        {
            let global = Global(text.trim_start_matches('@').to_uppercase());
            self.pos += 1;
            let alias = self.alias()?;
            return Ok(SelectItem::Global { global, alias });
        }
        let name = self.name()?;
        let alias = self.alias()?;
        Ok(SelectItem::Column { name, alias })
    }

    /// `AS name`, a bare non-reserved name, or nothing.
    fn alias(&mut self) -> Result<Option<String>> {
        if self.eat_kw("AS") {
            return self.name().map(Some);
        }
        Ok(self.try_name())
    }

    pub(super) fn object_name(&mut self) -> Result<ObjectName> {
        let mut parts = vec![self.name()?];
        while parts.len() < 3 && self.eat_punct('.') {
            parts.push(self.name()?);
        }
        Ok(ObjectName(parts))
    }

    fn alter(&mut self) -> Result<Statement> {
        if self.eat_kw("DATABASE") {
            let database = self.name()?;
            self.expect_kws(&["SET"])?;
            if self.eat_kw("PARTNER") {
                self.expect_kws(&["OFF"])?;
                return Ok(Statement::SetPartnerOff { database });
            }
            self.expect_kws(&["HADR"])?;
            if self.eat_kw("RESUME") {
                return Ok(Statement::ResumeDatabase { database });
            }
            self.expect_kws(&["SUSPEND"])?;
            return Ok(Statement::SuspendDatabase { database });
        }
        self.expect_kws(&["AVAILABILITY", "GROUP"])?;
        let group = self.name()?;
        let action = self.ag_action()?;
        Ok(Statement::AlterAvailabilityGroup { group, action })
    }

    fn ag_action(&mut self) -> Result<AgAction> {
        if self.eat_kw("FAILOVER") {
            return Ok(AgAction::Failover);
        }
        if self.eat_kw("FORCE_FAILOVER_ALLOW_DATA_LOSS") {
            return Ok(AgAction::ForceFailoverAllowDataLoss);
        }
        if self.eat_kw("SET") {
            self.expect_punct('(')?;
            let action = if self.eat_kw("ROLE") {
                self.expect_punct('=')?;
                self.expect_kws(&["SECONDARY"])?;
                AgAction::SetRoleSecondary
            } else {
                self.expect_kws(&["REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT"])?;
                self.expect_punct('=')?;
                AgAction::SetRequiredSynchronizedSecondaries(self.signed_int()?)
            };
            self.expect_punct(')')?;
            return Ok(action);
        }
        self.expect_kws(&["MODIFY", "REPLICA", "ON"])?;
        let server = self.str_lit()?;
        self.expect_kws(&["WITH"])?;
        self.expect_punct('(')?;
        let action = if self.eat_kw("AVAILABILITY_MODE") {
            self.expect_punct('=')?;
            let mode = if self.eat_kw("SYNCHRONOUS_COMMIT") {
                AvailabilityMode::SynchronousCommit
            } else {
                self.expect_kws(&["ASYNCHRONOUS_COMMIT"])?;
                AvailabilityMode::AsynchronousCommit
            };
            AgAction::ModifyReplicaAvailabilityMode { server, mode }
        } else {
            self.expect_kws(&["FAILOVER_MODE"])?;
            self.expect_punct('=')?;
            let mode = if self.eat_kw("AUTOMATIC") {
                FailoverMode::Automatic
            } else {
                self.expect_kws(&["MANUAL"])?;
                FailoverMode::Manual
            };
            AgAction::ModifyReplicaFailoverMode { server, mode }
        };
        self.expect_punct(')')?;
        Ok(action)
    }

    fn backup(&mut self) -> Result<Statement> {
        let log = self.eat_kw("LOG");
        if !log {
            self.expect_kws(&["DATABASE"])?;
        }
        let database = self.name()?;
        self.expect_kws(&["TO", "DISK"])?;
        self.expect_punct('=')?;
        let disk = self.str_or_param()?;
        let mut options = Vec::new();
        if self.eat_kw("WITH") {
            loop {
                // NORECOVERY is a BACKUP LOG option only.
                if log && self.eat_kw("NORECOVERY") {
                    options.push(BackupOption::NoRecovery);
                } else {
                    options.push(self.backup_option()?);
                }
                if !self.eat_punct(',') {
                    break;
                }
            }
        }
        Ok(if log {
            Statement::BackupLog {
                database,
                disk,
                options,
            }
        } else {
            Statement::BackupDatabase {
                database,
                disk,
                options,
            }
        })
    }

    fn backup_option(&mut self) -> Result<BackupOption> {
        const OPTIONS: &[(&str, BackupOption)] = &[
            ("COPY_ONLY", BackupOption::CopyOnly),
            ("CHECKSUM", BackupOption::Checksum),
            ("INIT", BackupOption::Init),
            ("FORMAT", BackupOption::Format),
            ("COMPRESSION", BackupOption::Compression),
        ];
        for (kw, option) in OPTIONS {
            if self.eat_kw(kw) {
                return Ok(*option);
            }
        }
        Err(self.error())
    }
}
